"""NPS kiosks (issue 16): the 11-point scale 0..10 in the contracts, the registry, the
devices CLI and the ratings API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from kioskpulse.bus.memory import MemoryBus
from kioskpulse.cli import main
from kioskpulse.devices import Kiosk, Registry, RegistryError, RegistryFile, edit_registry
from kioskpulse.event_records import events_in
from kioskpulse.events import (
    NPS_GROUPS,
    NPS_SCALE,
    SCALES,
    RatingEvent,
    StoreAggregate,
    describe_ratings,
    level_of,
    nps_group,
    rating_of,
    ratings_of,
)
from kioskpulse.topics import RATINGS
from tests.support.bodies import rating
from tests.support.fleet import Fleet

# --------------------------------------------------------------------------- the mapping


def test_an_nps_kiosk_rates_0_to_10_and_a_smiley_kiosk_1_to_its_scale() -> None:
    assert list(ratings_of(NPS_SCALE)) == list(range(11))
    assert list(ratings_of(4)) == [1, 2, 3, 4]
    assert (describe_ratings(NPS_SCALE), describe_ratings(2)) == ("0..10", "1..2")
    assert SCALES == (2, 3, 4, 5, 11)


@pytest.mark.parametrize("scale", SCALES)
def test_a_rating_maps_to_its_level_and_back(scale: int) -> None:
    levels = [level_of(r, scale) for r in ratings_of(scale)]
    assert levels == list(range(scale)), "one level per rating, worst first, 0-based"
    assert [rating_of(level, scale) for level in levels] == list(ratings_of(scale))


def test_the_nps_groups_are_detractors_0_6_passives_7_8_promoters_9_10() -> None:
    groups = [NPS_GROUPS[nps_group(score)] for score in range(11)]
    assert groups == ["detractor"] * 7 + ["passive"] * 2 + ["promoter"] * 2


# --------------------------------------------------------------------------- contracts


def _event(rating: int, scale: int) -> RatingEvent:
    now = datetime.now(UTC)
    return RatingEvent(
        event_id=uuid.uuid4(),
        rating=rating,
        pressed_at=now,
        kiosk_id="k",
        store_id="s",
        scale=scale,
        received_at=now,
    )


def test_a_rating_event_of_an_nps_kiosk_takes_0_to_10() -> None:
    for score in (0, 6, 10):
        event = _event(score, NPS_SCALE)
        assert RatingEvent.from_bytes(event.to_bytes()) == event
    with pytest.raises(ValidationError, match=r"less than or equal to 10"):
        _event(11, NPS_SCALE)


def test_a_smiley_rating_event_keeps_1_to_its_scale() -> None:
    with pytest.raises(ValidationError, match=r"outside 1..4"):
        _event(0, 4)
    with pytest.raises(ValidationError, match=r"outside 1..4"):
        _event(5, 4)


@pytest.mark.parametrize("scale", [1, 6, 10, 12])
def test_other_scales_are_refused(scale: int) -> None:
    with pytest.raises(ValidationError, match="scale"):
        _event(1, scale)


def test_records_written_before_nps_kiosks_still_read() -> None:
    old = (
        b'{"event_id":"6f1c1f0e-8a55-4a4e-9d2f-1a2b3c4d5e6f","rating":3,'
        b'"pressed_at":"2026-11-24T10:00:00Z","question_id":null,"schema_version":1,'
        b'"kiosk_id":"k1","store_id":"s1","scale":4,"received_at":"2026-11-24T10:00:01Z"}'
    )
    event = RatingEvent.from_bytes(old)
    assert (event.rating, event.scale) == (3, 4)


def test_an_aggregate_holds_the_nps_scale_with_11_levels() -> None:
    statistics = {
        "presses": [1] * 11,
        "linked_presses": [0] * 11,
        "linked_prob_sums": [[0.0] * 7] * 11,
    }
    body = {
        "store_id": "s1",
        "bucket_start": "2026-11-24T10:00:00Z",
        "bucket_seconds": 60,
        "updated_at": "2026-11-24T10:00:00Z",
        "ratings": {"11": statistics},
    }
    aggregate = StoreAggregate.model_validate(body)
    assert StoreAggregate.from_bytes(aggregate.to_bytes()).ratings[11].presses == [1] * 11
    with pytest.raises(ValidationError, match=r"11 entries|has 10"):
        StoreAggregate.model_validate(
            {**body, "ratings": {"11": {**statistics, "presses": [1] * 10}}}
        )
    with pytest.raises(ValidationError, match="scale"):
        StoreAggregate.model_validate({**body, "ratings": {"7": statistics}})


# --------------------------------------------------------------------------- registry


def _registry() -> Registry:
    registry = Registry()
    registry.add_store("s1")
    return registry


def test_an_nps_kiosk_asks_the_follow_up_after_a_detractors_score() -> None:
    registry = _registry()
    registry.add_kiosk("n1", "s1", NPS_SCALE)
    device = registry.device("n1")
    assert device is not None
    assert (device.scale, device.followup_max_rating) == (NPS_SCALE, 6)


def test_an_nps_kiosks_follow_up_is_never_asked_at_minus_1_since_0_is_a_score() -> None:
    registry = _registry()
    registry.add_kiosk("n1", "s1", NPS_SCALE)
    assert registry.configure_kiosk("n1", followup_max_rating=-1).followup_level == -1
    assert registry.configure_kiosk("n1", followup_max_rating=0).followup_level == 0
    with pytest.raises(RegistryError, match=r"above the scale 0\.\.10"):
        registry.configure_kiosk("n1", followup_max_rating=11)
    registry.add_kiosk("k1", "s1", 4)
    with pytest.raises(RegistryError, match=r"below the scale 1\.\.4"):
        registry.configure_kiosk("k1", followup_max_rating=-1)


def test_a_kiosk_of_another_scale_is_refused() -> None:
    with pytest.raises(ValidationError):
        Kiosk(store="s1", scale=7, token_sha256="0" * 64)


def test_the_devices_cli_adds_an_nps_kiosk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "devices.yaml"
    devices = ["devices", "--devices-file", str(path)]
    assert main([*devices, "add-store", "s1"]) == 0
    assert main([*devices, "add-kiosk", "n1", "--store", "s1", "--scale", "11"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    device = RegistryFile(path).authenticate("n1", token)
    assert (device.scale, device.followup_max_rating) == (11, 6)
    assert main([*devices, "set-kiosk", "n1", "--followup-at", "-1"]) == 0
    described = capsys.readouterr().out
    assert "scale 11" in described
    assert "no follow-up" in described
    with pytest.raises(SystemExit):
        main([*devices, "add-kiosk", "n2", "--store", "s1", "--scale", "7"])
    assert "invalid choice" in capsys.readouterr().err


# --------------------------------------------------------------------------- the API


async def test_the_api_accepts_0_to_10_from_an_nps_kiosk_and_refuses_11(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    with edit_registry(fleet.path) as registry:
        token = registry.add_kiosk("n1", "s1", NPS_SCALE)
    auth = {"Authorization": f"Bearer {token}"}
    batch = [rating(score) for score in range(11)]
    response = await client.post("/v1/kiosks/n1/ratings", json={"ratings": batch}, headers=auth)
    assert response.status_code == 202, response.text
    events = events_in(bus.records(RATINGS), RatingEvent)
    assert [(e.rating, e.scale) for e in events] == [(score, 11) for score in range(11)]

    refused = await client.post("/v1/kiosks/n1/ratings", json=rating(11), headers=auth)
    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "single", "rating"]
    # A smiley kiosk still refuses 0.
    smiley = await client.post("/v1/kiosks/k1/ratings", json=rating(0), headers=fleet.auth("k1"))
    assert smiley.status_code == 422
    assert "outside 1..4" in smiley.json()["detail"][0]["msg"]
