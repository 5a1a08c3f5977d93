"""The aggregation stage against clocks: events from far in the future are refused.

A store's stream time is the latest event time it has seen. Were one event from a
clock set years ahead let in, the store's stream time would jump there: its
current buckets would expire at the next tick and every current event would be
refused as too late. The stage compares event times with the wall clock instead.
"""

from __future__ import annotations

import json
from datetime import timedelta

from prometheus_client import REGISTRY

from kioskpulse.bus import Record
from kioskpulse.events import DeadLetterHeaders, StoreAggregate
from kioskpulse.topics import AGGREGATES, FACES, FOLLOWUPS, HEARTBEATS, RATINGS
from stream_processors.aggregation.aggregator import Aggregator
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.aggregation.stage import AggregationStage
from stream_processors.aggregation.store import Outcome
from tests.support.events import HAPPY, T0, face, followup, heartbeat, press

CONFIG = AggregationConfig(lateness_seconds=3600, max_ahead_seconds=300)
#: The worker's wall clock: ten minutes after T0.
WALL = (T0 + timedelta(minutes=10)).timestamp()

YEAR = 365 * 24 * 3600.0


def stage() -> AggregationStage:
    return AggregationStage(Aggregator(CONFIG), emit_interval=0.0, clock=lambda: WALL)


def rating_record(seconds: float, offset: int) -> Record:
    return Record(RATINGS, "s1", press(seconds).to_bytes(), partition=0, offset=offset)


def buckets(records: list[Record]) -> dict[str, StoreAggregate]:
    values = (StoreAggregate.from_bytes(r.value) for r in records if r.topic == AGGREGATES)
    return {value.key: value for value in values}


def events_counted(topic: str, outcome: Outcome) -> float:
    labels = {"topic": topic, "outcome": outcome.value}
    return REGISTRY.get_sample_value("kioskpulse_aggregator_events_total", labels) or 0.0


def test_an_event_from_years_ahead_is_dead_lettered_and_current_buckets_live_on() -> None:
    aggregation = stage()
    aggregation.handle([rating_record(60, 1)])
    before = events_counted(RATINGS, Outcome.TOO_EARLY)

    output = aggregation.handle([rating_record(3 * YEAR, 2)])

    (letter,) = output.dead_letters
    headers = DeadLetterHeaders.from_headers(letter.headers)
    assert (headers.reason, headers.source_topic, headers.source_offset) == (
        "too_early",
        RATINGS,
        2,
    )
    assert "ahead of the worker's clock" in headers.error_message
    assert events_counted(RATINGS, Outcome.TOO_EARLY) == before + 1
    # The store's stream time did not move: its bucket survives a tick, and a
    # current press still counts.
    aggregation.tick()
    later = aggregation.handle([rating_record(120, 3)])
    assert later.dead_letters == []
    assert set(buckets(later.produced)) == {"s1/2026-11-24T10:02:00Z"}
    assert [b.start for b in aggregation.aggregator.stores["s1"].buckets.values()] == [
        (T0 + timedelta(minutes=1)).timestamp(),
        (T0 + timedelta(minutes=2)).timestamp(),
    ]


def test_every_store_keyed_topic_refuses_events_from_the_future() -> None:
    aggregation = stage()
    ahead = 600 + 301  # T0 + ten minutes is now: this is 301 s ahead
    records = [
        Record(RATINGS, "s1", press(ahead).to_bytes()),
        Record(HEARTBEATS, "s1", heartbeat(ahead).to_bytes()),
        Record(FACES, "s1", face(ahead, HAPPY, role="floor").to_bytes()),
        Record(FOLLOWUPS, "s1", followup(ahead).to_bytes()),
    ]
    output = aggregation.handle(records)
    reasons = [DeadLetterHeaders.from_headers(d.headers).reason for d in output.dead_letters]
    assert reasons == ["too_early"] * 4
    assert aggregation.aggregator.stores == {}


def test_a_clock_slightly_ahead_is_within_the_allowed_skew() -> None:
    aggregation = stage()
    output = aggregation.handle([rating_record(600 + 299, 1)])
    assert output.dead_letters == []
    assert set(buckets(output.produced)) == {"s1/2026-11-24T10:14:00Z"}


def test_an_event_older_than_the_lateness_says_why_it_is_refused() -> None:
    aggregation = stage()
    aggregation.handle([rating_record(500, 1)])
    (letter,) = aggregation.handle([rating_record(500 - 3700, 2)]).dead_letters
    headers = DeadLetterHeaders.from_headers(letter.headers)
    assert headers.reason == "too_late"
    assert "allowed lateness of 3600 s" in headers.error_message


def test_a_followup_on_its_topic_reaches_its_bucket_apart_from_the_presses() -> None:
    aggregation = stage()
    pressed = press(60)
    output = aggregation.handle(
        [
            Record(RATINGS, "s1", pressed.to_bytes()),
            Record(FOLLOWUPS, "s1", followup(125, "staff", answers=pressed).to_bytes()),
        ]
    )
    assert output.dead_letters == []
    values = buckets(output.produced)
    assert values["s1/2026-11-24T10:02:00Z"].followups == {"staff": 1}
    assert values["s1/2026-11-24T10:02:00Z"].ratings == {}
    assert values["s1/2026-11-24T10:01:00Z"].followups == {}


def test_an_invalid_followup_record_is_dead_lettered_with_its_reason() -> None:
    aggregation = stage()
    good = followup(60).to_bytes()
    before = events_counted(FOLLOWUPS, Outcome.ACCEPTED)
    output = aggregation.handle(
        [
            Record(FOLLOWUPS, "s1", good.replace(b'"queue"', b'"Not a reason"'), offset=7),
            Record(FOLLOWUPS, "s1", b"{not json", offset=8),
            Record(FOLLOWUPS, "someone-else", good, offset=9),
            Record(FOLLOWUPS, "s1", good, offset=10),
        ]
    )
    letters = [DeadLetterHeaders.from_headers(d.headers) for d in output.dead_letters]
    assert [(h.source_topic, h.source_offset, h.reason) for h in letters] == [
        (FOLLOWUPS, 7, "malformed"),
        (FOLLOWUPS, 8, "malformed"),
        (FOLLOWUPS, 9, "malformed"),
    ]
    assert "not the event's store" in letters[2].error_message
    assert events_counted(FOLLOWUPS, Outcome.ACCEPTED) == before + 1


def test_a_batch_record_counts_its_events_once_and_dead_letters_a_bad_one_alone() -> None:
    aggregation = stage()
    presses = [press(60 + i, kiosk=f"k{i}") for i in range(3)]  # no misuse filter
    poison = {**json.loads(presses[1].to_bytes()), "rating": 0}
    value = b"[%s,%s,%s]" % (
        presses[0].to_bytes(),
        json.dumps(poison).encode(),
        presses[2].to_bytes(),
    )
    batch = Record(RATINGS, "s1", value, partition=0, offset=5)

    output = aggregation.handle([batch])
    again = aggregation.handle([batch])  # redelivered after a crash: counted once

    (letter,) = output.dead_letters
    headers = DeadLetterHeaders.from_headers(letter.headers)
    assert (headers.reason, headers.source_offset, headers.source_index) == ("malformed", 5, 1)
    assert json.loads(letter.value) == poison
    assert len(again.dead_letters) == 1
    [counted] = buckets(output.produced).values()
    assert counted.ratings[4].presses == [0, 0, 0, 2]
    assert all(v.ratings[4].presses == [0, 0, 0, 2] for v in buckets(again.produced).values())


def test_a_tick_publishes_no_more_often_than_the_emit_interval() -> None:
    now = [WALL]
    aggregation = AggregationStage(Aggregator(CONFIG), emit_interval=1.0, clock=lambda: now[0])
    first = aggregation.handle([rating_record(60, 1)])
    assert buckets(first.produced), "the first batch publishes at once"

    aggregation.handle([rating_record(90, 2)])  # within the interval: held back
    held = aggregation.tick()
    now[0] += 1.0
    due = aggregation.tick()

    assert held.produced == []
    [value] = buckets(due.produced).values()
    assert value.ratings[4].presses == [0, 0, 0, 2]


def test_an_event_refused_in_a_batch_record_is_dead_lettered_alone() -> None:
    aggregation = stage()
    good, ahead = press(60, kiosk="k1"), press(3 * YEAR, kiosk="k2")
    value = b"[%s,%s]" % (good.to_bytes(), ahead.to_bytes())

    output = aggregation.handle([Record(RATINGS, "s1", value, partition=0, offset=9)])

    (letter,) = output.dead_letters
    headers = DeadLetterHeaders.from_headers(letter.headers)
    assert (headers.reason, headers.source_offset, headers.source_index) == ("too_early", 9, 1)
    assert letter.value == ahead.to_bytes(), "the refused event alone, not its batch"
    [counted] = buckets(output.produced).values()
    assert counted.ratings[4].presses == [0, 0, 0, 1]
