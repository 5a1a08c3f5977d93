"""One exporter instance: its aggregate windows, its own metrics registry, its readiness.

``ingest()`` is the single way in for a message, whichever source read it: decode,
apply, count; a message that does not decode is logged with where it came from and
counted, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from kioskpulse.events import StoreAggregate
from stream_processors.exporter.collector import Clock, StoreCollector
from stream_processors.exporter.corrected import default_providers
from stream_processors.exporter.display_figures import DisplayFigures
from stream_processors.exporter.figures import FigureProvider
from stream_processors.exporter.windows import AggregateWindows

__all__ = ["ExporterState", "utc_now"]

log = logging.getLogger(__name__)

#: Bounds of the schedule on which ``refresh_forever`` renders the store figures.
REFRESH_MIN_SECONDS = 0.25
REFRESH_MAX_SECONDS = 15.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class ExporterState:
    """The aggregate windows, the registry that exposes them, whether the initial read is done."""

    def __init__(
        self,
        *,
        lateness: timedelta = timedelta(days=7),
        clock: Clock = utc_now,
        providers: Sequence[FigureProvider] | None = None,
        max_ahead: timedelta = timedelta(minutes=5),
        track_idle: timedelta = timedelta(seconds=10),
    ) -> None:
        """``providers``: the figures of every store and window; if None raw, corrected
        and the display cameras' (issue 16).
        ``max_ahead``: aggregates dated further ahead of ``clock`` are refused (the
        devices' allowed clock skew). ``track_idle``: the aggregator's, for the settled
        time of aggregates that do not carry one (``windows``)."""
        self.clock = clock
        self.max_ahead = max_ahead
        self.windows = AggregateWindows(lateness, track_idle)
        self.collector = StoreCollector(
            self.windows,
            clock,
            (*default_providers(), DisplayFigures()) if providers is None else providers,
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
            "Aggregate messages that did not decode or were dated in the future (logged with "
            "topic, partition, offset).",
            registry=self._own,
        )
        self.consumer_restarts = Counter(
            "kioskpulse_exporter_consumer_restarts",
            "Consumers of store.aggregates.v1 replaced after an error they could not get over.",
            registry=self._own,
        )
        self.consumer_lag = Gauge(
            "kioskpulse_pipeline_consumer_lag_records",
            "Records of a worker group's input topics not yet consumed (end offsets minus "
            "committed offsets), measured by the exporter.",
            ["group", "topic"],
            registry=self._own,
        )
        self._ready_gauge = Gauge(
            "kioskpulse_exporter_ready",
            "1 once the initial read of the topic reached the end offsets seen at start.",
            registry=self._own,
        )
        self.render_seconds = Gauge(
            "kioskpulse_exporter_render_seconds",
            "How long the last rendering of every store's figures took.",
            registry=self._own,
        )
        self.ready = False
        self._changes = 0
        self._refreshing = False
        self._rendered: bytes | None = None
        #: Everything this exporter exposes, as a standard registry (never the global one).
        self.registry = CollectorRegistry()
        self.registry.register(self.collector)
        self.registry.register(self._own)

    def exposition(self) -> bytes:
        """The /metrics body: what ``generate_latest(self.registry)`` gives, faster.

        While ``refresh_forever`` runs, the store figures are the latest it rendered, so
        a scrape costs nothing however many stores there are; otherwise they are
        rendered now.
        """
        figures = self._rendered if self._refreshing else None
        if figures is None:
            figures = self.collector.render().encode()
        return figures + generate_latest(self._own)

    async def refresh_forever(self) -> None:
        """Render the store figures on a schedule (runs until cancelled).

        Again as soon as something changed, but never more often than every
        ``REFRESH_MIN_SECONDS`` nor more than a fifth of the time (2,000 stores take
        close to a second to render), and at least every ``REFRESH_MAX_SECONDS`` so
        the windows slide even when nothing arrives.
        """
        self._refreshing = True
        try:
            rendered_at, rendered_changes = -math.inf, -1
            while True:
                now = time.monotonic()
                if self._changes != rendered_changes or now - rendered_at >= REFRESH_MAX_SECONDS:
                    rendered_changes = self._changes
                    self._rendered = self.collector.render().encode()
                    took, rendered_at = time.monotonic() - now, now
                    self.render_seconds.set(took)
                    await asyncio.sleep(max(REFRESH_MIN_SECONDS, 4 * took))
                else:
                    await asyncio.sleep(REFRESH_MIN_SECONDS)
        finally:
            self._refreshing = False

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
        now = self.clock()
        if (ahead := self._ahead_of(aggregate, now)) is not None:
            self.invalid.inc()
            log.warning("skipped an aggregate at %s (not dead-lettered): %s", origin, ahead)
            return None
        self.windows.apply(aggregate, now)
        self.consumed.inc()
        self._changes += 1
        return aggregate

    def _ahead_of(self, aggregate: StoreAggregate, now: datetime) -> str | None:
        """Why ``aggregate`` is dated too far in the future, or None when it is not.

        A bucket from years ahead would sit in every window until then, and an
        ``updated_at`` years ahead would move the store's stream time there: the
        counts ledger would forget the current buckets and add their next upserts
        to the totals a second time.
        """
        for name, when in (
            ("bucket_start", aggregate.bucket_start),
            ("updated_at", aggregate.updated_at),
        ):
            if when > now + self.max_ahead:
                return (
                    f"{name} {when.isoformat()} is {(when - now).total_seconds():.0f} s ahead "
                    f"of this clock (at most {self.max_ahead.total_seconds():.0f} s allowed)"
                )
        return None

    def mark_ready(self) -> None:
        if not self.ready:
            log.info("initial read of the aggregates done: %d stores", len(self.windows))
        self.ready = True
        self._ready_gauge.set(1)
