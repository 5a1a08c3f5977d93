"""Several events of one store in one Kafka record: packing, reading, and bad events alone."""

from __future__ import annotations

import json

import pytest

from kioskpulse import event_records
from kioskpulse.bus import Record
from kioskpulse.event_records import (
    BadEvent,
    count_events,
    events_in,
    read_store_events,
    store_records,
)
from kioskpulse.events import MAX_BATCH, FaceObservation, RatingEvent
from kioskpulse.topics import FACES, RATINGS
from tests.support.events import HAPPY, face, press


def test_a_store_s_events_share_one_record_and_a_lone_event_stays_an_object() -> None:
    events = [press(1, store="s1"), press(2, store="s2"), press(3, store="s1")]

    records = store_records(RATINGS, events)

    assert [(r.key, count_events(r.value)) for r in records] == [("s1", 2), ("s2", 1)]
    assert json.loads(records[1].value)["store_id"] == "s2", "one event: the object itself"
    assert events_in(records, RatingEvent) == [events[0], events[2], events[1]]


def test_without_batch_records_every_event_has_its_own_record() -> None:
    events = [press(1), press(2)]

    records = store_records(RATINGS, events, batch=False)

    assert [r.value for r in records] == [e.to_bytes() for e in events]


def test_records_are_cut_at_the_batch_limit_and_at_the_byte_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    presses = [press(i) for i in range(MAX_BATCH + 1)]
    assert [count_events(r.value) for r in store_records(RATINGS, presses)] == [MAX_BATCH, 1]

    faces = [face(i, HAPPY, track=f"t{i}") for i in range(10)]
    limit = 3 * len(faces[0].to_bytes()) + 10  # three events and the brackets fit
    monkeypatch.setattr(event_records, "MAX_RECORD_BYTES", limit)
    records = store_records(FACES, faces)
    assert [count_events(r.value) for r in records] == [3, 3, 3, 1]
    assert all(len(r.value) <= limit for r in records)
    assert events_in(records, FaceObservation) == faces


def test_a_bad_event_in_a_batch_is_set_aside_alone_and_the_others_are_read() -> None:
    good = [press(1), press(2)]
    bad_rating = {**json.loads(press(3).to_bytes()), "rating": "five"}
    other_store = json.loads(press(4, store="s9").to_bytes())
    value = b"[%s,%s,%s,%s]" % (
        good[0].to_bytes(),
        json.dumps(bad_rating).encode(),
        good[1].to_bytes(),
        json.dumps(other_store).encode(),
    )
    record = Record(RATINGS, "s1", value, partition=2, offset=7)

    read = read_store_events(record, RatingEvent)

    assert read[0] == good[0]
    assert read[2] == good[1]
    first, second = read[1], read[3]
    assert isinstance(first, BadEvent)
    assert isinstance(second, BadEvent)
    assert (first.position, second.position) == (1, 3)
    assert json.loads(first.record.value) == bad_rating, "the dead letter holds the event alone"
    assert (first.record.partition, first.record.offset) == (2, 7)
    assert "is not the event's store" in str(second.error)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"[not json", "Expecting value"),
        (b"[" * 100_000 + b"]" * 100_000, "maximum recursion depth"),  # deeper than json reads
        (b"[]", "holds no event"),
        (b"[1, 2, 3]", "not a JSON array of event objects"),
        (b"{}", "Field required"),
    ],
)
def test_a_record_that_cannot_be_split_is_set_aside_whole(value: bytes, why: str) -> None:
    record = Record(RATINGS, "s1", value, partition=0, offset=1)

    [bad] = read_store_events(record, RatingEvent)

    assert isinstance(bad, BadEvent)
    assert (bad.record, bad.position) == (record, None)
    assert why in str(bad.error)
