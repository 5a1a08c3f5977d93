"""The exporter's HTTP side: operator auth, the JSON API, health, readiness, /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kioskpulse.devices import RegistryFile, edit_registry
from kioskpulse.events import KioskStatus
from stream_processors.exporter.app import create_exporter_app
from stream_processors.exporter.state import ExporterState
from tests.support.aggregates import NOW, aggregate
from tests.support.fleet import Fleet


@pytest.fixture
def state() -> ExporterState:
    state = ExporterState(clock=lambda: NOW)
    state.windows.apply(
        aggregate(
            "s1",
            5,
            presses={4: [1, 1, 2, 4]},
            linked={4: [0, 1, 0, 2]},
            visitors=16,
            expressions=[1, 0, 1, 8, 2, 2, 2],
            tones=[2, 8, 2, 4],
            kiosks={"k1": KioskStatus(last_seen=NOW - timedelta(minutes=1), buffered=7)},
            cameras={"cam-floor": NOW},
        ),
        NOW,
    )
    state.windows.apply(aggregate("s1", 30, presses={4: [2, 0, 0, 0]}, visitors=4), NOW)
    return state


@pytest.fixture
def operator_token(fleet: Fleet) -> str:
    with edit_registry(fleet.path) as registry:
        token = registry.add_operator("ops")
    return token


@pytest.fixture
async def client(state: ExporterState, fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    app = create_exporter_app(state, RegistryFile(fleet.path, check_interval=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://exporter") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/v1/stores", "/v1/stores/s1/summary"])
async def test_the_json_api_needs_an_operator_token(
    client: httpx.AsyncClient, fleet: Fleet, operator_token: str, path: str
) -> None:
    for headers in ({}, bearer("kp_wrong"), fleet.auth("k1"), {"Authorization": "Basic eDp5"}):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["detail"]
    assert (await client.get(path, headers=bearer(operator_token))).status_code == 200


async def test_a_revoked_operator_is_refused(
    client: httpx.AsyncClient, fleet: Fleet, operator_token: str
) -> None:
    with edit_registry(fleet.path) as registry:
        registry.revoke("ops")
    response = await client.get("/v1/stores", headers=bearer(operator_token))
    assert response.status_code == 401


async def test_stores_lists_what_the_aggregates_showed(
    client: httpx.AsyncClient, operator_token: str
) -> None:
    response = await client.get("/v1/stores", headers=bearer(operator_token))
    assert response.json() == [
        {
            "store": "s1",
            "kiosks": ["k1"],
            "cameras": ["cam-floor"],
            "updated_at": "2026-11-24T11:55:00Z",
        }
    ]


async def test_the_summary_of_a_window(client: httpx.AsyncClient, operator_token: str) -> None:
    response = await client.get(
        "/v1/stores/s1/summary", params={"window": "15m"}, headers=bearer(operator_token)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["store"] == "s1"
    assert body["window"] == "15m"
    assert body["from"] == "2026-11-24T11:45:00Z"
    assert body["to"] == "2026-11-24T12:00:00Z"
    assert body["presses"] == 8
    assert body["presses_by_scale"] == {
        "4": {
            "presses": {"1": 1, "2": 1, "3": 2, "4": 4},
            "shares": {"1": 0.125, "2": 0.125, "3": 0.25, "4": 0.5},
            "suppressed": 0,
            "linked_presses": 3,
        }
    }
    assert body["happy_index_raw"] == pytest.approx(100 * 17 / 24)
    assert body["visitors"] == 16
    assert body["response_rate"] == 0.5
    assert body["linked_presses"] == 3
    assert body["expression_shares"]["happy"] == 0.5
    assert body["tone_shares"] == {
        "interest": 0.125,
        "satisfaction": 0.5,
        "fear_anger": 0.125,
        "apathy": 0.25,
    }
    assert body["kiosks"] == {"k1": {"last_seen": "2026-11-24T11:59:00Z", "buffered": 7}}
    assert body["cameras_last_seen"] == {"cam-floor": "2026-11-24T12:00:00Z"}
    # 16 visitors are too few for a corrected figure: a reason, never a silent number.
    assert body["corrected"]["available"] is False
    assert body["corrected"]["reason"] == "too_few_visitors"
    assert body["corrected"]["happy_index"] is None


async def test_the_summary_window_defaults_to_one_hour(
    client: httpx.AsyncClient, operator_token: str
) -> None:
    body = (await client.get("/v1/stores/s1/summary", headers=bearer(operator_token))).json()
    assert body["window"] == "1h"
    assert body["presses"] == 10
    assert body["visitors"] == 20


async def test_an_unknown_store_is_404_and_a_bad_window_422(
    client: httpx.AsyncClient, operator_token: str
) -> None:
    headers = bearer(operator_token)
    response = await client.get("/v1/stores/nowhere/summary", headers=headers)
    assert response.status_code == 404
    assert "nowhere" in response.json()["detail"]
    response = await client.get("/v1/stores/s1/summary?window=2h", headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "window"]


async def test_health_readiness_and_metrics_need_no_token(
    client: httpx.AsyncClient, state: ExporterState
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    state.mark_ready()
    assert (await client.get("/readyz")).status_code == 200

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"kioskpulse_happy_index", "kioskpulse_ratings", "kioskpulse_exporter_ready"} <= names


async def test_the_feed_runs_for_the_lifetime_of_the_app(fleet: Fleet) -> None:
    state = ExporterState(clock=lambda: NOW)
    started: list[bool] = []
    stopped: list[bool] = []

    async def feed() -> None:
        started.append(True)
        try:
            state.mark_ready()
            await asyncio.Event().wait()
        finally:
            stopped.append(True)

    app = create_exporter_app(state, RegistryFile(fleet.path), feed=feed)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0)
        assert started
        assert state.ready
    assert stopped
