"""The whole Kafka runtime: API → Kafka → worker → Kafka → exporter, with exact counts.

Three processes, as in production; the test posts as real devices would and reads
what operations would see: the exporter's /metrics (and checks it, and the worker's,
with the real promtool).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kioskpulse.devices import edit_registry
from kioskpulse.events import StoreAggregate
from kioskpulse.simulation.fleet import SimulatedStore, add_simulated_store
from kioskpulse.simulation.model import ModelParameters, StoreModel, Visitor
from stream_processors.estimator import estimate
from stream_processors.statistics import Statistics
from tests.support.processes import (
    Worker,
    running_pipeline,
    store_samples,
)
from tests.support.promtool import promtool_problems

#: Where the zoned store's floor camera sees its kiosk (x, y, w, h).
KIOSK_ZONE = (800, 400, 320, 320)
HAPPY = [0.02, 0.01, 0.02, 0.85, 0.03, 0.03, 0.04]
SAD = [0.05, 0.02, 0.05, 0.03, 0.70, 0.02, 0.13]


@dataclass(frozen=True)
class Site:
    """A store of our own (its id is new on every run: the broker keeps old runs' data)."""

    store: str
    tokens: dict[str, str]
    simulated: SimulatedStore
    #: One kiosk, seen by the floor camera in a kiosk zone (issue 14).
    zoned: SimulatedStore

    def auth(self, device: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[device]}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Site, Path]:
    path = tmp_path_factory.mktemp("pipeline") / "devices.yaml"
    store = f"e2e-{uuid.uuid4().hex[:8]}"
    with edit_registry(path) as registry:
        registry.add_store(store)
        tokens = {
            "kiosk": registry.add_kiosk(f"{store}-kiosk", store, 4),
            "floor": registry.add_camera(f"{store}-floor", store, "floor"),
            "facing": registry.add_camera(f"{store}-facing", store, "kiosk", f"{store}-kiosk"),
            "operator": registry.add_operator(f"{store}-ops"),
        }
        # A second store for the simulator: four kiosks, each with a camera facing it.
        simulated = add_simulated_store(registry, f"{store}-sim", kiosks=4)
        zoned = add_simulated_store(registry, f"{store}-zone", kiosks=1, kiosk_zone=KIOSK_ZONE)
    return Site(store, tokens, simulated, zoned), path


@pytest.fixture(scope="module")
def running(
    site: tuple[Site, Path], kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Worker]]:
    """The API, a worker and the exporter, each its own process on the real broker."""
    _, devices = site
    workdir = tmp_path_factory.mktemp("pipeline-processes")
    with running_pipeline(kafka_bootstrap, devices, workdir, "pipeline") as pipeline:
        yield pipeline.api_url, pipeline.exporter_url, pipeline.worker


def test_posted_ratings_and_faces_appear_in_the_exporter_with_exact_counts(
    site: tuple[Site, Path], running: tuple[str, str, Worker]
) -> None:
    site_, _ = site
    api_url, exporter_url, worker = running
    store, kiosk = site_.store, f"{site_.store}-kiosk"
    start = datetime.now(UTC) - timedelta(minutes=2)

    def at(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat()

    # Presses 10 s apart (levels 1, 2, 4, 4, 4), one hammered twice within 5 s
    # (suppressed), one upload retried with the same event id (counted once). The two
    # unhappy ones are answered "what went wrong?", one answer resent (counted once).
    presses = [(0, 1), (10, 2), (20, 4), (30, 4), (40, 4), (42, 3)]
    ratings = [
        {"event_id": str(uuid.uuid4()), "rating": level, "pressed_at": at(s)}
        for s, level in presses
    ]
    with httpx.Client(base_url=api_url, timeout=10) as client:
        for body in [*ratings, ratings[2]]:
            response = client.post(
                f"/v1/kiosks/{kiosk}/ratings", json=body, headers=site_.auth("kiosk")
            )
            assert response.status_code == 202, response.text
        answers = [
            {"event_id": str(uuid.uuid4()), "rating_event_id": rating["event_id"],
             "reason": reason, "answered_at": at(s + 3)}
            for rating, s, reason in ((ratings[0], 0, "queue"), (ratings[1], 10, "staff"))
        ]  # fmt: skip
        response = client.post(
            f"/v1/kiosks/{kiosk}/followups",
            json={"followups": [*answers, answers[0]]},
            headers=site_.auth("kiosk"),
        )
        assert response.status_code == 202, response.text
        # The kiosk camera saw a happy face 1 s before the press at 20 s: one linked press.
        facing = [{"track_id": "presser", "captured_at": at(19), "probs": HAPPY,
                   "bbox": {"x": 0, "y": 0, "w": 200, "h": 200}}]  # fmt: skip
        # Two visitors crossing the floor, three sightings each.
        floor = [
            {"track_id": track, "captured_at": at(s + i), "probs": probs}
            for track, s, probs in (("v1", 5, HAPPY), ("v2", 25, SAD))
            for i in range(3)
        ]
        for camera, observations in (("facing", facing), ("floor", floor)):
            response = client.post(
                f"/v1/cameras/{store}-{camera}/observations",
                json={"observations": observations},
                headers=site_.auth(camera),
            )
            assert response.status_code == 202, response.text

    want = {
        f'kioskpulse_ratings_total{{store="{store}",scale="4",rating="{level}"}}': n
        for level, n in ((1, 1), (2, 1), (3, 0), (4, 3))
    }
    want[f'kioskpulse_ratings_suppressed_total{{store="{store}"}}'] = 1
    want[f'kioskpulse_visitors_total{{store="{store}"}}'] = 2
    want[f'kioskpulse_linked_presses{{store="{store}",window="15m"}}'] = 1
    for reason in ("queue", "staff"):
        want[f'kioskpulse_followup_total{{store="{store}",reason="{reason}"}}'] = 1
    # 5 presses / 2 visitors, from settled buckets only: once the store sent nothing for
    # twice the track-idle time and a margin, the exporter settles its last bucket
    # (docs/exporter.md, "Settled buckets"): 35 s with the defaults.
    want[f'kioskpulse_response_rate{{store="{store}",window="15m"}}'] = 2.5
    deadline = time.monotonic() + 60
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        seen = store_samples(httpx.get(f"{exporter_url}/metrics").text, store)
        if all(seen.get(name) == value for name, value in want.items()):
            break
        time.sleep(0.5)
    assert {name: seen.get(name) for name in want} == want, f"worker log:\n{worker.tail()}"
    happy = seen[f'kioskpulse_happy_index{{store="{store}",window="15m",method="raw"}}']
    assert happy == pytest.approx(100 * (0 + 1 / 3 + 1 + 1 + 1) / 5)

    # The operators' JSON API agrees.
    summary = httpx.get(
        f"{exporter_url}/v1/stores/{store}/summary",
        params={"window": "15m"},
        headers=site_.auth("operator"),
    )
    assert summary.status_code == 200, summary.text
    assert summary.json()["visitors"] == 2
    assert summary.json()["followup_reasons"] == [
        {"reason": "queue", "count": 1},
        {"reason": "staff", "count": 1},
    ]


def test_the_exporter_and_worker_metrics_pass_promtool(running: tuple[str, str, Worker]) -> None:
    _, exporter_url, worker = running
    for url in (f"{exporter_url}/metrics", f"{worker.web_url}/metrics"):
        exposition = httpx.get(url, timeout=10).content
        assert b"kioskpulse_" in exposition
        assert promtool_problems(exposition) == "", url


def simulated_visitors(
    store: SimulatedStore,
    count: int,
    start: datetime,
    parameters: ModelParameters | None = None,
    theta: tuple[float, ...] | None = None,
) -> list[Visitor]:
    """``count`` visitors of the simulator's ground-truth model, 2 a second from ``start``
    (the store's θ drawn from its id, which is new on every run, unless ``theta``)."""
    model = StoreModel(
        store, seed=11, run_id=uuid.uuid4().hex[:8], parameters=parameters, theta=theta
    )
    visitors, at = [], 0.0
    for _ in range(count):
        at = model.next_arrival(at, rate=2.0)
        visitors.append(model.visitor(at))
    return visitors


def post_visitors(
    api_url: str, store: SimulatedStore, visitors: list[Visitor], start: datetime
) -> int:
    """Post what the devices saw (batches per device, as kiosks uploading a buffer); presses."""

    def when(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat()

    presses: dict[str, list[dict[str, object]]] = {}
    sightings: dict[str, list[dict[str, object]]] = {}
    for visitor in visitors:
        if visitor.press is not None:
            press = visitor.press
            presses.setdefault(press.kiosk_id, []).append(
                {"event_id": press.event_id, "rating": press.rating, "pressed_at": when(press.at)}
            )
        for seen in visitor.observations:
            x, y, w, h = seen.bbox
            sightings.setdefault(seen.camera_id, []).append(
                {"track_id": seen.track_id, "captured_at": when(seen.at), "probs": list(seen.probs),
                 "bbox": {"x": x, "y": y, "w": w, "h": h}}
            )  # fmt: skip
    tokens = {k.kiosk_id: k.token for k in store.kiosks} | {
        c.camera_id: c.token for c in store.cameras
    }
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for path, kind, by_device in (
            ("kiosks", "ratings", presses),
            ("cameras", "observations", sightings),
        ):
            for device, items in by_device.items():
                for i in range(0, len(items), 500):
                    response = client.post(
                        f"/v1/{path}/{device}/{kind}",
                        json={kind: items[i : i + 500]},
                        headers={"Authorization": f"Bearer {tokens[device]}"},
                    )
                    assert response.status_code == 202, response.text
    return sum(len(items) for items in presses.values())


async def settled_samples(
    exporter_url: str,
    store_id: str,
    want: dict[str, float],
    start: datetime,
    visitors: list[Visitor],
    presses: int | None = None,
) -> dict[str, float]:
    """The store's samples once they are ``want`` (and count ``presses``, if given) and its
    newest bucket is settled: the last tracks close 10 s after posting, and the store is
    quiet 35 s after that (docs/exporter.md). ``"settled"``: 1.0 if that happened in time."""
    newest = max(o.at for v in visitors for o in v.observations)
    newest_end = (start.timestamp() + newest) // 60 * 60 + 60
    settled = f'kioskpulse_store_settled_until_timestamp_seconds{{store="{store_id}"}}'
    deadline = time.monotonic() + 100
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        async with httpx.AsyncClient() as client:
            exposition = (await client.get(f"{exporter_url}/metrics")).text
        seen = store_samples(exposition, store_id)
        counted = sum(v for k, v in seen.items() if k.startswith("kioskpulse_ratings_total"))
        done = all(seen.get(k) == v for k, v in want.items())
        if done and presses in (None, counted) and seen.get(settled, 0.0) >= newest_end:
            return {**seen, "settled": 1.0}
        await asyncio.sleep(1)
    return {**seen, "settled": 0.0}


async def window_statistics(bootstrap: str, store: str, since: datetime) -> Statistics:
    """The store's buckets read back from store.aggregates.v1, summed as the exporter does."""
    from tests.support.kafka import latest_aggregates

    buckets: dict[str, StoreAggregate] = await latest_aggregates(bootstrap, store, exact=True)
    return Statistics.total(Statistics.of(b) for b in buckets.values() if b.bucket_start >= since)


async def test_the_corrected_index_is_within_the_estimators_interval_on_the_same_statistics(
    site: tuple[Site, Path], running: tuple[str, str, Worker], kafka_bootstrap: str
) -> None:
    store = site[0].simulated
    api_url, exporter_url, worker = running
    start = datetime.now(UTC) - timedelta(minutes=40)
    visitors = simulated_visitors(store, 1500, start)
    presses = post_visitors(api_url, store, visitors, start)
    label = f'store="{store.store_id}",window="1h"'
    want = {f'kioskpulse_visitors_total{{store="{store.store_id}"}}': float(len(visitors))}
    # The corrected figures read settled buckets only: wait until the newest is settled.
    seen = await settled_samples(exporter_url, store.store_id, want, start, visitors, presses)
    assert {k: seen.get(k) for k in want} == want, f"worker log:\n{worker.tail()}"
    assert seen["settled"] == 1.0, "the newest bucket was not settled in time"
    reasons = [
        key.split('reason="')[1].rstrip('"}')
        for key in seen
        if key.startswith(f"kioskpulse_correction_available{{{label},")
    ]

    # The estimator module on the statistics read back from Kafka independently.
    statistics = await window_statistics(
        kafka_bootstrap, store.store_id, datetime.now(UTC) - timedelta(hours=1)
    )
    assert statistics.visitors == len(visitors)
    assert statistics.presses == presses
    correction = estimate(statistics)
    assert reasons == [correction.reason], "the exporter and the estimator disagree"
    if correction.reason == "label_shift_misfit":
        # The fit test refuses 1-2 % of unshifted stores with their own camera (a new
        # store, hence θ and visitors, on every run): nothing more to compare then.
        assert correction.sample == "cross_camera"
        return
    assert correction.available, correction.reason
    corrected = seen[f'kioskpulse_happy_index{{{label},method="corrected"}}']
    assert correction.lower is not None
    assert correction.upper is not None
    assert correction.lower <= corrected <= correction.upper
    assert corrected == pytest.approx(correction.happy_index, abs=1e-6)
    raw = seen[f'kioskpulse_happy_index{{{label},method="raw"}}']
    assert corrected != pytest.approx(raw, abs=1.0), "the unhappy press more: raw is off"


async def test_a_kiosk_zone_and_the_kiosk_cameras_passers_by_reach_the_estimator(
    site: tuple[Site, Path], running: tuple[str, str, Worker], kafka_bootstrap: str
) -> None:
    """Issue 14: the floor camera's faces in the kiosk zone link the presses, the kiosk
    camera counts every passer-by, and the corrected figure comes from the zone's sample."""
    store = site[0].zoned
    api_url, exporter_url, worker = running
    start = datetime.now(UTC) - timedelta(minutes=40)
    # Every level common enough that the zone links 5 presses of it at least (the run's
    # store id draws a new θ otherwise, sometimes with a level too rare for that).
    theta = (0.3, 0.25, 0.25, 0.2)
    visitors = simulated_visitors(store, 1500, start, ModelParameters(kiosk_passers=1.0), theta)
    presses = post_visitors(api_url, store, visitors, start)
    label = f'store="{store.store_id}",window="1h"'
    want = {
        f'kioskpulse_visitors_total{{store="{store.store_id}"}}': float(len(visitors)),
        f'kioskpulse_correction_sample{{{label},sample="kiosk_zone"}}': 1.0,
    }
    # Settled once every track (the kiosk camera's too) closed and the store fell quiet.
    seen = await settled_samples(exporter_url, store.store_id, want, start, visitors)
    assert {k: seen.get(k) for k in want} == want, f"worker log:\n{worker.tail()}"
    assert seen["settled"] == 1.0, "the newest bucket was not settled in time"
    # (Available, or, in the fit test's 1-2 % of unlucky samples, withheld: either way
    # from the zone's sample, which is what this test is about.)

    statistics = await window_statistics(
        kafka_bootstrap, store.store_id, datetime.now(UTC) - timedelta(hours=1)
    )
    counted = statistics.presses
    assert 0 < counted <= presses
    # Every counted press was seen in the zone around it, and by the kiosk camera.
    zone_links = sum(level.count for level in statistics.ratings[4].zone_linked)
    assert zone_links == counted == statistics.linked_presses
    # One kiosk-camera track per presser and per passer-by: everyone passes this kiosk.
    kiosk_tracks = {
        o.track_id for v in visitors for o in v.observations if o.camera_id.endswith("-cam")
    }
    assert statistics.kiosk_camera.count == len(kiosk_tracks) == len(visitors)
    correction = estimate(statistics)
    assert correction.sample == "kiosk_zone"
