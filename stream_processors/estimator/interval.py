"""A confidence interval for the corrected Happy Index: the delta method, batched.

Both solvers are, near their solution, a weighted least-squares fit of μ = Cθ with
Σθ = 1: W = I for BBSE, W = diag(1/(Cθ)) for MLLS (the curvature of its log
likelihood). Differentiating the fit's optimality conditions gives

    dθ = M Cᵀ W ε,   ε = dμ - Σ_s θ_s dC[:, s],

with M the θ-block of the inverse of [[CᵀWC, 1], [1ᵀ, 0]]. The index is 100 · aᵀθ
with a_s = (s-1)/(k-1), so dHI = hᵀε with h = 100 · W C M a, and

    Var(HI) = Var(hᵀp over visitors) / N + Σ_s θ_s² Var(hᵀp over linked presses at s) / m_s.

The sums carry only first moments of the probability vectors p, so the variances
inside take their largest value for the mean: a probability vector with mean m has
Cov(p) ≼ diag(m) - m mᵀ (one-hot vectors reach it), hence Var(hᵀp) ≤ Σ m_e h_e² - (m·h)².
The interval is therefore conservative: wider than it needs to be when the
expression model is unsure (soft vectors), exact when it is sure. The support
constraints θ ≥ 0 are ignored here, which again errs wide near the simplex's edge.
"""

from __future__ import annotations

import numpy as np

from stream_processors.estimator.inputs import Array

__all__ = ["index_standard_error", "index_weights"]


def index_weights(k: int) -> Array:
    """a_s = (s-1)/(k-1): what each level adds to the Happy Index (÷ 100)."""
    weights: Array = np.linspace(0.0, 1.0, k)
    return weights


def _largest_variance(mean: Array, h: Array) -> Array:
    """max Var(hᵀp) over probability vectors p with mean ``mean``: Σ m h² - (m·h)²."""
    variance: Array = np.maximum((mean * h * h).sum(axis=-1) - (mean * h).sum(axis=-1) ** 2, 0.0)
    return variance


def index_standard_error(
    confusion: Array,
    theta: Array,
    mean: Array,
    visitors: Array,
    linked: Array,
    *,
    likelihood_weights: bool,
) -> Array:
    """Standard error (B,) of 100 · aᵀθ; ``linked`` (B, k) are C's per-level press counts."""
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
    m = np.linalg.inv(kkt)[:, :k, :k]
    h = 100.0 * np.einsum("bes,bst,t->be", weighted, m, index_weights(k))
    from_visitors = _largest_variance(mean, h) / visitors
    per_level = _largest_variance(np.swapaxes(confusion, 1, 2), h[:, None, :])  # (B, k)
    from_presses = (theta**2 * per_level / np.maximum(linked, 1.0)).sum(axis=1)
    standard_error: Array = np.sqrt(from_visitors + from_presses)
    return standard_error
