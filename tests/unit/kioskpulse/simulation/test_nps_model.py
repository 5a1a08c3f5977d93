"""The simulator's NPS kiosks (issue 16): a known truth, scores 0..10, and detractors who
press more, so that the raw NPS is biased."""

from __future__ import annotations

import pytest

from kioskpulse.events import NPS_SCALE, nps_group
from kioskpulse.simulation.model import (
    ModelParameters,
    StoreModel,
    map_level,
    nps_of,
    press_propensities,
    theta_for_scale,
)
from kioskpulse.simulation.truth import StoreTruth
from tests.support.nps import nps_store


def test_the_propensity_of_an_nps_store_depends_on_the_group_only() -> None:
    rho = press_propensities(NPS_SCALE, 3.0, 0.3)
    assert rho == pytest.approx((0.3,) * 7 + (0.2,) * 2 + (0.1,) * 2)


def test_a_smiley_kiosk_in_an_nps_store_maps_each_button_within_one_group() -> None:
    buttons = [map_level(level, NPS_SCALE, 4) for level in range(1, 12)]
    assert buttons == [1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4]
    # (A 2-button kiosk cannot keep three groups apart: its happy button takes passives
    # and promoters, whose propensities differ.)
    for scale in (3, 4, 5):
        groups_of_button: dict[int, set[int]] = {}
        for level in range(1, 12):
            button = map_level(level, NPS_SCALE, scale)
            groups_of_button.setdefault(button, set()).add(nps_group(level - 1))
        assert sorted(groups_of_button) == list(range(1, scale + 1))
        assert all(len(groups) == 1 for groups in groups_of_button.values()), scale
    assert map_level(7, NPS_SCALE, NPS_SCALE) == 7
    assert sum(theta_for_scale([1 / 11] * 11, 4)) == pytest.approx(1.0)


def test_nps_of_a_distribution() -> None:
    assert nps_of([0.0] * 9 + [0.5, 0.5]) == pytest.approx(100.0)
    assert nps_of([1.0] + [0.0] * 10) == pytest.approx(-100.0)
    assert nps_of((0.3 / 7,) * 7 + (0.15, 0.15, 0.2, 0.2)) == pytest.approx(10.0)


def test_an_nps_kiosk_is_pressed_with_the_visitors_score_and_the_truth_knows_the_nps() -> None:
    store = nps_store("sim-nps", scales=(4, NPS_SCALE))
    model = StoreModel(store, seed=3, run_id="r", parameters=ModelParameters())
    assert model.scale == NPS_SCALE
    truth = StoreTruth.of(model)
    assert truth.nps == pytest.approx(nps_of(model.theta))
    at, scores = 0.0, []
    for _ in range(3000):
        at = model.next_arrival(at, 1.0)
        visitor = model.visitor(at)
        truth.record_visitor(visitor)
        if visitor.press is None:
            continue
        truth.record_press(visitor.press)
        if visitor.press.kiosk_id.endswith("-k1"):  # the NPS kiosk
            assert visitor.press.rating == visitor.level - 1
            scores.append(visitor.press.rating)
        else:
            assert visitor.press.rating == map_level(visitor.level, NPS_SCALE, 4)
    assert set(scores) <= set(range(11))
    assert 0 in scores or 1 in scores, "the scale starts at 0"
    groups = [sum(nps_group(s) == g for s in scores) for g in range(3)]
    assert truth.nps_presses_by_group == groups
    assert truth.raw_nps == pytest.approx(100 * (groups[2] - groups[0]) / sum(groups))
    assert truth.raw_nps is not None
    assert truth.nps is not None
    assert truth.raw_nps < truth.nps - 15, "the detractors press more: the raw NPS is low"
    document = truth.to_json()
    assert (document["nps"], document["raw_nps"]) == (truth.nps, truth.raw_nps)


def test_a_smiley_store_has_no_nps() -> None:
    model = StoreModel(nps_store("sim-smiley", scales=(4,)), seed=1, run_id="r")
    truth = StoreTruth.of(model)
    assert (truth.nps, truth.raw_nps, truth.to_json()["nps"]) == (None, None, None)
