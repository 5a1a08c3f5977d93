"""The samples of issue 14 (domain shift): kiosk-camera tracks and kiosk-zone links.

A kiosk camera's track (a presser or a passer-by) counts once, when it closes, in
``StoreAggregate.kiosk_camera``, never as a visitor. A floor camera's face inside a
kiosk's zone links that kiosk's presses as its own camera's faces do, into a second,
independent link summed per level in ``ScaleStatistics.zone_linked``.
"""

from __future__ import annotations

import json
import random
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskpulse.events import (
    EXPRESSIONS,
    TRIANGLE,
    ProbabilitySums,
    StoreAggregate,
)
from stream_processors.aggregation import entries
from stream_processors.aggregation.aggregator import Aggregator, DictEntries
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.aggregation.store import Outcome
from tests.support.events import HAPPY, SAD, T0, at, face, followup, heartbeat, press, zone_face
from tests.unit.stream_processors.aggregation.test_aggregator import (
    CONFIG,
    Event,
    feed,
    only,
    outer_triangle,
    snapshot,
    zoned_workloads,
)

NOTHING = [0.0] * len(EXPRESSIONS)
ZERO_SQ = [0.0] * len(TRIANGLE)
ZERO = ProbabilitySums(count=0, prob_sums=NOTHING, prob_sq_sums=ZERO_SQ)


def closed(aggregator: Aggregator, events: list[Event]) -> StoreAggregate:
    """The one bucket after ``events`` (all in the first minute), every track closed."""
    feed(aggregator, events, wall=1000.0)
    aggregator.tick(wall=2000.0)  # ten seconds unseen by the wall clock close every track
    aggregator.flush()
    return only(aggregator)


def assert_sample(sample: ProbabilitySums | None, *vectors: list[float]) -> None:
    assert sample is not None
    assert sample.count == len(vectors)
    sums = [sum(v[i] for v in vectors) for i in range(len(EXPRESSIONS))]
    squares = [sum(outer_triangle(v)[k] for v in vectors) for k in range(len(TRIANGLE))]
    assert sample.prob_sums == pytest.approx(sums, abs=1e-6)
    assert sample.prob_sq_sums == pytest.approx(squares, abs=1e-6)


# ---------------------------------------------------------------------- kiosk-camera tracks


def test_a_passer_by_of_a_kiosk_camera_counts_once_there_and_not_as_a_visitor() -> None:
    value = closed(
        Aggregator(CONFIG),
        [face(0, HAPPY, track="passer-by"), face(1, SAD, track="passer-by")],
    )
    mean = [(h + s) / 2 for h, s in zip(HAPPY, SAD, strict=True)]
    assert_sample(value.kiosk_camera, mean)
    assert value.visitors == 0
    assert value.visitor_prob_sums == NOTHING
    assert value.visitor_prob_sq_sums == ZERO_SQ
    assert sum(value.expression_counts) == sum(value.tone_counts) == 0


def test_a_pressers_track_counts_beside_the_passers_by() -> None:
    value = closed(
        Aggregator(CONFIG),
        [press(10, 4), face(9.6, HAPPY, track="presser"), face(9.5, SAD, track="x", size=60)],
    )
    assert_sample(value.kiosk_camera, HAPPY, SAD)
    assert value.ratings[4].linked_prob_sums[3] == pytest.approx(HAPPY, abs=1e-6)
    assert value.visitors == 0


def test_an_open_kiosk_track_is_not_counted_yet() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [face(0, HAPPY)], wall=1000.0)
    aggregator.tick(wall=1005.0)
    assert only(aggregator).kiosk_camera is None


def test_a_kiosk_track_counts_in_the_bucket_where_it_was_last_seen() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [face(55, HAPPY), face(65, HAPPY)], wall=1000.0)
    aggregator.tick(wall=2000.0)
    values = snapshot(aggregator)
    assert values["s1/2026-11-24T10:00:00Z"].kiosk_camera is None
    assert_sample(values["s1/2026-11-24T10:01:00Z"].kiosk_camera, HAPPY)


def test_faces_of_a_closed_kiosk_track_link_but_do_not_count_it_again() -> None:
    aggregator = Aggregator(CONFIG)
    closed(aggregator, [face(0, HAPPY)])
    # A replay is a duplicate; a new face of the closed track still links its press.
    assert feed(aggregator, [face(0, HAPPY), face(20, SAD), press(20, 2)], wall=2000.0) == [
        Outcome.DUPLICATE,
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
    ]
    aggregator.tick(wall=3000.0)
    value = only(aggregator)
    assert_sample(value.kiosk_camera, HAPPY)
    assert value.ratings[4].linked_prob_sums[1] == pytest.approx(SAD, abs=1e-6)


def test_a_kiosk_track_seen_only_too_small_brings_nothing() -> None:
    config = AggregationConfig(
        lateness_seconds=3600, visit_idle_seconds=10, min_expression_face_px=24
    )
    aggregator = Aggregator(config)
    small = [face(0, SAD, track="far", size=23), face(1, SAD, track="far", size=23)]
    mixed = [face(0, SAD, track="near", size=23), face(1, HAPPY, track="near", size=24)]
    value = closed(aggregator, [*small, *mixed])
    assert_sample(value.kiosk_camera, HAPPY)  # the near track's read face only
    # The closed tracks are stored all the same, so that a later face reopens neither.
    keys = {entries.kiosk_track_key("s1", "cam-k1", track) for track in ("far", "near")}
    assert keys <= set(aggregator.backend)


def test_an_open_kiosk_track_holds_the_settled_time_back() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(30), face(55, HAPPY), press(125)], wall=1000.0)
    # The clock (125 s) is past 10:01 + 10 s, but the kiosk track seen at 55 s is open.
    assert {value.settled_until for value in aggregator.take_dirty(T0)} == {at(0)}
    aggregator.tick(wall=1000.0)  # the event-time rule closes it into 10:00
    assert {value.settled_until for value in aggregator.take_dirty(T0)} == {at(60)}


def test_a_restarted_aggregator_closes_a_rebuilt_kiosk_track_by_the_wall_clock() -> None:
    # When the track was last seen by the wall clock is not stored: it is idle from the
    # restart on, and a quiet camera's track still closes.
    state = DictEntries()
    feed(Aggregator(CONFIG, state), [face(0, HAPPY)], wall=1000.0)
    after = Aggregator(CONFIG, DictEntries(state))
    after.tick(wall=5000.0)
    assert only(after).kiosk_camera is None
    after.tick(wall=5011.0)
    assert_sample(only(after).kiosk_camera, HAPPY)


# ---------------------------------------------------------------------- kiosk-zone links


@pytest.mark.parametrize("face_first", [True, False])
def test_a_zone_face_links_a_press_whichever_arrives_first(face_first: bool) -> None:
    events: list[Event] = [press(10, 4), zone_face(8, HAPPY)]
    aggregator = Aggregator(CONFIG)
    feed(aggregator, events[::-1] if face_first else events)
    statistics = only(aggregator).ratings[4]
    assert statistics.zone_linked[:3] == [ZERO] * 3
    assert_sample(statistics.zone_linked[3], HAPPY)
    assert statistics.linked_presses == [0, 0, 0, 0]  # independent of the kiosk link


def test_both_links_of_one_press() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(10, 4), zone_face(9, SAD), face(9, HAPPY)])
    statistics = only(aggregator).ratings[4]
    assert statistics.linked_prob_sums[3] == pytest.approx(HAPPY, abs=1e-6)
    assert_sample(statistics.zone_linked[3], SAD)


def test_a_late_zone_face_relinks_the_press_exactly() -> None:
    # The press first links to a small face in the zone, then to the larger one.
    events = [press(10, 4), zone_face(9.5, SAD, track="x", size=60), zone_face(9.6, HAPPY)]
    relinked, direct = Aggregator(CONFIG), Aggregator(CONFIG)
    feed(relinked, events)
    feed(direct, events[::-1])
    statistics = only(relinked).ratings[4]
    assert_sample(statistics.zone_linked[3], HAPPY)
    assert statistics == only(direct).ratings[4]  # bit for bit: no trace of the first link


def test_a_zone_face_is_a_visitor_too() -> None:
    value = closed(Aggregator(CONFIG), [press(10, 4), zone_face(9, HAPPY)])
    assert value.visitors == 1
    assert value.visitor_prob_sums == pytest.approx(HAPPY, abs=1e-6)
    assert value.kiosk_camera is None


@pytest.mark.parametrize(
    "seen",
    [
        zone_face(9, HAPPY, zone="k2"),  # another kiosk's zone
        zone_face(9, HAPPY, zone=None),  # outside every zone
        zone_face(5, HAPPY),  # before the link window
    ],
)
def test_a_floor_face_outside_the_zone_or_window_does_not_link(seen: Event) -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [seen, press(10, 4)])
    assert only(aggregator).ratings[4].zone_linked == []


def test_a_zone_face_too_small_to_read_does_not_link() -> None:
    config = AggregationConfig(
        lateness_seconds=3600, visit_idle_seconds=10, min_expression_face_px=24
    )
    aggregator = Aggregator(config)
    feed(aggregator, [press(10, 4), zone_face(9, HAPPY, size=23)])
    assert only(aggregator).ratings[4].zone_linked == []
    assert not any(entries.kind_of(key) == entries.ZONE_FACE for key in aggregator.backend)


def test_a_suppressed_press_leaves_the_zone_sums() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(10, 4), zone_face(9, HAPPY)])
    assert only(aggregator).ratings[4].zone_linked[3].count == 1
    feed(aggregator, [press(7, 4)])  # a late upload: the press at 10 s is now misuse
    statistics = only(aggregator).ratings[4]
    assert statistics.suppressed == 1
    assert statistics.zone_linked == []


def test_a_replayed_zone_face_changes_nothing() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(10, 4), zone_face(9, HAPPY)])
    before = only(aggregator)
    assert feed(aggregator, [zone_face(9, HAPPY)]) == [Outcome.DUPLICATE]
    assert only(aggregator) == before


# ---------------------------------------------------------------------- random workloads


# ---------------------------------------------------------------------- recovery and bounds


@settings(max_examples=30, deadline=None)
@given(zoned_workloads(), st.data())
def test_a_restart_between_closed_tracks_rebuilds_the_same_buckets(
    events: list[Event], data: st.DataObject
) -> None:
    # Some kiosk and floor tracks close before the restart (stored closed), the rest
    # after it (rebuilt open from their faces), by the event-time rule, then all.
    split = data.draw(st.integers(0, len(events)))
    state = DictEntries()
    before = Aggregator(CONFIG, state)
    feed(before, events[:split], wall=100.0)
    # Every track open so far closes (by the wall clock): a rebuilt kiosk track would
    # wait for the wall clock from the restart on (``test_a_restarted_aggregator_closes_...``).
    before.tick(wall=120.0)
    before.flush()
    feed(before, events[split:], wall=200.0)
    after = Aggregator(CONFIG, DictEntries(state))
    for aggregator in (before, after):
        aggregator.tick(wall=205.0)
    assert snapshot(after) == snapshot(before)
    assert after.stores.keys() == before.stores.keys()
    for store_id, store in before.stores.items():
        assert after.stores[store_id].entries == store.entries
    for aggregator in (before, after):
        aggregator.tick(wall=1000.0)
    assert snapshot(after) == snapshot(before)


def test_a_restart_between_a_zone_face_and_its_press_still_links() -> None:
    state = DictEntries()
    feed(Aggregator(CONFIG, state), [zone_face(9, HAPPY)])
    after = Aggregator(CONFIG, DictEntries(state))
    feed(after, [press(10, 4)])
    assert_sample(only(after).ratings[4].zone_linked[3], HAPPY)


def test_expired_tracks_and_zone_faces_leave_no_entry_behind() -> None:
    aggregator = Aggregator(CONFIG)
    rng = random.Random(7)
    events: list[Event] = []
    for i in range(40):
        seconds = rng.uniform(0, 180)
        events.append(press(seconds, rng.randint(1, 4)))
        events.append(face(seconds - 0.5, HAPPY, track=f"t{i % 7}"))
        events.append(zone_face(seconds - 0.4, SAD, track=f"f{i % 5}"))
    feed(aggregator, events, wall=100.0)
    aggregator.tick(wall=100.0)
    # An hour later by event time (a press in a fresh track-less bucket): all expired.
    feed(aggregator, [press(7200, 4, event_id=uuid.uuid4())], wall=200.0)
    aggregator.tick(wall=200.0)
    aggregator.flush()
    store = aggregator.stores["s1"]
    assert [entries.kind_of(key) for key in aggregator.backend] == [entries.PRESS]
    assert store.entries == 1
    assert not store.open_kiosk_tracks
    assert not store.counted_kiosk_tracks


def test_a_restored_store_keeps_the_time_of_a_replaced_answer_on_its_clock() -> None:
    # Tracks close by the store's clock: after a restart it must be what it was.
    state = DictEntries()
    before = Aggregator(CONFIG, state)
    pressed = press(0, 1)
    feed(before, [pressed, followup(70, "queue", answers=pressed)])
    feed(before, [followup(3, "staff", answers=pressed)])
    after = Aggregator(CONFIG, DictEntries(state))
    assert after.store("s1").clock == before.store("s1").clock == at(70).timestamp()
    # An answer that replaced none is stored as before this field, and read back so.
    (value,) = [v for k, v in state.items() if entries.kind_of(k) == entries.FOLLOWUP]
    assert len(json.loads(value)) == 4
    answer = entries.Followup("e1", 3.0, "staff")
    assert json.loads(answer.encode()) == ["e1", 3.0, "staff"]
    assert entries.Followup.decode(answer.encode()) == answer


def test_an_emitted_value_reads_back_through_the_contract_unchanged() -> None:
    # Values are built without validation (buckets.py): one with every part filled in
    # must be what the contract validates, byte for byte.
    pressed = press(10, 4)
    events: list[Event] = [
        pressed, zone_face(9, SAD), face(9, HAPPY), face(12, HAPPY, track="t2"),
        face(20, SAD, role="floor", track="f1"), heartbeat(30, buffered=2),
        followup(14, answers=pressed),
    ]  # fmt: skip

    value = closed(Aggregator(CONFIG), events)

    assert value.kiosk_camera is not None
    assert value.ratings[4].zone_linked
    assert (value.visitors, value.followups, value.kiosks["k1"].buffered) == (2, {"queue": 1}, 2)
    assert StoreAggregate.from_bytes(value.to_bytes()).to_bytes() == value.to_bytes()
