"""θ from μ = C θ on the probability simplex, for a batch of stores at once.

Two estimators of the same θ, both batched over the leading axis (stores) so that
thousands of stores cost a handful of numpy calls:

``bbse``  black-box shift estimation (Lipton et al. 2018) with the soft confusion
          matrix: the least-squares θ on the simplex, min ‖Cθ - μ‖². Solved exactly:
          the optimum is the equality-constrained solution on some support (a set
          of levels with θ_s > 0), so every support is solved (15 for k = 4, 31
          for k = 5, each one batched solve) and the feasible one with the smallest
          residual wins. No iterations, no tolerance.
``mlls``  maximum likelihood (Saerens et al. 2002): the visitors' expressions as a
          mixture of the levels' profiles, max Σ_e μ_e log (Cθ)_e, by EM, seeded from
          BBSE. On sufficient statistics this is the "MLLS with a confusion matrix" of
          Garg et al. (2020): the same θ when the model fits, a KL fit instead of a
          Euclidean one when it does not.

Inputs: ``confusion`` (B, E, k) with columns that sum to 1, ``mean`` (B, E).

``bounded`` solves either on the smaller set {θ ≥ lower, Σθ = 1}: the physical
bound θ_s ≥ presses_s / visitors (docs/bias-correction.md, "Physical bounds").
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import cache
from typing import Literal

import numpy as np

from stream_processors.estimator.inputs import Array

__all__ = ["SOLVERS", "Solver", "bbse", "bounded", "mlls"]

Solver = Literal["bbse", "mlls"]

#: θ_s this far below 0 still counts as on the simplex (rounding of the KKT solve).
_FEASIBILITY = 1e-10


@cache
def _supports(k: int) -> tuple[tuple[int, ...], ...]:
    return tuple(
        support for size in range(1, k + 1) for support in itertools.combinations(range(k), size)
    )


def _on_support(confusion: Array, mean: Array, support: tuple[int, ...]) -> Array:
    """The minimiser of ‖Aθ - μ‖² with Σθ = 1 (signs free), A = C's columns in ``support``."""
    a = confusion[:, :, support]
    batch, size = a.shape[0], len(support)
    # KKT system of the equality-constrained least squares: [AᵀA 1; 1ᵀ 0] [θ; λ] = [Aᵀμ; 1].
    kkt = np.zeros((batch, size + 1, size + 1))
    kkt[:, :size, :size] = np.einsum("bes,bet->bst", a, a)
    kkt[:, :size, size] = 1.0
    kkt[:, size, :size] = 1.0
    rhs = np.ones((batch, size + 1))
    rhs[:, :size] = np.einsum("bes,be->bs", a, mean)
    solved: Array
    try:
        solved = np.linalg.solve(kkt, rhs[..., None])[..., 0].astype(np.float64)
    except np.linalg.LinAlgError:
        # A singular sub-problem somewhere in the batch (the caller screens out singular
        # C, so only on the edge of it): the pseudo-inverse answers for every store.
        solved = np.einsum("bij,bj->bi", np.linalg.pinv(kkt), rhs)
    return solved[:, :size]


def bbse(confusion: Array, mean: Array) -> Array:
    """Least-squares θ on the simplex (B, k), exactly, by enumerating supports."""
    batch, _, k = confusion.shape
    best = np.full((batch, k), np.nan)
    best_residual = np.full(batch, np.inf)
    for support in _supports(k):
        theta_s = _on_support(confusion, mean, support)
        residual = np.einsum("bes,bs->be", confusion[:, :, support], theta_s) - mean
        squared = np.einsum("be,be->b", residual, residual)
        better = (theta_s.min(axis=1) >= -_FEASIBILITY) & (squared < best_residual)
        theta = np.zeros((batch, k))
        theta[:, support] = np.clip(theta_s, 0.0, None)
        best = np.where(better[:, None], theta, best)
        best_residual = np.where(better, squared, best_residual)
    normalised: Array = best / best.sum(axis=1, keepdims=True)
    return normalised


def mlls(
    confusion: Array,
    mean: Array,
    *,
    seed: Array | None = None,
    iterations: int = 1000,
    tolerance: float = 1e-9,
) -> Array:
    """Maximum-likelihood θ (B, k) by EM: θ_s ← θ_s Σ_e μ_e C[e, s] / (Cθ)_e."""
    k = confusion.shape[2]
    start = bbse(confusion, mean) if seed is None else seed
    # EM never revives a level at exactly 0, so the seed keeps every level a little alive.
    nothing, everything = np.zeros_like(start), np.ones(start.shape[0])
    return _em(confusion, mean, nothing, 0.95 * start + 0.05 / k, everything, iterations, tolerance)


def _em(
    confusion: Array,
    mean: Array,
    lower: Array,
    free: Array,
    slack: Array,
    iterations: int,
    tolerance: float,
) -> Array:
    """EM for the free part w = θ - lower, Σw = slack, from ``free``: ``mlls`` (lower 0,
    slack 1) and its bounded form. Cθ = C lower + C w is a mixture whose weights ``lower``
    are fixed, so the M-step rescales the free weights only."""
    for _ in range(iterations):
        fitted = np.einsum("bes,bs->be", confusion, lower + free)
        ratio = np.divide(mean, fitted, out=np.zeros_like(mean), where=fitted > 0)
        updated = free * np.einsum("bes,be->bs", confusion, ratio)
        total = updated.sum(axis=1, keepdims=True)
        updated = np.divide(
            updated * slack[:, None], total, out=np.zeros_like(updated), where=total > 0
        )
        done = np.abs(updated - free).max() < tolerance
        free = updated
        if done:
            break
    estimated: Array = free
    return estimated


def _bounded_bbse(confusion: Array, mean: Array, lower: Array, slack: Array) -> Array:
    """The free part w = θ - lower (B, k), w ≥ 0, Σw = slack, of min ‖Cθ - μ‖².

    With θ = lower + slack · φ, Cθ - μ = slack · (Cφ - μ'), μ' = (μ - C lower) / slack:
    the same least squares on the simplex, for a shifted target. So ``bbse`` solves it
    exactly too, support enumeration and all (μ' need not be a probability vector).
    """
    residual = mean - np.einsum("bes,bs->be", confusion, lower)
    # Nothing (or a rounding error's worth) left free: any finite target will do, its φ
    # is scaled away; dividing would overflow.
    room = slack[:, None] > 1e-12
    shifted = np.divide(residual, slack[:, None], out=np.zeros_like(residual), where=room)
    free: Array = slack[:, None] * bbse(confusion, shifted)
    return free


def _bounded_mlls(
    confusion: Array,
    mean: Array,
    lower: Array,
    slack: Array,
    *,
    iterations: int = 1000,
    tolerance: float = 1e-9,
) -> Array:
    """The free part w = θ - lower of max Σ_e μ_e log (Cθ)_e, by EM.

    Cθ = C lower + C w is a mixture in which the weights ``lower`` are fixed: EM's
    M-step then rescales the free weights only, w_s ← w_s Σ_e μ_e C[e, s] / (Cθ)_e,
    normalised to Σw = slack. Seeded from the bounded BBSE, mixed 5 % with uniform
    as ``mlls`` does (EM never revives a free weight at exactly 0).
    """
    k = confusion.shape[2]
    free = 0.95 * _bounded_bbse(confusion, mean, lower, slack) + 0.05 * slack[:, None] / k
    return _em(confusion, mean, lower, free, slack, iterations, tolerance)


def bounded(solver: Solver, confusion: Array, mean: Array, lower: Array) -> Array:
    """θ (B, k) of ``solver`` on {θ ≥ lower, Σθ = 1}; every Σ lower ≤ 1 (the caller screens).

    Not a projection of the unconstrained θ onto the set afterwards, but the solver's own
    optimum there: the same fit (Euclidean for BBSE, likelihood for MLLS) under one more
    constraint, so a bounded θ is the best fit of μ that is physically possible. θ =
    lower + w with w ≥ 0 exactly, so the bound holds to the last bit.
    """
    slack = np.maximum(1.0 - lower.sum(axis=1), 0.0)  # Σ lower = 1: θ = lower, w = 0
    solve = _bounded_bbse if solver == "bbse" else _bounded_mlls
    theta: Array = lower + solve(confusion, mean, lower, slack)
    return theta


SOLVERS: dict[Solver, Callable[[Array, Array], Array]] = {"bbse": bbse, "mlls": mlls}
