"""Display cameras in the simulator (issue 16): watchers of a display relabelled mid-run."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter

import httpx

from kioskpulse.bus.memory import MemoryBus
from kioskpulse.devices import edit_registry
from kioskpulse.event_records import events_in
from kioskpulse.events import FaceObservation
from kioskpulse.simulation import Simulation, load_fleet
from kioskpulse.simulation.displays import (
    DEFAULT_SCHEDULE,
    SIGHTING_SECONDS,
    DisplayModel,
    DisplayPlayer,
)
from kioskpulse.topics import FACES
from tests.support.fleet import Fleet, write_tokens

SPRING, SUMMER = DEFAULT_SCHEDULE


def test_the_default_schedule_has_a_known_30_percent_dwell_effect() -> None:
    assert SUMMER.dwell_mean_seconds / SPRING.dwell_mean_seconds == 1.3
    assert SUMMER.interest > SPRING.interest


def test_watchers_dwell_as_their_label_says() -> None:
    model = DisplayModel("d1", seed=1, run_id="r")
    for effect in DEFAULT_SCHEDULE:
        watchers = [model.watcher(n, 0.0, effect) for n in range(4000)]
        dwell = math.fsum(w.sightings[-1].at - w.sightings[0].at for w in watchers) / 4000
        assert abs(dwell - effect.dwell_mean_seconds) < 0.05 * effect.dwell_mean_seconds
        interest = sum(w.interested for w in watchers) / 4000
        assert abs(interest - effect.interest) < 0.03
        for watcher in watchers[:50]:
            gaps = [b.at - a.at for a, b in itertools.pairwise(watcher.sightings)]
            assert all(0 < gap <= SIGHTING_SECONDS for gap in gaps)
            assert len({s.track_id for s in watcher.sightings}) == 1


def test_a_watcher_is_seen_under_one_label_only() -> None:
    player = DisplayPlayer([("d1", SPRING.label)], seed=2, run_id="r", start=0.0, rate=2.0,
                           relabels=True, relabel_every=10.0)  # fmt: skip
    sightings = player.admit(60.0)
    by_track: dict[str, set[int]] = {}
    for seen in sightings:
        by_track.setdefault(seen.track_id, set()).add(int(seen.at // 10.0))
    assert len(by_track) > 50
    assert all(len(periods) == 1 for periods in by_track.values())
    assert player.relabels_due(5.0) == []
    assert player.relabels_due(10.0) == [("d1", SUMMER.label)]
    assert player.relabels_due(12.0) == []
    assert player.relabels_due(20.0) == [("d1", SPRING.label)]


async def test_the_simulator_relabels_a_display_camera_mid_run(
    fleet: Fleet, bus: MemoryBus, client: httpx.AsyncClient
) -> None:
    with edit_registry(fleet.path) as registry:
        fleet.tokens["cam-d1"] = registry.add_camera("cam-d1", "s1", "display", display="spring")
    write_tokens(fleet)
    relabelled: list[tuple[str, str]] = []

    def relabel(camera_id: str, label: str) -> None:
        relabelled.append((camera_id, label))
        with edit_registry(fleet.path) as registry:
            registry.configure_camera(camera_id, display=label)

    simulation = Simulation(
        load_fleet(fleet.path), rate=1.0, seed=4, relabel=relabel, relabel_every=2.0
    )
    simulation.displays.rate = 5.0
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(3.0, stop.set)
    await simulation.run(client, stop)

    # The registry said "spring"; the schedule shows its first label, then its second.
    assert relabelled == [("cam-d1", SPRING.label), ("cam-d1", SUMMER.label)]
    faces = [f for f in events_in(bus.records(FACES), FaceObservation) if f.role == "display"]
    labels = Counter(f.display for f in faces)
    assert set(labels) == {SPRING.label, SUMMER.label}, labels
    assert all(f.frontal is not None for f in faces)
    # Every watcher's faces carry one label: the relabel waited for the old ones.
    by_track: dict[str, set[str | None]] = {}
    for face in faces:
        by_track.setdefault(face.track_id, set()).add(face.display)
    assert all(len(labels) == 1 for labels in by_track.values())
