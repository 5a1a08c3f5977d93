"""NPS kiosks through the Kafka runtime (issue 16): API → Kafka → worker → Kafka → exporter.

The raw NPS figures equal the formula on the posted presses; on a simulated store whose
detractors press three times as often as its promoters, the raw NPS is off by 15 points
or more and the corrected NPS recovers the simulated truth within 5.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kioskpulse.devices import edit_registry
from kioskpulse.events import NPS_SCALE
from kioskpulse.simulation.fleet import SimulatedStore, add_simulated_store
from kioskpulse.simulation.model import ModelParameters, nps_of
from stream_processors.estimator import EstimatorConfig, estimate_nps
from tests.integration.test_pipeline import (
    post_visitors,
    settled_samples,
    simulated_visitors,
    window_statistics,
)
from tests.support.processes import (
    Worker,
    running_pipeline,
    store_samples,
)

#: The simulated store's truth over the scores 0..10: 25 % detractors, 30 % passives,
#: 45 % promoters (NPS 20).
THETA = (0.25 / 7,) * 7 + (0.15, 0.15, 0.2, 0.25)
#: Sharper faces than the default (a better expression model): with 5,000 visitors the
#: estimate's error has a standard deviation of about 1.1 points (`tests/support/nps.py`
#: on 40 seeds), so the acceptance's 5 points hold by a wide margin.
PARAMETERS = ModelParameters(visitor_concentration=20.0)
GROUPS = ("detractor", "passive", "promoter")


@dataclass(frozen=True)
class Site:
    store: str
    kiosk_token: str
    simulated: SimulatedStore


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Site, Path]:
    path = tmp_path_factory.mktemp("nps") / "devices.yaml"
    store = f"nps-{uuid.uuid4().hex[:8]}"
    with edit_registry(path) as registry:
        registry.add_store(store)
        token = registry.add_kiosk(f"{store}-kiosk", store, NPS_SCALE)
        # Three NPS kiosks, each with a camera facing it, and a floor camera.
        simulated = add_simulated_store(registry, f"{store}-sim", kiosks=3, scale=NPS_SCALE)
    return Site(store, token, simulated), path


@pytest.fixture(scope="module")
def running(
    site: tuple[Site, Path], kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Worker]]:
    """The API, a worker and the exporter, each its own process on the real broker."""
    _, devices = site
    workdir = tmp_path_factory.mktemp("nps-processes")
    with running_pipeline(kafka_bootstrap, devices, workdir, "nps") as pipeline:
        yield pipeline.api_url, pipeline.exporter_url, pipeline.worker


def test_the_nps_figures_equal_the_formula_on_the_posted_presses(
    site: tuple[Site, Path], running: tuple[str, str, Worker]
) -> None:
    site_, _ = site
    api_url, exporter_url, worker = running
    store, kiosk = site_.store, f"{site_.store}-kiosk"
    start = datetime.now(UTC) - timedelta(minutes=5)
    # Scores 10 s apart (the misuse filter counts presses 5 s apart once): 3 detractors,
    # 2 passives, 4 promoters; then a 10 pressed twice within 5 s (counted once).
    scores = [0, 6, 3, 7, 8, 9, 10, 10, 9, 10]
    seconds = [0, 10, 20, 30, 40, 50, 60, 70, 80, 82]
    bodies = [
        {
            "event_id": str(uuid.uuid4()),
            "rating": score,
            "pressed_at": (start + timedelta(seconds=at)).isoformat(),
        }
        for at, score in zip(seconds, scores, strict=True)
    ]
    auth = {"Authorization": f"Bearer {site_.kiosk_token}"}
    with httpx.Client(base_url=api_url, timeout=10) as client:
        response = client.post(
            f"/v1/kiosks/{kiosk}/ratings", json={"ratings": bodies}, headers=auth
        )
        assert response.status_code == 202, response.text
        refused = client.post(
            f"/v1/kiosks/{kiosk}/ratings",
            json={"event_id": str(uuid.uuid4()), "rating": 11, "pressed_at": start.isoformat()},
            headers=auth,
        )
        assert refused.status_code == 422, refused.text
    counted = scores[:9]  # the last came 2 s after the one before: suppressed
    groups = {
        "detractor": sum(s <= 6 for s in counted),
        "passive": sum(s in (7, 8) for s in counted),
        "promoter": sum(s >= 9 for s in counted),
    }
    assert groups == {"detractor": 3, "passive": 2, "promoter": 4}
    nps = 100 * groups["promoter"] / len(counted) - 100 * groups["detractor"] / len(counted)
    label = f'store="{store}",window="15m"'
    want = {
        f'kioskpulse_ratings_total{{store="{store}",scale="11",rating="{score}"}}': float(
            counted.count(score)
        )
        for score in range(11)
    }
    want[f'kioskpulse_ratings_suppressed_total{{store="{store}"}}'] = 1.0
    want[f'kioskpulse_nps{{{label},method="raw"}}'] = pytest.approx(nps)  # type: ignore[assignment]
    for group, n in groups.items():
        key = f'kioskpulse_nps_group_share{{{label},group="{group}",method="raw"}}'
        want[key] = pytest.approx(n / len(counted))  # type: ignore[assignment]
    deadline = time.monotonic() + 60
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        seen = store_samples(httpx.get(f"{exporter_url}/metrics").text, store)
        if all(seen.get(name) == value for name, value in want.items()):
            break
        time.sleep(0.5)
    assert {name: seen.get(name) for name in want} == want, f"worker log:\n{worker.tail()}"
    # No floor camera: no corrected NPS, and the reason says why.
    assert seen[f'kioskpulse_nps_correction_available{{{label},reason="too_few_visitors"}}'] == 0
    assert f'kioskpulse_nps{{{label},method="corrected"}}' not in seen
    # The Happy Index reads a score as score / 10.
    happy = seen[f'kioskpulse_happy_index{{{label},method="raw"}}']
    assert happy == pytest.approx(100 * sum(counted) / (10 * len(counted)))


async def test_the_corrected_nps_recovers_the_simulated_truth_where_the_raw_nps_is_off(
    site: tuple[Site, Path], running: tuple[str, str, Worker], kafka_bootstrap: str
) -> None:
    store = site[0].simulated
    api_url, exporter_url, worker = running
    start = datetime.now(UTC) - timedelta(minutes=50)
    visitors = simulated_visitors(store, 5000, start, PARAMETERS, THETA)
    presses = post_visitors(api_url, store, visitors, start)
    label = f'store="{store.store_id}",window="1h"'
    want = {f'kioskpulse_visitors_total{{store="{store.store_id}"}}': float(len(visitors))}
    seen = await settled_samples(exporter_url, store.store_id, want, start, visitors, presses)
    assert {k: seen.get(k) for k in want} == want, f"worker log:\n{worker.tail()}"
    assert seen["settled"] == 1.0, "the newest bucket was not settled in time"

    assert nps_of(THETA) == pytest.approx(20.0)
    # The truth: the NPS of the visitors who came (θ's, less the luck of the draw).
    levels = Counter(visitor.level for visitor in visitors)
    truth = nps_of([levels[level] / len(visitors) for level in range(1, NPS_SCALE + 1)])
    raw = seen[f'kioskpulse_nps{{{label},method="raw"}}']
    assert raw <= truth - 15, "the detractors press three times as often: raw is far off"

    # The estimator on the statistics read back from Kafka agrees with the exporter.
    statistics = await window_statistics(
        kafka_bootstrap, store.store_id, datetime.now(UTC) - timedelta(hours=1)
    )
    assert statistics.raw_nps() == pytest.approx(raw)
    correction = estimate_nps(statistics)
    reasons = [
        key.split('reason="')[1].rstrip('"}')
        for key in seen
        if key.startswith(f"kioskpulse_nps_correction_available{{{label},")
    ]
    assert reasons == [correction.reason], "the exporter and the estimator disagree"
    if correction.available:
        corrected = seen[f'kioskpulse_nps{{{label},method="corrected"}}']
        assert corrected == pytest.approx(correction.nps, abs=1e-6)
        assert seen[f"kioskpulse_nps_lower{{{label}}}"] <= corrected
        assert corrected <= seen[f"kioskpulse_nps_upper{{{label}}}"]
    else:
        # The fit test refuses some 5 % of unshifted samples (a new store, hence new
        # visitors, on every run): the figure is withheld, with that reason.
        assert correction.reason == "label_shift_misfit", correction.reason
    # Whatever the fit test said: the estimate recovers the truth within 5 NPS points.
    unscreened = estimate_nps(statistics, config=EstimatorConfig(min_fit_p_value=0.0))
    assert unscreened.nps is not None, unscreened.reason
    assert abs(unscreened.nps - truth) <= 5, (unscreened.nps, truth, raw)
