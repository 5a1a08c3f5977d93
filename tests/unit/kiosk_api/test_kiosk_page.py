"""The kiosk page's routes: the files with their security headers, the configuration, pairing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from kiosk_api.routes.kiosk_page import PAGE_DIRECTORY, SECURITY_HEADERS
from kioskpulse.devices import Registry, edit_registry
from tests.support.fleet import Fleet


async def test_page_is_served_with_a_strict_content_security_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/kiosk")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "<script" in response.text


async def test_every_file_of_the_page_is_served_with_its_media_type(
    client: httpx.AsyncClient,
) -> None:
    names = sorted(path.name for path in PAGE_DIRECTORY.iterdir() if path.is_file())
    assert "sw.js" in names
    for name in names:
        response = await client.get(f"/kiosk/{name}")
        assert response.status_code == 200, name
        assert (
            response.headers["content-security-policy"]
            == (SECURITY_HEADERS["Content-Security-Policy"])
        )
        if name.endswith(".js"):
            assert response.headers["content-type"].startswith("text/javascript")
    worker = await client.get("/kiosk/sw.js")
    assert worker.headers["service-worker-allowed"] == "/kiosk"


@pytest.mark.parametrize("name", ["nothing.js", "..%2Fapp.py", ".hidden", "%2E%2E"])
async def test_no_file_outside_the_page_folder(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/kiosk/{name}")
    assert response.status_code == 404


async def test_config_follows_the_registry_and_the_settings(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    default = (await client.get("/v1/kiosks/k1/config", headers=fleet.auth("k1"))).json()
    assert default["scale"] == 4
    assert default["question"] is None
    assert default["language"] is None
    assert default["followup"]["max_rating"] == 2
    assert default["followup"]["reasons"] == [
        "queue",
        "staff",
        "product",
        "cleanliness",
        "price",
        "other",
    ]
    assert default["press_interval_seconds"] == 5.0

    with edit_registry(fleet.path) as registry:
        registry.configure_kiosk(
            "k5", question="Kā jums patika?", language="lv", followup_reasons=["rinda"]
        )
    configured = (await client.get("/v1/kiosks/k5/config", headers=fleet.auth("k5"))).json()
    assert configured["question"] == "Kā jums patika?"
    assert configured["language"] == "lv"
    assert configured["followup"] == {
        "max_rating": 2,
        "reasons": ["rinda"],
        "timeout_seconds": 15.0,
    }


async def test_config_of_a_revoked_kiosk_is_refused(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    with edit_registry(fleet.path) as registry:
        registry.revoke("k1")
    response = await client.get("/v1/kiosks/k1/config", headers=fleet.auth("k1"))
    assert response.status_code == 401


def _pairing_code(fleet: Fleet, kiosk: str, valid_for: timedelta) -> str:
    with edit_registry(fleet.path) as registry:
        return registry.start_pairing(kiosk, datetime.now(UTC), valid_for)


async def test_a_pairing_code_gives_a_working_token_once(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    code = _pairing_code(fleet, "k1", timedelta(minutes=15))
    granted = await client.post("/v1/pairing", json={"code": code.lower().replace("-", " ")})
    assert granted.status_code == 200, granted.text
    assert granted.headers["cache-control"] == "no-store"
    body = granted.json()
    assert body["kiosk_id"] == "k1"
    new_auth = {"Authorization": f"Bearer {body['token']}"}
    assert (await client.get("/v1/kiosks/k1/config", headers=new_auth)).status_code == 200
    # The token the kiosk had before pairing ends.
    assert (await client.get("/v1/kiosks/k1/config", headers=fleet.auth("k1"))).status_code == 401

    again = await client.post("/v1/pairing", json={"code": code})
    assert again.status_code == 410
    assert "already used" in again.json()["detail"]


async def test_expired_and_unknown_codes_are_refused_with_a_reason(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    code = _pairing_code(fleet, "k1", timedelta(seconds=-1))
    expired = await client.post("/v1/pairing", json={"code": code})
    assert expired.status_code == 410
    assert "expired" in expired.json()["detail"]
    assert "kioskpulse devices pair k1" in expired.json()["detail"]

    unknown = await client.post("/v1/pairing", json={"code": "AAAA-BBBB"})
    assert unknown.status_code == 404
    assert "unknown pairing code" in unknown.json()["detail"]
    # Nothing about the kiosk changed: its token still works.
    assert (await client.get("/v1/kiosks/k1/config", headers=fleet.auth("k1"))).status_code == 200
    assert Registry.load(fleet.path).kiosks["k1"].pairing is not None


async def test_guessing_pairing_codes_is_slowed_down(client: httpx.AsyncClient) -> None:
    answers = [
        (await client.post("/v1/pairing", json={"code": f"AAAA-AAA{n}"})).status_code
        for n in range(8)
    ]
    assert answers[:5] == [404] * 5
    assert 429 in answers[5:]
    limited = await client.post("/v1/pairing", json={"code": "AAAA-AAAA"})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
