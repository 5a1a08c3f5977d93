"""The aggregation stage: store-keyed records in, aggregate upserts and dead letters out.

Transport-free, like the vision stage: the faust agent and the embedded runtime
hand it batches of records and publish what it returns. Input that cannot be
parsed, or that the state cannot take, becomes a dead letter with a reason; the
stage never raises on bad input.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from kioskpulse.bus import Record
from kioskpulse.deadletter import dead_letter
from kioskpulse.events import FaceObservation, Heartbeat, RatingEvent
from kioskpulse.topics import AGGREGATES, FACES, HEARTBEATS, RATINGS
from stream_processors.aggregation.aggregator import Aggregator
from stream_processors.aggregation.store import Outcome

__all__ = ["INPUT_TOPICS", "AggregationStage", "StageOutput"]

#: The store-keyed topics the aggregator reads (co-partitioned).
INPUT_TOPICS: tuple[str, ...] = (RATINGS, HEARTBEATS, FACES)

EVENTS = Counter(
    "kioskpulse_stage_events",
    "Events the store aggregator handled, by source topic and outcome.",
    ["topic", "outcome"],
)
EVENT_LAG = Histogram(
    "kioskpulse_stage_event_lag_seconds",
    "Wall clock minus event time when the aggregator handled an event.",
    ["topic"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
EMITTED = Counter(
    "kioskpulse_stage_aggregates_emitted", "Bucket values the aggregator published (upserts)."
)

_REFUSED = {Outcome.TOO_LATE, Outcome.STATE_FULL}


@dataclass
class StageOutput:
    aggregates: list[Record] = field(default_factory=list)
    dead_letters: list[Record] = field(default_factory=list)

    @property
    def records(self) -> list[Record]:
        return [*self.aggregates, *self.dead_letters]


class AggregationStage:
    """Feeds records to an Aggregator and turns its changes into output records.

    Bucket values are emitted at most every ``emit_interval`` seconds (and by
    ``tick``), so a burst of events on one bucket costs one upsert, not one per event.
    """

    def __init__(
        self,
        aggregator: Aggregator,
        *,
        emit_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.aggregator = aggregator
        self.emit_interval = emit_interval
        self.clock = clock
        self._next_emit = 0.0
        self._lags: dict[str, Any] = {}

    def handle(self, records: Sequence[Record]) -> StageOutput:
        """Apply a batch; the state changes are flushed before anything is returned."""
        output = StageOutput()
        wall = self.clock()
        counted: Tally[tuple[str, str]] = Tally()
        for record in records:
            try:
                outcome, event_time = self._apply(record, wall)
            except (ValidationError, ValueError) as exc:
                counted[record.topic, "malformed"] += 1
                output.dead_letters.append(dead_letter(record, "malformed", exc))
                continue
            counted[record.topic, outcome.value] += 1
            self._lag(record.topic).observe(max(0.0, wall - event_time))
            if outcome in _REFUSED:
                reason = ValueError(f"{outcome.value}: event time {event_time:.3f}")
                output.dead_letters.append(dead_letter(record, outcome.value, reason))
        for (topic, name), n in counted.items():  # once per batch, not per event
            EVENTS.labels(topic, name).inc(n)
        self.aggregator.flush()
        if wall >= self._next_emit:
            output.aggregates = self._emit(wall)
        return output

    def _lag(self, topic: str) -> Any:
        histogram = self._lags.get(topic)
        if histogram is None:
            histogram = self._lags[topic] = EVENT_LAG.labels(topic)
        return histogram

    def tick(self) -> StageOutput:
        """Close idle tracks, expire old buckets, emit what changed."""
        wall = self.clock()
        self.aggregator.tick(wall)
        self.aggregator.flush()
        return StageOutput(aggregates=self._emit(wall))

    def _emit(self, wall: float) -> list[Record]:
        self._next_emit = wall + self.emit_interval
        values = self.aggregator.take_dirty(datetime.fromtimestamp(wall, UTC))
        EMITTED.inc(len(values))
        return [Record(AGGREGATES, value.key, value.to_bytes()) for value in values]

    def _apply(self, record: Record, wall: float) -> tuple[Outcome, float]:
        aggregator = self.aggregator
        if record.topic == RATINGS:
            rating = RatingEvent.from_bytes(record.value)
            _check_key(record, rating.store_id)
            return aggregator.add_rating(rating), rating.pressed_at.timestamp()
        if record.topic == HEARTBEATS:
            heartbeat = Heartbeat.from_bytes(record.value)
            _check_key(record, heartbeat.store_id)
            return aggregator.add_heartbeat(heartbeat), heartbeat.sent_at.timestamp()
        if record.topic == FACES:
            seen = FaceObservation.from_bytes(record.value)
            _check_key(record, seen.store_id)
            return aggregator.add_observation(seen, wall), seen.captured_at.timestamp()
        raise ValueError(f"the aggregator does not read topic {record.topic}")


def _check_key(record: Record, store_id: str) -> None:
    # A store's state lives on the partition its key hashes to: an event keyed
    # otherwise would be counted by a worker that does not own the store.
    if record.key != store_id:
        raise ValueError(f"record key {record.key!r} is not the event's store {store_id!r}")
