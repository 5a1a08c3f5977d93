"""The simulator against the in-process API on the memory bus: what it says arrived, arrived."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from kioskpulse.bus.memory import MemoryBus
from kioskpulse.event_records import events_in
from kioskpulse.events import FaceObservation, FollowupEvent, Heartbeat, RatingEvent
from kioskpulse.simulation import ModelParameters, Simulation, load_fleet
from kioskpulse.simulation.console import render_progress, render_summary, truth_document
from kioskpulse.simulation.incidents import Incident
from kioskpulse.simulation.posting import EventKind
from kioskpulse.topics import FACES, FOLLOWUPS, HEARTBEATS, RATINGS
from tests.support.fleet import Fleet, write_tokens

# Eager, quick visitors, so that a two-second run has presses on every kiosk.
QUICK = ModelParameters(max_press_probability=1.0, press_delay=(0.0, 0.3), misuse_interval=0.5)


async def run_for(simulation: Simulation, client: httpx.AsyncClient, seconds: float) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    await simulation.run(client, stop)


async def test_what_the_simulator_got_accepted_is_what_reached_the_bus(
    fleet: Fleet, bus: MemoryBus, client: httpx.AsyncClient
) -> None:
    write_tokens(fleet)
    simulation = Simulation(
        load_fleet(fleet.path), rate=6.0, seed=3, parameters=QUICK, heartbeat_every=1.0
    )
    await run_for(simulation, client, 2.0)

    stats = simulation.stats
    assert set(stats.responses) == {202}, stats
    assert not stats.errors
    ratings = [(e.store_id, e) for e in events_in(bus.records(RATINGS), RatingEvent)]
    faces = [(e.store_id, e) for e in events_in(bus.records(FACES), FaceObservation)]
    heartbeats = [(e.store_id, e) for e in events_in(bus.records(HEARTBEATS), Heartbeat)]
    arrived: dict[EventKind, list[tuple[str | None, str]]] = {
        "ratings": [(key, event.store_id) for key, event in ratings],
        "observations": [(key, face.store_id) for key, face in faces],
        "heartbeats": [(key, heartbeat.store_id) for key, heartbeat in heartbeats],
    }
    for kind, keys_and_stores in arrived.items():
        assert all(key == store for key, store in keys_and_stores), f"{kind} keyed by store"
        by_store = Counter(key for key, _ in keys_and_stores)
        for store_id in ("s1", "s2"):
            assert by_store[store_id] == stats.accepted_events(kind, store_id), (kind, store_id)

    for store_id, truth in simulation.truth.items():
        pressed = Counter(event.rating for _, event in ratings if event.store_id == store_id)
        assert truth.presses > 0
        assert [pressed[level] for level in range(1, truth.scale + 1)] == truth.presses_by_level
        assert len({event.event_id for _, event in ratings if event.store_id == store_id}) == (
            truth.presses
        )

    floor = [face for _, face in faces if face.role == "floor"]
    at_kiosk = [face for _, face in faces if face.role == "kiosk"]
    assert {(f.camera_id, f.store_id, f.kiosk_id) for f in floor} == {("cam-floor", "s1", None)}
    assert {(f.camera_id, f.store_id, f.kiosk_id) for f in at_kiosk} == {("cam-k1", "s1", "k1")}
    assert all(f.source == "edge" and f.track_id.startswith("sim-") for _, f in faces)
    assert 0 < len({f.track_id for f in floor}) <= simulation.truth["s1"].visitors
    assert {h.kiosk_id for _, h in heartbeats} == {"k1", "k5"}


async def test_the_reports_name_every_store_and_its_truth(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    write_tokens(fleet)
    simulation = Simulation(load_fleet(fleet.path), rate=4.0, seed=1, parameters=QUICK)
    await run_for(simulation, client, 1.0)

    document = json.loads(json.dumps(truth_document(simulation)))
    assert document["run_id"] == simulation.run_id
    s2 = document["stores"]["s2"]
    assert s2["scale"] == 5
    assert sum(s2["theta"]) == pytest.approx(1.0)
    assert s2["happy_index"] == simulation.truth["s2"].happy_index
    summary = render_summary(simulation)
    assert "s1" in summary
    assert f"{simulation.truth['s2'].happy_index:.1f}" in summary
    assert "visitors" in render_progress(simulation, 1.0)


async def test_history_is_posted_at_once_and_incidents_change_what_devices_do(
    fleet: Fleet, bus: MemoryBus, client: httpx.AsyncClient
) -> None:
    write_tokens(fleet)
    # Of the 120 s of history: s1's visitors are all unhappy from -100 s to -60 s, and
    # kiosk k5 (s2) is off from -100 s for the rest of the run.
    incidents = [
        Incident("unhappy", "s1", start=-100, duration=40),
        Incident("silent-kiosk", "k5", start=-100, duration=3600),
    ]
    simulation = Simulation(
        load_fleet(fleet.path), rate=3.0, seed=2, parameters=QUICK, history=120,
        incidents=incidents,
    )  # fmt: skip
    started = datetime.now(UTC)
    await run_for(simulation, client, 1.0)

    ratings = events_in(bus.records(RATINGS), RatingEvent)
    ago = {id(event): (started - event.pressed_at).total_seconds() for event in ratings}
    assert max(ago.values()) > 100, "presses from the start of the history"
    # A press may wait up to the visitors' patience (10 s) for the busy kiosk.
    unhappy = [e for e in ratings if e.store_id == "s1" and 62 < ago[id(e)] < 88]
    assert len(unhappy) > 5
    assert {e.rating for e in unhappy} == {1}
    before = [e for e in ratings if e.store_id == "s1" and ago[id(e)] > 102]
    assert {e.rating for e in before} - {1}, "other levels before the incident"
    k5 = [e for e in ratings if e.kiosk_id == "k5"]
    assert k5, "k5 pressed before it went silent"
    assert all(ago[id(e)] > 99 for e in k5)
    heartbeats = events_in(bus.records(HEARTBEATS), Heartbeat)
    assert {h.kiosk_id for h in heartbeats} == {"k1"}


@pytest.mark.parametrize("history", [0.0, 60.0])
async def test_unhappy_presses_are_answered_through_the_api_live_and_from_the_history(
    fleet: Fleet, bus: MemoryBus, client: httpx.AsyncClient, history: float
) -> None:
    write_tokens(fleet)
    answering = replace(QUICK, followup_answer_probability=1.0, followup_delay=(0.0, 0.2))
    simulation = Simulation(
        load_fleet(fleet.path), rate=6.0, seed=5, parameters=answering, history=history
    )
    await run_for(simulation, client, 2.0)

    stats = simulation.stats
    assert set(stats.responses) == {202}, stats
    pressed = events_in(bus.records(RATINGS), RatingEvent)
    ratings = {event.event_id: event for event in pressed}
    answers = [(e.store_id, e) for e in events_in(bus.records(FOLLOWUPS), FollowupEvent)]
    assert answers, "unhappy presses were answered"
    assert len(answers) == stats.accepted_events("followups")
    for key, answer in answers:
        press = ratings[answer.rating_event_id]
        assert key == answer.store_id == press.store_id
        assert answer.kiosk_id == press.kiosk_id
        assert press.rating <= 2, "the kiosks of make_fleet ask after 1 or 2"
        assert answer.answered_at >= press.pressed_at
    # Every unhappy press is answered (probability 1) once its answer was due (0.2 s).
    due = datetime.now(UTC) - timedelta(seconds=0.5)
    unhappy = {r.event_id for r in ratings.values() if r.rating <= 2 and r.pressed_at < due}
    assert unhappy <= {answer.rating_event_id for _, answer in answers}


def test_an_incident_on_an_unknown_target_is_refused(fleet: Fleet) -> None:
    write_tokens(fleet)
    with pytest.raises(ValueError, match="no simulated unhappy target 'nowhere'"):
        Simulation(load_fleet(fleet.path), rate=1.0, incidents=[Incident("unhappy", "nowhere", 0)])
