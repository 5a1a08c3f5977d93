"""Window sums made to order: what a store would report if C and θ were exactly known."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from kioskpulse.events import TRIANGLE
from kioskpulse.simulation.model import level_profiles
from stream_processors.statistics import ScaleSums, Statistics

#: How the faces behind noise-free sums read: each exactly its level's column of C
#: ("soft"), or one-hot with C's column as the odds ("one-hot"); None: the sums carry
#: no second moments (a window written before them).
Moments = Literal["soft", "one-hot"] | None

_ROWS, _COLUMNS = (list(axis) for axis in zip(*TRIANGLE, strict=True))


def triangle(matrix: np.ndarray) -> list[float]:
    """The upper triangle of a symmetric matrix, in the contract's order."""
    return [float(v) for v in matrix[_ROWS, _COLUMNS]]


def _second_moment(column: np.ndarray, moments: Moments) -> np.ndarray:
    """E[p pᵀ] of the faces at one level."""
    return np.outer(column, column) if moments == "soft" else np.diag(column)


def confusion(scale: int) -> np.ndarray:
    """The simulator's expression profiles of ``scale`` levels as C (E, k)."""
    return level_profiles(scale).T


def window(
    theta: Sequence[float],
    *,
    c: np.ndarray | None = None,
    visitors: int = 2000,
    linked: Sequence[int] | None = None,
    propensities: Sequence[float] | None = None,
    moments: Moments = "soft",
) -> Statistics:
    """Noise-free sums: μ = Cθ exactly, every linked press at level s reads C[:, s] exactly
    (on average, with ``moments="one-hot"``).

    Presses per level are visitors · θ_s · propensity_s (rounded), all linked unless
    ``linked`` says how many are.
    """
    k = len(theta)
    c = confusion(k) if c is None else c
    rho = propensities if propensities is not None else [0.2] * k
    presses = [round(visitors * t * r) for t, r in zip(theta, rho, strict=True)]
    linked = list(presses if linked is None else linked)
    second = [_second_moment(c[:, s], moments) for s in range(k)]
    visitor_second = sum((visitors * t * m for t, m in zip(theta, second, strict=True)))
    return Statistics(
        ratings={
            k: ScaleSums(
                k,
                presses,
                0,
                linked,
                [list(n * c[:, s]) for s, n in enumerate(linked)],
                [triangle(n * m) for n, m in zip(linked, second, strict=True)],
                0 if moments else sum(linked),
            )
        },
        visitors=visitors,
        visitor_prob_sums=list(visitors * (c @ np.asarray(theta))),
        visitor_prob_sq_sums=triangle(np.asarray(visitor_second)),
        visitor_sq_missing=0 if moments else visitors,
        # Every visitor read, each counted once by its dominant expression.
        expression_counts=[visitors] + [0] * (c.shape[0] - 1),
    )
