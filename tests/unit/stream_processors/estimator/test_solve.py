"""The two solvers against their optimality conditions, on sums with noise (μ ≠ Cθ)."""

from __future__ import annotations

import numpy as np
import pytest

from stream_processors.estimator import bbse, mlls
from stream_processors.estimator.solve import bounded
from tests.support.sums import confusion


def noisy_problems(k: int, batch: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """C of the simulator and μ from θ near or on the simplex's edge, plus noise."""
    rng = np.random.default_rng(k)
    theta = rng.dirichlet(np.full(k, 0.5), size=batch)
    c = np.broadcast_to(confusion(k), (batch, 7, k)).copy()
    mean = np.einsum("bes,bs->be", c, theta) + rng.normal(0.0, 0.02, (batch, 7))
    mean = np.clip(mean, 1e-4, None)
    return c, mean / mean.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_bbse_meets_the_kkt_conditions_of_least_squares_on_the_simplex(k: int) -> None:
    c, mean = noisy_problems(k)
    theta = bbse(c, mean)
    assert np.all(theta >= 0)
    assert np.allclose(theta.sum(axis=1), 1.0)
    gradient = np.einsum("bes,be->bs", c, np.einsum("bes,bs->be", c, theta) - mean)
    for g, t in zip(gradient, theta, strict=True):
        support = t > 0
        level = g[support].mean()  # the multiplier of Σθ = 1
        assert np.allclose(g[support], level, atol=1e-9)
        assert np.all(g[~support] >= level - 1e-9)


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_mlls_maximises_the_likelihood_on_the_simplex(k: int) -> None:
    c, mean = noisy_problems(k)
    theta = mlls(c, mean, iterations=20_000, tolerance=1e-13)
    assert np.all(theta >= 0)
    assert np.allclose(theta.sum(axis=1), 1.0)
    # d/dθ_s Σ_e μ_e log (Cθ)_e = 1 where θ_s > 0 and ≤ 1 where θ_s = 0.
    ratio = np.einsum("bes,be->bs", c, mean / np.einsum("bes,bs->be", c, theta))
    assert np.all(ratio[theta > 1e-3] == pytest.approx(1.0, abs=1e-4))
    assert np.all(ratio <= 1.0 + 1e-4)


def test_both_agree_where_the_model_fits() -> None:
    c = np.broadcast_to(confusion(4), (3, 7, 4))
    theta = np.array([[0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1], [0.05, 0.15, 0.3, 0.5]])
    mean = np.einsum("bes,bs->be", c, theta)
    assert bbse(c, mean) == pytest.approx(theta, abs=1e-10)
    assert mlls(c, mean) == pytest.approx(theta, abs=1e-7)


def lower_bounds(k: int, batch: int = 200) -> np.ndarray:
    """Bounds θ ≥ l that bind often: up to 0.9 of the mass, some levels at 0, one all 1."""
    rng = np.random.default_rng(100 + k)
    share = rng.dirichlet(np.ones(k), size=batch) * rng.uniform(0.0, 0.9, (batch, 1))
    share[rng.random((batch, k)) < 0.3] = 0.0
    share[0] = 1.0 / k  # Σl = 1: nothing is free, θ = l
    return share


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_bounded_bbse_meets_the_kkt_conditions_of_least_squares_above_the_bound(k: int) -> None:
    c, mean = noisy_problems(k)
    least = lower_bounds(k)
    theta = bounded("bbse", c, mean, least)
    assert np.all(theta >= least)  # exactly: θ = l + w, w ≥ 0
    assert np.allclose(theta.sum(axis=1), 1.0)
    assert theta[0] == pytest.approx(least[0])
    gradient = np.einsum("bes,be->bs", c, np.einsum("bes,bs->be", c, theta) - mean)
    for g, t, low in zip(gradient[1:], theta[1:], least[1:], strict=True):
        free = t > low
        level = g[free].mean()  # the multiplier of Σθ = 1
        assert np.allclose(g[free], level, atol=1e-9)
        assert np.all(g[~free] >= level - 1e-9)


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_bounded_mlls_maximises_the_likelihood_above_the_bound(k: int) -> None:
    c, mean = noisy_problems(k)
    least = lower_bounds(k)
    theta = bounded("mlls", c, mean, least)
    assert np.all(theta >= least)
    assert np.allclose(theta.sum(axis=1), 1.0)
    # The gradient g_s = Σ_e μ_e C[e, s] / (Cθ)_e is one multiplier λ on the free levels
    # and at most λ on those held at the bound. EM's default stopping leaves ~1e-4.
    g = np.einsum("bes,be->bs", c, mean / np.einsum("bes,bs->be", c, theta))
    for gs, t, low in zip(g[1:], theta[1:], least[1:], strict=True):
        free = t - low > 1e-3
        level = gs[free].mean()
        assert gs[free] == pytest.approx(level, abs=1e-3)
        assert np.all(gs <= level + 1e-3)


@pytest.mark.parametrize("k", [2, 4, 5])
def test_a_bound_of_zero_is_the_plain_solver(k: int) -> None:
    c, mean = noisy_problems(k, batch=50)
    zero = np.zeros((50, k))
    assert bounded("bbse", c, mean, zero) == pytest.approx(bbse(c, mean), abs=1e-12)
    assert bounded("mlls", c, mean, zero) == pytest.approx(mlls(c, mean), abs=1e-6)
