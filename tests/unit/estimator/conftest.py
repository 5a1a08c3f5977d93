"""Window sums made to order: what a store would report if C and θ were exactly known."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kioskpulse.simulation.model import level_profiles
from stream_processors.statistics import ScaleSums, Statistics


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
) -> Statistics:
    """Noise-free sums: μ = Cθ exactly, every linked press at level s reads C[:, s] exactly.

    Presses per level are visitors · θ_s · propensity_s (rounded), all linked unless
    ``linked`` says how many are.
    """
    k = len(theta)
    c = confusion(k) if c is None else c
    rho = propensities if propensities is not None else [0.2] * k
    presses = [round(visitors * t * r) for t, r in zip(theta, rho, strict=True)]
    linked = list(presses if linked is None else linked)
    return Statistics(
        ratings={
            k: ScaleSums(
                k,
                presses,
                0,
                linked,
                [list(n * c[:, s]) for s, n in enumerate(linked)],
            )
        },
        visitors=visitors,
        visitor_prob_sums=list(visitors * (c @ np.asarray(theta))),
    )
