"""The kiosk API on the in-process bus: what devices send, what reaches the topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from kiosk_api import create_app
from kioskpulse.bus.memory import MemoryBus
from kioskpulse.devices import edit_registry
from kioskpulse.event_records import events_in
from kioskpulse.events import FaceObservation, FrameHeaders, Heartbeat, KioskZone, RatingEvent
from kioskpulse.topics import FACES, FRAMES, HEARTBEATS, RATINGS
from tests.support.bodies import JPEG, PNG, UNIFORM, now_iso, rating
from tests.support.fleet import Fleet, memory_settings

# --------------------------------------------------------------------------- ratings


async def test_a_rating_is_published_keyed_by_store_with_server_stamped_identity(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    body = rating(4)
    response = await client.post("/v1/kiosks/k1/ratings", json=body, headers=fleet.auth("k1"))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1}
    [record] = bus.records(RATINGS)
    assert record.key == "s1"
    event = RatingEvent.from_bytes(record.value)
    assert (event.kiosk_id, event.store_id, event.scale, event.rating) == ("k1", "s1", 4, 4)
    assert str(event.event_id) == body["event_id"]
    assert abs((event.received_at - datetime.now(UTC)).total_seconds()) < 5


async def test_a_batch_of_500_is_published_whole(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    batch = [rating(1 + i % 5) for i in range(500)]
    response = await client.post(
        "/v1/kiosks/k5/ratings", json={"ratings": batch}, headers=fleet.auth("k5")
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 500}
    events = events_in(bus.records(RATINGS), RatingEvent)
    assert [str(e.event_id) for e in events] == [b["event_id"] for b in batch]
    assert {e.store_id for e in events} == {"s2"}
    # One Kafka record: the worker's cost is per record (kioskpulse.event_records).
    assert len(bus.records(RATINGS)) == 1


async def test_a_batch_over_500_is_refused(client: httpx.AsyncClient, fleet: Fleet) -> None:
    response = await client.post(
        "/v1/kiosks/k1/ratings",
        json={"ratings": [rating() for _ in range(501)]},
        headers=fleet.auth("k1"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "batch", "ratings"]


async def test_a_rating_above_the_kiosk_scale_is_422_with_its_location(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    single = await client.post("/v1/kiosks/k1/ratings", json=rating(5), headers=fleet.auth("k1"))
    assert single.status_code == 422
    [error] = single.json()["detail"]
    assert error["loc"] == ["body", "single", "rating"]
    assert "outside 1..4" in error["msg"]

    batch = await client.post(
        "/v1/kiosks/k1/ratings",
        json={"ratings": [rating(1), rating(2), rating(5)]},
        headers=fleet.auth("k1"),
    )
    assert batch.status_code == 422
    assert batch.json()["detail"][0]["loc"] == ["body", "batch", "ratings", 2, "rating"]
    assert bus.records(RATINGS) == [], "one bad rating refuses the whole batch"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        # Times relative to when the test runs (collection can be minutes earlier).
        ("pressed_at", lambda: now_iso(minutes=10), "in the future"),
        ("pressed_at", lambda: now_iso(days=-8), "allowed lateness"),
        ("pressed_at", "2026-11-24T12:00:00", "timezone"),
        ("rating", "3", "JSON integer, not a string"),
        ("event_id", "not-a-uuid", "UUID"),
        ("store_id", "s2", "Extra inputs"),
    ],
)
async def test_invalid_ratings_are_422_with_a_reason(
    client: httpx.AsyncClient,
    fleet: Fleet,
    field: str,
    value: str | Callable[[], str],
    message: str,
) -> None:
    if callable(value):
        value = value()
    response = await client.post(
        "/v1/kiosks/k1/ratings", json=rating(2, **{field: value}), headers=fleet.auth("k1")
    )
    assert response.status_code == 422
    assert message in json.dumps(response.json())


async def test_malformed_json_is_422(client: httpx.AsyncClient, fleet: Fleet) -> None:
    response = await client.post(
        "/v1/kiosks/k1/ratings",
        content=b'{"rating": ',
        headers={**fleet.auth("k1"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


# --------------------------------------------------------------------------- auth


async def test_auth_failures(client: httpx.AsyncClient, fleet: Fleet) -> None:
    url = "/v1/kiosks/k1/ratings"
    missing = await client.post(url, json=rating())
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"

    wrong = await client.post(url, json=rating(), headers={"Authorization": "Bearer kp_nope"})
    assert wrong.status_code == 401

    other = await client.post(url, json=rating(), headers=fleet.auth("k5"))
    assert other.status_code == 403
    assert "another device" in other.json()["detail"]

    camera_as_kiosk = await client.post(url, json=rating(), headers=fleet.auth("cam-k1"))
    assert camera_as_kiosk.status_code == 403

    with edit_registry(fleet.path) as registry:
        registry.revoke("k1")
    revoked = await client.post(url, json=rating(), headers=fleet.auth("k1"))
    assert revoked.status_code == 401


async def test_a_kiosk_token_cannot_post_as_a_camera(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    response = await client.post(
        "/v1/cameras/k1/frames",
        content=JPEG,
        headers={**fleet.auth("k1"), "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 403
    assert "is a kiosk, not a camera" in response.json()["detail"]


async def test_rate_limit_answers_429_with_retry_after(fleet: Fleet) -> None:
    app = create_app(
        memory_settings(fleet, rate_limit_per_second=1, rate_limit_burst=2),
        bus=MemoryBus(),
        manage_bus=False,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://a") as c:
        codes = [
            (await c.post("/v1/kiosks/k1/ratings", json=rating(), headers=fleet.auth("k1")))
            for _ in range(3)
        ]
        assert [r.status_code for r in codes] == [202, 202, 429]
        assert int(codes[2].headers["Retry-After"]) >= 1
        other = await c.post("/v1/kiosks/k5/ratings", json=rating(), headers=fleet.auth("k5"))
        assert other.status_code == 202, "limits are per device"


# --------------------------------------------------------------------------- broker down


async def test_a_broker_that_does_not_ack_gives_503_and_no_2xx(fleet: Fleet) -> None:
    bus = MemoryBus(publish_timeout=0.2, queue_size=1)
    stalled = bus.subscribe(RATINGS)  # a consumer that never reads: the bus fills up
    first = asyncio.create_task(anext(stalled))
    await asyncio.sleep(0)
    app = create_app(memory_settings(fleet), bus=bus, manage_bus=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://a") as c:
        statuses = [
            (await c.post("/v1/kiosks/k1/ratings", json=rating(), headers=fleet.auth("k1")))
            for _ in range(4)
        ]
    first.cancel()
    await stalled.aclose()
    assert statuses[-1].status_code == 503
    assert statuses[-1].headers["Retry-After"] == "2"
    assert "retry later with the same event ids" in statuses[-1].json()["detail"]


# --------------------------------------------------------------------------- heartbeats


async def test_heartbeat_is_published(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    response = await client.post(
        "/v1/kiosks/k1/heartbeat",
        json={"sent_at": now_iso(), "buffered": 12, "firmware": "2.1.0"},
        headers=fleet.auth("k1"),
    )
    assert response.status_code == 202, response.text
    [record] = bus.records(HEARTBEATS)
    beat = Heartbeat.from_bytes(record.value)
    assert (record.key, beat.kiosk_id, beat.buffered, beat.firmware) == ("s1", "k1", 12, "2.1.0")


# --------------------------------------------------------------------------- frames


async def test_a_frame_is_published_with_registry_headers(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    taken = datetime.now(UTC) - timedelta(seconds=30)
    response = await client.post(
        "/v1/cameras/cam-k1/frames",
        params={"captured_at": taken.isoformat()},
        content=PNG,
        headers={**fleet.auth("cam-k1"), "Content-Type": "image/png"},
    )
    assert response.status_code == 202, response.text
    [record] = bus.records(FRAMES)
    assert (record.key, record.value) == ("cam-k1", PNG)
    headers = FrameHeaders.from_headers(record.headers)
    assert (headers.store_id, headers.role, headers.kiosk_id) == ("s1", "kiosk", "k1")
    assert headers.content_type == "image/png"
    assert headers.captured_at == taken
    assert headers.min_face_px is None  # the vision stage's default for kiosk cameras


async def test_a_frame_carries_its_cameras_smallest_face(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    response = await client.post(
        "/v1/cameras/cam-floor/frames",
        content=PNG,
        headers={**fleet.auth("cam-floor"), "Content-Type": "image/png"},
    )
    assert response.status_code == 202, response.text
    [record] = bus.records(FRAMES)
    assert FrameHeaders.from_headers(record.headers).min_face_px == 20


async def test_a_frame_carries_its_cameras_kiosk_zone(fleet: Fleet) -> None:
    with edit_registry(fleet.path) as registry:
        registry.configure_camera("cam-floor", kiosk_zone=ZONE)
    async with zoned_api(fleet) as (client, bus):
        for camera in ("cam-floor", "cam-k1"):
            response = await client.post(
                f"/v1/cameras/{camera}/frames",
                content=PNG,
                headers={**fleet.auth(camera), "Content-Type": "image/png"},
            )
            assert response.status_code == 202, response.text
    floor, kiosk = (record.headers for record in bus.records(FRAMES))
    assert ("kiosk_zone", b"k1:100,80,200,240") in floor
    headers = FrameHeaders.from_headers(floor)
    assert (headers.kiosk_zone, headers.min_face_px) == (ZONE, 20)
    assert FrameHeaders.from_headers(kiosk).kiosk_zone is None
    assert all(name != "kiosk_zone" for name, _ in kiosk)


async def test_a_frame_without_captured_at_is_stamped_now(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    response = await client.post(
        "/v1/cameras/cam-floor/frames",
        content=JPEG,
        headers={**fleet.auth("cam-floor"), "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 202
    headers = FrameHeaders.from_headers(bus.records(FRAMES)[0].headers)
    assert abs((headers.captured_at - datetime.now(UTC)).total_seconds()) < 5
    assert headers.kiosk_id is None


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("text/plain", b"hello", 415, "is not accepted"),
        ("image/gif", b"GIF89a", 415, "is not accepted"),
        ("image/jpeg", PNG, 415, "signature"),
        ("image/png", b"", 415, "empty"),
        ("image/jpeg", b"\xff\xd8\xff" + b"\x00" * (64 * 1024), 413, "larger than the limit"),
    ],
)
async def test_bad_frames_are_refused(
    fleet: Fleet, content_type: str, body: bytes, status: int, message: str
) -> None:
    app = create_app(
        memory_settings(fleet, max_frame_bytes=32 * 1024), bus=MemoryBus(), manage_bus=False
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://a") as c:
        response = await c.post(
            "/v1/cameras/cam-floor/frames",
            content=body,
            headers={**fleet.auth("cam-floor"), "Content-Type": content_type},
        )
    assert response.status_code == status
    assert message in response.json()["detail"]


async def test_a_chunked_body_over_the_limit_is_413(fleet: Fleet) -> None:
    app = create_app(
        memory_settings(fleet, max_frame_bytes=4096), bus=MemoryBus(), manage_bus=False
    )

    async def chunks():  # type: ignore[no-untyped-def]
        yield b"\xff\xd8\xff"
        for _ in range(10):
            yield b"\x00" * 1024

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://a") as c:
        response = await c.post(
            "/v1/cameras/cam-floor/frames",
            content=chunks(),
            headers={**fleet.auth("cam-floor"), "Content-Type": "image/jpeg"},
        )
    assert response.status_code == 413


async def test_a_naive_captured_at_is_422(client: httpx.AsyncClient, fleet: Fleet) -> None:
    response = await client.post(
        "/v1/cameras/cam-floor/frames",
        params={"captured_at": "2026-11-24T10:00:00"},
        content=JPEG,
        headers={**fleet.auth("cam-floor"), "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "captured_at"]


# --------------------------------------------------------------------------- observations


async def test_observations_are_stamped_with_the_cameras_identity(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    observations = [
        {"track_id": f"t{i}", "captured_at": now_iso(), "probs": UNIFORM} for i in range(3)
    ]
    observations[0]["bbox"] = {"x": 10, "y": 20, "w": 64, "h": 64}
    response = await client.post(
        "/v1/cameras/cam-k1/observations",
        json={"observations": observations},
        headers=fleet.auth("cam-k1"),
    )
    assert response.status_code == 202, response.text
    faces = events_in(bus.records(FACES), FaceObservation)
    assert [f.track_id for f in faces] == ["t0", "t1", "t2"]
    assert {(f.store_id, f.role, f.kiosk_id, f.source) for f in faces} == {
        ("s1", "kiosk", "k1", "edge")
    }
    assert {r.key for r in bus.records(FACES)} == {"s1"}


ZONE = KioskZone(kiosk_id="k1", x=100, y=80, w=200, h=240)


@contextlib.asynccontextmanager
async def zoned_api(fleet: Fleet) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryBus]]:
    """The API of ``fleet`` as its devices file is now, and its bus."""
    bus = MemoryBus(publish_timeout=1.0)
    app = create_app(memory_settings(fleet), bus=bus, manage_bus=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://a") as c:
        yield c, bus


async def test_faces_in_a_floor_cameras_kiosk_zone_are_stamped_with_its_kiosk(
    fleet: Fleet,
) -> None:
    with edit_registry(fleet.path) as registry:
        registry.configure_camera("cam-floor", kiosk_zone=ZONE)
    boxes: dict[str, dict[str, int] | None] = {
        "inside": {"x": 150, "y": 100, "w": 64, "h": 64},
        "half-out": {"x": 60, "y": 100, "w": 96, "h": 96},  # its centre (108, 148) is in
        "outside": {"x": 400, "y": 100, "w": 64, "h": 64},
        "right-edge": {"x": 268, "y": 100, "w": 64, "h": 64},  # centre x 300: out
        "no-box": None,
    }
    observations = [
        {"track_id": name, "captured_at": now_iso(), "probs": UNIFORM}
        | ({"bbox": box} if box is not None else {})
        for name, box in boxes.items()
    ]
    async with zoned_api(fleet) as (client, bus):
        response = await client.post(
            "/v1/cameras/cam-floor/observations",
            json={"observations": observations},
            headers=fleet.auth("cam-floor"),
        )
        assert response.status_code == 202, response.text
        kiosk_camera = await client.post(
            "/v1/cameras/cam-k1/observations",
            json={"observations": observations},
            headers=fleet.auth("cam-k1"),
        )
        assert kiosk_camera.status_code == 202, kiosk_camera.text
    faces = events_in(bus.records(FACES), FaceObservation)
    floor = {f.track_id: f.zone_kiosk_id for f in faces if f.camera_id == "cam-floor"}
    assert floor == {
        "inside": "k1", "half-out": "k1", "outside": None, "right-edge": None, "no-box": None,
    }  # fmt: skip
    assert {f.kiosk_id for f in faces if f.camera_id == "cam-floor"} == {None}
    assert {f.zone_kiosk_id for f in faces if f.camera_id == "cam-k1"} == {None}, "no zone"


async def test_a_floor_camera_without_a_zone_stamps_no_kiosk(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    observation = {
        "track_id": "t", "captured_at": now_iso(), "probs": UNIFORM,
        "bbox": {"x": 150, "y": 100, "w": 64, "h": 64},
    }  # fmt: skip
    response = await client.post(
        "/v1/cameras/cam-floor/observations",
        json={"observations": [observation]},
        headers=fleet.auth("cam-floor"),
    )
    assert response.status_code == 202, response.text
    [record] = bus.records(FACES)
    assert FaceObservation.from_bytes(record.value).zone_kiosk_id is None


async def test_a_camera_cannot_send_its_own_zone_kiosk(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    observation = {
        "track_id": "t", "captured_at": now_iso(), "probs": UNIFORM, "zone_kiosk_id": "k1",
    }  # fmt: skip
    response = await client.post(
        "/v1/cameras/cam-floor/observations",
        json={"observations": [observation]},
        headers=fleet.auth("cam-floor"),
    )
    assert response.status_code == 422
    assert "zone_kiosk_id" in json.dumps(response.json())
    assert bus.records(FACES) == []


async def test_observations_with_bad_probabilities_are_422(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    response = await client.post(
        "/v1/cameras/cam-floor/observations",
        json={"observations": [{"track_id": "t", "captured_at": now_iso(), "probs": [0.5] * 7}]},
        headers=fleet.auth("cam-floor"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "observations", 0, "probs"]


async def test_a_json_body_over_the_limit_is_413(fleet: Fleet) -> None:
    app = create_app(
        memory_settings(fleet, max_json_body_bytes=2048), bus=MemoryBus(), manage_bus=False
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://a") as c:
        response = await c.post(
            "/v1/kiosks/k1/ratings",
            json={"ratings": [rating() for _ in range(50)]},
            headers=fleet.auth("k1"),
        )
    assert response.status_code == 413


# --------------------------------------------------------------------------- operations


async def test_health_readiness_and_metrics(client: httpx.AsyncClient, fleet: Fleet) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    await client.post("/v1/kiosks/k1/ratings", json=rating(), headers=fleet.auth("k1"))
    await client.post("/v1/kiosks/k1/ratings", json=rating())
    text = (await client.get("/metrics")).text
    assert (
        'kioskpulse_api_requests_total{method="POST",route="/v1/kiosks/{kiosk_id}/ratings",'
        'status="202"}' in text
    )
    assert 'kioskpulse_api_rejections_total{reason="unauthenticated"}' in text
    assert (
        'kioskpulse_api_publish_duration_seconds_bucket{le="0.005",topic="kiosk.ratings.v1"}'
        in text
    )
    assert 'kioskpulse_api_events_accepted_total{topic="kiosk.ratings.v1"}' in text
