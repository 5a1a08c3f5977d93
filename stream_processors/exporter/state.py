"""One exporter instance: its aggregate store, its own metrics registry, its readiness.

``ingest()`` is the single way in for a message, whichever source read it: decode,
apply, count; a message that does not decode is logged with where it came from and
counted, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from kioskpulse.events import StoreAggregate
from stream_processors.exporter.collector import Clock, StoreCollector
from stream_processors.exporter.corrected import default_providers
from stream_processors.exporter.figures import FigureProvider
from stream_processors.exporter.windows import AggregateStore

__all__ = ["ExporterState", "utc_now"]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ExporterState:
    """The store, the registry that exposes it, and whether the initial read is done."""

    def __init__(
        self,
        *,
        lateness: timedelta = timedelta(days=7),
        clock: Clock = utc_now,
        providers: Sequence[FigureProvider] | None = None,
    ) -> None:
        """``providers``: the figures of every store and window; raw and corrected if None."""
        self.clock = clock
        self.store = AggregateStore(lateness)
        self.collector = StoreCollector(
            self.store, clock, default_providers() if providers is None else providers
        )
        # The exporter's own instruments, apart so that /metrics can render the
        # store families with the fast writer and only these with generate_latest.
        self._own = CollectorRegistry()
        self.consumed = Counter(
            "kioskpulse_exporter_aggregates_consumed",
            "Aggregate messages read from store.aggregates.v1 and applied.",
            registry=self._own,
        )
        self.invalid = Counter(
            "kioskpulse_exporter_aggregates_invalid",
            "Aggregate messages that did not decode (logged with topic, partition, offset).",
            registry=self._own,
        )
        self._ready_gauge = Gauge(
            "kioskpulse_exporter_ready",
            "1 once the initial read of the topic reached the end offsets seen at start.",
            registry=self._own,
        )
        self.ready = False
        #: Everything this exporter exposes, as a standard registry (never the global one).
        self.registry = CollectorRegistry()
        self.registry.register(self.collector)
        self.registry.register(self._own)

    def exposition(self) -> bytes:
        """The /metrics body: what ``generate_latest(self.registry)`` gives, faster."""
        return self.collector.render().encode() + generate_latest(self._own)

    def ingest(self, value: bytes | None, origin: str) -> StoreAggregate | None:
        """Decode and apply one message; ``origin`` says where it came from, for the log."""
        if value is None:
            # A tombstone: the aggregator never deletes buckets, so there is nothing to undo.
            log.debug("ignored a tombstone at %s", origin)
            return None
        try:
            aggregate = StoreAggregate.from_bytes(value)
        except ValueError as exc:  # pydantic's ValidationError is one
            self.invalid.inc()
            log.warning("skipped an invalid aggregate at %s (not dead-lettered): %s", origin, exc)
            return None
        self.store.apply(aggregate, self.clock())
        self.consumed.inc()
        return aggregate

    def mark_ready(self) -> None:
        if not self.ready:
            log.info("initial read of the aggregates done: %d stores", len(self.store))
        self.ready = True
        self._ready_gauge.set(1)
