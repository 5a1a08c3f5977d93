"""The devices a simulation posts as: a registry's stores, kiosks and cameras, with tokens.

The registry keeps only token hashes, so the tokens come from ``tokens.yaml`` beside
the devices file (``kioskpulse demo`` writes one for its demo registry; an operator
can write one by hand, a mapping of device id to token).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kioskpulse.devices import Kiosk, Registry, RegistryError
from kioskpulse.events import CameraRole, KioskZone

__all__ = [
    "FleetError",
    "SimulatedCamera",
    "SimulatedKiosk",
    "SimulatedStore",
    "add_simulated_store",
    "load_fleet",
    "tokens_file_for",
]


class FleetError(RegistryError):
    """The devices file and its tokens do not make a fleet the simulator can post as."""


@dataclass(frozen=True)
class SimulatedKiosk:
    kiosk_id: str
    store_id: str
    scale: int
    token: str
    #: Asks "what went wrong?" after a press at or below this rating (0: never).
    followup_max_rating: int = 0
    #: The answers it offers.
    followup_reasons: tuple[str, ...] = ()

    @classmethod
    def of(cls, kiosk_id: str, kiosk: Kiosk, token: str) -> SimulatedKiosk:
        """The simulated kiosk of a registry entry: its store, scale and follow-up question."""
        return cls(kiosk_id, kiosk.store, kiosk.scale, token, kiosk.followup_level, kiosk.reasons)


@dataclass(frozen=True)
class SimulatedCamera:
    camera_id: str
    store_id: str
    role: CameraRole
    token: str
    kiosk_id: str | None = None  # the kiosk a role=kiosk camera faces
    #: A floor camera's kiosk zone: the kiosk it sees, and where (x, y, w, h) in its frame.
    zone: tuple[str, tuple[int, int, int, int]] | None = None
    #: A display camera's label in the registry (issue 16; ``displays``).
    display: str | None = None


@dataclass(frozen=True)
class SimulatedStore:
    store_id: str
    kiosks: tuple[SimulatedKiosk, ...] = ()
    cameras: tuple[SimulatedCamera, ...] = ()

    @property
    def floor_cameras(self) -> tuple[SimulatedCamera, ...]:
        return tuple(camera for camera in self.cameras if camera.role == "floor")

    def cameras_facing(self, kiosk_id: str) -> tuple[SimulatedCamera, ...]:
        return tuple(camera for camera in self.cameras if camera.kiosk_id == kiosk_id)


def add_simulated_store(
    registry: Registry,
    store_id: str,
    *,
    kiosks: int,
    scale: int = 4,
    kiosk_zone: tuple[int, int, int, int] | None = None,
) -> SimulatedStore:
    """Register a store of ``kiosks`` kiosks, each with a camera facing it (``{kiosk}-cam``),
    and a floor camera (``{store}-floor``), which sees the first kiosk in ``kiosk_zone``
    (x, y, w, h) if given; the store, with the new devices' tokens."""
    registry.add_store(store_id)
    simulated_kiosks, cameras = [], []
    for n in range(kiosks):
        kiosk = f"{store_id}-k{n}"
        token = registry.add_kiosk(kiosk, store_id, scale)
        simulated_kiosks.append(SimulatedKiosk.of(kiosk, registry.kiosks[kiosk], token))
        token = registry.add_camera(f"{kiosk}-cam", store_id, "kiosk", kiosk)
        cameras.append(SimulatedCamera(f"{kiosk}-cam", store_id, "kiosk", token, kiosk))
    zone = None
    if kiosk_zone is not None and simulated_kiosks:
        x, y, w, h = kiosk_zone
        zone = KioskZone(kiosk_id=simulated_kiosks[0].kiosk_id, x=x, y=y, w=w, h=h)
    token = registry.add_camera(f"{store_id}-floor", store_id, "floor", kiosk_zone=zone)
    cameras.append(
        SimulatedCamera(f"{store_id}-floor", store_id, "floor", token, None, _zone(zone))
    )
    return SimulatedStore(store_id, tuple(simulated_kiosks), tuple(cameras))


def tokens_file_for(devices_file: Path) -> Path:
    """Where the tokens of a devices file's devices are kept."""
    return devices_file.with_name("tokens.yaml")


def load_fleet(devices_file: Path, *, stores: int | None = None) -> list[SimulatedStore]:
    """The active devices of ``devices_file``, grouped by store (sorted ids), with their tokens.

    ``stores`` keeps only the first N stores. Raises FleetError (a RegistryError) when
    the tokens file is missing or lacks the token of an active device of those stores.
    """
    registry = Registry.load(devices_file)
    if not registry.stores:
        raise FleetError(f"no stores in {devices_file}: nothing to simulate")
    if stores is not None and stores < 1:
        raise FleetError("the number of stores to simulate must be at least 1")
    chosen = sorted(registry.stores)[:stores]
    tokens = _read_tokens(tokens_file_for(devices_file))
    fleet = [_store(registry, store_id, tokens) for store_id in chosen]
    missing = [
        device_id
        for store in fleet
        for device_id, token in _device_tokens(store)
        if not token  # _store leaves "" where tokens.yaml has no entry
    ]
    if missing:
        raise FleetError(
            f"{tokens_file_for(devices_file)} has no token for {', '.join(missing)}: "
            "add them (device id: token), or revoke the devices you do not simulate"
        )
    return fleet


def _read_tokens(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise FleetError(
            f"the simulator posts as the devices and needs their tokens, but {path} does not "
            "exist: write one (device id: token) beside the devices file"
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise FleetError(f"cannot read the tokens file {path}: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in data.items()
    ):
        raise FleetError(f"{path} must map device ids to tokens (strings)")
    return data


def _store(registry: Registry, store_id: str, tokens: dict[str, str]) -> SimulatedStore:
    kiosks = tuple(
        SimulatedKiosk.of(kiosk_id, kiosk, tokens.get(kiosk_id, ""))
        for kiosk_id, kiosk in sorted(registry.kiosks.items())
        if kiosk.store == store_id and not kiosk.revoked
    )
    cameras = tuple(
        SimulatedCamera(
            camera_id,
            store_id,
            camera.role,
            tokens.get(camera_id, ""),
            camera.kiosk,
            _zone(camera.kiosk_zone),
            camera.display,
        )
        for camera_id, camera in sorted(registry.cameras.items())
        if camera.store == store_id and not camera.revoked
    )
    return SimulatedStore(store_id, kiosks, cameras)


def _zone(zone: KioskZone | None) -> tuple[str, tuple[int, int, int, int]] | None:
    return None if zone is None else (zone.kiosk_id, (zone.x, zone.y, zone.w, zone.h))


def _device_tokens(store: SimulatedStore) -> list[tuple[str, str]]:
    return [(k.kiosk_id, k.token) for k in store.kiosks] + [
        (c.camera_id, c.token) for c in store.cameras
    ]
