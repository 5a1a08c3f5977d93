"""The corrected NPS (issue 16): the NPS kiosks' 11 scores as three groups, solved by the
estimator like a 3-button scale, its interval by the delta method with NPS weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kioskpulse.events import NPS_SCALE
from kioskpulse.simulation.model import ModelParameters, nps_of
from stream_processors.estimator import (
    EstimatorConfig,
    estimate,
    estimate_all,
    estimate_nps,
    estimate_nps_all,
    main_scale,
)
from stream_processors.estimator.interval import index_standard_error, index_weights
from stream_processors.estimator.nps import NPS_WEIGHTS, grouped
from stream_processors.statistics import ScaleSums, Statistics
from tests.support.nps import nps_store, simulated_window
from tests.support.sums import confusion, window

#: θ over the scores 0..10, and a propensity per score that depends on its group only:
#: detractors press three times as often as promoters.
THETA = (0.04, 0.03, 0.03, 0.04, 0.05, 0.05, 0.06, 0.15, 0.15, 0.2, 0.2)
RHO = (0.3,) * 7 + (0.2,) * 2 + (0.1,) * 2
TRUE_NPS = 100 * (0.4 - 0.3)
GROUP_THETA = (0.3, 0.3, 0.4)


def nps_window(**options: object) -> Statistics:
    """Noise-free sums of an NPS kiosk whose levels are the simulator's 11 profiles."""
    return window(THETA, propensities=RHO, **options)  # type: ignore[arg-type]


def raw_nps(presses: list[int]) -> float:
    detractors, promoters = sum(presses[:7]), sum(presses[9:])
    return 100 * (promoters - detractors) / sum(presses)


def test_the_groups_add_up_the_scores_sums() -> None:
    sums = nps_window().ratings[NPS_SCALE]
    three = grouped(sums)
    assert three.scale == 3
    assert three.presses == [sum(sums.presses[:7]), sum(sums.presses[7:9]), sum(sums.presses[9:])]
    assert three.linked_presses == [
        sum(sums.linked_presses[:7]),
        sum(sums.linked_presses[7:9]),
        sum(sums.linked_presses[9:]),
    ]
    expected = np.asarray(sums.linked_prob_sums)[9:].sum(axis=0)
    assert three.linked_prob_sums[2] == pytest.approx(expected.tolist())
    squares = np.asarray(sums.linked_prob_sq_sums)[:7].sum(axis=0)
    assert three.linked_prob_sq_sums[0] == pytest.approx(squares.tolist())
    with pytest.raises(ValueError, match="scale 11"):
        grouped(ScaleSums.zero(4))


def test_grouping_is_additive() -> None:
    a = nps_window().ratings[NPS_SCALE]
    b = nps_window(visitors=500).ratings[NPS_SCALE]
    together, apart = grouped(a + b), grouped(a) + grouped(b)
    assert together.presses == apart.presses
    assert np.allclose(together.linked_prob_sums, apart.linked_prob_sums)


def test_noise_free_sums_give_the_true_nps_and_group_shares() -> None:
    statistics = nps_window()
    correction = estimate_nps(statistics)
    assert correction.reason == "ok"
    assert correction.nps == pytest.approx(TRUE_NPS, abs=1e-6)
    assert correction.shares == pytest.approx(GROUP_THETA, abs=1e-9)
    assert correction.propensities == pytest.approx((0.3, 0.2, 0.1), abs=2e-3)
    assert correction.bias_factor == pytest.approx(3.0, rel=0.02)
    assert correction.lower is not None
    assert correction.upper is not None
    assert correction.lower < TRUE_NPS < correction.upper
    assert correction.lower >= -100
    assert correction.upper <= 100
    # The presses alone are far off: the detractors press three times as often.
    raw = statistics.raw_nps()
    assert raw == pytest.approx(raw_nps(statistics.ratings[NPS_SCALE].presses))
    assert raw is not None
    assert abs(raw - TRUE_NPS) >= 15
    assert correction.to_json()["group_shares"] == pytest.approx(
        {"detractor": 0.3, "passive": 0.3, "promoter": 0.4}
    )


def test_the_nps_interval_is_the_delta_method_with_nps_weights() -> None:
    # The NPS weights (-1, 0, 1) are twice the 3-level Happy Index's (0, 0.5, 1) less 1,
    # and a constant added to the weights changes nothing (Σθ = 1): twice its SE.
    c = confusion(3)[None]
    theta = np.array([GROUP_THETA])
    mean = (c[0] @ theta[0])[None]
    arguments = (c, theta, mean, np.array([2000.0]), np.array([[100.0, 80.0, 60.0]]))
    happy = index_standard_error(*arguments, likelihood_weights=False)
    default = index_standard_error(*arguments, likelihood_weights=False, weights=index_weights(3))
    nps = index_standard_error(*arguments, likelihood_weights=False, weights=NPS_WEIGHTS)
    assert default == pytest.approx(happy)
    assert nps == pytest.approx(2 * happy)


def test_a_store_with_nps_kiosks_only_has_no_corrected_happy_index() -> None:
    # 11 levels from 7 expressions: C is singular. Its NPS is corrected, on 3 groups.
    statistics = nps_window()
    assert main_scale(statistics) is None
    correction = estimate(statistics)
    assert (correction.reason, correction.scale, correction.happy_index) == (
        "ill_conditioned",
        NPS_SCALE,
        None,
    )
    assert estimate_nps(statistics).available


def test_a_store_with_both_kinds_corrects_the_happy_index_on_its_smiley_scale() -> None:
    smiley = window((0.4, 0.3, 0.2, 0.1), propensities=(0.3, 0.2, 0.15, 0.1))
    nps = nps_window()
    statistics = replace(nps, ratings={**nps.ratings, 4: smiley.ratings[4]})
    assert main_scale(statistics) == 4
    assert estimate(statistics).scale == 4
    assert estimate_nps(statistics).nps == pytest.approx(TRUE_NPS, abs=1e-6)


def test_stores_without_nps_presses_have_no_corrected_nps() -> None:
    smiley = window((0.4, 0.3, 0.2, 0.1))
    corrections = estimate_nps_all({"smiley": smiley, "nps": nps_window()})
    assert corrections["smiley"].reason == "no_presses"
    assert corrections["smiley"].to_json()["nps"] is None
    assert corrections["nps"].available


def test_a_store_without_a_kiosk_camera_borrows_the_pooled_groups() -> None:
    alone = nps_window(linked=[0] * 11)
    corrections = estimate_nps_all({"camera": nps_window(), "alone": alone})
    assert corrections["alone"].confusion == "pooled"
    assert corrections["alone"].nps == pytest.approx(TRUE_NPS, abs=1e-6)
    assert estimate_nps(alone).reason == "no_linked_presses"


def test_thin_data_withholds_the_corrected_nps_with_the_reason() -> None:
    assert estimate_nps(nps_window(visitors=20)).reason == "too_few_visitors"
    few = nps_window(linked=[1] * 11)  # 7, 2 and 2 linked presses in the groups
    assert estimate_nps(few).reason == "too_few_linked_presses"
    assert estimate_nps(few, config=EstimatorConfig(min_linked_per_level=2)).available


def test_the_happy_index_estimate_is_unchanged_by_the_generalised_weights() -> None:
    smiley = window((0.4, 0.3, 0.2, 0.1), propensities=(0.3, 0.2, 0.15, 0.1))
    default = estimate_all({"s": smiley})["s"]
    explicit = estimate_all({"s": smiley}, weights=index_weights)["s"]
    assert (default.happy_index, default.lower, default.upper) == (
        explicit.happy_index,
        explicit.lower,
        explicit.upper,
    )


@pytest.mark.parametrize("seed", range(4))
def test_the_corrected_nps_recovers_a_simulated_truth_where_the_raw_nps_is_far_off(
    seed: int,
) -> None:
    """The simulator's NPS store: detractors press 3× as often as promoters. The raw NPS is
    off by 15 points or more; the corrected NPS within 5 points of the truth: the NPS of
    the visitors who came (θ's is 20, theirs differs by the luck of the draw)."""
    theta = (0.25 / 7,) * 7 + (0.15, 0.15, 0.2, 0.25)
    parameters = ModelParameters(visitor_concentration=20.0)
    truth, statistics = simulated_window(
        nps_store(f"nps-{seed}"), 5000, seed=seed, theta=theta, parameters=parameters
    )
    assert truth.nps == pytest.approx(nps_of(theta)) == pytest.approx(20.0)
    true_nps = truth.visitors_nps
    assert true_nps is not None
    raw = statistics.raw_nps()
    assert raw is not None
    assert raw == pytest.approx(truth.raw_nps)
    assert abs(raw - true_nps) >= 15
    correction = estimate_nps(statistics, config=EstimatorConfig(min_fit_p_value=0.0))
    assert correction.nps is not None, correction.reason
    assert abs(correction.nps - true_nps) <= 5
