"""Shared fixtures: a registry of devices with known tokens, settings and an API client."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kioskpulse.bus.memory import MemoryBus
from kioskpulse.devices import edit_registry
from kioskpulse.settings import Settings


@dataclass(frozen=True)
class Fleet:
    """A registry file and the tokens of its devices."""

    path: Path
    tokens: dict[str, str]

    def auth(self, device_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[device_id]}"}


def make_fleet(path: Path) -> Fleet:
    """Stores s1 and s2; kiosks k1 (s1, 4 buttons) and k5 (s2, 5 buttons);
    cameras cam-floor (s1, floor) and cam-k1 (s1, facing k1)."""
    with edit_registry(path) as registry:
        registry.add_store("s1", "Store one")
        registry.add_store("s2")
        tokens = {
            "k1": registry.add_kiosk("k1", "s1", 4),
            "k5": registry.add_kiosk("k5", "s2", 5),
            "cam-floor": registry.add_camera("cam-floor", "s1", "floor"),
            "cam-k1": registry.add_camera("cam-k1", "s1", "kiosk", "k1"),
        }
    return Fleet(path, tokens)


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return make_fleet(tmp_path / "devices.yaml")


def memory_settings(fleet: Fleet, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bus": "memory",
        "devices_file": fleet.path,
        "devices_reload_seconds": 0,
        "rate_limit_per_second": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus(publish_timeout=1.0)


@pytest.fixture
async def client(fleet: Fleet, bus: MemoryBus) -> AsyncIterator[httpx.AsyncClient]:
    from kiosk_api import create_app

    app = create_app(memory_settings(fleet), bus=bus, manage_bus=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http


@pytest.fixture(scope="session")
def pipeline() -> Any:
    """The vision pipeline with the real detector and ONNX model, shared by the tests."""
    from vision.pipeline import FramePipeline

    return FramePipeline()


def rating(value: int = 3, **overrides: Any) -> dict[str, Any]:
    """A valid rating body, pressed now."""
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "rating": value,
        "pressed_at": datetime.now(UTC).isoformat(),
    }
    body.update(overrides)
    return body


REPO = Path(__file__).resolve().parents[1]


def promtool_problems(exposition: bytes) -> str:
    """What the real ``promtool check metrics`` says of an exposition ("" when clean)."""
    found = shutil.which("promtool") or str(REPO / ".tools/bin/promtool")
    assert Path(found).is_file(), "promtool not found: run `make tools` (puts it in .tools/bin)"
    result = subprocess.run(
        [found, "check", "metrics"], input=exposition, capture_output=True, timeout=60, check=False
    )
    problems = (result.stdout + result.stderr).decode().strip()
    return problems if problems or result.returncode == 0 else f"exit {result.returncode}"
