"""Frames posted to the API come out of a real faust worker as observations on camera.faces.v1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from kioskpulse.events import EXPRESSIONS, FaceObservation
from kioskpulse.topics import FACES
from tests.support.images import ASTRONAUT_FRAMES, jpeg
from tests.support.kafka import end_offsets, read_new
from tests.support.processes import RunningApi, Worker, unique_app_id


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    worker = Worker(tmp_path_factory.mktemp("worker"), kafka_bootstrap, unique_app_id("vision"))
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


async def test_a_posted_frame_becomes_an_observation_keyed_by_store(
    api: RunningApi, worker: Worker, kafka_bootstrap: str
) -> None:
    start = await end_offsets(kafka_bootstrap, FACES)
    captured_at = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        response = await client.post(
            "/v1/cameras/cam-k1/frames",
            params={"captured_at": captured_at.isoformat()},
            content=jpeg(ASTRONAUT_FRAMES["640x480"]()),
            headers={**api.fleet.auth("cam-k1"), "Content-Type": "image/jpeg"},
        )
    assert response.status_code == 202, response.text

    records = await read_new(kafka_bootstrap, start, want=1, within=60)
    ours = [
        (r, o)
        for r in records
        if (o := FaceObservation.from_bytes(r.value)).captured_at == captured_at
    ]
    assert len(ours) == 1, (
        f"{len(records)} new observations, none of ours; worker log:\n"
        + (worker.read_text()[-2000:])
    )
    record, observation = ours[0]
    assert record.key == b"s1"
    assert (observation.camera_id, observation.role, observation.kiosk_id) == (
        "cam-k1",
        "kiosk",
        "k1",
    )
    assert observation.source == "server"
    assert observation.probs[EXPRESSIONS.index("happy")] >= 0.9

    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{worker.web_url}/metrics")).text
    assert 'kioskpulse_vision_frames_total{outcome="ok"}' in metrics
    assert "kioskpulse_vision_infer_duration_seconds_bucket" in metrics
