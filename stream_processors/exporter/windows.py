"""What the exporter keeps of ``store.aggregates.v1``: buckets, window sums, running totals.

Pure state, no I/O; the wall clock comes in as ``now`` so that tests choose it.

Window semantics: a bucket belongs to the window ``w`` at ``now`` when
``bucket_start >= now - w``. An edge bucket that the window covers only in part
counts whole (buckets are the finest grain there is), and buckets that start after
``now`` (a kiosk clock slightly ahead) count too. So the 15 min window of 1 min
buckets holds 15 or 16 buckets, depending on where ``now`` falls.

Three kinds of state, each bounded:

* buckets, the full ``Statistics`` of every bucket that a window may still need:
  kept while ``bucket_start >= now - 24 h - bucket_seconds`` (wall clock);
* per store and window, a cached running sum, patched by each upsert (``+ new - old``)
  and by the window start moving past buckets (``- bucket``), and rebuilt from the
  buckets every so often so that float rounding cannot accumulate; a scrape thus
  costs a few additions per store, not one per bucket;
* per store, the running totals behind the ``_total`` counters, which outlive the
  buckets. An upsert replaces the old value of its bucket, so the totals need the
  old counts of every bucket that may still change: a small ledger of counts per
  bucket, kept for the aggregator's allowed lateness measured on the store's own
  stream time (``updated_at``), so that a replay of the topic from the start, old
  duplicates and all, adds every bucket exactly once.

Settled data (issue 14): a visitor counts when its floor-camera track closes, a
press at once, so the newest buckets have their presses before their visitors. Each
store has a *settled until* time: the buckets that end at or before it have all their
visitors counted. The aggregator sends it with every aggregate (``settled_until``:
``visit_idle`` behind the store's event-time clock, and before any open track; see
``StoreState.settled_until`` in the aggregator); the
store's is the latest it sent (the greatest: it only moves forward, and a replay of
the compacted topic sees it again). Aggregates written before that field existed fall
back on ``updated_at - track_idle``, on the bucket grid: conservative in real time,
when the aggregator's wall clock is at most a little ahead of its event time.

A store that fell quiet settles whole here, not in the aggregator: an open track
closes by the aggregator's wall clock ``track_idle`` after its last sighting, and that
sends an aggregate (and every sighting sends one, as it moves the camera's last-seen
time). So once nothing came from a store for ``2 · track_idle`` plus a margin (its
newest ``updated_at``, the aggregator's wall clock, against ``now``), it has no open
track, and all its buckets are settled. The aggregator never re-sends a bucket just to
say that time passed: a worker that lost a store's partition must not write it again.
``settled_window()`` is a window's sums without its unsettled buckets, for the
figures that set presses against visitors (the corrected ones, the response rate).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from kioskpulse.events import KioskStatus, StoreAggregate
from stream_processors.statistics import Statistics

__all__ = [
    "WINDOWS",
    "AggregateWindows",
    "BucketCounts",
    "StoreTotals",
    "StoreView",
    "WindowName",
    "window_seconds",
]

WindowName = Literal["15m", "1h", "24h"]

#: The windows the exporter reports, shortest first.
WINDOWS: tuple[WindowName, ...] = get_args(WindowName)

_WINDOW_SECONDS: dict[str, int] = {"15m": 15 * 60, "1h": 3600, "24h": 24 * 3600}
_LONGEST = max(_WINDOW_SECONDS.values())

#: Incremental patches of a window sum before it is rebuilt from its buckets. Counts
#: are exact under ``+ x - x``; float sums drift by rounding, about 1e-16 of the
#: largest sum per patch, so a rebuild now and then (a full sum: up to 1,440
#: additions) is plenty. A window that empties is reset to an exact zero at once.
REBUILD_AFTER = 100_000

#: Extra stream time the counts ledger keeps beyond the allowed lateness, for
#: partitions read at different speeds while the topic is replayed.
LEDGER_SLACK_SECONDS = 24 * 3600

#: Beyond ``2 · track_idle``, how long a store sends nothing before the quiet rule
#: settles it: the aggregator's tick (1 s), its batching and the way to the exporter.
QUIET_MARGIN_SECONDS = 15.0


def window_seconds(window: str) -> int:
    """Length of a window in seconds (KeyError for an unknown window)."""
    return _WINDOW_SECONDS[window]


def _epoch(when: datetime) -> float:
    return when.timestamp()


@dataclass(frozen=True, slots=True)
class BucketCounts:
    """What one bucket adds to the counters: presses per scale and level, suppressed,
    visitors, follow-up answers per reason."""

    presses: tuple[tuple[int, tuple[int, ...]], ...]
    suppressed: int
    visitors: int
    followups: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, aggregate: StoreAggregate) -> BucketCounts:
        return cls(
            tuple(sorted((scale, tuple(s.presses)) for scale, s in aggregate.ratings.items())),
            sum(s.suppressed for s in aggregate.ratings.values()),
            aggregate.visitors,
            tuple(sorted(aggregate.followups.items())),
        )


@dataclass
class StoreTotals:
    """Running totals since the start of the topic, for the ``_total`` counters."""

    presses: dict[int, list[int]] = field(default_factory=dict)
    suppressed: int = 0
    visitors: int = 0
    #: Answers by reason; a reason stays once seen, even at 0 (a counter does not vanish).
    followups: dict[str, int] = field(default_factory=dict)

    def add(self, counts: BucketCounts, sign: int = 1) -> None:
        for scale, levels in counts.presses:
            mine = self.presses.setdefault(scale, [0] * scale)
            for i, n in enumerate(levels):
                mine[i] += sign * n
        self.suppressed += sign * counts.suppressed
        self.visitors += sign * counts.visitors
        for reason, n in counts.followups:
            self.followups[reason] = self.followups.get(reason, 0) + sign * n


@dataclass
class _WindowSum:
    """The cached sum of the buckets with ``start >= threshold``."""

    threshold: float
    statistics: Statistics
    patches: int = 0


@dataclass
class _StoreData:
    # Buckets by start (epoch seconds); ``starts`` is the same keys, sorted.
    buckets: dict[float, Statistics] = field(default_factory=dict)
    bucket_seconds: dict[float, int] = field(default_factory=dict)
    starts: list[float] = field(default_factory=list)
    windows: dict[str, _WindowSum] = field(default_factory=dict)
    totals: StoreTotals = field(default_factory=StoreTotals)
    # Counts of the buckets that may still change, by start.
    ledger: dict[float, BucketCounts] = field(default_factory=dict)
    ledger_starts: list[float] = field(default_factory=list)
    stream_time: float = float("-inf")
    kiosks: dict[str, KioskStatus] = field(default_factory=dict)
    cameras_last_seen: dict[str, datetime] = field(default_factory=dict)
    last_updated_at: datetime | None = None
    # Buckets ending at or before this (epoch seconds) have all their visitors counted.
    settled_until: float = float("-inf")


@dataclass(frozen=True)
class StoreView:
    """What the exporter knows of one store outside its windows."""

    store_id: str
    totals: StoreTotals
    kiosks: dict[str, KioskStatus]
    cameras_last_seen: dict[str, datetime]
    last_updated_at: datetime | None
    buckets: int
    #: Buckets ending at or before this have all their visitors counted (module docstring).
    settled_until: datetime | None = None


class AggregateWindows:
    """Upserted buckets of every store, their window sums and running totals."""

    def __init__(
        self,
        lateness: timedelta = timedelta(days=7),
        track_idle: timedelta = timedelta(seconds=10),
    ) -> None:
        """``track_idle``: the aggregator's ``KIOSKPULSE_TRACK_IDLE_SECONDS``, for the
        settled time of aggregates that do not carry one."""
        self._lateness = lateness.total_seconds()
        self._track_idle = track_idle.total_seconds()
        self._quiet = 2 * self._track_idle + QUIET_MARGIN_SECONDS
        self._stores: dict[str, _StoreData] = {}

    # ------------------------------------------------------------------ writing

    def apply(self, aggregate: StoreAggregate, now: datetime) -> None:
        """Take one bucket value; it replaces any earlier value of the same bucket."""
        state = self._stores.setdefault(aggregate.store_id, _StoreData())
        start = _epoch(aggregate.bucket_start)
        self._count(state, start, aggregate)
        _merge_latest(state, aggregate)
        state.settled_until = max(state.settled_until, self._settled_until(aggregate))
        # Older buckets are outside every window already (and expire() would drop them).
        if start in state.buckets or start >= _epoch(now) - _LONGEST - aggregate.bucket_seconds:
            self._keep(state, start, aggregate, now)

    def expire(self, now: datetime) -> int:
        """Drop the buckets no window can need any more; returns how many went."""
        dropped = 0
        horizon = _epoch(now) - _LONGEST
        for state in self._stores.values():
            dropped += _expire_store(state, horizon)
        return dropped

    def _settled_until(self, aggregate: StoreAggregate) -> float:
        if aggregate.settled_until is not None:
            return _epoch(aggregate.settled_until)
        # An older aggregator: the buckets that ended ``track_idle`` before it computed
        # this value, by its wall clock (visits close by the wall clock too).
        size = aggregate.bucket_seconds
        return (_epoch(aggregate.updated_at) - self._track_idle) // size * size

    def _count(self, state: _StoreData, start: float, aggregate: StoreAggregate) -> None:
        counts = BucketCounts.of(aggregate)
        old = state.ledger.get(start)
        if old is None:
            bisect.insort(state.ledger_starts, start)
        else:
            state.totals.add(old, -1)
        state.totals.add(counts)
        state.ledger[start] = counts
        state.stream_time = max(state.stream_time, _epoch(aggregate.updated_at))
        # Buckets older than the lateness can no longer change: their counts may go.
        horizon = state.stream_time - self._lateness - LEDGER_SLACK_SECONDS
        gone = bisect.bisect_left(state.ledger_starts, horizon)
        for old_start in state.ledger_starts[:gone]:
            del state.ledger[old_start]
        del state.ledger_starts[:gone]

    @staticmethod
    def _keep(state: _StoreData, start: float, aggregate: StoreAggregate, now: datetime) -> None:
        # Kiosks and cameras are latest-of, kept per store; window sums are additive only.
        new = replace(Statistics.of(aggregate), kiosks={}, cameras_last_seen={})
        if not state.windows:
            # Sums start with the store and follow every upsert, so that not even the
            # first scrape after reading the whole topic has to add up every bucket.
            state.windows = {
                w: _WindowSum(_epoch(now) - seconds, Statistics())
                for w, seconds in _WINDOW_SECONDS.items()
            }
        old = state.buckets.get(start)
        if old is None:
            bisect.insort(state.starts, start)
            delta = new
        else:
            delta = new - old
        state.buckets[start] = new
        state.bucket_seconds[start] = aggregate.bucket_seconds
        for cached in state.windows.values():
            if start >= cached.threshold:
                cached.statistics = cached.statistics + delta
                cached.patches += 1

    # ------------------------------------------------------------------ reading

    def window(self, store_id: str, window: str, now: datetime) -> Statistics:
        """The sums of the store's buckets in the window ending at ``now`` (KeyError if unknown).

        Only the additive parts: kiosks and cameras are in ``view()``. Do not mutate
        the result; it is the cached sum.
        """
        state = self._stores[store_id]
        threshold = _epoch(now) - _WINDOW_SECONDS[window]
        cached = state.windows.get(window)
        if cached is None or threshold < cached.threshold or cached.patches >= REBUILD_AFTER:
            cached = _WindowSum(threshold, _sum(state, threshold))
            state.windows[window] = cached
        elif threshold > cached.threshold:
            lo = bisect.bisect_left(state.starts, cached.threshold)
            hi = bisect.bisect_left(state.starts, threshold)
            for start in state.starts[lo:hi]:
                cached.statistics = cached.statistics - state.buckets[start]
                cached.patches += 1
            cached.threshold = threshold
            if lo == hi == len(state.starts):
                cached.statistics, cached.patches = Statistics(), 0  # empty: no rounding left
        return cached.statistics

    def settled_window(self, store_id: str, window: str, now: datetime) -> Statistics:
        """``window()`` without the buckets that end after the store's settled time.

        Those are few (the last minute or so), so they are taken out of the cached sum
        rather than the settled ones added up; do not mutate the result either.
        """
        statistics = self.window(store_id, window, now)
        state = self._stores[store_id]
        settled_until = self._settled(state, now)
        threshold = _epoch(now) - _WINDOW_SECONDS[window]
        lo = bisect.bisect_left(state.starts, threshold)
        # Starts are sorted and buckets of one store have one size, in practice; scan from
        # the newest back to the first settled one.
        unsettled = []
        for start in reversed(state.starts[lo:]):
            if start + state.bucket_seconds[start] <= settled_until:
                break
            unsettled.append(state.buckets[start])
        if not unsettled:
            return statistics
        if len(unsettled) == len(state.starts) - lo:
            return Statistics()  # nothing settled: an exact zero, no rounding left
        return statistics - Statistics.total(unsettled)

    def stores(self) -> list[str]:
        """Every store seen, sorted."""
        return sorted(self._stores)

    def __contains__(self, store_id: object) -> bool:
        return store_id in self._stores

    def __len__(self) -> int:
        return len(self._stores)

    def _settled(self, state: _StoreData, now: datetime) -> float:
        """The store's settled time as of ``now``, with the quiet rule (module docstring)."""
        updated = state.last_updated_at
        if updated is None or not state.starts or _epoch(now) - _epoch(updated) <= self._quiet:
            return state.settled_until
        newest = state.starts[-1]
        return max(state.settled_until, newest + state.bucket_seconds[newest])

    def view(self, store_id: str, now: datetime | None = None) -> StoreView:
        """Totals, kiosks and cameras of a store (KeyError if unknown); its settled time
        as of ``now`` (without the quiet rule if None)."""
        state = self._stores[store_id]
        settled_until = state.settled_until if now is None else self._settled(state, now)
        return StoreView(
            store_id,
            state.totals,
            state.kiosks,
            state.cameras_last_seen,
            state.last_updated_at,
            len(state.buckets),
            _datetime(settled_until),
        )

    def views(self, now: datetime | None = None) -> Iterable[StoreView]:
        return (self.view(store_id, now) for store_id in self._stores)

    def bucket_count(self) -> int:
        return sum(len(state.buckets) for state in self._stores.values())


# ---------------------------------------------------------------------- helpers


def _merge_latest(state: _StoreData, aggregate: StoreAggregate) -> None:
    """Kiosks and cameras as of the newest report of each, whichever bucket carried it."""
    merged = Statistics(kiosks=state.kiosks, cameras_last_seen=state.cameras_last_seen)
    merged = merged + Statistics(
        kiosks=dict(aggregate.kiosks), cameras_last_seen=dict(aggregate.cameras_last_seen)
    )
    state.kiosks, state.cameras_last_seen = merged.kiosks, merged.cameras_last_seen
    if state.last_updated_at is None or aggregate.updated_at > state.last_updated_at:
        state.last_updated_at = aggregate.updated_at


def _datetime(epoch: float) -> datetime | None:
    return None if epoch == float("-inf") else datetime.fromtimestamp(epoch, UTC)


def _sum(state: _StoreData, threshold: float) -> Statistics:
    lo = bisect.bisect_left(state.starts, threshold)
    return Statistics.total(state.buckets[start] for start in state.starts[lo:])


def _expire_store(state: _StoreData, horizon: float) -> int:
    """Drop buckets more than one bucket older than ``horizon`` (the longest window's start)."""
    # Starts are sorted, so the expired ones are a prefix.
    end = 0
    while end < len(state.starts) and (
        state.starts[end] < horizon - state.bucket_seconds[state.starts[end]]
    ):
        end += 1
    gone = state.starts[:end]
    if not gone:
        return 0
    for start in gone:
        bucket = state.buckets.pop(start)
        del state.bucket_seconds[start]
        # A window not read since before the bucket left it still holds it.
        for cached in state.windows.values():
            if start >= cached.threshold:
                cached.statistics = cached.statistics - bucket
                cached.patches += 1
    del state.starts[: len(gone)]
    return len(gone)
