"""A registry of devices with known tokens, and settings for an API on the memory bus."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kioskpulse.devices import edit_registry
from kioskpulse.settings import Settings

__all__ = ["Fleet", "make_fleet", "memory_settings", "write_tokens"]


@dataclass(frozen=True)
class Fleet:
    """A registry file and the tokens of its devices."""

    path: Path
    tokens: dict[str, str]

    def auth(self, device_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[device_id]}"}


def make_fleet(path: Path) -> Fleet:
    """Stores s1 and s2; kiosks k1 (s1, 4 buttons) and k5 (s2, 5 buttons);
    cameras cam-floor (s1, floor, faces from 20 px) and cam-k1 (s1, facing k1)."""
    with edit_registry(path) as registry:
        registry.add_store("s1", "Store one")
        registry.add_store("s2")
        tokens = {
            "k1": registry.add_kiosk("k1", "s1", 4),
            "k5": registry.add_kiosk("k5", "s2", 5),
            "cam-floor": registry.add_camera("cam-floor", "s1", "floor", min_face_px=20),
            "cam-k1": registry.add_camera("cam-k1", "s1", "kiosk", "k1"),
        }
    return Fleet(path, tokens)


def write_tokens(fleet: Fleet, leave_out: tuple[str, ...] = ()) -> None:
    """``tokens.yaml`` beside the registry, as the demo writes it (the simulator reads it)."""
    tokens = {device: token for device, token in fleet.tokens.items() if device not in leave_out}
    fleet.path.with_name("tokens.yaml").write_text(yaml.safe_dump(tokens))


def memory_settings(fleet: Fleet, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bus": "memory",
        "devices_file": fleet.path,
        "devices_reload_seconds": 0,
        "rate_limit_per_second": 0,
    }
    values.update(overrides)
    return Settings(**values)
