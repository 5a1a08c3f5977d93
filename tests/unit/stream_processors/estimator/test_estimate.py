"""The estimator on sums whose answer is known: exact recovery, refusals with reasons, pooling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskpulse.simulation.model import happy_index
from stream_processors.estimator import REASONS, EstimatorConfig, Pool, estimate, estimate_all
from stream_processors.estimator.solve import Solver
from stream_processors.statistics import ScaleSums, Statistics
from tests.support.sums import confusion, window

THETA = (0.4, 0.3, 0.2, 0.1)
SOLVER_NAMES: tuple[Solver, ...] = ("bbse", "mlls")


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_noise_free_sums_give_theta_back_exactly(solver: Solver) -> None:
    correction = estimate(window(THETA), config=EstimatorConfig(solver=solver))
    assert correction.reason == "ok"
    assert correction.confusion == "own"
    assert correction.theta == pytest.approx(THETA, abs=1e-7)
    assert correction.happy_index == pytest.approx(happy_index(THETA), abs=1e-5)
    assert correction.lower is not None
    assert correction.upper is not None
    assert correction.lower < correction.happy_index < correction.upper


@st.composite
def thetas(draw: st.DrawFn) -> tuple[float, ...]:
    k = draw(st.integers(2, 5))
    weights = draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k))
    return tuple(w / sum(weights) for w in weights)


@settings(max_examples=60, deadline=None)
@given(theta=thetas())
def test_every_scale_and_theta_is_recovered(theta: tuple[float, ...]) -> None:
    # BBSE solves exactly; EM converges linearly and slowly towards small levels: it
    # stops when a step moves θ by less than 1e-9, up to ~1e-5 away.
    for solver, tolerance in (("bbse", 1e-8), ("mlls", 1e-4)):
        assert solver in SOLVER_NAMES
        correction = estimate(window(theta, visitors=100_000), config=EstimatorConfig(solver))
        assert correction.theta == pytest.approx(theta, abs=tolerance)


@pytest.mark.parametrize(
    ("solver", "tolerance"),
    # BBSE lands on the edge of the simplex exactly; EM only creeps towards it (~1/steps).
    [("bbse", 1e-9), ("mlls", 5e-3)],
)
def test_a_level_nobody_is_at_comes_out_as_zero(solver: Solver, tolerance: float) -> None:
    theta = (0.5, 0.0, 0.3, 0.2)
    linked = [100, 100, 100, 100]  # C is known at every level, from other days
    correction = estimate(window(theta, linked=linked), config=EstimatorConfig(solver))
    assert correction.theta == pytest.approx(theta, abs=tolerance)
    if solver == "bbse":
        assert correction.theta[1] == 0.0
        assert correction.propensities[1] is None  # no visitors there: no propensity


def test_propensities_and_the_bias_factor() -> None:
    rho = (0.3, 0.2, 0.15, 0.1)
    correction = estimate(window((0.25, 0.25, 0.25, 0.25), visitors=4000, propensities=rho))
    assert correction.propensities == pytest.approx(rho, rel=1e-6)
    assert correction.bias_factor == pytest.approx(3.0, rel=1e-6)


def test_a_singular_confusion_matrix_is_reported_not_solved() -> None:
    c = confusion(4)
    c[:, 2] = c[:, 1]  # levels 2 and 3 look alike: θ_2 and θ_3 cannot be told apart
    correction = estimate(window(THETA, c=c))
    assert correction.reason == "ill_conditioned"
    assert not correction.available
    assert correction.happy_index is None
    assert correction.theta == ()


def test_a_store_without_a_kiosk_camera_uses_the_pooled_confusion_matrix() -> None:
    with_camera = window((0.1, 0.2, 0.3, 0.4))
    without = window(THETA, linked=[0, 0, 0, 0])
    corrections = estimate_all({"cam": with_camera, "nocam": without})
    assert corrections["cam"].confusion == "own"
    assert corrections["nocam"].confusion == "pooled"
    assert corrections["nocam"].theta == pytest.approx(THETA, abs=1e-7)
    # Alone, the same store has nothing to correct with.
    assert estimate(without).reason == "no_linked_presses"
    assert estimate(without, Pool.of([with_camera])).theta == pytest.approx(THETA, abs=1e-7)


def test_a_thin_own_confusion_matrix_gives_way_to_the_pooled_one() -> None:
    thin = window(THETA, linked=[3, 2, 1, 1])
    assert estimate(thin).reason == "too_few_linked_presses"
    corrections = estimate_all({"thin": thin, "rich": window(THETA, visitors=20_000)})
    assert corrections["thin"].confusion == "pooled"
    assert corrections["thin"].reason == "ok"


def test_too_few_visitors_and_no_presses_are_reasons() -> None:
    assert estimate(window(THETA, visitors=40)).reason == "too_few_visitors"
    assert estimate(Statistics(visitors=5000)).reason == "no_presses"
    assert set(REASONS) >= {"ok", "no_linked_presses", "too_few_visitors", "ill_conditioned"}


def test_the_interval_narrows_with_the_data() -> None:
    small = estimate(window(THETA, visitors=1000))
    large = estimate(window(THETA, visitors=4000))
    assert small.lower is not None
    assert small.upper is not None
    assert large.lower is not None
    assert large.upper is not None
    # Four times the visitors and linked presses: half the width.
    assert (large.upper - large.lower) == pytest.approx((small.upper - small.lower) / 2, rel=0.02)


def test_the_main_scale_has_the_most_presses() -> None:
    four = window(THETA)
    extra = ScaleSums.zero(5)
    extra.presses = [1, 1, 1, 1, 1]
    store = Statistics(
        ratings={**four.ratings, 5: extra},
        visitors=four.visitors,
        visitor_prob_sums=four.visitor_prob_sums,
        expression_counts=four.expression_counts,
    )
    correction = estimate(store)
    assert correction.scale == 4
    assert correction.theta == pytest.approx(THETA, abs=1e-7)


def test_a_batch_answers_as_the_stores_would_alone() -> None:
    rng = np.random.default_rng(5)
    stores = {f"s{i}": window(tuple(rng.dirichlet(np.ones(4)) * 0.9 + 0.025)) for i in range(20)}
    together = estimate_all(stores)
    for store_id, statistics in stores.items():
        alone = estimate(statistics, Pool.of(stores.values()))
        assert together[store_id].theta == pytest.approx(alone.theta, abs=1e-12)
