"""`kioskpulse demo`: simulated kiosks post through the real HTTP API; counts appear."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import free_port


def test_the_demo_shows_ratings_arriving_per_store(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "kioskpulse.cli", "demo", "--api-port", str(port),
         "--duration", "6", "--rate", "30"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"http://127.0.0.1:{port}/docs" in out
    assert "Authorization: Bearer kp_" in out, "the banner shows how to post by hand"

    final = out[out.rindex("what arrived, per store") :]
    counts = {m[0]: int(m[1]) for m in re.findall(r"^(store-\d)\s+(\d+)", final, re.M)}
    assert set(counts) == {"store-1", "store-2", "store-3"}
    assert all(n > 0 for n in counts.values()), counts

    summary = re.search(r"simulator: (\d+) events accepted of (\d+) requests", out)
    assert summary is not None, out
    accepted, sent = map(int, summary.groups())
    assert accepted == sent > 0, "every simulated request was accepted"
    ratings_seen = sum(counts.values())
    assert ratings_seen <= accepted, "heartbeats are accepted events too, ratings are fewer"
    assert (tmp_path / ".kioskpulse-demo" / "devices.yaml").exists()


def test_the_demo_refuses_a_busy_port_clearly(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "kioskpulse.cli", "demo", "--api-port", str(port),
             "--duration", "1"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--api-port" in result.stderr
