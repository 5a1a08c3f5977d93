"""Faces too small to read (issue 13): they count their visitor, never their expression.

A face narrower than ``min_expression_face_px`` makes or extends a floor visit (footfall
as before) but adds no probabilities; a kiosk-camera face that small links no press.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from kioskpulse.bus import Record
from kioskpulse.events import EXPRESSIONS, FaceObservation, StoreAggregate
from kioskpulse.settings import Settings
from kioskpulse.topics import FACES
from stream_processors.aggregation import entries, fixedpoint
from stream_processors.aggregation.aggregator import Aggregator, DictEntries
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.aggregation.entries import Visit
from stream_processors.aggregation.linkage import KioskFace, KioskFaces
from stream_processors.aggregation.stage import AggregationStage, event_time
from stream_processors.aggregation.store import Outcome
from tests.support.events import HAPPY, SAD, T0, face, heartbeat, press
from tests.unit.stream_processors.aggregation.test_aggregator import Event, feed, only, snapshot

THRESHOLD = 24
CONFIG = AggregationConfig(
    lateness_seconds=3600, visit_idle_seconds=10, min_expression_face_px=THRESHOLD
)
SMALL, BIG = THRESHOLD - 1, THRESHOLD
NOTHING = [0.0] * len(EXPRESSIONS)


def closed(aggregator: Aggregator, events: list[Event]) -> StoreAggregate:
    """The one bucket after ``events`` (all in the first minute), every visit closed."""
    feed(aggregator, events, wall=1000.0)
    aggregator.tick(wall=2000.0)  # ten seconds unseen by the wall clock close every visit
    return only(aggregator)


def floor(seconds: float, probs: list[float], size: int, track: str = "t1") -> FaceObservation:
    return face(seconds, probs, role="floor", size=size, track=track)


# ---------------------------------------------------------------------- floor cameras


def test_a_small_floor_face_counts_a_visitor_but_no_expression() -> None:
    value = closed(Aggregator(CONFIG), [floor(0, HAPPY, SMALL), floor(1, HAPPY, SMALL)])
    assert value.visitors == 1
    assert value.visitor_prob_sums == NOTHING
    assert value.visitor_prob_sq_sums == [0.0] * len(value.visitor_prob_sq_sums)
    # The visitors whose expression is known, the denominator of the floor's mean.
    assert sum(value.expression_counts) == 0
    assert sum(value.tone_counts) == 0


def test_a_visit_of_small_and_big_sightings_averages_only_the_big() -> None:
    sightings = [floor(0, SAD, SMALL), floor(1, HAPPY, BIG), floor(2, SAD, SMALL)]
    value = closed(Aggregator(CONFIG), [*sightings, floor(3, HAPPY, BIG)])
    assert value.visitors == 1
    assert value.visitor_prob_sums == pytest.approx(HAPPY, abs=1e-6)
    assert value.expression_counts[EXPRESSIONS.index("happy")] == 1


def test_the_floor_mix_is_the_mean_over_the_visitors_read() -> None:
    value = closed(
        Aggregator(CONFIG),
        [floor(0, SAD, SMALL, track="far"), floor(0, HAPPY, 80, track="near")],
    )
    assert value.visitors == 2  # footfall: both
    read = sum(value.expression_counts)
    assert read == 1
    mean = [total / read for total in value.visitor_prob_sums]
    assert mean == pytest.approx(HAPPY, abs=1e-6)


def test_a_face_of_unknown_size_is_read_as_before() -> None:
    # Edge agents may send no box: their faces keep counting their expression.
    unboxed = floor(0, SAD, SMALL).model_copy(update={"bbox": None})
    value = closed(Aggregator(CONFIG), [unboxed])
    assert value.visitor_prob_sums == pytest.approx(SAD, abs=1e-6)


def test_a_replayed_small_sighting_is_a_duplicate() -> None:
    aggregator = Aggregator(CONFIG)
    first, second = floor(0, HAPPY, SMALL), floor(1, HAPPY, SMALL)
    assert feed(aggregator, [first, second, first], wall=1000.0) == [
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.DUPLICATE,
    ]
    aggregator.tick(wall=2000.0)
    assert feed(aggregator, [second], wall=2000.0) == [Outcome.DUPLICATE]  # closed visit
    assert only(aggregator).visitors == 1


def test_a_restarted_aggregator_keeps_a_visit_of_small_sightings_out_of_the_mix() -> None:
    state = DictEntries()
    before = Aggregator(CONFIG, state)
    feed(before, [floor(0, SAD, SMALL, track="a"), floor(1, SAD, SMALL, track="b")], wall=1.0)
    before.tick(wall=100.0)  # closes both; "b" is then seen again below, as a replay
    feed(before, [floor(2, HAPPY, BIG, track="c")], wall=100.0)
    after = Aggregator(CONFIG, DictEntries(state))
    after.tick(wall=100.0)
    assert snapshot(after) == snapshot(before)
    assert feed(after, [floor(1, SAD, SMALL, track="b")], wall=100.0) == [Outcome.DUPLICATE]


# ---------------------------------------------------------------------- kiosk cameras


def test_a_small_kiosk_face_links_no_press_but_its_camera_is_seen() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [face(9, SAD, size=SMALL), press(10, 2)])
    value = only(aggregator)
    assert value.ratings[4].presses == [0, 1, 0, 0]
    assert value.ratings[4].linked_presses == [0, 0, 0, 0]
    assert set(value.cameras_last_seen) == {"cam-k1"}


def test_a_small_kiosk_face_never_outranks_a_readable_one() -> None:
    # The largest face wins a link; one too small to read is not in the running at all.
    faces = KioskFaces()
    readable = fixedpoint.to_fixed(HAPPY)
    faces.add(KioskFace(100.0, "cam", "presser", 2500, readable))
    faces.add(KioskFace(100.0, "cam", "unread", 10_000, None))
    assert faces.link(100.0, 3.0, 1.0) == readable
    assert KioskFaces().link(100.0, 3.0, 1.0) is None


def test_a_replayed_small_kiosk_face_is_a_duplicate_after_a_restart_too() -> None:
    state = DictEntries()
    small = face(9, SAD, size=SMALL)
    before = Aggregator(CONFIG, state)
    assert feed(before, [small, small]) == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert feed(Aggregator(CONFIG, DictEntries(state)), [small]) == [Outcome.DUPLICATE]


# ---------------------------------------------------------------------- the threshold


@st.composite
def sized_workloads(draw: st.DrawFn, roles: tuple[str, ...] = ("floor", "kiosk")) -> list[Event]:
    """Presses and faces of sizes around the threshold, in time order (one floor camera's
    faces arrive in capture order)."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    events: list[Event] = [press(rng.uniform(0, 120), rng.randint(1, 4)) for _ in range(8)]
    for _ in range(draw(st.integers(1, 40))):
        events.append(
            face(
                rng.uniform(0, 120),
                rng.choice([HAPPY, SAD]),
                role=rng.choice(roles),
                track=f"t{rng.randint(1, 4)}",
                size=rng.choice([1, SMALL, BIG, 80]),
            )
        )
    return sorted(events, key=event_time)


def enlarged(events: list[Event], by: int) -> list[Event]:
    """The faces ``by`` px wider and taller: their order by size, which decides links, stays."""
    return [
        e.model_copy(
            update={"bbox": e.bbox.model_copy(update={"w": e.bbox.w + by, "h": e.bbox.h + by})}
        )
        if isinstance(e, FaceObservation) and e.bbox is not None
        else e
        for e in events
    ]


def run(config: AggregationConfig, events: list[Event]) -> tuple[dict[str, Any], DictEntries]:
    state = DictEntries()
    aggregator = Aggregator(config, state)
    feed(aggregator, [*events, heartbeat(500)], wall=1.0)  # the clock moves: visits close
    aggregator.tick(wall=1.0)
    return snapshot(aggregator), state


@settings(max_examples=40, deadline=None)
@given(sized_workloads())
def test_threshold_zero_reads_every_face_as_before(events: list[Event]) -> None:
    off = AggregationConfig(lateness_seconds=3600, visit_idle_seconds=10)
    assert off.min_expression_face_px == 0
    values, state = run(off, events)
    # Whatever the faces' sizes, the statistics are those of faces all large...
    assert values == run(off, enlarged(events, 100))[0]
    # ...and every visit is stored in the encoding of before (six fields).
    visits = [v for k, v in state.items() if entries.kind_of(k) == entries.VISIT]
    assert all(len(json.loads(value)) == 6 for value in visits)


@settings(max_examples=40, deadline=None)
@given(sized_workloads())
def test_faces_at_the_threshold_or_above_are_read_as_before(events: list[Event]) -> None:
    off = AggregationConfig(lateness_seconds=3600, visit_idle_seconds=10)
    large = enlarged(events, THRESHOLD)
    assert run(CONFIG, large)[0] == run(off, large)[0]


@settings(max_examples=40, deadline=None)
@given(sized_workloads(roles=("kiosk",)), st.randoms(use_true_random=False))
def test_links_with_small_faces_do_not_depend_on_arrival_order(
    events: list[Event], rng: Any
) -> None:
    mixed = list(events)
    rng.shuffle(mixed)
    assert run(CONFIG, mixed)[0] == run(CONFIG, events)[0]


@settings(max_examples=40, deadline=None)
@given(sized_workloads())
def test_a_restart_rebuilds_the_same_buckets_with_small_faces(events: list[Event]) -> None:
    state = DictEntries()
    before = Aggregator(CONFIG, state)
    feed(before, events, wall=5.0)
    after = Aggregator(CONFIG, DictEntries(state))
    after.tick(wall=5.0)
    before.tick(wall=5.0)
    assert snapshot(after) == snapshot(before)


def test_the_threshold_comes_from_the_settings() -> None:
    config = AggregationConfig.from_settings(Settings(min_expression_face_px=40))
    assert config.min_expression_face_px == 40


# ---------------------------------------------------------------------- the stored visit


def test_a_visit_stored_in_the_old_six_field_encoding_decodes() -> None:
    sums = [2 * v for v in fixedpoint.to_fixed(HAPPY)]
    old = json.dumps([0.0, 1.0, 1000.0, 2, sums, True]).encode()
    visit = Visit.decode(old)
    assert (visit.sightings, visit.expressed, visit.closed) == (2, 2, True)
    assert visit.mean() == fixedpoint.to_fixed(HAPPY)
    assert visit.encode() == old.replace(b" ", b"")  # and is stored the same way again


def test_an_old_closed_visit_restores_as_a_visitor_with_its_expression() -> None:
    sums = list(fixedpoint.to_fixed(SAD))
    key = entries.visit_key("s1", "cam-floor", "t1")
    old = json.dumps([T0.timestamp(), T0.timestamp(), 0.0, 1, sums, True]).encode()
    aggregator = Aggregator(CONFIG, DictEntries({key: old}))
    aggregator.tick(wall=0.0)
    value = only(aggregator)
    assert value.visitors == 1
    assert value.visitor_prob_sums == pytest.approx(SAD, abs=1e-6)


def test_a_visit_with_unread_sightings_round_trips() -> None:
    visit = Visit.start(0.0, None, 1000.0)
    visit.see(1.0, fixedpoint.to_fixed(HAPPY), 1001.0)
    visit.see(2.0, None, 1002.0)
    again = Visit.decode(visit.encode())
    assert again == visit
    assert (again.sightings, again.expressed) == (3, 1)
    assert again.mean() == fixedpoint.to_fixed(HAPPY)
    assert Visit.start(0.0, None, 0.0).mean() is None


# ---------------------------------------------------------------------- the worker's counter


def unread_counted(store: str) -> float:
    labels = {"store": store}
    return REGISTRY.get_sample_value("kioskpulse_aggregator_unread_faces_total", labels) or 0.0


def test_the_stage_counts_the_faces_it_took_without_expression_once() -> None:
    wall = (T0 + timedelta(minutes=10)).timestamp()
    stage = AggregationStage(Aggregator(CONFIG), emit_interval=0.0, clock=lambda: wall)
    store = "s-unread"
    observations = [
        face(0, SAD, role="floor", size=SMALL, store=store),
        face(1, SAD, role="floor", size=BIG, store=store),
        face(2, SAD, size=SMALL, store=store),  # a kiosk camera's
    ]
    records = [
        Record(FACES, store, o.to_bytes(), partition=0, offset=i)
        for i, o in enumerate(observations)
    ]
    before = unread_counted(store)
    stage.handle(records)
    assert unread_counted(store) - before == 2
    stage.handle(records)  # a replay: duplicates, not counted again
    assert unread_counted(store) - before == 2
