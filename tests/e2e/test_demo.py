"""`kioskpulse demo`: simulated devices post through the real HTTP API; store figures move."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import free_port

#: Every store metric the exporter must expose (issue: stream processors, exporter).
STORE_METRICS = [
    "kioskpulse_happy_index", "kioskpulse_ratings_total", "kioskpulse_ratings_suppressed_total",
    "kioskpulse_rating_share", "kioskpulse_window_visitors", "kioskpulse_visitors_total",
    "kioskpulse_response_rate", "kioskpulse_linked_presses", "kioskpulse_expression_share",
    "kioskpulse_tone_share", "kioskpulse_kiosk_last_seen_timestamp_seconds",
    "kioskpulse_kiosk_buffered_events", "kioskpulse_camera_last_seen_timestamp_seconds",
    # Issue 16: store-1's NPS kiosk and its display camera.
    "kioskpulse_nps", "kioskpulse_nps_group_share", "kioskpulse_display_watchers",
    "kioskpulse_display_dwell_mean_seconds", "kioskpulse_display_interest_share",
]  # fmt: skip
#: The corrected index of every visitor, the last figure to come.
CORRECTED = 'method="corrected"'
STAGE_METRICS = [
    "kioskpulse_aggregator_events_total",
    "kioskpulse_aggregator_event_lag_seconds_bucket",
]


def start_demo(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str, str]:
    """The demo on free ports, without Prometheus (tests/e2e/test_monitoring.py has it)."""
    api, exporter = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "kioskpulse.cli", "demo", "--api-port", str(api),
         "--exporter-port", str(exporter), "--no-prometheus", *args],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return demo, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{exporter}"


def metric_names(exposition: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line[:1] != "#"}


def test_the_demo_shows_moving_store_figures_within_30_seconds(tmp_path: Path) -> None:
    import httpx

    started = time.monotonic()
    demo, api, exporter = start_demo(tmp_path, "--duration", "35", "--rate", "1")
    missing: set[str] = {*STORE_METRICS, CORRECTED}
    try:
        while time.monotonic() - started < 30 and missing:
            assert demo.poll() is None, demo.communicate()
            time.sleep(1)
            with contextlib.suppress(httpx.HTTPError):
                text = httpx.get(f"{exporter}/metrics").text
                missing = set(STORE_METRICS) - metric_names(text)
                if CORRECTED not in text:  # thanks to the hour of history posted at the start
                    missing.add(CORRECTED)
        assert not missing, f"not on the exporter's /metrics after 30 s: {sorted(missing)}"
        operational = metric_names(httpx.get(f"{api}/metrics").text)
        assert set(STAGE_METRICS) <= operational
        assert httpx.get(f"{api}/kiosk").status_code == 200, "the kiosk page is served"
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, err
    assert f"{api}/docs" in out
    assert f"{exporter}/metrics" in out
    assert "Authorization: Bearer kp_" in out, "the banner shows how to post by hand"
    pages = re.findall(rf"{re.escape(api)}/kiosk#id=(store-\d-kiosk-\d)&token=kp_\S+", out)
    assert len(set(pages)) == 6, "the banner gives every demo kiosk's page, paired"

    summaries = out.split("-- per store, last 15 min")
    assert len(summaries) > 5, "a summary every few seconds"
    final = summaries[-1]
    # store, presses, suppressed, happy (raw), then visitors just before the response rate.
    rows = re.findall(r"^(store-\d)\s+(\d+)\s+(\d+)\s+(\S+)\s.*\s(\d+)\s+\S+%", final, re.M)
    assert {row[0] for row in rows} == {"store-1", "store-2", "store-3"}, final
    assert all(int(row[1]) > 0 and int(row[4]) > 0 for row in rows), f"presses, visitors: {final}"
    first_with_presses = next(
        i for i, text in enumerate(summaries) if re.search(r"store-\d +[1-9]", text)
    )
    assert first_with_presses < len(summaries) - 1, "the figures move during the run"

    summary = re.search(r"simulator: (\d+) events accepted of (\d+) requests", out)
    assert summary is not None, out
    accepted, sent = map(int, summary.groups())
    assert accepted == sent > 0, "every simulated request was accepted"
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
    import httpx
    import yaml

    from tests.support.images import ASTRONAUT_FRAMES, jpeg

    demo, url, exporter = start_demo(tmp_path, "--duration", "15", "--no-simulator")
    camera_line = (
        'kioskpulse_camera_last_seen_timestamp_seconds{store="store-2",camera="store-2-floor-1"}'
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert demo.poll() is None, demo.communicate()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the demo API did not come up"
            time.sleep(0.2)
        tokens = yaml.safe_load((tmp_path / ".kioskpulse-demo" / "tokens.yaml").read_text())
        posted = time.time()
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
        seen = None
        while seen is None and time.monotonic() < deadline + 10:
            time.sleep(0.5)
            for line in httpx.get(f"{exporter}/metrics").text.splitlines():
                if line.startswith(camera_line):
                    seen = float(line.rsplit(" ", 1)[1])
        assert seen is not None, "the face reached the exporter as a camera sighting"
        assert abs(seen - posted) < 5
        faces = httpx.get(f"{url}/metrics").text
        assert (
            'kioskpulse_aggregator_events_total{outcome="accepted",topic="camera.faces.v1"} 1.0'
            in faces
        )
        _out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, err
