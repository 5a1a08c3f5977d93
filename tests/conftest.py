"""Fixtures every kind of test shares: a registry of devices with known tokens, an API
client on the memory bus, the vision pipeline, and the real local Kafka broker.

Helpers live in ``tests/support``; this module only makes fixtures of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kioskpulse.bus.memory import MemoryBus
from tests.support.fleet import Fleet, make_fleet, memory_settings
from tests.support.kafka import BOOTSTRAP, broker_accepts_connections
from tests.support.processes import RunningApi, running_api


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return make_fleet(tmp_path / "devices.yaml")


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


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The real local broker. Tests that need it never skip: without one they fail and
    say how to start it."""
    if not broker_accepts_connections():
        pytest.fail(
            f"no Kafka broker at {BOOTSTRAP}: start one with `deploy/kafka/kafka.sh start` "
            "(make test does this for you)",
            pytrace=False,
        )
    return BOOTSTRAP


@pytest.fixture(scope="module")
def api(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """`kioskpulse api` as its own process, on the real broker."""
    with running_api(
        kafka_bootstrap, make_fleet(tmp_path_factory.mktemp("api") / "devices.yaml")
    ) as running:
        yield running
