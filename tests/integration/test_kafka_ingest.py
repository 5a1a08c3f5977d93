"""Accepted events are durably in Kafka, keyed and shaped as the contracts say."""

from __future__ import annotations

from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from kioskpulse.bus import Record
from kioskpulse.event_records import events_in
from kioskpulse.events import FaceObservation, FrameHeaders, RatingEvent
from kioskpulse.settings import Settings
from kioskpulse.topics import AGGREGATES, FACES, FRAMES, RATINGS, STORE_KEYED
from tests.support.bodies import JPEG, UNIFORM, now_iso, rating
from tests.support.kafka import end_offsets, read_new
from tests.support.processes import RunningApi


async def post(api: RunningApi, path: str, device: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        headers = {**api.fleet.auth(device), **kwargs.pop("headers", {})}
        return await client.post(path, headers=headers, **kwargs)


async def test_a_posted_rating_is_read_back_from_kafka(
    api: RunningApi, kafka_bootstrap: str
) -> None:
    start = await end_offsets(kafka_bootstrap, RATINGS)
    body = rating(3)
    response = await post(api, "/v1/kiosks/k1/ratings", "k1", json=body)
    assert response.status_code == 202, response.text

    [record] = await read_new(kafka_bootstrap, start, want=1)
    assert record.key == b"s1"
    event = RatingEvent.from_bytes(record.value)
    assert str(event.event_id) == body["event_id"]
    assert (event.kiosk_id, event.store_id, event.scale, event.rating) == ("k1", "s1", 4, 3)


async def test_a_batch_of_500_arrives_complete(api: RunningApi, kafka_bootstrap: str) -> None:
    start = await end_offsets(kafka_bootstrap, RATINGS)
    single = await post(api, "/v1/kiosks/k5/ratings", "k5", json=rating(2))
    assert single.status_code == 202, single.text
    [single_record] = await read_new(kafka_bootstrap, start, want=1)
    start = await end_offsets(kafka_bootstrap, RATINGS)
    batch = [rating(1 + i % 5) for i in range(500)]
    response = await post(api, "/v1/kiosks/k5/ratings", "k5", json={"ratings": batch})
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 500}

    # One record holds the request's 500 events (kioskpulse.event_records), in order,
    # where per-record sends of that key go.
    [record] = await read_new(kafka_bootstrap, start, want=1)
    assert (record.key, record.partition) == (b"s2", single_record.partition)
    events = events_in([Record(RATINGS, "s2", record.value)], RatingEvent)
    assert [str(e.event_id) for e in events] == [b["event_id"] for b in batch]


async def test_frames_and_observations_reach_their_topics(
    api: RunningApi, kafka_bootstrap: str
) -> None:
    frames_start = await end_offsets(kafka_bootstrap, FRAMES)
    faces_start = await end_offsets(kafka_bootstrap, FACES)
    frame = await post(
        api, "/v1/cameras/cam-k1/frames", "cam-k1",
        content=JPEG, headers={"Content-Type": "image/jpeg"},
    )  # fmt: skip
    assert frame.status_code == 202, frame.text
    observations = {
        "observations": [{"track_id": "t1", "captured_at": now_iso(), "probs": UNIFORM}]
    }
    observed = await post(api, "/v1/cameras/cam-floor/observations", "cam-floor", json=observations)
    assert observed.status_code == 202, observed.text

    [frame_record] = await read_new(kafka_bootstrap, frames_start, want=1)
    assert frame_record.key == b"cam-k1"
    assert frame_record.value == JPEG
    headers = FrameHeaders.from_headers(frame_record.headers)
    assert (headers.store_id, headers.role, headers.kiosk_id) == ("s1", "kiosk", "k1")

    [face_record] = await read_new(kafka_bootstrap, faces_start, want=1)
    assert face_record.key == b"s1"
    face = FaceObservation.from_bytes(face_record.value)
    assert (face.camera_id, face.role, face.source) == ("cam-floor", "floor", "edge")


async def test_topics_are_created_as_configured(api: RunningApi, kafka_bootstrap: str) -> None:
    settings = Settings()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(STORE_KEYED))
        counts = {t["topic"]: len(t["partitions"]) for t in described}
        assert set(counts.values()) == {settings.topic_partitions}, counts
        responses = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, FRAMES),
                ConfigResource(ConfigResourceType.TOPIC, AGGREGATES),
            ]
        )
    finally:
        await admin.close()
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for _code, _message, _type, name, entries in response.resources:
            configs[name] = {entry[0]: entry[1] for entry in entries}
    assert configs[FRAMES]["retention.ms"] == str(settings.frames_retention_seconds * 1000)
    # Compacted (one value per bucket); "compact,delete" since aggregates expire too
    # (a broker whose topic predates that keeps plain "compact").
    assert "compact" in configs[AGGREGATES]["cleanup.policy"].split(",")
