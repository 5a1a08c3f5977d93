"""One event-time bucket of one store: exact running statistics and the state keys in it.

Statistics are kept as integers (probabilities in fixed point), so adding and
taking back a contribution leaves no rounding trace, and a bucket's value depends
only on the set of events in it, never on their order.

A bucket's value is built with pydantic's ``model_construct``, without validation:
it comes from this state, not from outside, and validating each emission cost about
a third of the aggregator's work per event with 2,000 stores (docs/benchmarks.md).
The tests parse every value they see back through the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kioskpulse.events import (
    TONES,
    KioskStatus,
    ProbabilitySums,
    ScaleStatistics,
    StoreAggregate,
    level_of,
)
from stream_processors.aggregation import entries, fixedpoint
from stream_processors.aggregation.displays import DisplayTally, DisplayTrack
from stream_processors.aggregation.fixedpoint import Vector
from stream_processors.statistics import E, T, add_tallies, tone_of

__all__ = ["Bucket", "PressContribution"]


@dataclass(frozen=True, slots=True)
class PressContribution:
    """What one press adds to its bucket: its level, whether it counted, and its links."""

    scale: int
    rating: int
    counted: bool
    link: Vector | None
    #: The link to a floor camera's face in the kiosk's zone (issue 14).
    zone_link: Vector | None = None


@dataclass
class _Sample:
    """Vectors of one sample, summed exactly: count, Σ v, Σ v vᵀ (upper triangle, unit ONE²)."""

    count: int = 0
    sums: list[int] = field(default_factory=lambda: fixedpoint.zeros(E))
    sq_sums: list[int] = field(default_factory=lambda: fixedpoint.zeros(T))

    def add(self, vector: Vector, sign: int = 1) -> None:
        """Add (sign 1) or take back (sign -1) one vector."""
        self.count += sign
        square = fixedpoint.outer_triangle(vector)
        if sign > 0:
            fixedpoint.add(self.sums, vector)
            fixedpoint.add(self.sq_sums, square)
        else:
            fixedpoint.subtract(self.sums, vector)
            fixedpoint.subtract(self.sq_sums, square)

    def to_contract(self) -> ProbabilitySums:
        return ProbabilitySums.model_construct(
            count=self.count,
            prob_sums=fixedpoint.from_fixed(self.sums),
            prob_sq_sums=fixedpoint.from_fixed_squared(self.sq_sums),
        )


@dataclass
class _ScaleCounts:
    presses: list[int]
    suppressed: int
    linked: list[int]
    linked_sums: list[list[int]]
    #: Per level, Σ l lᵀ over the linked vectors l (upper triangle, unit ONE²).
    linked_sq_sums: list[list[int]]
    #: Per level, the counted presses linked to a face in the kiosk's zone.
    zone: list[_Sample]

    @classmethod
    def zero(cls, scale: int) -> _ScaleCounts:
        return cls(
            [0] * scale,
            0,
            [0] * scale,
            [fixedpoint.zeros(E) for _ in range(scale)],
            [fixedpoint.zeros(T) for _ in range(scale)],
            [_Sample() for _ in range(scale)],
        )

    def to_contract(self) -> ScaleStatistics:
        return ScaleStatistics.model_construct(
            presses=list(self.presses),
            suppressed=self.suppressed,
            linked_presses=list(self.linked),
            linked_prob_sums=[fixedpoint.from_fixed(row) for row in self.linked_sums],
            linked_prob_sq_sums=[fixedpoint.from_fixed_squared(row) for row in self.linked_sq_sums],
            # Empty while no press has a zone link, as the contract reads "none in the bucket".
            zone_linked=[level.to_contract() for level in self.zone]
            if any(level.count for level in self.zone)
            else [],
        )


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass
class Bucket:
    start: int
    ratings: dict[int, _ScaleCounts] = field(default_factory=dict)
    visitors: int = 0
    visitor_sums: list[int] = field(default_factory=lambda: fixedpoint.zeros(E))
    #: Σ m mᵀ over the visitors' means m (upper triangle, unit ONE²).
    visitor_sq_sums: list[int] = field(default_factory=lambda: fixedpoint.zeros(T))
    expression_counts: list[int] = field(default_factory=lambda: [0] * E)
    tone_counts: list[int] = field(default_factory=lambda: [0] * len(TONES))
    kiosks: dict[str, tuple[float, int]] = field(default_factory=dict)
    cameras: dict[str, float] = field(default_factory=dict)
    #: The kiosk cameras' closed tracks whose expression was read, one mean each.
    kiosk_camera: _Sample = field(default_factory=_Sample)
    #: Counted follow-up answers by reason; only reasons with answers.
    followups: dict[str, int] = field(default_factory=dict)
    #: Display cameras' closed tracks by display label (issue 16).
    displays: dict[str, DisplayTally] = field(default_factory=dict)
    #: The state keys of the events in this bucket, deleted when it expires.
    keys: set[str] = field(default_factory=set)

    def add_press(self, press: PressContribution, sign: int = 1) -> None:
        """Add (sign 1) or take back (sign -1) one press's contribution."""
        counts = self.ratings.get(press.scale)
        if counts is None:
            counts = self.ratings[press.scale] = _ScaleCounts.zero(press.scale)
        if not press.counted:
            counts.suppressed += sign
            return
        level = level_of(press.rating, press.scale)
        counts.presses[level] += sign
        if press.link is not None:
            counts.linked[level] += sign
            square = fixedpoint.outer_triangle(press.link)
            if sign > 0:
                fixedpoint.add(counts.linked_sums[level], press.link)
                fixedpoint.add(counts.linked_sq_sums[level], square)
            else:
                fixedpoint.subtract(counts.linked_sums[level], press.link)
                fixedpoint.subtract(counts.linked_sq_sums[level], square)
        if press.zone_link is not None:
            counts.zone[level].add(press.zone_link, sign)

    def add_visitor(self, mean: Vector | None) -> None:
        """Count a visitor, and its mean expression unless none was read (``mean`` None).

        Such a visitor is footfall only: it stays out of the expression sums and the
        expression and tone counts, so the visitors whose expression is known are
        ``sum(expression_counts)``, the denominator of their mean (docs/bias-correction.md).
        """
        self.visitors += 1
        if mean is None:
            return
        fixedpoint.add(self.visitor_sums, mean)
        fixedpoint.add(self.visitor_sq_sums, fixedpoint.outer_triangle(mean))
        dominant = max(range(E), key=lambda i: (mean[i], -i))
        self.expression_counts[dominant] += 1
        self.tone_counts[tone_of(dominant)] += 1

    def add_kiosk_track(self, mean: Vector) -> None:
        """Count a kiosk camera's closed track (a presser or a passer-by) with its mean.

        Not a visitor: footfall and the floor's expression mix are the floor cameras'."""
        self.kiosk_camera.add(mean)

    def add_display_track(self, track: DisplayTrack) -> None:
        """Count a display camera's closed track under its label (a watcher, not a visitor)."""
        tally = self.displays.get(track.label)
        if tally is None:
            tally = self.displays[track.label] = DisplayTally()
        tally.add(track)

    def add_followup(self, reason: str, sign: int = 1) -> None:
        """Count (sign 1) or take back (sign -1) one answer. A reason back at 0 goes, so
        that the bucket's value depends only on the answers in it."""
        self.followups = add_tallies(self.followups, {reason: 1}, sign)

    def see_kiosk(self, kiosk_id: str, sent_at: float, buffered: int) -> bool:
        """Keep the latest heartbeat of the kiosk in this bucket; True if it changed."""
        status = (sent_at, buffered)
        current = self.kiosks.get(kiosk_id)
        if current is not None and current >= status:
            return False
        self.kiosks[kiosk_id] = status
        return True

    def camera_entry(self, camera_id: str) -> Callable[[], bytes]:
        """Encodes the camera's latest sighting in this bucket (a state entry)."""
        return lambda: entries.encode_camera(camera_id, self.cameras[camera_id])

    def see_camera(self, camera_id: str, at: float) -> bool:
        current = self.cameras.get(camera_id)
        if current is not None and current >= at:
            return False
        self.cameras[camera_id] = at
        return True

    def to_aggregate(
        self,
        store_id: str,
        seconds: int,
        updated_at: datetime,
        settled_until: datetime | None = None,
    ) -> StoreAggregate:
        return StoreAggregate.model_construct(
            store_id=store_id,
            bucket_start=_utc(self.start),
            bucket_seconds=seconds,
            updated_at=updated_at,
            ratings={scale: counts.to_contract() for scale, counts in self.ratings.items()},
            visitors=self.visitors,
            visitor_prob_sums=fixedpoint.from_fixed(self.visitor_sums),
            visitor_prob_sq_sums=fixedpoint.from_fixed_squared(self.visitor_sq_sums),
            expression_counts=list(self.expression_counts),
            tone_counts=list(self.tone_counts),
            kiosks={
                kiosk: KioskStatus.model_construct(last_seen=_utc(at), buffered=buffered)
                for kiosk, (at, buffered) in self.kiosks.items()
            },
            cameras_last_seen={camera: _utc(at) for camera, at in self.cameras.items()},
            followups=dict(sorted(self.followups.items())),
            kiosk_camera=self.kiosk_camera.to_contract() if self.kiosk_camera.count else None,
            displays={label: tally.to_contract() for label, tally in sorted(self.displays.items())},
            settled_until=settled_until,
        )
