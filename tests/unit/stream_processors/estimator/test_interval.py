"""The interval: real covariances where the window has second moments, the bound where not."""

from __future__ import annotations

from dataclasses import replace
from statistics import NormalDist

import numpy as np
import pytest

from kioskpulse.simulation.model import ModelParameters, level_profiles, press_propensities
from stream_processors.estimator import Correction, EstimatorConfig, estimate, estimate_all
from stream_processors.estimator.solve import Solver
from stream_processors.statistics import ScaleSums, Statistics
from tests.support.sums import triangle, window

THETA = (0.4, 0.3, 0.2, 0.1)
SOLVER_NAMES: tuple[Solver, ...] = ("bbse", "mlls")


def width(correction: Correction) -> float:
    assert correction.lower is not None
    assert correction.upper is not None
    return correction.upper - correction.lower


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_second_moments_narrow_the_interval_of_soft_faces(solver: Solver) -> None:
    config = EstimatorConfig(solver=solver)
    real = estimate(window(THETA, moments="soft"), config=config)
    bound = estimate(window(THETA, moments=None), config=config)
    assert real.happy_index == pytest.approx(bound.happy_index, abs=1e-9)
    assert width(real) < 0.7 * width(bound)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_one_hot_faces_reach_the_bound(solver: Solver) -> None:
    # The bound is the variance of one-hot vectors: with them, both ways agree.
    config = EstimatorConfig(solver=solver)
    real = estimate(window(THETA, moments="one-hot"), config=config)
    bound = estimate(window(THETA, moments=None), config=config)
    assert width(real) == pytest.approx(width(bound), rel=1e-9)


def test_second_moments_of_zero_with_visitors_are_taken_as_unknown() -> None:
    soft = window(THETA)
    zeroed = replace(
        soft,
        visitor_prob_sq_sums=[0.0] * 28,
        ratings={4: replace(soft.ratings[4], linked_prob_sq_sums=[[0.0] * 28] * 4)},
    )
    assert width(estimate(zeroed)) == pytest.approx(width(estimate(window(THETA, moments=None))))


def test_a_window_with_an_old_bucket_falls_back_to_the_bound() -> None:
    new, old = window(THETA), window(THETA, moments=None)
    mixed = new + old
    assert not mixed.visitor_sq_known
    doubled = window(THETA, visitors=4000, moments=None)
    assert width(estimate(mixed)) == pytest.approx(width(estimate(doubled)), rel=1e-9)
    # ...until the old bucket leaves the window again.
    assert width(estimate(mixed - old)) == pytest.approx(width(estimate(new)), rel=1e-9)


def test_a_batch_mixing_old_and_new_stores_answers_as_each_alone() -> None:
    stores = {"new": window(THETA), "old": window((0.1, 0.2, 0.3, 0.4), moments=None)}
    together = estimate_all(stores)
    for store_id, statistics in stores.items():
        alone = estimate_all({store_id: statistics})[store_id]
        assert width(together[store_id]) == pytest.approx(width(alone), rel=1e-12)


def test_a_pool_with_an_old_store_has_no_second_moments() -> None:
    no_camera = window(THETA, linked=[0, 0, 0, 0])
    with_new = estimate_all({"s": no_camera, "cam": window(THETA)})["s"]
    with_old = estimate_all({"s": no_camera, "cam": window(THETA, moments=None)})["s"]
    assert with_new.confusion == with_old.confusion == "pooled"
    assert width(with_new) < width(with_old)


# ---------------------------------------------------------------------- against the simulator


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """One Dirichlet draw per row of ``alpha`` (numpy's own takes a single alpha)."""
    gamma = rng.gamma(alpha)
    draws: np.ndarray = gamma / gamma.sum(axis=-1, keepdims=True)
    return draws


def _mean_of_frames(
    rng: np.random.Generator, expression: np.ndarray, frames: tuple[int, int], concentration: float
) -> np.ndarray:
    """Each face's track: the mean of low..high noisy frames of its expression."""
    low, high = frames
    n = rng.integers(low, high + 1, size=len(expression))
    readings = _dirichlet(rng, concentration * np.repeat(expression[:, None, :], high, axis=1))
    used = np.arange(high)[None, :] < n[:, None]
    means: np.ndarray = (readings * used[:, :, None]).sum(axis=1) / n[:, None]
    return means


def _simulated_store(
    rng: np.random.Generator, visitors: int, scale: int
) -> tuple[float, Statistics]:
    """The simulator's model (``StoreModel``'s draws, vectorised): truth and window sums.

    Each visitor: a level from θ, an expression around the level's profile, a floor
    track (mean of 3..8 noisy frames) and, if they press, a link (mean of 2..4 kiosk
    frames of the same face), summed as the aggregator sums them.
    """
    parameters = ModelParameters()
    theta = 0.9 * rng.dirichlet(np.full(scale, parameters.theta_concentration)) + 0.1 / scale
    profiles = level_profiles(scale)
    levels = rng.choice(scale, size=visitors, p=theta)
    drawn = _dirichlet(rng, parameters.visitor_concentration * profiles[levels])
    expression = 0.99 * drawn + 0.01 / profiles.shape[1]
    floor = _mean_of_frames(
        rng, expression, parameters.floor_frames, parameters.frame_concentration
    )
    rho = np.asarray(
        press_propensities(scale, parameters.propensity_ratio, parameters.max_press_probability)
    )
    pressed = rng.random(visitors) < rho[levels]
    links = _mean_of_frames(
        rng, expression[pressed], parameters.kiosk_frames, parameters.frame_concentration
    )
    pressed_levels = levels[pressed]
    presses = np.bincount(pressed_levels, minlength=scale)
    sums = ScaleSums(
        scale,
        presses.tolist(),
        0,
        presses.tolist(),
        [links[pressed_levels == s].sum(axis=0).tolist() for s in range(scale)],
        [triangle(links[pressed_levels == s].T @ links[pressed_levels == s]) for s in range(scale)],
    )
    statistics = Statistics(
        ratings={scale: sums},
        visitors=visitors,
        visitor_prob_sums=floor.sum(axis=0).tolist(),
        visitor_prob_sq_sums=triangle(floor.T @ floor),
        # every visitor read, counted by its dominant expression
        expression_counts=np.bincount(floor.argmax(axis=1), minlength=floor.shape[1]).tolist(),
    )
    truth = 100.0 * float(theta @ np.linspace(0.0, 1.0, scale))
    return truth, statistics


def test_the_interval_matches_the_spread_over_simulated_stores() -> None:
    rng = np.random.default_rng(2026)
    runs = [_simulated_store(rng, 2000, 4) for _ in range(300)]
    # The interval's calibration, every store: the fit test (which refuses about 1 % of
    # these unshifted stores: test_samples.py) would only thin the sample.
    everyone = EstimatorConfig(min_fit_p_value=0.0)
    corrections = estimate_all(
        {str(i): statistics for i, (_, statistics) in enumerate(runs)}, everyone
    )
    errors, half_widths, covered = [], [], []
    for i, (truth, _) in enumerate(runs):
        correction = corrections[str(i)]
        assert correction.happy_index is not None
        errors.append(correction.happy_index - truth)
        half_widths.append(width(correction) / 2)
        assert correction.lower is not None
        assert correction.upper is not None
        covered.append(correction.lower <= truth <= correction.upper)
    coverage = float(np.mean(covered))
    assert 0.88 <= coverage <= 0.99, coverage
    # The mean half-width is 1.96 standard errors; the errors' spread should match it.
    spread = NormalDist().inv_cdf(0.975) * float(np.std(errors))
    assert 0.8 <= float(np.mean(half_widths)) / spread <= 1.25
