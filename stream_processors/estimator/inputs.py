"""From a window's ``Statistics`` to the arrays the estimator solves with.

One store is corrected on one scale, its *main* scale: the scale with the most
counted presses (ties: the finer scale). A store with kiosks of two scales is rare,
and its scales cannot share one θ without a mapping between levels that nobody
measured; the presses of its other scales still count in the raw figures.

The soft confusion matrix of a scale is C[e, s] = linked_prob_sums[s][e] /
linked_presses[s]. A store without a camera facing a kiosk has no linked presses:
it borrows the ``Pool`` of every store's linked sums of that scale, which is a plain
sum, since the statistics are additive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kioskpulse.events import EXPRESSIONS
from stream_processors.statistics import ScaleSums, Statistics

__all__ = ["Array", "E", "LinkedSums", "Pool", "StoreInputs", "confusion_matrices", "main_scale"]

E = len(EXPRESSIONS)

Array = NDArray[np.float64]


def main_scale(statistics: Statistics) -> int | None:
    """The scale with the most counted presses (ties: the larger); None without presses."""
    pressed = [(sum(s.presses), scale) for scale, s in statistics.ratings.items() if any(s.presses)]
    return max(pressed)[1] if pressed else None


@dataclass(frozen=True, slots=True)
class LinkedSums:
    """Linked presses of one scale: their count per level (k,) and probability sums (k, E)."""

    counts: Array
    sums: Array

    @classmethod
    def of(cls, sums: ScaleSums) -> LinkedSums:
        return cls(
            np.asarray(sums.linked_presses, dtype=np.float64),
            np.asarray(sums.linked_prob_sums, dtype=np.float64).reshape(sums.scale, E),
        )

    @classmethod
    def zero(cls, scale: int) -> LinkedSums:
        return cls(np.zeros(scale), np.zeros((scale, E)))


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
        for window in statistics:
            for scale, scale_sums in window.ratings.items():
                if any(scale_sums.linked_presses):
                    counts.setdefault(scale, []).append(scale_sums.linked_presses)
                    sums.setdefault(scale, []).append(scale_sums.linked_prob_sums)
        # One conversion per scale: a scrape pools thousands of stores.
        return cls(
            {
                scale: LinkedSums(
                    np.asarray(counts[scale], dtype=np.float64).sum(axis=0),
                    np.asarray(sums[scale], dtype=np.float64).sum(axis=0),
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
    visitor_mean: Array  # (E,) μ, the mean probability vector of the floor's visitors

    @classmethod
    def of(cls, statistics: Statistics, scale: int) -> StoreInputs:
        sums = statistics.ratings[scale]
        visitors = statistics.visitors
        totals = np.asarray(statistics.visitor_prob_sums, dtype=np.float64)
        return cls(
            scale=scale,
            presses=np.asarray(sums.presses, dtype=np.float64),
            linked=LinkedSums.of(sums),
            visitors=visitors,
            visitor_mean=totals / visitors if visitors > 0 else np.zeros(E),
        )
