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


def test_a_frame_posted_to_the_demo_becomes_a_face_of_its_store(tmp_path: Path) -> None:
    import time

    import httpx
    import yaml

    from tests.unit.vision.conftest import ASTRONAUT_FRAMES, jpeg

    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "kioskpulse.cli", "demo", "--api-port", str(port),
         "--duration", "8", "--no-simulator"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert demo.poll() is None, demo.communicate()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the demo API did not come up"
            time.sleep(0.2)
        tokens = yaml.safe_load((tmp_path / ".kioskpulse-demo" / "tokens.yaml").read_text())
        response = httpx.post(
            f"{url}/v1/cameras/store-2-floor-1/frames",
            content=jpeg(ASTRONAUT_FRAMES["640x480"]()),
            headers={
                "Authorization": f"Bearer {tokens['store-2-floor-1']}",
                "Content-Type": "image/jpeg",
            },
            timeout=10,
        )
        assert response.status_code == 202, response.text
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, err
    final = out[out.rindex("what arrived, per store") :]
    [store_2] = [line for line in final.splitlines() if line.startswith("store-2")]
    assert store_2.split()[-1] == "1", f"one face for store-2: {final}"
