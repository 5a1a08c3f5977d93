"""Which views C and the target come from, and the label-shift fit test (issue 14).

A floor camera that reads faces differently from the kiosk camera breaks label shift:
the floor's mean expression is then no mixture of the kiosk camera's columns. The
estimator prefers a sample in one camera's view (a kiosk zone's links, or the kiosk
camera's passers-by), and rejects the cross-camera fit when the data refute it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kioskpulse.simulation.model import floor_view
from stream_processors.estimator import EstimatorConfig, estimate
from stream_processors.estimator.fit import chi2_survival, misfit
from stream_processors.estimator.solve import SOLVERS
from stream_processors.statistics import ScaleSums, Statistics, ViewSums
from tests.support.sums import confusion, triangle, window

THETA = (0.4, 0.3, 0.2, 0.1)
RHO = (0.3, 0.2, 0.15, 0.1)


def view(vectors: np.ndarray) -> ViewSums:
    """The sums of some probability vectors (one per row)."""
    squares = sum(np.outer(v, v) for v in vectors)
    return ViewSums(len(vectors), tuple(vectors.sum(axis=0)), tuple(triangle(np.asarray(squares))))


def noisy_window(seed: int, *, shift: float = 0.0, visitors: int = 3000) -> Statistics:
    """Sampled sums: visitors' and pressers' faces drawn around their level's column of C
    (Dirichlet), the floor's read through ``floor_view`` at ``shift``."""
    rng = np.random.default_rng(seed)
    c = confusion(len(THETA))
    mean = tuple(c @ np.asarray(THETA))
    levels = rng.choice(len(THETA), size=visitors, p=THETA)
    faces = np.stack([rng.dirichlet(40 * c[:, s]) for s in levels])
    floor = np.stack([floor_view(f, shift, mean) for f in faces])
    pressed = rng.random(visitors) < np.asarray(RHO)[levels]
    presses = [int(((levels == s) & pressed).sum()) for s in range(len(THETA))]
    linked = [faces[(levels == s) & pressed] for s in range(len(THETA))]
    floor_sums = view(floor)
    return Statistics(
        ratings={
            4: ScaleSums(
                4,
                presses,
                0,
                presses,
                [list(rows.sum(axis=0)) for rows in linked],
                [list(view(rows).squares) for rows in linked],
            )
        },
        visitors=visitors,
        visitor_prob_sums=list(floor_sums.sums),
        visitor_prob_sq_sums=list(floor_sums.squares),
        expression_counts=[visitors] + [0] * 6,
    )


def with_kiosk_camera(statistics: Statistics, vectors: np.ndarray) -> Statistics:
    return replace(statistics, kiosk_camera=view(vectors))


def with_zone(statistics: Statistics, per_level: list[np.ndarray]) -> Statistics:
    sums = statistics.ratings[4]
    zoned = replace(sums, zone_linked=[view(rows) for rows in per_level])
    return replace(statistics, ratings={4: zoned})


@pytest.mark.parametrize(
    ("x", "df", "expected"),
    [(7.814727903251178, 3, 0.05), (11.344866730144373, 3, 0.01), (9.21034037197618, 2, 0.01),
     (13.276704135987622, 4, 0.01), (15.08627246938899, 5, 0.01), (0.0, 3, 1.0)],
)  # fmt: skip
def test_the_chi_square_tail_matches_the_tables(x: float, df: int, expected: float) -> None:
    assert chi2_survival(x, df) == pytest.approx(expected, rel=1e-9)


def test_noise_free_sums_fit_perfectly() -> None:
    correction = estimate(window(THETA, propensities=RHO))
    assert correction.reason == "ok"
    assert correction.sample == "cross_camera"
    assert correction.fit_p_value == pytest.approx(1.0)
    assert correction.to_json()["sample"] == "cross_camera"


def test_without_a_shift_the_fit_test_rejects_about_as_often_as_its_level() -> None:
    # X² is χ² with E - k = 3 degrees of freedom under label shift: p uniform-ish.
    p_values = []
    for seed in range(40):
        correction = estimate(noisy_window(seed), config=EstimatorConfig(min_fit_p_value=0.0))
        assert correction.fit_p_value is not None
        p_values.append(correction.fit_p_value)
    assert sum(p < 0.05 for p in p_values) <= 6  # 2 expected; binomial tail < 1e-2
    assert 0.3 < float(np.median(p_values)) < 0.75


def test_a_floor_camera_that_reads_faces_differently_is_refused_with_the_reason() -> None:
    refused = [estimate(noisy_window(seed, shift=0.75)) for seed in range(10)]
    assert sum(c.reason == "label_shift_misfit" for c in refused) >= 8
    for c in refused:
        if c.reason == "label_shift_misfit":
            assert c.happy_index is None
            assert c.sample == "cross_camera"
            assert c.fit_p_value is not None
            assert c.fit_p_value < 0.05
            assert c.to_json()["available"] is False


def test_the_kiosk_cameras_passers_by_are_the_target_where_there_are_enough() -> None:
    # The floor reads faces shifted; the kiosk camera sees every visitor frontally.
    rng = np.random.default_rng(5)
    shifted = noisy_window(7, shift=0.75)
    c = confusion(4)
    levels = rng.choice(4, size=2500, p=THETA)
    passers = np.stack([rng.dirichlet(40 * c[:, s]) for s in levels])
    correction = estimate(with_kiosk_camera(shifted, passers))
    assert correction.reason == "ok"
    assert correction.sample == "kiosk_camera"
    truth = 100 * float(np.asarray(THETA) @ np.linspace(0, 1, 4))
    assert correction.lower is not None
    assert correction.upper is not None
    assert correction.lower <= truth <= correction.upper
    # Too few passers-by: back to the floor camera's target.
    few = estimate(
        with_kiosk_camera(shifted, passers[:10]), config=EstimatorConfig(min_fit_p_value=0)
    )
    assert few.sample == "cross_camera"


def test_a_kiosk_zone_gives_c_in_the_floor_cameras_own_view_and_comes_first() -> None:
    rng = np.random.default_rng(9)
    c = confusion(4)
    mean = tuple(c @ np.asarray(THETA))
    shifted = noisy_window(3, shift=0.75)
    presses = shifted.ratings[4].presses
    # The floor camera's view of the pressers at the kiosk, level by level.
    zone = [
        np.stack([floor_view(rng.dirichlet(40 * c[:, s]), 0.75, mean) for _ in range(n)])
        for s, n in enumerate(presses)
    ]
    passers = np.stack([rng.dirichlet(40 * c[:, s]) for s in rng.choice(4, 2500, p=THETA)])
    correction = estimate(with_kiosk_camera(with_zone(shifted, zone), passers))
    assert correction.reason == "ok"
    assert correction.sample == "kiosk_zone"
    truth = 100 * float(np.asarray(THETA) @ np.linspace(0, 1, 4))
    assert correction.lower is not None
    assert correction.upper is not None
    assert correction.lower <= truth <= correction.upper


def test_misfit_is_zero_on_an_exact_mixture_and_grows_off_it() -> None:
    c = confusion(4)[None]
    theta = np.asarray([THETA])
    exact = theta @ c[0].T
    second = np.full((1, 28), np.nan)  # the covariance bound
    args = dict(likelihood_weights=False, target_second=second,
                linked_second=np.full((1, 4, 28), np.nan))  # fmt: skip
    counts, linked = np.array([2000.0]), np.full((1, 4), 100.0)
    on, df = misfit(c, theta, exact, counts, linked, **args)  # type: ignore[arg-type]
    assert df == 3
    assert on[0] == pytest.approx(0.0, abs=1e-9)
    # A step out of the span of C's columns (keeping Σ = 0): no θ explains it.
    step = np.array([1.0, -1.0, 0, 0, 0, 0, 0])
    step -= c[0] @ np.linalg.lstsq(c[0], step, rcond=None)[0]
    off = exact + 0.01 * step / np.abs(step).max()
    refit = SOLVERS["bbse"](c, off)
    x, _ = misfit(c, refit, off, counts, linked, **args)  # type: ignore[arg-type]
    assert x[0] > 10


def test_a_kiosk_camera_that_sees_only_its_pressers_is_no_target() -> None:
    # Its tracks are then the pressers themselves: their mean would give the raw index
    # back. Only where nearly every visitor passes (min_kiosk_camera_share) is it used.
    statistics = noisy_window(4)
    rng = np.random.default_rng(2)
    c = confusion(4)
    pressers = np.stack(
        [rng.dirichlet(40 * c[:, s]) for s, n in enumerate(statistics.ratings[4].presses)
         for _ in range(n)]
    )  # fmt: skip
    assert len(pressers) < 0.8 * statistics.visitors
    correction = estimate(with_kiosk_camera(statistics, pressers))
    assert correction.sample == "cross_camera"
