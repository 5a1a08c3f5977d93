"""Display figures and label comparisons (issue 16): pure maths, no transport.

``DisplaySums`` is the mergeable form of one display label's ``DisplayStatistics``:
buckets add into windows as every other sum does. ``compare`` sets one label against
another (or against the store's floor cameras) with a 95 % interval, by the delta
method on the per-track sufficient statistics the aggregator keeps (n, Σx, Σx²):

- difference of means ``m_a - m_b``: standard error ``√(s_a²/n_a + s_b²/n_b)``;
- ratio of means ``m_a / m_b``: on the log scale, ``√(s_a²/(n_a m_a²) + s_b²/(n_b m_b²))``,
  the interval taken back by ``exp`` (so it stays positive and is not symmetric);
- a share (interest) is the mean of a 0/1 value per track: ``Σx² = Σx``.

Tracks are the independent units (one per watcher and label); the delta method rather
than a bootstrap because the bootstrap needs every track's values, an unbounded state,
while these sums are additive and small (docs/displays.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from kioskpulse.events import DISPLAY_SECONDS_BOUNDS, EXPRESSIONS, TONES, DisplayStatistics

__all__ = [
    "INTERESTED_TONES",
    "Z_95",
    "Comparison",
    "DisplaySums",
    "Sample",
    "add_displays",
    "compare",
    "interested",
]

#: The tones that count as interest in a display: interest (surprise) and
#: satisfaction (happy), against fear/anger and apathy.
INTERESTED_TONES: tuple[str, ...] = ("interest", "satisfaction")
_INTERESTED = [TONES.index(tone) for tone in INTERESTED_TONES]

#: The normal quantile of a two-sided 95 % interval.
Z_95 = 1.959963984540054

_B = len(DISPLAY_SECONDS_BOUNDS)


def interested(tone_counts: list[int] | tuple[int, ...]) -> int:
    """How many of the tracks counted by tone are interested (``INTERESTED_TONES``)."""
    return sum(tone_counts[index] for index in _INTERESTED)


def _add(a: tuple[float, ...], b: tuple[float, ...], sign: int) -> tuple[float, ...]:
    return tuple(x + sign * y for x, y in zip(a, b, strict=True))


def _add_int(a: tuple[int, ...], b: tuple[int, ...], sign: int) -> tuple[int, ...]:
    return tuple(x + sign * y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class DisplaySums:
    """The watchers of one display label over any set of buckets."""

    watchers: int = 0
    dwell: float = 0.0
    dwell_sq: float = 0.0
    dwell_buckets: tuple[int, ...] = (0,) * _B
    attention: float = 0.0
    attention_sq: float = 0.0
    attention_buckets: tuple[int, ...] = (0,) * _B
    expression_counts: tuple[int, ...] = (0,) * len(EXPRESSIONS)
    tone_counts: tuple[int, ...] = (0,) * len(TONES)

    @classmethod
    def of(cls, statistics: DisplayStatistics) -> DisplaySums:
        return cls(
            statistics.watchers,
            statistics.dwell_seconds_sum,
            statistics.dwell_seconds_sq_sum,
            tuple(statistics.dwell_buckets),
            statistics.attention_seconds_sum,
            statistics.attention_seconds_sq_sum,
            tuple(statistics.attention_buckets),
            tuple(statistics.expression_counts),
            tuple(statistics.tone_counts),
        )

    def plus(self, other: DisplaySums, sign: int = 1) -> DisplaySums:
        """``self + sign * other``."""
        return DisplaySums(
            self.watchers + sign * other.watchers,
            self.dwell + sign * other.dwell,
            self.dwell_sq + sign * other.dwell_sq,
            _add_int(self.dwell_buckets, other.dwell_buckets, sign),
            self.attention + sign * other.attention,
            self.attention_sq + sign * other.attention_sq,
            _add_int(self.attention_buckets, other.attention_buckets, sign),
            _add_int(self.expression_counts, other.expression_counts, sign),
            _add_int(self.tone_counts, other.tone_counts, sign),
        )

    # ------------------------------------------------------------------ figures

    @property
    def read(self) -> int:
        """Watchers whose expression was read (the denominator of the shares)."""
        return sum(self.tone_counts)

    def dwell_sample(self) -> Sample:
        return Sample(self.watchers, self.dwell, self.dwell_sq)

    def attention_sample(self) -> Sample:
        return Sample(self.watchers, self.attention, self.attention_sq)

    def interest_sample(self) -> Sample:
        count = interested(self.tone_counts)
        return Sample(self.read, count, count)

    def tone_shares(self) -> list[float] | None:
        n = self.read
        return [c / n for c in self.tone_counts] if n else None

    def expression_shares(self) -> list[float] | None:
        n = self.read
        return [c / n for c in self.expression_counts] if n else None


def add_displays(
    a: Mapping[str, DisplaySums], b: Mapping[str, DisplaySums], sign: int = 1
) -> dict[str, DisplaySums]:
    """Labels' sums, ``a + sign * b``; a label back at no watchers goes, so that
    ``(a + b) - b == a`` (a window that loses its last bucket of a label forgets it)."""
    merged = dict(a)
    for label, sums in b.items():
        total = merged.get(label, DisplaySums()).plus(sums, sign)
        if total.watchers:
            merged[label] = total
        else:
            merged.pop(label, None)
    return merged


@dataclass(frozen=True)
class Sample:
    """Per-track values of one sample: how many, Σx and Σx²."""

    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        """The sample variance (n - 1), never below 0 (rounding); None below 2 tracks."""
        if self.n < 2:
            return None
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b``: their means, difference and ratio with 95 % intervals.

    Figures that cannot be computed are None and ``reason`` says why (fewer than two
    tracks on a side; a ratio against a mean of 0)."""

    a: float | None
    b: float | None
    difference: float | None = None
    difference_interval: tuple[float, float] | None = None
    ratio: float | None = None
    ratio_interval: tuple[float, float] | None = None
    reason: str | None = None


def compare(a: Sample, b: Sample, z: float = Z_95) -> Comparison:
    """The delta-method comparison of the means of ``a`` and ``b`` (module docstring)."""
    if a.n < 2 or b.n < 2:
        return Comparison(a.mean, b.mean, reason="fewer than 2 tracks on one side")
    mean_a, mean_b = a.total / a.n, b.total / b.n
    var_a, var_b = a.variance or 0.0, b.variance or 0.0
    difference = mean_a - mean_b
    se = math.sqrt(var_a / a.n + var_b / b.n)
    interval = (difference - z * se, difference + z * se)
    if mean_a <= 0 or mean_b <= 0:
        return Comparison(mean_a, mean_b, difference, interval, reason="a mean of 0: no ratio")
    ratio = mean_a / mean_b
    log_se = math.sqrt(var_a / (a.n * mean_a**2) + var_b / (b.n * mean_b**2))
    ratio_interval = (ratio * math.exp(-z * log_se), ratio * math.exp(z * log_se))
    return Comparison(mean_a, mean_b, difference, interval, ratio, ratio_interval)
