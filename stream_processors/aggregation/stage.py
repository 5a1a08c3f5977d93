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
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram

from kioskpulse.bus import Record, StageOutput
from kioskpulse.deadletter import dead_letter
from kioskpulse.event_records import BadEvent, is_batch, read_store_events
from kioskpulse.events import FaceObservation, FollowupEvent, Heartbeat, RatingEvent
from kioskpulse.freshness import NewestEventTime
from kioskpulse.settings import Settings
from kioskpulse.topics import AGGREGATES, FACES, FOLLOWUPS, HEARTBEATS, RATINGS
from stream_processors.aggregation.aggregator import Aggregator, EntryBackend
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.aggregation.store import Outcome

__all__ = ["INPUT_TOPICS", "AggregationStage", "Event", "event_time"]

#: The store-keyed topics the aggregator reads (co-partitioned).
INPUT_TOPICS: tuple[str, ...] = (RATINGS, HEARTBEATS, FOLLOWUPS, FACES)

EVENTS = Counter(
    "kioskpulse_aggregator_events",
    "Events the store aggregator handled, by source topic and outcome.",
    ["topic", "outcome"],
)
EVENT_LAG = Histogram(
    "kioskpulse_aggregator_event_lag_seconds",
    "Wall clock minus event time when the aggregator handled an event.",
    ["topic"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
#: The newest event time the aggregator handled, per input topic.
NEWEST_HANDLED = NewestEventTime("aggregator", "the aggregator handled")
EMITTED = Counter(
    "kioskpulse_aggregator_aggregates_emitted", "Bucket values the aggregator published (upserts)."
)
UNREAD_FACES = Counter(
    "kioskpulse_aggregator_unread_faces",
    "Face observations the aggregator took without their expression: narrower than "
    "KIOSKPULSE_MIN_EXPRESSION_FACE_PX (a floor face still counts its visitor).",
    ["store"],
)

_REFUSED = {Outcome.TOO_LATE, Outcome.STATE_FULL, Outcome.TOO_EARLY}


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

    @classmethod
    def from_settings(
        cls, settings: Settings, backend: EntryBackend | None = None
    ) -> AggregationStage:
        """The stage as the worker and the embedded runtime run it (``backend``: in memory
        if None)."""
        return cls(
            Aggregator(AggregationConfig.from_settings(settings), backend),
            emit_interval=settings.aggregate_emit_seconds,
        )

    def handle(self, records: Sequence[Record]) -> StageOutput:
        """Apply a batch; the state changes are flushed before anything is returned."""
        output = StageOutput()
        wall = self.clock()
        counted: Tally[tuple[str, str]] = Tally()
        unread: Tally[str] = Tally()
        newest: dict[str, float] = {}
        for record in records:
            contract = _CONTRACTS.get(record.topic)
            if contract is None:
                error = ValueError(f"the aggregator does not read topic {record.topic}")
                counted[record.topic, "malformed"] += 1
                output.dead_letters.append(dead_letter(record, "malformed", error))
                continue
            batch = is_batch(record.value)
            for position, event in enumerate(read_store_events(record, contract)):
                if isinstance(event, BadEvent):
                    counted[record.topic, "malformed"] += 1
                    output.dead_letters.append(
                        dead_letter(event.record, "malformed", event.error, event.position)
                    )
                    continue
                when = event_time(event)
                outcome = self._apply(event, when, wall)
                counted[record.topic, outcome.value] += 1
                if outcome is Outcome.ACCEPTED:
                    self.aggregator.hear(event.store_id, wall)
                    if self._unread(event):
                        unread[event.store_id] += 1
                self._lag(record.topic).observe(max(0.0, wall - when))
                if outcome in _REFUSED:
                    refusal = self._refusal(outcome, when, wall)
                    # The event alone: the others of its batch record were counted.
                    alone = replace(record, value=event.to_bytes()) if batch else record
                    where = position if batch else None
                    output.dead_letters.append(dead_letter(alone, outcome.value, refusal, where))
                elif when > newest.get(record.topic, float("-inf")):
                    newest[record.topic] = when
        for (topic, name), n in counted.items():  # once per batch, not per event
            EVENTS.labels(topic, name).inc(n)
        for store_id, n in unread.items():
            UNREAD_FACES.labels(store_id).inc(n)
        for topic, when in newest.items():
            NEWEST_HANDLED.see(topic, when)
        self.aggregator.flush()
        if wall >= self._next_emit:
            output.produced = self._emit(wall)
        return output

    def _lag(self, topic: str) -> Any:
        histogram = self._lags.get(topic)
        if histogram is None:
            histogram = self._lags[topic] = EVENT_LAG.labels(topic)
        return histogram

    def tick(self) -> StageOutput:
        """Close idle visits, expire old buckets, emit what changed (at most every
        ``emit_interval``, as ``handle`` does: a tick's changes, a store's new visitors,
        go out with the next emission, and each emission costs per changed store)."""
        wall = self.clock()
        self.aggregator.tick(wall)
        self.aggregator.flush()
        return StageOutput(produced=self._emit(wall) if wall >= self._next_emit else [])

    def _emit(self, wall: float) -> list[Record]:
        self._next_emit = wall + self.emit_interval
        values = self.aggregator.take_dirty(datetime.fromtimestamp(wall, UTC))
        EMITTED.inc(len(values))
        return [Record(AGGREGATES, value.key, value.to_bytes()) for value in values]

    def _apply(self, event: Event, when: float, wall: float) -> Outcome:
        if when > wall + self.aggregator.config.max_ahead_seconds:
            # Refused before the store sees it: its stream time is its latest event
            # time, and a clock years ahead would expire every current bucket.
            return Outcome.TOO_EARLY
        aggregator = self.aggregator
        if isinstance(event, RatingEvent):
            return aggregator.add_rating(event)
        if isinstance(event, Heartbeat):
            return aggregator.add_heartbeat(event)
        if isinstance(event, FollowupEvent):
            return aggregator.add_followup(event)
        return aggregator.add_observation(event, wall)

    def _unread(self, event: Event) -> bool:
        """A face observation whose expression the aggregator leaves out (too small)."""
        return isinstance(event, FaceObservation) and not (
            self.aggregator.config.reads_expression(event.bbox)
        )

    def _refusal(self, outcome: Outcome, event_time: float, wall: float) -> ValueError:
        """Why an event that parsed was refused, in words (the dead letter's message)."""
        config = self.aggregator.config
        when = datetime.fromtimestamp(event_time, UTC).isoformat()
        if outcome is Outcome.TOO_EARLY:
            why = (
                f"{event_time - wall:.0f} s ahead of the worker's clock (at most "
                f"{config.max_ahead_seconds:.0f} s allowed: check the device clock)"
            )
        elif outcome is Outcome.TOO_LATE:
            why = (
                f"older than the store's latest event time minus the allowed lateness "
                f"of {config.lateness_seconds:.0f} s (its bucket is gone)"
            )
        else:
            why = f"the store holds {config.max_store_entries} entries already"
        return ValueError(f"{outcome.value}: event time {when} is refused: {why}")


Event = RatingEvent | Heartbeat | FollowupEvent | FaceObservation

#: How each input topic is decoded: a record that does not validate is dead-lettered
#: as ``malformed`` (``handle``).
_CONTRACTS: dict[str, type[Event]] = {
    RATINGS: RatingEvent,
    HEARTBEATS: Heartbeat,
    FOLLOWUPS: FollowupEvent,
    FACES: FaceObservation,
}


def event_time(event: Event) -> float:
    """When the event happened, by the device's clock (its bucket's time)."""
    if isinstance(event, RatingEvent):
        return event.pressed_at.timestamp()
    if isinstance(event, Heartbeat):
        return event.sent_at.timestamp()
    if isinstance(event, FollowupEvent):
        return event.answered_at.timestamp()
    return event.captured_at.timestamp()
