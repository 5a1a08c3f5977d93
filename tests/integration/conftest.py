"""Fixtures for tests against the real local Kafka broker (deploy/kafka/kafka.sh).

These tests never skip: without a broker they fail and say how to start one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from tests.conftest import Fleet, make_fleet

REPO = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPO / "deploy" / "kafka" / "kafka.sh"
BOOTSTRAP = os.environ.get("KIOSKPULSE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
PUBLISH_TIMEOUT = 3.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.kafka)


def broker_port() -> int:
    return int(BOOTSTRAP.rsplit(":", 1)[1])


def broker_accepts_connections() -> bool:
    host, port = BOOTSTRAP.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def kafka_script(action: str) -> None:
    """Run deploy/kafka/kafka.sh for the broker the tests use."""
    env = {**os.environ, "KAFKA_PORT": str(broker_port())}
    subprocess.run([str(KAFKA_SCRIPT), action], check=True, env=env, timeout=120)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    if not broker_accepts_connections():
        pytest.fail(
            f"no Kafka broker at {BOOTSTRAP}: start one with `deploy/kafka/kafka.sh start` "
            "(make test does this for you)",
            pytrace=False,
        )
    return BOOTSTRAP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningApi:
    url: str
    fleet: Fleet
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def api(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """`kioskpulse api` as its own process, on the real broker."""
    fleet = make_fleet(tmp_path_factory.mktemp("api") / "devices.yaml")
    port = free_port()
    env = {
        **os.environ,
        "KIOSKPULSE_BUS": "kafka",
        "KIOSKPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "KIOSKPULSE_DEVICES_FILE": str(fleet.path),
        "KIOSKPULSE_PUBLISH_TIMEOUT_SECONDS": str(PUBLISH_TIMEOUT),
        "KIOSKPULSE_RATE_LIMIT_PER_SECOND": "0",
    }
    command = [sys.executable, "-m", "kioskpulse.cli", "api", "--port", str(port)]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield RunningApi(url, fleet, process)
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API at {url} was not ready within {timeout} s")


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """Where each partition of ``topic`` ends now: read from here to see only new records."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    assert partitions, f"topic {topic} does not exist"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        offsets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return offsets
    finally:
        await consumer.stop()


async def read_new(
    bootstrap: str, start: dict[TopicPartition, int], want: int, within: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read at least ``want`` records written after ``start`` (an independent consumer)."""
    return await read_until(bootstrap, start, lambda records: len(records) >= want, within)


async def read_until(
    bootstrap: str,
    start: dict[TopicPartition, int],
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    within: float = 30,
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records written after ``start``, read until ``done`` says they are enough (or
    ``within`` seconds have passed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(list(start))
        for partition, offset in start.items():
            consumer.seek(partition, offset)
        deadline = time.monotonic() + within
        while not done(records) and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()
