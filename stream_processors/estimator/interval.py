"""A confidence interval for a corrected index: the delta method, batched.

Both solvers are, near their solution, a weighted least-squares fit of μ = Cθ with
Σθ = 1: W = I for BBSE, W = diag(1/(Cθ)) for MLLS (the curvature of its log
likelihood). Differentiating the fit's optimality conditions gives

    dθ = M Cᵀ W ε,   ε = dμ - Σ_s θ_s dC[:, s],

with M the θ-block of the inverse of [[CᵀWC, 1], [1ᵀ, 0]]. The index is 100 · aᵀθ
with a_s = (s-1)/(k-1) for the Happy Index (a = (-1, 0, 1) over the three NPS groups for
the NPS), so dHI = hᵀε with h = 100 · W C M a, and

    Var(HI) = Var(hᵀp over visitors) / N + Σ_s θ_s² Var(hᵀp over linked presses at s) / m_s.

Each variance inside is hᵀ Cov(p) h, and Cov(p) = E[p pᵀ] - m mᵀ comes from the
window's second moments (Σ p pᵀ over visitors, and over the linked presses of each
level) where it has them. Where it does not (buckets written before they existed),
the variance takes its largest value for the mean: a probability vector with mean m
has Cov(p) ≼ diag(m) - m mᵀ (one-hot vectors reach it), so Var(hᵀp) ≤ Σ m_e h_e² -
(m·h)². That fallback is conservative: about twice as wide as needed for the soft
vectors an expression model gives, exact for one-hot ones. The support constraints
θ ≥ 0 are ignored either way (the interval is a local, unconstrained one).
"""

from __future__ import annotations

import numpy as np

from kioskpulse.events import TRIANGLE
from stream_processors.estimator.inputs import Array
from stream_processors.statistics import T

__all__ = ["covariance", "fit_sensitivity", "index_standard_error", "index_weights"]

_ROWS, _COLUMNS = (np.array(axis) for axis in zip(*TRIANGLE, strict=True))
#: hᵀ S h = Σ_{i ≤ j} S_ij h_i h_j · (1 on the diagonal, 2 off it).
_TWICE_OFF_DIAGONAL = np.where(_ROWS == _COLUMNS, 1.0, 2.0)


def index_weights(k: int) -> Array:
    """a_s = (s-1)/(k-1): what each level adds to the Happy Index (÷ 100)."""
    weights: Array = np.linspace(0.0, 1.0, k)
    return weights


def fit_sensitivity(
    confusion: Array, theta: Array, *, likelihood_weights: bool
) -> tuple[Array, Array]:
    """W C (B, E, k) and M (B, k, k), the θ-block of [[CᵀWC, 1], [1ᵀ, 0]]⁻¹: dθ = M Cᵀ W ε."""
    batch, e, k = confusion.shape
    if likelihood_weights:
        fitted = np.einsum("bes,bs->be", confusion, theta)
        weights = 1.0 / np.maximum(fitted, 1e-12)
    else:
        weights = np.ones((batch, e))
    weighted = confusion * weights[:, :, None]  # W C
    kkt = np.zeros((batch, k + 1, k + 1))
    kkt[:, :k, :k] = np.einsum("bes,bet->bst", confusion, weighted)
    kkt[:, :k, k] = 1.0
    kkt[:, k, :k] = 1.0
    # Nonsingular: the caller passes well-conditioned C only (and W > 0).
    m: Array = np.linalg.inv(kkt)[:, :k, :k]
    return weighted, m


def covariance(mean: Array, second: Array) -> Array:
    """Cov(p) (..., E, E) from the mean (..., E) and E[p pᵀ]'s upper triangle (..., 28);
    its bound diag(m) - m mᵀ where ``second`` is NaN (see the module docstring)."""
    outer = mean[..., :, None] * mean[..., None, :]
    full = np.zeros((*second.shape[:-1], mean.shape[-1], mean.shape[-1]))
    full[..., _ROWS, _COLUMNS] = second
    full[..., _COLUMNS, _ROWS] = second
    bound = np.einsum("...e,ef->...ef", mean, np.eye(mean.shape[-1])) - outer
    unknown = np.asarray(np.isnan(second).any(axis=-1))
    result: Array = np.where(unknown[..., None, None], bound, full - outer)
    return result


def _variance(mean: Array, second: Array, h: Array) -> Array:
    """Var(hᵀp) = hᵀ E[p pᵀ] h - (m·h)², or its bound Σ m h² - (m·h)² where ``second`` is NaN.

    ``mean`` (..., E); ``second`` (..., 28), E[p pᵀ]'s upper triangle; ``h`` broadcast
    to (..., E).
    """
    squared_mean = (mean * h).sum(axis=-1) ** 2
    bound = (mean * h * h).sum(axis=-1) - squared_mean
    pairs = h[..., _ROWS] * h[..., _COLUMNS] * _TWICE_OFF_DIAGONAL
    exact = (second * pairs).sum(axis=-1) - squared_mean
    # The empirical variance of probability vectors never exceeds the bound (Jensen on
    # each vector); the minimum only guards against rounding and inconsistent sums.
    variance: Array = np.maximum(np.where(np.isnan(exact), bound, np.minimum(exact, bound)), 0.0)
    return variance


def index_standard_error(
    confusion: Array,
    theta: Array,
    mean: Array,
    visitors: Array,
    linked: Array,
    *,
    likelihood_weights: bool,
    visitor_second: Array | None = None,
    linked_second: Array | None = None,
    weights: Array | None = None,
) -> Array:
    """Standard error (B,) of 100 · aᵀθ; ``linked`` (B, k) are C's per-level press counts.

    ``weights``: a (k,), the index as a linear functional of θ; default the Happy
    Index's ``index_weights(k)`` (the NPS of three groups: -1, 0, 1).

    ``visitor_second`` (B, 28): the visitors' mean of p pᵀ; ``linked_second`` (B, k, 28):
    the linked presses' mean of p pᵀ per level; upper triangles in the order of
    TRIANGLE. NaN (or None for all) where unknown: that variance falls back to the bound.
    """
    batch, _, k = confusion.shape
    weighted, m = fit_sensitivity(confusion, theta, likelihood_weights=likelihood_weights)
    a = index_weights(k) if weights is None else weights
    h = 100.0 * np.einsum("bes,bst,t->be", weighted, m, a)
    if visitor_second is None:
        visitor_second = np.full((batch, T), np.nan)
    if linked_second is None:
        linked_second = np.full((batch, k, T), np.nan)
    from_visitors = _variance(mean, visitor_second, h) / visitors
    per_level = _variance(np.swapaxes(confusion, 1, 2), linked_second, h[:, None, :])  # (B, k)
    from_presses = (theta**2 * per_level / np.maximum(linked, 1.0)).sum(axis=1)
    standard_error: Array = np.sqrt(from_visitors + from_presses)
    return standard_error
