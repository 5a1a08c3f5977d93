"""Display cameras through the Kafka runtime (issue 16): a simulated relabel with a known
+30 % dwell effect, posted as an edge display camera would, relabelled with the CLI in
the middle, is recovered by the comparison API within its interval.

API → Kafka → worker → Kafka → exporter, each its own process, as in test_pipeline.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kioskpulse.cli import main
from kioskpulse.devices import edit_registry
from kioskpulse.simulation.displays import DEFAULT_SCHEDULE, DisplayModel, Watcher
from tests.support.processes import (
    Worker,
    running_pipeline,
    store_samples,
)
from tests.support.promtool import promtool_problems

SPRING, SUMMER = DEFAULT_SCHEDULE
WATCHERS = 240
HAPPY = [0.02, 0.01, 0.02, 0.85, 0.03, 0.03, 0.04]
SAD = [0.05, 0.02, 0.05, 0.03, 0.70, 0.02, 0.13]


@dataclass(frozen=True)
class Site:
    store: str
    devices: Path
    tokens: dict[str, str]

    def auth(self, device: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[device]}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    path = tmp_path_factory.mktemp("displays") / "devices.yaml"
    store = f"disp-{uuid.uuid4().hex[:8]}"  # new on every run: the broker keeps old runs'
    with edit_registry(path) as registry:
        registry.add_store(store)
        tokens = {
            "display": registry.add_camera(
                f"{store}-window", store, "display", display=SPRING.label
            ),
            "floor": registry.add_camera(f"{store}-floor", store, "floor"),
            "operator": registry.add_operator(f"{store}-ops"),
        }
    return Site(store, path, tokens)


@pytest.fixture(scope="module")
def running(
    site: Site, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Worker]]:
    workdir = tmp_path_factory.mktemp("displays-processes")
    # The relabel acts on the next request (by default within a second).
    api_env = {"KIOSKPULSE_DEVICES_RELOAD_SECONDS": "0"}
    with running_pipeline(kafka_bootstrap, site.devices, workdir, "displays", api_env) as pipeline:
        yield pipeline.api_url, pipeline.exporter_url, pipeline.worker


def watchers(model: DisplayModel, first: int, start: float, label_effect: Any) -> list[Watcher]:
    """``WATCHERS`` watchers of one label, about one every 2 s from ``start``."""
    found, at = [], start
    for number in range(first, first + WATCHERS):
        at = model.next_arrival(at, rate=0.5)
        found.append(model.watcher(number, at, label_effect))
    return found


def post(client: httpx.Client, camera: str, auth: dict[str, str], items: list[Any]) -> None:
    for chunk in range(0, len(items), 500):
        response = client.post(
            f"/v1/cameras/{camera}/observations",
            json={"observations": items[chunk : chunk + 500]},
            headers=auth,
        )
        assert response.status_code == 202, response.text


def sightings(found: Sequence[Watcher], when: Any) -> list[dict[str, Any]]:
    """The watchers' faces in capture order, as the camera sees and sends them."""
    faces = sorted((seen for watcher in found for seen in watcher.sightings), key=lambda s: s.at)
    return [
        {"track_id": seen.track_id, "captured_at": when(seen.at), "probs": list(seen.probs),
         "bbox": dict(zip("xywh", seen.bbox, strict=True)), "frontal": seen.frontal}
        for seen in faces
    ]  # fmt: skip


def observed(found: Sequence[Watcher]) -> tuple[float, float]:
    """The mean dwell (first to last sighting) and interest share of ``found``."""
    dwells = [w.sightings[-1].at - w.sightings[0].at for w in found]
    return math.fsum(dwells) / len(found), sum(w.interested for w in found) / len(found)


def test_a_relabel_with_a_known_dwell_effect_is_recovered_by_the_comparison_api(
    site: Site, running: tuple[str, str, Worker]
) -> None:
    api_url, exporter_url, worker = running
    camera = f"{site.store}-window"
    start = datetime.now(UTC) - timedelta(minutes=40)

    def when(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat()

    # A fixed camera name seeds the draws: the same watchers on every run.
    model = DisplayModel("window", seed=16, run_id=uuid.uuid4().hex[:8])
    spring = watchers(model, 0, 0.0, SPRING)
    summer = watchers(model, WATCHERS, 1200.0, SUMMER)
    assert spring[-1].sightings[-1].at < 1200 < summer[-1].sightings[-1].at < 2300
    # Floor visitors over the same period: 1 in 4 happy (interested), the rest sad.
    floor = [
        {"track_id": f"v{n}", "captured_at": when(10.0 * n + i),
         "probs": HAPPY if n % 4 == 0 else SAD}
        for n in range(200)
        for i in range(3)
    ]  # fmt: skip
    with httpx.Client(base_url=api_url, timeout=30) as client:
        post(client, camera, site.auth("display"), sightings(spring, when))
        devices = ["devices", "--devices-file", str(site.devices)]
        assert main([*devices, "relabel-camera", camera, "--display", SUMMER.label]) == 0
        post(client, camera, site.auth("display"), sightings(summer, when))
        # Last: a camera far ahead of the store's clock would close the display's tracks
        # by event time between two of their faces (store.py, settled_until).
        post(client, f"{site.store}-floor", site.auth("floor"), floor)

    # Every track closes by the wall clock (track idle) and its bucket reaches the exporter.
    auth = site.auth("operator")
    listing: list[dict[str, Any]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{exporter_url}/v1/stores/{site.store}/displays",
            params={"window": "1h"},
            headers=auth,
        )
        listing = response.json() if response.status_code == 200 else []
        if {item["display"]: item["watchers"] for item in listing} == {
            SPRING.label: WATCHERS,
            SUMMER.label: WATCHERS,
        }:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"display watchers never all arrived: {listing}\nworker:\n{worker.tail()}")

    response = httpx.get(
        f"{exporter_url}/v1/stores/{site.store}/displays/compare",
        params={"a": SUMMER.label, "b": SPRING.label, "window": "1h"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    dwell = body["dwell_seconds"]
    (spring_dwell, spring_interest), (summer_dwell, summer_interest) = map(
        observed, (spring, summer)
    )
    # The exact means of what was posted (times in whole milliseconds)...
    assert dwell["a"] == pytest.approx(summer_dwell, abs=1e-3)
    assert dwell["b"] == pytest.approx(spring_dwell, abs=1e-3)
    assert (dwell["a_tracks"], dwell["b_tracks"]) == (WATCHERS, WATCHERS)
    # ...and the model's +30 % within the 95 % interval, told apart from no effect.
    true_ratio = SUMMER.dwell_mean_seconds / SPRING.dwell_mean_seconds
    assert true_ratio == pytest.approx(1.3)
    low, high = dwell["ratio_interval"]
    assert 1.0 < low < true_ratio < high
    assert dwell["difference_interval"][0] < 2.4 < dwell["difference_interval"][1]
    interest = body["interest_share"]
    assert interest["a"] == pytest.approx(summer_interest)
    assert interest["b"] == pytest.approx(spring_interest)
    low, high = interest["difference_interval"]
    assert low < SUMMER.interest - SPRING.interest < high

    # Against the floor: its interest share (a quarter) over the same window, once its
    # last visitors' tracks have closed too.
    floor_share: dict[str, Any] = {}
    while time.monotonic() < deadline + 30:
        response = httpx.get(
            f"{exporter_url}/v1/stores/{site.store}/displays/compare",
            params={"a": SUMMER.label, "window": "1h"},
            headers=auth,
        )
        assert response.status_code == 200, response.text
        assert response.json()["b"] == "floor"
        floor_share = response.json()["interest_share"]
        if floor_share["b_tracks"] == 200:
            break
        time.sleep(0.5)
    assert floor_share["b_tracks"] == 200
    assert floor_share["b"] == pytest.approx(0.25)
    assert floor_share["a"] == pytest.approx(summer_interest)

    # The same figures on /metrics, labelled by display, and the camera's current label.
    exposition = httpx.get(f"{exporter_url}/metrics").text
    samples = store_samples(exposition, site.store)
    for label in (SPRING.label, SUMMER.label):
        name = f'kioskpulse_display_watchers{{store="{site.store}",window="1h",display="{label}"}}'
        assert samples[name] == WATCHERS
    info = (
        f'kioskpulse_display_camera_info{{store="{site.store}",camera="{camera}",'
        f'display="{SUMMER.label}"}}'
    )
    assert samples[info] == 1
    assert promtool_problems(exposition.encode()) == ""
