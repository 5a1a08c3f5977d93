"""Additive sufficient statistics: buckets merge into windows by addition.

``Statistics`` is the in-memory, mergeable form of one or more ``StoreAggregate``
buckets. The aggregator builds one per bucket; the exporter adds buckets into the
15 min / 1 h / 24 h windows; the estimator reads the sums. Addition is associative
and commutative (counts exactly, probability sums up to float rounding), which is
what lets any replica rebuild any window from the compacted topic in any order.

Second moments (Σ m mᵀ over visitors, Σ l lᵀ over linked presses; upper triangles in
the order of ``TRIANGLE``) are optional in the contract: a bucket written without
them (by an earlier version, kept on the topic for its retention) has
none, and a window that holds such a bucket cannot know its own. Each sum
therefore travels with the number of vectors it is *missing* (visitors, or linked
presses of a scale, from buckets without second moments). The sum is known only
where that number is 0, so one old bucket with visitors in a window makes the
window's second moments unknown (the estimator then falls back to its bound), while
an old bucket without visitors costs nothing (its second moment is 0 anyway).
Counting, rather than a flag, keeps subtraction exact: ``(a + b) - b == a`` also
when ``b`` is old, which the exporter's running window sums rely on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kioskpulse.events import (
    EXPRESSIONS,
    NPS_GROUP_SCORES,
    NPS_SCALE,
    TONE_OF_EXPRESSION,
    TONES,
    TRIANGLE,
    KioskStatus,
    ProbabilitySums,
    ScaleStatistics,
    StoreAggregate,
)
from stream_processors.displays import DisplaySums, add_displays

__all__ = [
    "E",
    "ScaleSums",
    "Statistics",
    "T",
    "ViewSums",
    "add_tallies",
    "happy_index",
    "net_promoter_score",
    "nps_groups",
    "tone_of",
]

#: Expression classes, and entries of a second moment's upper triangle (in the order
#: of TRIANGLE): the sizes of every vector and matrix of the stream processors.
E = len(EXPRESSIONS)
T = len(TRIANGLE)

_TONE_INDEX = [TONES.index(TONE_OF_EXPRESSION[name]) for name in EXPRESSIONS]


def tone_of(expression_index: int) -> int:
    """Index in TONES of the tone of the expression at ``expression_index``."""
    return _TONE_INDEX[expression_index]


def _add_vectors(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _add_counts(a: Sequence[int], b: Sequence[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _subtract_vectors(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [x - y for x, y in zip(a, b, strict=True)]


def add_tallies(a: Mapping[str, int], b: Mapping[str, int], sign: int = 1) -> dict[str, int]:
    """Counts by name, ``a + sign * b``; a name at 0 goes, so that ``(a + b) - b == a``."""
    merged = dict(a)
    for name, n in b.items():
        total = merged.get(name, 0) + sign * n
        if total:
            merged[name] = total
        else:
            merged.pop(name, None)
    return merged


def happy_index(presses: Sequence[float]) -> float | None:
    """HappyOrNot's index, 0..100: 100 · mean(i / (k-1)) with i = 0 for the worst button.

    ``presses`` are counts (or probabilities) per level 1..k; None when there are none.
    """
    total = sum(presses)
    if total <= 0:
        return None
    k = len(presses)
    return 100.0 * sum(i * n for i, n in enumerate(presses)) / ((k - 1) * total)


def nps_groups(presses: Sequence[int]) -> list[int]:
    """Presses per NPS group (order of NPS_GROUPS) from presses per score 0..10."""
    return [sum(presses[score] for score in scores) for scores in NPS_GROUP_SCORES]


def net_promoter_score(groups: Sequence[float]) -> float | None:
    """NPS, -100..100: 100 · (promoters - detractors) / all, from counts (or shares) per
    group in the order of NPS_GROUPS; None when there are none."""
    total = sum(groups)
    if total <= 0:
        return None
    detractors, _, promoters = groups
    return 100.0 * (promoters - detractors) / total


@dataclass(frozen=True)
class ViewSums:
    """One camera's view of a sample of faces: how many, Σ v and Σ v vᵀ (upper triangle).

    The samples of issue 14 (a kiosk camera's passers-by, the floor camera's view of the
    pressers in a kiosk zone) came with second moments from the start: nothing missing.
    """

    count: int = 0
    sums: tuple[float, ...] = (0.0,) * E
    squares: tuple[float, ...] = (0.0,) * T

    @classmethod
    def of(cls, sums: ProbabilitySums | None) -> ViewSums:
        if sums is None:
            return cls()
        return cls(sums.count, tuple(sums.prob_sums), tuple(sums.prob_sq_sums))

    def __add__(self, other: ViewSums) -> ViewSums:
        return ViewSums(
            self.count + other.count,
            tuple(_add_vectors(self.sums, other.sums)),
            tuple(_add_vectors(self.squares, other.squares)),
        )

    def __sub__(self, other: ViewSums) -> ViewSums:
        return ViewSums(
            self.count - other.count,
            tuple(_subtract_vectors(self.sums, other.sums)),
            tuple(_subtract_vectors(self.squares, other.squares)),
        )

    def to_contract(self) -> ProbabilitySums:
        return ProbabilitySums(
            count=self.count, prob_sums=list(self.sums), prob_sq_sums=list(self.squares)
        )


def _views(count: int) -> list[ViewSums]:
    return [ViewSums() for _ in range(count)]


def _add_views(a: Sequence[ViewSums], b: Sequence[ViewSums], sign: int = 1) -> list[ViewSums]:
    return [x + y if sign > 0 else x - y for x, y in zip(a, b, strict=True)]


@dataclass
class ScaleSums:
    """Presses on kiosks of one scale."""

    scale: int
    presses: list[int]
    suppressed: int
    linked_presses: list[int]
    linked_prob_sums: list[list[float]]
    #: Per level, Σ l lᵀ over the linked vectors (upper triangle); see ``linked_sq_missing``.
    linked_prob_sq_sums: list[list[float]]
    #: Linked presses (all levels) from buckets without second moments; 0: the sums are known.
    linked_sq_missing: int = 0
    #: Per level, presses linked to a floor camera's track in the kiosk's zone (issue 14).
    zone_linked: list[ViewSums] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.zone_linked:
            self.zone_linked = _views(self.scale)

    @classmethod
    def zero(cls, scale: int) -> ScaleSums:
        return cls(
            scale,
            [0] * scale,
            0,
            [0] * scale,
            [[0.0] * E for _ in range(scale)],
            [[0.0] * T for _ in range(scale)],
        )

    @classmethod
    def of(cls, scale: int, statistics: ScaleStatistics) -> ScaleSums:
        known = bool(statistics.linked_prob_sq_sums)
        return cls(
            scale,
            list(statistics.presses),
            statistics.suppressed,
            list(statistics.linked_presses),
            [list(row) for row in statistics.linked_prob_sums],
            [list(row) for row in statistics.linked_prob_sq_sums]
            if known
            else [[0.0] * T for _ in range(scale)],
            0 if known else sum(statistics.linked_presses),
            [ViewSums.of(level) for level in statistics.zone_linked],
        )

    @property
    def linked_sq_known(self) -> bool:
        """Whether ``linked_prob_sq_sums`` covers every linked press."""
        return self.linked_sq_missing == 0

    def __add__(self, other: ScaleSums) -> ScaleSums:
        if other.scale != self.scale:
            raise ValueError(f"cannot add scale {other.scale} to scale {self.scale}")
        return ScaleSums(
            self.scale,
            _add_counts(self.presses, other.presses),
            self.suppressed + other.suppressed,
            _add_counts(self.linked_presses, other.linked_presses),
            [
                _add_vectors(a, b)
                for a, b in zip(self.linked_prob_sums, other.linked_prob_sums, strict=True)
            ],
            [
                _add_vectors(a, b)
                for a, b in zip(self.linked_prob_sq_sums, other.linked_prob_sq_sums, strict=True)
            ],
            self.linked_sq_missing + other.linked_sq_missing,
            _add_views(self.zone_linked, other.zone_linked),
        )

    def __sub__(self, other: ScaleSums) -> ScaleSums:
        """What ``self`` holds beyond ``other`` (exact for counts; float sums up to rounding)."""
        if other.scale != self.scale:
            raise ValueError(f"cannot subtract scale {other.scale} from scale {self.scale}")
        return ScaleSums(
            self.scale,
            [x - y for x, y in zip(self.presses, other.presses, strict=True)],
            self.suppressed - other.suppressed,
            [x - y for x, y in zip(self.linked_presses, other.linked_presses, strict=True)],
            [
                _subtract_vectors(a, b)
                for a, b in zip(self.linked_prob_sums, other.linked_prob_sums, strict=True)
            ],
            [
                _subtract_vectors(a, b)
                for a, b in zip(self.linked_prob_sq_sums, other.linked_prob_sq_sums, strict=True)
            ],
            self.linked_sq_missing - other.linked_sq_missing,
            _add_views(self.zone_linked, other.zone_linked, -1),
        )

    def shares(self) -> list[float] | None:
        """Share of the presses per level 1..scale; None without presses."""
        total = sum(self.presses)
        return [n / total for n in self.presses] if total else None

    def to_contract(self) -> ScaleStatistics:
        return ScaleStatistics(
            presses=self.presses,
            suppressed=self.suppressed,
            linked_presses=self.linked_presses,
            linked_prob_sums=self.linked_prob_sums,
            linked_prob_sq_sums=self.linked_prob_sq_sums if self.linked_sq_known else [],
            zone_linked=[level.to_contract() for level in self.zone_linked]
            if any(level.count for level in self.zone_linked)
            else [],
        )


def _latest_kiosks(a: dict[str, KioskStatus], b: dict[str, KioskStatus]) -> dict[str, KioskStatus]:
    merged = dict(a)
    for kiosk, status in b.items():
        mine = merged.get(kiosk)
        # Ties broken by the larger buffer so that the merge is order-independent.
        if mine is None or (status.last_seen, status.buffered) > (mine.last_seen, mine.buffered):
            merged[kiosk] = status
    return merged


def _latest_times(a: dict[str, datetime], b: dict[str, datetime]) -> dict[str, datetime]:
    merged = dict(a)
    for name, when in b.items():
        if name not in merged or when > merged[name]:
            merged[name] = when
    return merged


@dataclass
class Statistics:
    """The sums of any set of buckets of one store (or of several stores)."""

    ratings: dict[int, ScaleSums] = field(default_factory=dict)
    visitors: int = 0
    visitor_prob_sums: list[float] = field(default_factory=lambda: [0.0] * E)
    #: Σ m mᵀ over the visitors' means (upper triangle); see ``visitor_sq_missing``.
    visitor_prob_sq_sums: list[float] = field(default_factory=lambda: [0.0] * T)
    #: Visitors from buckets without second moments; 0: ``visitor_prob_sq_sums`` is known.
    visitor_sq_missing: int = 0
    expression_counts: list[int] = field(default_factory=lambda: [0] * E)
    tone_counts: list[int] = field(default_factory=lambda: [0] * len(TONES))
    kiosks: dict[str, KioskStatus] = field(default_factory=dict)
    cameras_last_seen: dict[str, datetime] = field(default_factory=dict)
    #: Follow-up answers by reason (only reasons with answers); apart from the presses.
    followups: dict[str, int] = field(default_factory=dict)
    #: The kiosk cameras' read tracks, pressers and passers-by (issue 14).
    kiosk_camera: ViewSums = field(default_factory=ViewSums)
    #: Display cameras' watchers by display label (issue 16; only labels with watchers).
    displays: dict[str, DisplaySums] = field(default_factory=dict)

    @classmethod
    def of(cls, aggregate: StoreAggregate) -> Statistics:
        known = bool(aggregate.visitor_prob_sq_sums)
        return cls(
            ratings={scale: ScaleSums.of(scale, s) for scale, s in aggregate.ratings.items()},
            visitors=aggregate.visitors,
            visitor_prob_sums=list(aggregate.visitor_prob_sums),
            visitor_prob_sq_sums=list(aggregate.visitor_prob_sq_sums) if known else [0.0] * T,
            visitor_sq_missing=0 if known else aggregate.visitors,
            expression_counts=list(aggregate.expression_counts),
            tone_counts=list(aggregate.tone_counts),
            kiosks=dict(aggregate.kiosks),
            cameras_last_seen=dict(aggregate.cameras_last_seen),
            followups=dict(aggregate.followups),
            kiosk_camera=ViewSums.of(aggregate.kiosk_camera),
            displays={label: DisplaySums.of(s) for label, s in aggregate.displays.items()},
        )

    @classmethod
    def total(cls, parts: Iterable[Statistics]) -> Statistics:
        result = cls()
        for part in parts:
            result = result + part
        return result

    def __add__(self, other: Statistics) -> Statistics:
        ratings = dict(self.ratings)
        for scale, sums in other.ratings.items():
            ratings[scale] = ratings[scale] + sums if scale in ratings else sums
        return Statistics(
            ratings=ratings,
            visitors=self.visitors + other.visitors,
            visitor_prob_sums=_add_vectors(self.visitor_prob_sums, other.visitor_prob_sums),
            visitor_prob_sq_sums=_add_vectors(
                self.visitor_prob_sq_sums, other.visitor_prob_sq_sums
            ),
            visitor_sq_missing=self.visitor_sq_missing + other.visitor_sq_missing,
            expression_counts=_add_counts(self.expression_counts, other.expression_counts),
            tone_counts=_add_counts(self.tone_counts, other.tone_counts),
            kiosks=_latest_kiosks(self.kiosks, other.kiosks),
            cameras_last_seen=_latest_times(self.cameras_last_seen, other.cameras_last_seen),
            followups=add_tallies(self.followups, other.followups),
            kiosk_camera=self.kiosk_camera + other.kiosk_camera,
            displays=add_displays(self.displays, other.displays),
        )

    def __sub__(self, other: Statistics) -> Statistics:
        """The additive parts of ``self`` less those of ``other``: ``(a + b) - b == a``.

        Lets a running window sum drop a bucket without re-adding the rest. Kiosks and
        cameras are latest-of, not additive, so the difference keeps ``self``'s.
        """
        ratings = dict(self.ratings)
        for scale, sums in other.ratings.items():
            ratings[scale] = ratings.get(scale, ScaleSums.zero(scale)) - sums
        return Statistics(
            ratings=ratings,
            visitors=self.visitors - other.visitors,
            visitor_prob_sums=_subtract_vectors(self.visitor_prob_sums, other.visitor_prob_sums),
            visitor_prob_sq_sums=_subtract_vectors(
                self.visitor_prob_sq_sums, other.visitor_prob_sq_sums
            ),
            visitor_sq_missing=self.visitor_sq_missing - other.visitor_sq_missing,
            expression_counts=[
                x - y for x, y in zip(self.expression_counts, other.expression_counts, strict=True)
            ],
            tone_counts=[x - y for x, y in zip(self.tone_counts, other.tone_counts, strict=True)],
            kiosks=dict(self.kiosks),
            cameras_last_seen=dict(self.cameras_last_seen),
            followups=add_tallies(self.followups, other.followups, -1),
            kiosk_camera=self.kiosk_camera - other.kiosk_camera,
            displays=add_displays(self.displays, other.displays, -1),
        )

    # ------------------------------------------------------------------ derived figures

    @property
    def visitors_read(self) -> int:
        """The visitors whose expression was read: each counts once in ``expression_counts``
        (a visitor whose every face was too small counts in ``visitors`` only)."""
        return sum(self.expression_counts)

    @property
    def visitor_sq_known(self) -> bool:
        """Whether ``visitor_prob_sq_sums`` covers every visitor."""
        return self.visitor_sq_missing == 0

    @property
    def presses(self) -> int:
        """Counted presses over all scales."""
        return sum(sum(s.presses) for s in self.ratings.values())

    @property
    def suppressed(self) -> int:
        return sum(s.suppressed for s in self.ratings.values())

    @property
    def linked_presses(self) -> int:
        return sum(sum(s.linked_presses) for s in self.ratings.values())

    def raw_happy_index(self) -> float | None:
        """The Happy Index of the presses, all scales together (each press weighs i/(k-1))."""
        total = self.presses
        if total == 0:
            return None
        weighted = sum(
            (happy_index(s.presses) or 0.0) * sum(s.presses) for s in self.ratings.values()
        )
        return weighted / total

    def nps_group_presses(self) -> list[int] | None:
        """Counted presses on NPS kiosks per group (NPS_GROUPS); None without any."""
        sums = self.ratings.get(NPS_SCALE)
        groups = nps_groups(sums.presses) if sums is not None else None
        return groups if groups and any(groups) else None

    def raw_nps(self) -> float | None:
        """The Net Promoter Score of the presses on NPS kiosks; None without any."""
        groups = self.nps_group_presses()
        return None if groups is None else net_promoter_score(groups)

    def response_rate(self) -> float | None:
        """Counted presses per floor visitor; None without visitors."""
        return self.presses / self.visitors if self.visitors else None

    def expression_shares(self) -> list[float] | None:
        """Share of visitors by dominant expression; None without visitors."""
        n = sum(self.expression_counts)
        return [c / n for c in self.expression_counts] if n else None

    def tone_shares(self) -> list[float] | None:
        n = sum(self.tone_counts)
        return [c / n for c in self.tone_counts] if n else None

    def top_followups(self) -> list[tuple[str, int]]:
        """The reasons answered, most answered first (ties: by reason)."""
        answered = [(reason, n) for reason, n in self.followups.items() if n > 0]
        return sorted(answered, key=lambda item: (-item[1], item[0]))
