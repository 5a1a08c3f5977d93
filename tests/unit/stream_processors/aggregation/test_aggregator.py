"""The store aggregator's pure logic: statistics, idempotence, order, time and recovery."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskpulse.events import (
    TRIANGLE,
    FaceObservation,
    FollowupEvent,
    Heartbeat,
    RatingEvent,
    StoreAggregate,
)
from stream_processors.aggregation.aggregator import Aggregator, DictEntries
from stream_processors.aggregation.buckets import Bucket
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.aggregation.stage import event_time
from stream_processors.aggregation.store import Outcome
from tests.support.events import HAPPY, SAD, T0, at, face, followup, heartbeat, press, zone_face

CONFIG = AggregationConfig(lateness_seconds=3600, visit_idle_seconds=10)
ZERO_SQ = [0.0] * len(TRIANGLE)


def outer_triangle(v: list[float]) -> list[float]:
    """The upper triangle of v vᵀ, in the contract's order."""
    return [v[i] * v[j] for i, j in TRIANGLE]


Event = RatingEvent | FaceObservation | Heartbeat | FollowupEvent


def feed(aggregator: Aggregator, events: list[Event], wall: float = 0.0) -> list[Outcome]:
    outcomes = []
    for event in events:
        if isinstance(event, RatingEvent):
            outcomes.append(aggregator.add_rating(event))
        elif isinstance(event, Heartbeat):
            outcomes.append(aggregator.add_heartbeat(event))
        elif isinstance(event, FollowupEvent):
            outcomes.append(aggregator.add_followup(event))
        else:
            outcomes.append(aggregator.add_observation(event, wall))
    aggregator.flush()
    return outcomes


def snapshot(aggregator: Aggregator) -> dict[str, StoreAggregate]:
    """Every bucket's current value (not only the changed ones).

    A bucket left without entries (the answer in it was replaced by an earlier one to
    the same press) must hold nothing; it is left out, as a restart leaves it out.
    """
    values = {}
    for store in aggregator.stores.values():
        for bucket in store.buckets.values():
            value = bucket.to_aggregate(store.store_id, CONFIG.bucket_seconds, T0)
            if bucket.keys:
                values[value.key] = value
            else:
                empty = Bucket(bucket.start).to_aggregate(store.store_id, CONFIG.bucket_seconds, T0)
                assert value == empty, value
    return values


def only(aggregator: Aggregator) -> StoreAggregate:
    (value,) = snapshot(aggregator).values()
    return value


# ---------------------------------------------------------------------- a random workload


@st.composite
def workloads(draw: st.DrawFn) -> list[Event]:
    """Presses on two kiosks, kiosk-camera faces, heartbeats and follow-up answers (some
    presses answered twice, differently) over three minutes."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    events: list[Event] = []
    for _ in range(draw(st.integers(1, 30))):
        kiosk = rng.choice(["k1", "k2"])
        events.append(press(rng.uniform(0, 180), rng.randint(1, 4), kiosk=kiosk))
    presses = [event for event in events if isinstance(event, RatingEvent)]
    for _ in range(draw(st.integers(0, 10))):
        answered = rng.choice(presses)
        at_seconds = answered.pressed_at.timestamp() - T0.timestamp() + rng.uniform(1, 90)
        events.append(followup(at_seconds, rng.choice(["queue", "staff"]), answers=answered))
    for _ in range(draw(st.integers(0, 30))):
        events.append(
            face(
                rng.uniform(0, 180),
                rng.choice([HAPPY, SAD]),
                track=f"t{rng.randint(1, 5)}",
                kiosk=rng.choice(["k1", "k2"]),
                size=rng.choice([50, 100, 150]),
            )
        )
    for _ in range(draw(st.integers(0, 5))):
        events.append(heartbeat(rng.uniform(0, 180), rng.randint(0, 3)))
    return events


@st.composite
def zoned_workloads(draw: st.DrawFn) -> list[Event]:
    """The aggregator's random workload (presses, kiosk faces, heartbeats, answers) and
    faces in the kiosks' zones."""
    events = draw(workloads())
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(0, 15))):
        events.append(
            zone_face(
                rng.uniform(0, 180),
                rng.choice([HAPPY, SAD]),
                zone=rng.choice(["k1", "k2"]),
                track=f"f{rng.randint(1, 5)}",
                size=rng.choice([50, 100]),
            )
        )
    return events


@settings(max_examples=60, deadline=None)
@given(zoned_workloads(), st.randoms(use_true_random=False))
def test_statistics_do_not_depend_on_arrival_order(events: list[Event], rng: Any) -> None:
    in_order, shuffled = Aggregator(CONFIG), Aggregator(CONFIG)
    feed(in_order, sorted(events, key=event_time))
    mixed = list(events)
    rng.shuffle(mixed)
    feed(shuffled, mixed)
    assert snapshot(shuffled) == snapshot(in_order)


@settings(max_examples=60, deadline=None)
@given(zoned_workloads(), st.data())
def test_replaying_a_prefix_gives_the_same_statistics_as_once(
    events: list[Event], data: st.DataObject
) -> None:
    prefix = data.draw(st.integers(0, len(events)))
    once, twice = Aggregator(CONFIG), Aggregator(CONFIG)
    feed(once, events)
    feed(twice, events[:prefix])
    feed(twice, events)  # at-least-once: the worker died and the prefix comes again
    assert snapshot(twice) == snapshot(once)


# ---------------------------------------------------------------------- presses


def test_presses_are_counted_by_level_and_scale() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(0, 1), press(10, 4), press(20, 4), press(30, 5, kiosk="k5", scale=5)])
    value = only(aggregator)
    assert value.ratings[4].presses == [1, 0, 0, 2]
    assert value.ratings[5].presses == [0, 0, 0, 0, 1]
    assert value.ratings[4].suppressed == 0


def test_a_retried_upload_counts_once() -> None:
    event = press(0, 3)
    aggregator = Aggregator(CONFIG)
    assert feed(aggregator, [event, event]) == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert only(aggregator).ratings[4].presses == [0, 0, 1, 0]


def test_hammering_a_button_counts_once_and_keeps_the_rest_as_suppressed() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(s, 1) for s in (0, 1, 2, 3)])
    statistics = only(aggregator).ratings[4]
    assert statistics.presses == [1, 0, 0, 0]
    assert statistics.suppressed == 3


@pytest.mark.parametrize("face_first", [True, False])
def test_a_press_links_to_the_kiosk_camera_face_whichever_arrives_first(face_first: bool) -> None:
    events: list[Event] = [press(10, 4), face(8, HAPPY)]
    aggregator = Aggregator(CONFIG)
    feed(aggregator, events[::-1] if face_first else events)
    statistics = only(aggregator).ratings[4]
    assert statistics.linked_presses == [0, 0, 0, 1]
    assert statistics.linked_prob_sums[3] == pytest.approx(HAPPY, abs=1e-6)
    assert statistics.linked_prob_sq_sums[3] == pytest.approx(outer_triangle(HAPPY), abs=1e-6)
    assert statistics.linked_prob_sq_sums[:3] == [ZERO_SQ] * 3


def test_a_relinked_press_takes_its_second_moment_back_exactly() -> None:
    # The press first links to the passer-by, then to the larger face that comes later.
    events = [press(10, 4), face(9.5, SAD, track="passer-by", size=60), face(9.6, HAPPY)]
    relinked, direct = Aggregator(CONFIG), Aggregator(CONFIG)
    feed(relinked, events)
    feed(direct, events[::-1])
    statistics = only(relinked).ratings[4]
    assert statistics.linked_prob_sq_sums[3] == pytest.approx(outer_triangle(HAPPY), abs=1e-6)
    assert statistics == only(direct).ratings[4]  # bit for bit: no trace of the passer-by


def test_with_two_faces_the_larger_one_is_the_presser() -> None:
    aggregator = Aggregator(CONFIG)
    feed(
        aggregator,
        [
            face(9.5, SAD, track="passer-by", size=60),
            face(9.6, HAPPY, track="presser"),
            press(10, 4),
        ],
    )
    assert only(aggregator).ratings[4].linked_prob_sums[3] == pytest.approx(HAPPY, abs=1e-6)


def test_a_press_nobody_was_seen_at_is_counted_but_not_linked() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [face(20, HAPPY), press(10, 4), face(5, HAPPY, kiosk="k2")])
    statistics = only(aggregator).ratings[4]
    assert statistics.presses == [0, 0, 0, 1]
    assert statistics.linked_presses == [0, 0, 0, 0]


def test_a_face_seen_by_a_floor_camera_does_not_link() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [face(9, HAPPY, role="floor"), press(10, 4)])
    assert only(aggregator).ratings[4].linked_presses == [0, 0, 0, 0]


# ---------------------------------------------------------------------- follow-ups


def test_answers_are_counted_by_reason_in_the_bucket_of_answered_at() -> None:
    aggregator = Aggregator(CONFIG)
    first, second, third = press(50, 1), press(55, 2), press(58, 1)
    feed(
        aggregator,
        [
            first,
            second,
            third,
            followup(52, "queue", answers=first),
            followup(61, "queue", answers=second),  # the next minute's bucket
            followup(65, "staff", answers=third),
        ],
    )
    buckets = snapshot(aggregator)
    assert buckets["s1/2026-11-24T10:00:00Z"].followups == {"queue": 1}
    assert buckets["s1/2026-11-24T10:01:00Z"].followups == {"queue": 1, "staff": 1}
    assert buckets["s1/2026-11-24T10:01:00Z"].ratings == {}, "answers are not presses"


def test_answers_never_change_the_rating_statistics() -> None:
    presses = [press(0, 1), press(10, 2), press(20, 4), press(30, 1)]
    answers = [followup(p.pressed_at.second + 2, "price", answers=p) for p in presses[::2]]
    with_answers, without = Aggregator(CONFIG), Aggregator(CONFIG)
    feed(with_answers, [*answers, *presses])
    feed(without, presses)
    assert only(with_answers).ratings == only(without).ratings
    assert only(without).followups == {}


def test_a_resent_answer_counts_once() -> None:
    answer = followup(5, "queue")
    aggregator = Aggregator(CONFIG)
    assert feed(aggregator, [answer, answer]) == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert only(aggregator).followups == {"queue": 1}


@pytest.mark.parametrize("earlier_first", [True, False])
def test_of_two_answers_to_one_press_the_earlier_counts_whatever_arrives_first(
    earlier_first: bool,
) -> None:
    pressed = press(0, 1)
    earlier, later = followup(3, "staff", answers=pressed), followup(70, "queue", answers=pressed)
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [earlier, later] if earlier_first else [later, earlier])
    assert {key: value.followups for key, value in snapshot(aggregator).items()} == {
        "s1/2026-11-24T10:00:00Z": {"staff": 1}
    }
    assert len(aggregator.backend) == 1, "one entry per press"


def test_a_replaced_answer_is_taken_back_from_the_bucket_already_emitted() -> None:
    pressed = press(0, 1)
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [followup(70, "queue", answers=pressed)])
    assert [value.followups for value in aggregator.take_dirty(T0)] == [{"queue": 1}]
    assert feed(aggregator, [followup(3, "staff", answers=pressed)]) == [Outcome.ACCEPTED]
    assert {value.key: value.followups for value in aggregator.take_dirty(T0)} == {
        "s1/2026-11-24T10:00:00Z": {"staff": 1},
        "s1/2026-11-24T10:01:00Z": {},
    }


def test_answers_expire_with_their_bucket() -> None:
    aggregator = Aggregator(CONFIG)
    answer = followup(5, "queue")
    feed(aggregator, [answer, press(3700, 2)])
    aggregator.tick(wall=0.0)
    aggregator.flush()
    assert set(snapshot(aggregator)) == {"s1/2026-11-24T11:01:00Z"}
    assert aggregator.stores["s1"].followups == {}
    assert feed(aggregator, [answer]) == [Outcome.TOO_LATE]


def test_a_restarted_aggregator_still_counts_a_resent_answer_once() -> None:
    state = DictEntries()
    pressed = press(0, 1)
    answer = followup(5, "cleanliness", answers=pressed)
    feed(Aggregator(CONFIG, state), [pressed, answer])
    after = Aggregator(CONFIG, DictEntries(state))
    later = followup(9, "queue", answers=pressed)
    assert feed(after, [answer, later]) == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert only(after).followups == {"cleanliness": 1}
    assert only(after).ratings[4].presses == [1, 0, 0, 0]


# ---------------------------------------------------------------------- visitors


def test_a_visitor_seen_in_twenty_frames_is_one_visitor_with_the_mean_expression() -> None:
    aggregator = Aggregator(CONFIG)
    sightings = [face(s / 2, HAPPY if s % 2 else SAD, role="floor") for s in range(20)]
    feed(aggregator, sightings, wall=1000.0)
    aggregator.tick(wall=1000.0)
    assert only(aggregator).visitors == 0  # still in view
    feed(aggregator, [heartbeat(25)], wall=1001.0)  # the store's clock moves on
    aggregator.tick(wall=1001.0)
    value = snapshot(aggregator)["s1/2026-11-24T10:00:00Z"]
    assert value.visitors == 1
    mean = [(h + s) / 2 for h, s in zip(HAPPY, SAD, strict=True)]
    assert value.visitor_prob_sums == pytest.approx(mean, abs=1e-6)
    # Σ m mᵀ of one visitor is its mean's outer product (not the mean of the frames').
    assert value.visitor_prob_sq_sums == pytest.approx(outer_triangle(mean), abs=1e-6)
    assert value.expression_counts[3] == 1  # happy dominates the mean
    assert value.tone_counts == [0, 1, 0, 0]  # satisfaction


def test_a_quiet_camera_flushes_its_visitors_by_wall_clock() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [face(0, SAD, role="floor")], wall=1000.0)
    aggregator.tick(wall=1005.0)
    assert only(aggregator).visitors == 0
    aggregator.tick(wall=1011.0)  # no event came, but ten seconds passed
    assert only(aggregator).visitors == 1


def test_sightings_of_a_closed_track_are_not_a_new_visitor() -> None:
    aggregator = Aggregator(CONFIG)
    first = face(0, SAD, role="floor")
    feed(aggregator, [first, face(1, SAD, role="floor")], wall=1000.0)
    aggregator.tick(wall=2000.0)
    assert feed(aggregator, [first], wall=2000.0) == [Outcome.DUPLICATE]
    aggregator.tick(wall=3000.0)
    assert only(aggregator).visitors == 1


# ---------------------------------------------------------------------- time and bounds


def test_buckets_expire_by_stream_time_and_older_events_are_refused() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(0, 4), face(1, HAPPY)])
    assert len(aggregator.backend) == 3  # the press, the face, the camera sighting
    feed(aggregator, [press(3700, 2)])  # an hour later, by event time
    aggregator.tick(wall=0.0)
    aggregator.flush()
    assert set(snapshot(aggregator)) == {"s1/2026-11-24T11:01:00Z"}
    assert len(aggregator.backend) == 1
    assert feed(aggregator, [press(30, 4)]) == [Outcome.TOO_LATE]


def test_a_store_holds_a_bounded_number_of_entries() -> None:
    aggregator = Aggregator(AggregationConfig(max_store_entries=100))
    outcomes = feed(aggregator, [press(s * 10, 4) for s in range(101)])
    assert outcomes.count(Outcome.ACCEPTED) == 100
    assert outcomes[-1] is Outcome.STATE_FULL


def test_kiosk_heartbeats_keep_the_latest_per_bucket() -> None:
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [heartbeat(20, 3), heartbeat(10, 7), heartbeat(20, 3)])
    status = only(aggregator).kiosks["k1"]
    assert (status.last_seen, status.buffered) == (at(20), 3)


# ---------------------------------------------------------------------- recovery


@settings(max_examples=30, deadline=None)
@given(workloads())
def test_a_restarted_aggregator_rebuilds_the_same_buckets_from_its_state(
    events: list[Event],
) -> None:
    state = DictEntries()
    before = Aggregator(CONFIG, state)
    feed(before, [*events, face(1, HAPPY, role="floor", track=str(uuid.uuid4()))], wall=5.0)
    after = Aggregator(CONFIG, DictEntries(state))
    after.tick(wall=5.0)
    before.tick(wall=5.0)
    assert snapshot(after) == snapshot(before)
    # ...and re-emits every bucket, in case the emission before the crash was lost.
    assert {v.key for v in after.take_dirty(T0)} == set(snapshot(before))


def test_aggregates_say_until_when_the_stores_visitors_are_all_counted() -> None:
    # A bucket is settled once the store's clock is the track-idle time past its end
    # and no track last seen in it (or before) is still open.
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(30), face(55, HAPPY, role="floor"), press(125)], wall=1000.0)
    # The clock (125 s) is past 10:01 + 10 s, but the track seen at 55 s is still open.
    assert {value.settled_until for value in aggregator.take_dirty(T0)} == {at(0)}
    aggregator.tick(wall=1000.0)  # the event-time rule closes it into 10:00
    assert {value.settled_until for value in aggregator.take_dirty(T0)} == {at(60)}
    feed(aggregator, [press(189)], wall=1001.0)  # 189 - 10 is still inside 10:02
    assert {value.settled_until for value in aggregator.take_dirty(T0)} == {at(120)}
    feed(aggregator, [press(190)], wall=1001.0)
    assert {value.settled_until for value in aggregator.take_dirty(T0)} == {at(180)}


def test_a_store_that_fell_quiet_is_never_sent_again_only_because_time_passed() -> None:
    # Re-sending a bucket to carry a later settled time could let a worker that lost
    # the partition overwrite the new owner's value: the exporter settles quiet stores.
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(30), press(95)])
    aggregator.hear("s1", at(95).timestamp())
    assert {value.settled_until for value in aggregator.take_dirty(at(96))} == {at(60)}
    assert aggregator.take_dirty(at(200)) == []
    # The next change says the wall-clock settled time: quiet since 95 s by the wall clock.
    aggregator.tick(wall=at(200).timestamp())
    feed(aggregator, [press(100)], wall=at(200).timestamp())
    assert {value.settled_until for value in aggregator.take_dirty(at(200))} == {at(180)}


def test_a_restored_store_is_not_quiet_before_it_hears_an_event() -> None:
    # Its backlog may still be unread: only the event-time rule holds.
    aggregator = Aggregator(CONFIG)
    feed(aggregator, [press(30), press(95)])
    aggregator.take_dirty(at(96))
    assert aggregator.take_dirty(at(10_000)) == []
