"""Frames posted to the API come out of a real faust worker as observations on camera.faces.v1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from kioskpulse.events import EXPRESSIONS, FaceObservation
from kioskpulse.topics import FACES
from tests.integration.conftest import (
    RunningApi,
    end_offsets,
    free_port,
    read_new,
    stop_process,
)
from tests.unit.vision.conftest import ASTRONAUT_FRAMES, jpeg

WORKER_START_LIMIT = 90.0


@dataclass(frozen=True)
class RunningWorker:
    log: Path
    web_url: str


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningWorker]:
    """`kioskpulse worker` as its own process."""
    state = tmp_path_factory.mktemp("worker")
    log = state / "worker.log"
    web_port = free_port()
    env = {**os.environ, "KIOSKPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    command = [
        sys.executable, "-m", "kioskpulse.cli", "worker",
        "--web-port", str(web_port), "--datadir", str(state / "data"), "--log-level", "info",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WORKER_START_LIMIT
        while b"Worker]: Ready" not in log.read_bytes():
            assert process.poll() is None, f"the worker exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"worker not ready:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield RunningWorker(log, f"http://127.0.0.1:{web_port}")
    finally:
        stop_process(process)


async def test_a_posted_frame_becomes_an_observation_keyed_by_store(
    api: RunningApi, worker: RunningWorker, kafka_bootstrap: str
) -> None:
    start = await end_offsets(kafka_bootstrap, FACES)
    captured_at = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        response = await client.post(
            "/v1/cameras/cam-k1/frames",
            params={"captured_at": captured_at.isoformat()},
            content=jpeg(ASTRONAUT_FRAMES["640x480"]()),
            headers={**api.fleet.auth("cam-k1"), "Content-Type": "image/jpeg"},
        )
    assert response.status_code == 202, response.text

    records = await read_new(kafka_bootstrap, start, want=1, within=60)
    ours = [
        (r, o)
        for r in records
        if (o := FaceObservation.from_bytes(r.value)).captured_at == captured_at
    ]
    assert len(ours) == 1, (
        f"{len(records)} new observations, none of ours; worker log:\n"
        + (worker.read_text()[-2000:])
    )
    record, observation = ours[0]
    assert record.key == b"s1"
    assert (observation.camera_id, observation.role, observation.kiosk_id) == (
        "cam-k1",
        "kiosk",
        "k1",
    )
    assert observation.source == "server"
    assert observation.probs[EXPRESSIONS.index("happy")] >= 0.9

    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{worker.web_url}/metrics")).text
    assert 'kioskpulse_vision_frames_total{outcome="ok"}' in metrics
    assert "kioskpulse_vision_infer_duration_seconds_bucket" in metrics
