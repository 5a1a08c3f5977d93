"""A kiosk's page settings and pairing codes in the registry, and their commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kioskpulse.cli import main
from kioskpulse.devices import (
    PAIRING_ALPHABET,
    PairingCodeSpent,
    Registry,
    RegistryError,
    UnknownPairingCode,
    hash_token,
)
from kioskpulse.events import DEFAULT_FOLLOWUP_REASONS

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    registry.add_store("s1")
    registry.add_kiosk("k1", "s1")
    registry.add_kiosk("k2", "s1", scale=2)
    return registry


def test_defaults_ask_after_the_lower_half_of_the_scale(registry: Registry) -> None:
    four, two = registry.device("k1"), registry.device("k2")
    assert four is not None
    assert two is not None
    assert (four.followup_max_rating, two.followup_max_rating) == (2, 1)
    assert four.followup_reasons == DEFAULT_FOLLOWUP_REASONS
    assert four.question is None
    assert four.language is None


def test_configuring_a_kiosk_is_validated(registry: Registry) -> None:
    registry.configure_kiosk(
        "k1", question="  Kā jums patika?  ", language="lv", followup_max_rating=0
    )
    device = registry.device("k1")
    assert device is not None
    assert (device.question, device.language, device.followup_max_rating) == (
        "Kā jums patika?",
        "lv",
        0,
    )
    with pytest.raises(RegistryError, match="above the scale"):
        registry.configure_kiosk("k2", followup_max_rating=3)
    with pytest.raises(RegistryError, match="above the scale"):
        registry.configure_kiosk("k1", followup_max_rating=4, scale=3)
    with pytest.raises(RegistryError, match="language"):
        registry.configure_kiosk("k1", language="de")
    with pytest.raises(RegistryError, match="must not repeat"):
        registry.configure_kiosk("k1", followup_reasons=["queue", "queue"])
    with pytest.raises(RegistryError, match="followup_reasons"):
        registry.configure_kiosk("k1", followup_reasons=["Queue!"])
    with pytest.raises(RegistryError, match="no kiosk"):
        registry.configure_kiosk("nope", language="en")
    assert registry.kiosks["k1"].language == "lv"  # a refused change changes nothing


def test_a_pairing_code_is_exchanged_once_for_a_new_token(registry: Registry) -> None:
    old_hash = registry.kiosks["k1"].token_sha256
    code = registry.start_pairing("k1", NOW, timedelta(minutes=15))
    assert len(code) == 9
    assert code[4] == "-"
    assert set(code.replace("-", "")) <= set(PAIRING_ALPHABET)

    kiosk_id, token = registry.redeem_pairing(f" {code.lower()} ", NOW + timedelta(minutes=1))
    assert kiosk_id == "k1"
    assert registry.kiosks["k1"].token_sha256 == hash_token(token) != old_hash
    with pytest.raises(PairingCodeSpent, match="already used"):
        registry.redeem_pairing(code, NOW + timedelta(minutes=2))


def test_expired_replaced_and_revoked_codes_are_refused(registry: Registry) -> None:
    code = registry.start_pairing("k1", NOW, timedelta(minutes=15))
    with pytest.raises(PairingCodeSpent, match="expired"):
        registry.redeem_pairing(code, NOW + timedelta(minutes=15))

    newer = registry.start_pairing("k1", NOW, timedelta(minutes=15))
    with pytest.raises(UnknownPairingCode):
        registry.redeem_pairing(code, NOW)  # replaced by the newer code

    registry.revoke("k1")
    with pytest.raises(PairingCodeSpent, match="revoked"):
        registry.redeem_pairing(newer, NOW)
    with pytest.raises(RegistryError, match="revoked"):
        registry.start_pairing("k1", NOW, timedelta(minutes=15))


def test_pairing_codes_survive_the_file(registry: Registry, tmp_path: Path) -> None:
    code = registry.start_pairing("k1", NOW, timedelta(minutes=15))
    registry.save(tmp_path / "devices.yaml")
    assert code not in (tmp_path / "devices.yaml").read_text()
    loaded = Registry.load(tmp_path / "devices.yaml")
    assert loaded.redeem_pairing(code, NOW)[0] == "k1"


def test_commands_set_the_page_and_print_a_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devices = ["devices", "--devices-file", str(tmp_path / "devices.yaml")]
    assert main([*devices, "add-store", "s1"]) == 0
    assert (
        main([*devices, "add-kiosk", "k1", "--store", "s1", "--question", "Vai esat apmierināts?"])
        == 0
    )
    assert (
        main([*devices, "set-kiosk", "k1", "--language", "ru", "--followup-reasons", "queue,staff"])
        == 0
    )
    kiosk = Registry.load(tmp_path / "devices.yaml").kiosks["k1"]
    assert (kiosk.question, kiosk.language, kiosk.reasons) == (
        "Vai esat apmierināts?",
        "ru",
        ("queue", "staff"),
    )
    assert main([*devices, "set-kiosk", "k1", "--language", "auto", "--question", ""]) == 0
    kiosk = Registry.load(tmp_path / "devices.yaml").kiosks["k1"]
    assert (kiosk.question, kiosk.language) == (None, None)

    assert main([*devices, "set-kiosk", "k1", "--followup-at", "9"]) == 2
    assert "above the scale" in capsys.readouterr().err
    assert main([*devices, "set-kiosk", "k1"]) == 2
    assert "nothing to change" in capsys.readouterr().err

    assert main([*devices, "pair", "k1", "--api", "http://api:8000/"]) == 0
    printed = capsys.readouterr().out
    code = printed.splitlines()[1]
    assert f"http://api:8000/kiosk#pair={code}" in printed
    registry = Registry.load(tmp_path / "devices.yaml")
    assert registry.redeem_pairing(code, datetime.now(UTC))[0] == "k1"
