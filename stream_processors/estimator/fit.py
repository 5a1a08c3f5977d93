"""Does the target sample fit the label-shift model at all? A goodness-of-fit test.

Label shift says the target's mean expression is a mixture of C's columns, μ = Cθ.
The fit leaves a residual r = μ - Cθ̂. Near the solution r = (I - C M Cᵀ W) ε = P ε,
with ε = dμ - Σ_s θ_s dC[:, s] and M, W as in the interval (``interval.py``), so

    Cov(r) = P Cov(ε) Pᵀ,   Cov(ε) = Cov(p over the target) / N + Σ_s θ_s² Cov_s / m_s,

of rank E - k: probability vectors sum to 1 and θ has k - 1 free shares. Then
X² = rᵀ Cov(r)⁺ r is χ² with E - k degrees of freedom when the model holds. When a
camera reads faces differently from the one C was learned on (the floor camera
against the kiosk camera: docs/bias-correction.md, "Domain shift"), μ leaves the
mixtures of C's columns and X² grows with the sample. Only the part of the shift
that leaves the span of C's columns shows: a shift inside it moves θ unseen. So a
small X² is no proof of a right figure, while a large one is proof of a wrong model.
"""

from __future__ import annotations

import math

import numpy as np

from stream_processors.estimator.inputs import Array
from stream_processors.estimator.interval import covariance, fit_sensitivity

__all__ = ["chi2_survival", "misfit"]

#: Eigenvalues of Cov(r) below this share of the largest are its null space.
_RANK_TOLERANCE = 1e-9
#: Var(r) along any direction is at least this: a standard deviation of 1e-6 on a mean
#: probability, far below what a million faces would give (≈ 3e-4).
_VARIANCE_FLOOR = 1e-12


def misfit(
    confusion: Array,
    theta: Array,
    mean: Array,
    count: Array,
    linked: Array,
    *,
    likelihood_weights: bool,
    target_second: Array,
    linked_second: Array,
) -> tuple[Array, int]:
    """X² (B,) of the fit μ ≈ Cθ, and its degrees of freedom E - k.

    ``count`` (B,): the target's vectors; ``linked`` (B, k): C's presses per level;
    ``target_second`` (B, 28) and ``linked_second`` (B, k, 28): E[p pᵀ] (NaN: unknown,
    the covariance bound serves, as in the interval).
    """
    _, e, k = confusion.shape
    weighted, m = fit_sensitivity(confusion, theta, likelihood_weights=likelihood_weights)
    projection = np.eye(e) - np.einsum("bes,bst,bft->bef", confusion, m, weighted)
    columns = np.swapaxes(confusion, 1, 2)  # (B, k, E)
    per_level = covariance(columns, linked_second) / np.maximum(linked, 1.0)[:, :, None, None]
    noise = covariance(mean, target_second) / count[:, None, None] + np.einsum(
        "bs,bsef->bef", theta**2, per_level
    )
    residual_cov = np.einsum("bef,bfg,bhg->beh", projection, noise, projection)
    residual = mean - np.einsum("bes,bs->be", confusion, theta)
    values, vectors = np.linalg.eigh(residual_cov)
    kept = values > _RANK_TOLERANCE * values[:, -1:]
    # A variance below the floor is noise-free sums (tests, synthetic data), not a
    # precise measurement: the floor keeps the solver's last digits from looking like
    # a misfit there.
    inverse = np.where(kept, 1.0 / np.maximum(values, _VARIANCE_FLOOR), 0.0)
    along = np.einsum("bef,be->bf", vectors, residual)
    statistic: Array = (along**2 * inverse).sum(axis=1)
    return statistic, e - k


def chi2_survival(x: float, df: int) -> float:
    """P(χ²_df > x) for a whole ``df`` ≥ 1, in closed form (no scipy at run time)."""
    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2 == 0:
        # Q(df/2, x/2) = e^{-x/2} Σ_{j < df/2} (x/2)^j / j!
        term, total = 1.0, 1.0
        for j in range(1, df // 2):
            term *= half / j
            total += term
        return min(1.0, math.exp(-half) * total)
    # Odd: erfc(√(x/2)) + e^{-x/2} Σ_{j=1}^{(df-1)/2} (x/2)^{j-1/2} / Γ(j + 1/2)
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(half) / math.gamma(1.5)
    for j in range(1, (df - 1) // 2 + 1):
        if j > 1:
            term *= half / (j - 0.5)
        total += math.exp(-half) * term
    return min(1.0, total)
