"""kioskpulse processes (API, worker, exporter) for the tests: start, wait, kill."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import OffsetAndMetadata

from kioskpulse.bus.kafka import create_topics
from kioskpulse.settings import Settings
from kioskpulse.topics import topic_specs
from stream_processors.exporter.lag import WORKER_INPUTS
from tests.support.fleet import Fleet
from tests.support.kafka import end_offsets


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


#: The API's publish timeout in the integration tests (short: outages are tested).
PUBLISH_TIMEOUT = 3.0


@dataclass
class ApiServer:
    """`kioskpulse api` as its own process on a fixed port: stopped and started again, a
    device sees the same address come back (as after a redeploy)."""

    bootstrap: str
    devices: Path
    #: More KIOSKPULSE_* settings for the process.
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "KIOSKPULSE_BUS": "kafka",
            "KIOSKPULSE_KAFKA_BOOTSTRAP": self.bootstrap,
            "KIOSKPULSE_DEVICES_FILE": str(self.devices),
            "KIOSKPULSE_PUBLISH_TIMEOUT_SECONDS": str(PUBLISH_TIMEOUT),
            "KIOSKPULSE_RATE_LIMIT_PER_SECOND": "0",
            **self.extra_env,
        }
        command = [sys.executable, "-m", "kioskpulse.cli", "api", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=env)
        wait_until_ready(self.url, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)


@contextmanager
def running_api(bootstrap: str, fleet: Fleet) -> Iterator[RunningApi]:
    """`kioskpulse api` as its own process, on the real broker, until the block ends."""
    server = ApiServer(bootstrap, fleet.path)
    try:
        server.start()
        assert server.process is not None
        yield RunningApi(server.url, fleet, server.process)
    finally:
        server.stop()


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


WORKER_START_LIMIT = 90.0


async def commit_end_offsets(bootstrap: str, group: str, topics: Sequence[str]) -> None:
    """Commit, for consumer group ``group``, the current end of every partition of ``topics``."""
    ends = {
        tp: end for topic in topics for tp, end in (await end_offsets(bootstrap, topic)).items()
    }
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
    finally:
        await consumer.stop()


def unique_app_id(purpose: str) -> str:
    """A consumer group and changelog of its own, so tests (and runs) do not share state."""
    return f"kp-test-{purpose}-{uuid.uuid4().hex[:8]}"


@dataclass
class Worker:
    """`kioskpulse worker` as its own process; the same app id resumes the same group."""

    directory: Path
    bootstrap: str
    app_id: str
    #: memory:// rebuilds the tables from the changelog at every start; rocksdb:// keeps
    #: them in ``directory`` and reads only the changelog's tail.
    store: str = "memory://"
    #: False for a second worker joining a group that runs already (it owns the offsets).
    new_group: bool = True
    web_port: int = field(default_factory=free_port)
    #: More KIOSKPULSE_* settings for the process.
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.directory / f"worker-{self.starts}.log"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> None:
        if self.starts == 0 and self.new_group:
            # The broker keeps earlier tests' (and runs') records: a new group starts
            # at today's end of its input topics instead of reading all of them.
            settings = Settings(kafka_bootstrap=self.bootstrap)
            asyncio.run(create_topics(settings, topic_specs(settings)))
            asyncio.run(commit_end_offsets(self.bootstrap, self.app_id, WORKER_INPUTS))
        self.starts += 1
        env = {
            **os.environ,
            "KIOSKPULSE_KAFKA_BOOTSTRAP": self.bootstrap,
            "KIOSKPULSE_FAUST_APP_ID": self.app_id,
            "KIOSKPULSE_FAUST_STORE": self.store,
            "KIOSKPULSE_AGGREGATE_EMIT_SECONDS": "0.2",
            # A killed worker's partitions move to its successor within seconds.
            "KIOSKPULSE_FAUST_SESSION_TIMEOUT_SECONDS": "8",
            **self.extra_env,
        }
        command = [
            sys.executable, "-m", "kioskpulse.cli", "worker", "--web-port", str(self.web_port),
            "--datadir", str(self.directory / "data"), "--log-level", "info",
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WORKER_START_LIMIT
        while b"Worker]: Ready" not in self.log.read_bytes():
            assert self.process.poll() is None, f"the worker exited:\n{self.tail()}"
            assert time.monotonic() < deadline, f"the worker is not ready:\n{self.tail()}"
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def read_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def exporter_process(bootstrap: str, directory: Path, devices: Path) -> Iterator[str]:
    """`kioskpulse exporter` as its own process; yields its URL once it has read the
    aggregates topic from the start (its /readyz says so)."""
    port = free_port()
    env = {
        **os.environ,
        "KIOSKPULSE_KAFKA_BOOTSTRAP": bootstrap,
        "KIOSKPULSE_DEVICES_FILE": str(devices),
    }
    command = [sys.executable, "-m", "kioskpulse.cli", "exporter", "--port", str(port)]
    with (directory / "exporter.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, timeout=60)
        yield url
    finally:
        stop_process(process)


@dataclass(frozen=True)
class Pipeline:
    api_url: str
    exporter_url: str
    worker: Worker


@contextmanager
def running_pipeline(
    bootstrap: str,
    devices: Path,
    directory: Path,
    purpose: str,
    api_env: dict[str, str] | None = None,
) -> Iterator[Pipeline]:
    """The API, a worker and the exporter, each its own process on the real broker."""
    worker = Worker(directory, bootstrap, unique_app_id(purpose))
    api = ApiServer(bootstrap, devices, extra_env=api_env or {})
    try:
        worker.start()
        api.start()
        with exporter_process(bootstrap, directory, devices) as exporter_url:
            yield Pipeline(api.url, exporter_url, worker)
    finally:
        api.stop()
        worker.stop()


def metric_samples(exposition: str) -> dict[str, float]:
    """``name{labels}`` → value for every sample of a Prometheus exposition."""
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line and not line.startswith("#")
    }


def store_samples(exposition: str, store: str) -> dict[str, float]:
    """``name{labels}`` → value for the samples of one store."""
    return {
        name: value
        for name, value in metric_samples(exposition).items()
        if f'store="{store}"' in name
    }
