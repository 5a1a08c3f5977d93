"""The device registry: consistency rules, hashed tokens, reloading, authentication."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kioskpulse.devices import (
    UNCHANGED,
    Registry,
    RegistryError,
    RegistryFile,
    RegistryFileError,
    UnknownToken,
    WrongDevice,
    edit_registry,
    hash_token,
)
from kioskpulse.events import KioskZone
from tests.support.fleet import Fleet


def test_tokens_are_stored_only_as_hashes(fleet: Fleet) -> None:
    text = fleet.path.read_text()
    for token in fleet.tokens.values():
        assert token not in text
        assert hash_token(token) in text


def test_each_token_is_unique_and_long(fleet: Fleet) -> None:
    tokens = list(fleet.tokens.values())
    assert len(set(tokens)) == len(tokens)
    assert all(len(token) >= 40 for token in tokens)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.add_store("s1"), "already exists"),
        (lambda r: r.add_kiosk("k9", "nowhere"), "store nowhere does not exist"),
        (lambda r: r.add_kiosk("k1", "s1"), "already taken"),
        (lambda r: r.add_camera("k1", "s1", "floor"), "already taken"),
        (lambda r: r.add_camera("c9", "s1", "kiosk", None), "needs the id of its kiosk"),
        (lambda r: r.add_camera("c9", "s1", "floor", "k1"), "belongs to no kiosk"),
        (lambda r: r.add_camera("c9", "s2", "kiosk", "k1"), "k1 is in store s1, not s2"),
        (lambda r: r.add_camera("c9", "s1", "kiosk", "k404"), "kiosk k404 does not exist"),
        (lambda r: r.add_store("bad id!"), "invalid id"),
        (lambda r: r.revoke("ghost"), "no kiosk, camera or operator"),
    ],
)
def test_inconsistent_changes_are_refused(fleet: Fleet, change, message: str) -> None:  # type: ignore[no-untyped-def]
    registry = Registry.load(fleet.path)
    with pytest.raises(RegistryError, match=message):
        change(registry)


def test_devices_carry_their_store_scale_and_role(fleet: Fleet) -> None:
    registry = Registry.load(fleet.path)
    kiosk = registry.device("k5")
    camera = registry.device("cam-k1")
    assert kiosk is not None
    assert (kiosk.kind, kiosk.store_id, kiosk.scale) == ("kiosk", "s2", 5)
    assert camera is not None
    assert (camera.kind, camera.role, camera.kiosk_id) == ("camera", "kiosk", "k1")


def test_authenticate_distinguishes_unknown_and_other_devices(fleet: Fleet) -> None:
    devices = RegistryFile(fleet.path, check_interval=0)
    assert devices.authenticate("k1", fleet.tokens["k1"]).id == "k1"
    with pytest.raises(UnknownToken):
        devices.authenticate("k1", "kp_not-a-token")
    with pytest.raises(WrongDevice):
        devices.authenticate("k1", fleet.tokens["k5"])
    with pytest.raises(UnknownToken):
        devices.authenticate("nobody", "kp_not-a-token")


def test_revocation_is_seen_by_a_running_reader(fleet: Fleet) -> None:
    devices = RegistryFile(fleet.path, check_interval=0)
    assert devices.authenticate("k1", fleet.tokens["k1"]).id == "k1"
    with edit_registry(fleet.path) as registry:
        registry.revoke("k1")
    _bump_mtime(fleet.path)
    with pytest.raises(UnknownToken):
        devices.authenticate("k1", fleet.tokens["k1"])
    assert Registry.load(fleet.path).device("k1") is None


def test_an_invalid_file_keeps_the_last_good_registry(fleet: Fleet) -> None:
    devices = RegistryFile(fleet.path, check_interval=0)
    fleet.path.write_text("kiosks: [this is not a mapping")
    _bump_mtime(fleet.path)
    assert devices.authenticate("k1", fleet.tokens["k1"]).id == "k1"
    assert devices.last_error is not None
    assert "not a valid registry" in devices.last_error


def test_an_invalid_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("kiosks:\n  k1: {store: nowhere, token_sha256: '" + "a" * 64 + "'}\n")
    with pytest.raises(RegistryFileError, match="unknown store"):
        RegistryFile(path)


def test_a_missing_file_is_an_empty_registry(tmp_path: Path) -> None:
    registry = Registry.load(tmp_path / "absent.yaml")
    assert registry.stores == {}
    assert registry.kiosks == {}


def _bump_mtime(path: Path) -> None:
    # Two writes within one filesystem timestamp tick must still be seen as a change.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


# --------------------------------------------------------------------------- operators


def test_an_operator_token_opens_the_read_apis_only(fleet: Fleet) -> None:
    with edit_registry(fleet.path) as registry:
        token = registry.add_operator("ops-team")
    assert token not in fleet.path.read_text()
    assert hash_token(token) in fleet.path.read_text()
    registry_file = RegistryFile(fleet.path, check_interval=0)
    assert registry_file.authenticate_operator(token) == "ops-team"
    # Neither kind of token stands in for the other.
    with pytest.raises(UnknownToken):
        registry_file.authenticate_operator(fleet.tokens["k1"])
    with pytest.raises(UnknownToken):
        registry_file.authenticate("k1", token)
    with pytest.raises(UnknownToken):
        registry_file.authenticate_operator("kp_" + "x" * 43)


def test_a_revoked_operator_token_stops_working(fleet: Fleet) -> None:
    with edit_registry(fleet.path) as registry:
        token = registry.add_operator("ops")
    registry_file = RegistryFile(fleet.path, check_interval=0)
    assert registry_file.authenticate_operator(token) == "ops"
    with edit_registry(fleet.path) as registry:
        registry.revoke("ops")
    _bump_mtime(fleet.path)
    with pytest.raises(UnknownToken):
        registry_file.authenticate_operator(token)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.add_operator("k1"), "already taken"),
        (lambda r: (r.add_operator("ops"), r.add_operator("ops")), "already taken"),
        (lambda r: (r.add_operator("ops"), r.add_kiosk("ops", "s1")), "already taken"),
        (lambda r: r.add_operator("no spaces"), "invalid id"),
    ],
)
def test_operator_names_are_unique_across_devices(fleet: Fleet, change, message: str) -> None:  # type: ignore[no-untyped-def]
    registry = Registry.load(fleet.path)
    with pytest.raises(RegistryError, match=message):
        change(registry)


def test_a_file_naming_an_operator_like_a_device_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    digest = "0" * 64
    path.write_text(
        "stores: {s1: {}}\n"
        f"kiosks: {{k1: {{store: s1, token_sha256: '{digest}'}}}}\n"
        f"operators: {{k1: {{token_sha256: '{digest}'}}}}\n"
    )
    with pytest.raises(RegistryFileError, match="operator and a device"):
        Registry.load(path)


# --------------------------------------------------------------------------- kiosk zones

ZONE = KioskZone(kiosk_id="k1", x=100, y=80, w=200, h=240)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r.add_camera("c9", "s1", "kiosk", "k1", kiosk_zone=ZONE),
            "only a floor camera has a kiosk zone",
        ),
        (
            lambda r: r.add_camera("c9", "s1", "floor", kiosk_zone=ZONE.model_copy(
                update={"kiosk_id": "k404"})),
            "kiosk zone: kiosk k404 does not exist",
        ),
        (
            lambda r: r.add_camera("c9", "s2", "floor", kiosk_zone=ZONE),
            "kiosk zone: kiosk k1 is in store s1, not s2",
        ),
        (
            lambda r: r.configure_camera("cam-k1", kiosk_zone=ZONE),
            "camera cam-k1: only a floor camera has a kiosk zone",
        ),
        (
            lambda r: r.configure_camera("cam-floor", kiosk_zone=ZONE.model_copy(
                update={"kiosk_id": "k5"})),
            "camera cam-floor: kiosk zone: kiosk k5 is in store s2, not s1",
        ),
        (lambda r: r.configure_camera("ghost", kiosk_zone=None), "no camera with id ghost"),
    ],
)  # fmt: skip
def test_a_kiosk_zone_is_a_floor_cameras_view_of_a_kiosk_of_its_store(  # type: ignore[no-untyped-def]
    fleet: Fleet, change, message: str
) -> None:
    registry = Registry.load(fleet.path)
    before = registry.model_dump()
    with pytest.raises(RegistryError, match=message):
        change(registry)
    assert registry.model_dump() == before, "a refused change changes nothing"


def test_a_kiosk_zone_is_set_changed_and_cleared_apart_from_the_smallest_face(
    fleet: Fleet,
) -> None:
    registry = Registry.load(fleet.path)
    camera = registry.configure_camera("cam-floor", kiosk_zone=ZONE)
    assert (camera.kiosk_zone, camera.min_face_px) == (ZONE, 20)
    moved = ZONE.model_copy(update={"x": 300})
    camera = registry.configure_camera("cam-floor", kiosk_zone=moved, min_face_px=UNCHANGED)
    assert (camera.kiosk_zone, camera.min_face_px) == (moved, 20)
    camera = registry.configure_camera("cam-floor", min_face_px=32)
    assert (camera.kiosk_zone, camera.min_face_px) == (moved, 32)
    camera = registry.configure_camera("cam-floor", min_face_px=None)
    assert (camera.kiosk_zone, camera.min_face_px) == (moved, None)
    camera = registry.configure_camera("cam-floor", kiosk_zone=None)
    assert (camera.kiosk_zone, camera.min_face_px) == (None, None)
    assert registry.configure_camera("cam-floor") == camera, "nothing given: nothing changes"


def test_a_kiosk_zone_is_saved_and_reaches_the_authenticated_device(fleet: Fleet) -> None:
    with edit_registry(fleet.path) as registry:
        token = registry.add_camera("cam-floor-2", "s1", "floor", kiosk_zone=ZONE)
    assert "kiosk_zone" in fleet.path.read_text()
    reloaded = Registry.load(fleet.path)
    assert reloaded.cameras["cam-floor-2"].kiosk_zone == ZONE
    assert reloaded.cameras["cam-floor"].kiosk_zone is None
    device = RegistryFile(fleet.path).authenticate("cam-floor-2", token)
    assert (device.role, device.kiosk_id, device.kiosk_zone) == ("floor", None, ZONE)
    assert (
        RegistryFile(fleet.path).authenticate("cam-k1", fleet.tokens["cam-k1"]).kiosk_zone is None
    )

    with edit_registry(fleet.path) as registry:
        registry.configure_camera("cam-floor-2", kiosk_zone=None)
    assert Registry.load(fleet.path).cameras["cam-floor-2"].kiosk_zone is None
    assert "kiosk_zone" not in fleet.path.read_text()


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ("{role: floor, kiosk_zone: {kiosk_id: k9, x: 0, y: 0, w: 10, h: 10}",
         "the kiosk of its kiosk zone, 'k9', is not a kiosk of store s1"),
        ("{role: floor, kiosk_zone: {kiosk_id: k2, x: 0, y: 0, w: 10, h: 10}",
         "the kiosk of its kiosk zone, 'k2', is not a kiosk of store s1"),
        ("{role: kiosk, kiosk: k1, kiosk_zone: {kiosk_id: k1, x: 0, y: 0, w: 10, h: 10}",
         "only a floor camera has a kiosk zone"),
        ("{role: floor, kiosk_zone: {kiosk_id: k1, x: 0, y: 0, w: 0, h: 10}",
         "greater than 0"),
        ("{role: floor, kiosk_zone: 'k1:0,0,10,10'", "valid dictionary"),
    ],
)  # fmt: skip
def test_a_file_with_a_wrong_kiosk_zone_is_refused(
    tmp_path: Path, camera: str, message: str
) -> None:
    path = tmp_path / "devices.yaml"
    digest = "0" * 64
    path.write_text(
        "stores: {s1: {}, s2: {}}\n"
        f"kiosks: {{k1: {{store: s1, token_sha256: '{digest}'}}, "
        f"k2: {{store: s2, token_sha256: '{'1' * 64}'}}}}\n"
        f"cameras: {{c1: {camera}, store: s1, token_sha256: '{'2' * 64}'}}}}\n"
    )
    with pytest.raises(RegistryFileError, match=message):
        Registry.load(path)
