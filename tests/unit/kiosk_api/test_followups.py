"""Follow-up answers through the kiosk API: what a kiosk page may send, and what it is told."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from kioskpulse.bus.memory import MemoryBus
from kioskpulse.devices import edit_registry
from kioskpulse.event_records import events_in
from kioskpulse.events import FollowupEvent
from kioskpulse.topics import FOLLOWUPS, RATINGS
from tests.support.bodies import followup, now_iso
from tests.support.fleet import Fleet

URL = "/v1/kiosks/k1/followups"


async def test_an_answer_is_published_keyed_by_store_with_server_stamped_identity(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    body = followup("staff")
    response = await client.post(URL, json=body, headers=fleet.auth("k1"))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1}
    [record] = bus.records(FOLLOWUPS)
    assert record.key == "s1"
    event = FollowupEvent.from_bytes(record.value)
    assert (event.kiosk_id, event.store_id, event.reason) == ("k1", "s1", "staff")
    assert (str(event.event_id), str(event.rating_event_id)) == (
        body["event_id"],
        body["rating_event_id"],
    )
    assert abs((event.received_at - datetime.now(UTC)).total_seconds()) < 5
    assert bus.records(RATINGS) == [], "an answer is not a rating"


async def test_a_batch_is_published_whole(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    batch = [followup(reason) for reason in ("queue", "price", "other")]
    response = await client.post(URL, json={"followups": batch}, headers=fleet.auth("k1"))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 3}
    events = events_in(bus.records(FOLLOWUPS), FollowupEvent)
    assert [str(e.event_id) for e in events] == [b["event_id"] for b in batch]


async def test_an_unknown_reason_is_422_naming_the_kiosks_choices(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    response = await client.post(URL, json=followup("weather"), headers=fleet.auth("k1"))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "single", "reason"]
    assert error["type"] == "unknown_reason"
    assert "queue, staff, product, cleanliness, price, other" in error["msg"]
    assert bus.records(FOLLOWUPS) == []


async def test_the_reasons_are_the_kiosks_own(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    with edit_registry(fleet.path) as registry:
        registry.kiosks["k1"].followup_reasons = ["too_loud", "queue"]
    ok = await client.post(URL, json=followup("too_loud"), headers=fleet.auth("k1"))
    assert ok.status_code == 202, ok.text
    refused = await client.post(URL, json=followup("staff"), headers=fleet.auth("k1"))
    assert refused.status_code == 422
    assert "(its choices: too_loud, queue)" in refused.json()["detail"][0]["msg"]


async def test_one_bad_answer_refuses_the_batch_with_its_index(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    batch = [followup(), followup("nope"), followup(), followup(answered_at=now_iso(days=-8))]
    response = await client.post(URL, json={"followups": batch}, headers=fleet.auth("k1"))
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["body", "batch", "followups", 1, "reason"], "unknown_reason"),
        (["body", "batch", "followups", 3, "answered_at"], "event_time"),
    ]
    assert bus.records(FOLLOWUPS) == [], "nothing of a refused batch is published"


@pytest.mark.parametrize(
    ("field", "value", "loc", "message"),
    [
        # Times relative to when the test runs (collection can be minutes earlier).
        ("answered_at", lambda: now_iso(minutes=10), "answered_at", "in the future"),
        ("answered_at", lambda: now_iso(days=-8), "answered_at", "allowed lateness"),
        ("answered_at", "2026-11-24T12:00:00", "answered_at", "timezone"),
        ("rating_event_id", "not-a-uuid", "rating_event_id", "UUID"),
        ("reason", "Queue!", "reason", "should match pattern"),
        ("store_id", "s2", "store_id", "Extra inputs"),
    ],
)
async def test_invalid_answers_are_422_with_a_reason_at_their_field(
    client: httpx.AsyncClient,
    fleet: Fleet,
    field: str,
    value: str | Callable[[], str],
    loc: str,
    message: str,
) -> None:
    if callable(value):
        value = value()
    response = await client.post(URL, json=followup(**{field: value}), headers=fleet.auth("k1"))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "single", loc]
    assert message in error["msg"]


async def test_a_batch_over_500_is_refused(client: httpx.AsyncClient, fleet: Fleet) -> None:
    body = {"followups": [followup() for _ in range(501)]}
    response = await client.post(URL, json=body, headers=fleet.auth("k1"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "batch", "followups"]


async def test_a_malformed_item_of_a_batch_is_located_by_its_index(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    body = {"followups": [followup(), followup(event_id="42")]}
    response = await client.post(URL, json=body, headers=fleet.auth("k1"))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "batch", "followups", 1, "event_id"]


async def test_only_the_kiosk_itself_may_answer(client: httpx.AsyncClient, fleet: Fleet) -> None:
    other = await client.post(URL, json=followup(), headers=fleet.auth("k5"))
    assert other.status_code == 403
    assert "another device" in other.json()["detail"]
    camera = await client.post(URL, json=followup(), headers=fleet.auth("cam-k1"))
    assert camera.status_code == 403
    assert (await client.post(URL, json=followup())).status_code == 401
