"""From a window's ``Statistics`` to the arrays the estimator solves with.

One store is corrected on one scale, its *main* scale: the smiley scale with the most
counted presses (ties: the finer scale); NPS kiosks have their own correction, on
three groups (``nps``). A store with kiosks of two scales is rare,
and its scales cannot share one θ without a mapping between levels that nobody
measured; the presses of its other scales still count in the raw figures.

The soft confusion matrix of a scale is C[e, s] = linked_prob_sums[s][e] /
linked_presses[s]. A store without a camera facing a kiosk has no linked presses:
it borrows the ``Pool`` of every store's linked sums of that scale, which is a plain
sum, since the statistics are additive.

Second moments, where the window has them, stay upper triangles (28 entries in the
order of ``TRIANGLE``; the interval needs only quadratic forms of them); None where
they are unknown (a bucket written before them), and the interval falls back to its
bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kioskpulse.events import NPS_SCALE
from stream_processors.statistics import E, ScaleSums, Statistics, T, ViewSums

__all__ = [
    "Array",
    "E",
    "LinkedSums",
    "Pool",
    "StoreInputs",
    "T",
    "Target",
    "confusion_matrices",
    "main_scale",
]

Array = NDArray[np.float64]


def main_scale(statistics: Statistics) -> int | None:
    """The smiley scale with the most counted presses (ties: the larger); None without
    presses on one. NPS kiosks never are: their 11 levels are corrected as 3 groups (``nps``).
    """
    pressed = [
        (sum(s.presses), scale)
        for scale, s in statistics.ratings.items()
        if any(s.presses) and scale != NPS_SCALE
    ]
    return max(pressed)[1] if pressed else None


@dataclass(frozen=True, slots=True)
class LinkedSums:
    """Linked presses of one scale: counts (k,), probability sums (k, E), and Σ l lᵀ (k, 28).

    ``squares`` is None where the second moments are unknown.
    """

    counts: Array
    sums: Array
    squares: Array | None = None

    @classmethod
    def of(cls, sums: ScaleSums) -> LinkedSums:
        squares = None
        if sums.linked_sq_known:
            squares = np.asarray(sums.linked_prob_sq_sums, dtype=np.float64).reshape(sums.scale, T)
        return cls(
            np.asarray(sums.linked_presses, dtype=np.float64),
            np.asarray(sums.linked_prob_sums, dtype=np.float64).reshape(sums.scale, E),
            squares,
        )

    @classmethod
    def zero(cls, scale: int) -> LinkedSums:
        return cls(np.zeros(scale), np.zeros((scale, E)), np.zeros((scale, T)))

    @classmethod
    def of_views(cls, levels: Sequence[ViewSums]) -> LinkedSums:
        """Per-level samples of one camera's view (a kiosk zone's links): always with squares."""
        return cls(
            np.array([level.count for level in levels], dtype=np.float64),
            np.array([level.sums for level in levels], dtype=np.float64).reshape(len(levels), E),
            np.array([level.squares for level in levels], dtype=np.float64).reshape(len(levels), T),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """The sample whose expressions θ must explain: the mean vector (E,), the mean of
    p pᵀ (28,; NaN where unknown) and how many vectors."""

    mean: Array
    second: Array
    count: int

    @classmethod
    def of_sums(cls, count: int, sums: Sequence[float], squares: Sequence[float] | None) -> Target:
        if count <= 0:
            return cls(np.zeros(E), np.full(T, np.nan), 0)
        second = np.full(T, np.nan)
        if squares is not None:
            triangle = np.asarray(squares, dtype=np.float64)
            # All zero with vectors is impossible (each p pᵀ has trace ≥ 1/7): sums made
            # without second moments, e.g. by hand. Treat as unknown rather than as 0.
            if triangle.any():
                second = triangle / count
        return cls(np.asarray(sums, dtype=np.float64) / count, second, count)


def confusion_matrices(linked: Sequence[LinkedSums]) -> Array:
    """C (B, E, k) of each ``linked``: column s is the mean probability vector at level s.

    Every level needs a linked press (the caller makes sure).
    """
    counts = np.stack([sums.counts for sums in linked])
    means = np.stack([sums.sums for sums in linked]) / counts[:, :, None]
    return np.swapaxes(means, 1, 2)


class Pool:
    """Linked sums of many stores, by scale: the confusion matrix of stores without one."""

    def __init__(self, by_scale: dict[int, LinkedSums] | None = None) -> None:
        self._by_scale = dict(by_scale or {})

    @classmethod
    def of(cls, statistics: Iterable[Statistics]) -> Pool:
        counts: dict[int, list[list[int]]] = {}
        sums: dict[int, list[list[list[float]]]] = {}
        squares: dict[int, list[list[list[float]]]] = {}
        unknown: set[int] = set()  # scales where a store's second moments are unknown
        for window in statistics:
            for scale, scale_sums in window.ratings.items():
                if any(scale_sums.linked_presses):
                    counts.setdefault(scale, []).append(scale_sums.linked_presses)
                    sums.setdefault(scale, []).append(scale_sums.linked_prob_sums)
                    squares.setdefault(scale, []).append(scale_sums.linked_prob_sq_sums)
                    if not scale_sums.linked_sq_known:
                        unknown.add(scale)
        # One conversion per scale: a scrape pools thousands of stores.
        return cls(
            {
                scale: LinkedSums(
                    np.asarray(counts[scale], dtype=np.float64).sum(axis=0),
                    np.asarray(sums[scale], dtype=np.float64).sum(axis=0),
                    None
                    if scale in unknown
                    else np.asarray(squares[scale], dtype=np.float64).sum(axis=0),
                )
                for scale in counts
            }
        )

    def get(self, scale: int) -> LinkedSums:
        """The pooled sums of ``scale`` (zero when no store has linked presses there)."""
        return self._by_scale.get(scale, LinkedSums.zero(scale))


@dataclass(frozen=True, slots=True)
class StoreInputs:
    """What the estimator reads of one store's window, on its main scale."""

    scale: int
    presses: Array  # (k,) counted presses per level
    linked: LinkedSums
    visitors: int
    #: The floor's visitors whose expression was read (their faces may all have been too
    #: small: KIOSKPULSE_MIN_EXPRESSION_FACE_PX, and then they count in ``visitors`` only).
    floor: Target
    #: The kiosk cameras' read tracks, pressers and passers-by alike (issue 14).
    kiosk_camera: Target
    #: The presses linked to a floor camera's track in the kiosk's zone (issue 14).
    zone_linked: LinkedSums

    @classmethod
    def of(cls, statistics: Statistics, scale: int) -> StoreInputs:
        sums = statistics.ratings[scale]
        kiosk = statistics.kiosk_camera
        return cls(
            scale=scale,
            presses=np.asarray(sums.presses, dtype=np.float64),
            linked=LinkedSums.of(sums),
            visitors=statistics.visitors,
            floor=Target.of_sums(
                statistics.visitors_read,
                statistics.visitor_prob_sums,
                statistics.visitor_prob_sq_sums if statistics.visitor_sq_known else None,
            ),
            kiosk_camera=Target.of_sums(kiosk.count, kiosk.sums, kiosk.squares),
            zone_linked=LinkedSums.of_views(sums.zone_linked),
        )
