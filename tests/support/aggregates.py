"""Aggregate buckets made to order (``store.aggregates.v1`` values)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from kioskpulse.events import EXPRESSIONS, TONES, KioskStatus, ScaleStatistics, StoreAggregate
from stream_processors.statistics import Statistics

#: The tests' "now": a round minute, so bucket boundaries are easy to read.
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

#: The default ``settled_until`` of ``aggregate()``: every bucket of a test has all its
#: visitors counted unless the test says otherwise (the settled time has tests of its own).
ALL_SETTLED = NOW + timedelta(days=1)


def scale_stats(
    presses: Sequence[int], suppressed: int = 0, linked: Sequence[int] | None = None
) -> ScaleStatistics:
    linked = list(linked) if linked is not None else [0] * len(presses)
    return ScaleStatistics(
        presses=list(presses),
        suppressed=suppressed,
        linked_presses=linked,
        linked_prob_sums=[[n / len(EXPRESSIONS)] * len(EXPRESSIONS) for n in linked],
    )


def aggregate(
    store: str = "s1",
    minutes_ago: float = 0,
    *,
    presses: dict[int, Sequence[int]] | None = None,
    suppressed: int = 0,
    linked: dict[int, Sequence[int]] | None = None,
    visitors: int = 0,
    expressions: Sequence[int] | None = None,
    tones: Sequence[int] | None = None,
    kiosks: dict[str, KioskStatus] | None = None,
    cameras: dict[str, datetime] | None = None,
    bucket_seconds: int = 60,
    updated_minutes_ago: float | None = None,
    followups: dict[str, int] | None = None,
    settled_until: datetime | None = ALL_SETTLED,
) -> StoreAggregate:
    """One bucket of ``store`` starting ``minutes_ago`` before NOW."""
    start = NOW - timedelta(minutes=minutes_ago)
    updated = NOW - timedelta(
        minutes=minutes_ago if updated_minutes_ago is None else updated_minutes_ago
    )
    linked = linked or {}
    return StoreAggregate(
        store_id=store,
        bucket_start=start,
        bucket_seconds=bucket_seconds,
        updated_at=updated,
        ratings={
            scale: scale_stats(levels, suppressed, linked.get(scale))
            for scale, levels in (presses or {}).items()
        },
        visitors=visitors,
        visitor_prob_sums=[visitors / len(EXPRESSIONS)] * len(EXPRESSIONS),
        expression_counts=list(expressions) if expressions else [0] * len(EXPRESSIONS),
        tone_counts=list(tones) if tones else [0] * len(TONES),
        kiosks=kiosks or {},
        cameras_last_seen=cameras or {},
        followups=followups or {},
        settled_until=settled_until,
    )


def bucket_of(store_id: str, statistics: Statistics) -> StoreAggregate:
    """A bucket of five minutes ago holding ``statistics`` (presses, visitors, faces)."""
    return StoreAggregate(
        store_id=store_id,
        bucket_start=NOW - timedelta(minutes=5),
        bucket_seconds=60,
        updated_at=NOW,
        ratings={k: sums.to_contract() for k, sums in statistics.ratings.items()},
        visitors=statistics.visitors,
        visitor_prob_sums=statistics.visitor_prob_sums,
        visitor_prob_sq_sums=statistics.visitor_prob_sq_sums,
        expression_counts=statistics.expression_counts,
    )
