"""The simulated fleet comes from a devices file and the tokens.yaml beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kioskpulse.cli import main
from kioskpulse.devices import edit_registry
from kioskpulse.events import DEFAULT_FOLLOWUP_REASONS
from kioskpulse.simulation.fleet import FleetError, load_fleet
from tests.support.fleet import Fleet, write_tokens


def test_stores_come_sorted_with_their_kiosks_and_cameras(fleet: Fleet) -> None:
    write_tokens(fleet)
    s1, s2 = load_fleet(fleet.path)
    assert s1.store_id == "s1"
    assert [(k.kiosk_id, k.scale, k.token) for k in s1.kiosks] == [("k1", 4, fleet.tokens["k1"])]
    assert [c.camera_id for c in s1.floor_cameras] == ["cam-floor"]
    [facing] = s1.cameras_facing("k1")
    assert (facing.camera_id, facing.role, facing.token) == (
        "cam-k1",
        "kiosk",
        fleet.tokens["cam-k1"],
    )
    assert (s2.store_id, [k.kiosk_id for k in s2.kiosks], s2.cameras) == ("s2", ["k5"], ())
    assert [store.store_id for store in load_fleet(fleet.path, stores=1)] == ["s1"]


def test_kiosks_ask_the_registrys_follow_up_question(fleet: Fleet) -> None:
    with edit_registry(fleet.path) as registry:
        registry.kiosks["k5"].followup_max_rating = 1
        registry.kiosks["k5"].followup_reasons = ["queue", "noise"]
    write_tokens(fleet)
    s1, s2 = load_fleet(fleet.path)
    [k1], [k5] = s1.kiosks, s2.kiosks
    assert (k1.followup_max_rating, k1.followup_reasons) == (2, DEFAULT_FOLLOWUP_REASONS)
    assert (k5.followup_max_rating, k5.followup_reasons) == (1, ("queue", "noise"))


def test_revoked_devices_are_left_out_and_need_no_token(fleet: Fleet) -> None:
    with edit_registry(fleet.path) as registry:
        registry.revoke("cam-k1")
    write_tokens(fleet, leave_out=("cam-k1",))
    [s1, _] = load_fleet(fleet.path)
    assert [c.camera_id for c in s1.cameras] == ["cam-floor"]


def test_a_device_without_a_token_is_named(fleet: Fleet) -> None:
    write_tokens(fleet, leave_out=("cam-floor", "k5"))
    with pytest.raises(FleetError, match=r"tokens.yaml has no token for cam-floor, k5"):
        load_fleet(fleet.path)


def test_a_registry_without_stores_has_nothing_to_simulate(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="no stores"):
        load_fleet(tmp_path / "devices.yaml")


def test_the_cli_names_the_missing_tokens_file(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["simulate", "--api", "http://127.0.0.1:9", "--devices-file", str(fleet.path),
         "--duration", "1"]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2
    assert str(fleet.path.with_name("tokens.yaml")) in err
    assert "does not exist" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "option", [["--rate", "0"], ["--stores", "0"], ["--propensity-ratio", "-1"]]
)
def test_the_cli_refuses_options_out_of_range(
    fleet: Fleet, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--api", "http://x", "--devices-file", str(fleet.path), *option])
    assert exit_info.value.code == 2
    assert option[0] in capsys.readouterr().err
