"""Posting as a device: retries with the same body, Retry-After honoured, final refusals."""

from __future__ import annotations

import json

import httpx
import pytest

from kioskpulse.simulation.posting import DevicePoster, DeviceRequest, SimulatorStats

RATING = DeviceRequest(
    store_id="s1",
    kind="ratings",
    path="/v1/kiosks/k1/ratings",
    token="kp_secret",
    body={"event_id": "6f1c2a52-4a4b-4bd6-9a37-2f8a4b7c8d9e", "rating": 2, "pressed_at": "now"},
)


Sent = list[tuple[str, dict[str, object]]]  # (Authorization header, JSON body) per request


async def post_through(answers: list[httpx.Response | Exception]) -> tuple[SimulatorStats, Sent]:
    """Post RATING once against a server giving ``answers`` in turn."""
    bodies: Sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append((request.headers["Authorization"], json.loads(request.content)))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    stats = SimulatorStats()
    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        poster = DevicePoster(client, stats, backoff=0.001)
        poster.launch(RATING)
        await poster.drain(5.0)
    return stats, bodies


async def test_a_busy_broker_and_a_network_error_are_retried_with_the_same_event() -> None:
    stats, bodies = await post_through(
        [
            httpx.Response(503, headers={"Retry-After": "0"}),
            httpx.ConnectError("connection refused"),
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(202, json={"accepted": 1}),
        ]
    )
    assert len(bodies) == 4
    assert all(body == (f"Bearer {RATING.token}", RATING.body) for body in bodies)
    assert (stats.sent, stats.accepted) == (4, 1)
    assert stats.responses == {503: 1, 429: 1, 202: 1}
    assert stats.errors == {"ConnectError": 1}
    assert stats.accepted_events("ratings", "s1") == stats.sent_events("ratings") == 1


@pytest.mark.parametrize("status", [401, 422])
async def test_a_refusal_that_retrying_cannot_fix_is_final(status: int) -> None:
    stats, bodies = await post_through([httpx.Response(status)])
    assert len(bodies) == 1
    assert stats.accepted_events("ratings") == 0
    assert stats.errors == {f"refused {status}": 1}


async def test_retries_stop_after_a_few_attempts() -> None:
    stats, bodies = await post_through([httpx.Response(503, headers={"Retry-After": "0"})] * 5)
    assert len(bodies) == 5
    assert stats.errors == {"gave up after retries": 1}


async def test_a_retry_after_that_is_not_whole_seconds_falls_back_to_the_backoff() -> None:
    date = "Wed, 21 Oct 2026 07:28:00 GMT"  # would be a day's wait if it were obeyed
    stats, bodies = await post_through(
        [httpx.Response(503, headers={"Retry-After": date}), httpx.Response(202)]
    )
    assert len(bodies) == 2
    assert (stats.sent, stats.accepted) == (2, 1)
    assert stats.responses == {503: 1, 202: 1}
