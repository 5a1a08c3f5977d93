"""The corrected figures on /metrics and in the JSON summary, from noise-free sums."""

from __future__ import annotations

import pytest

from kioskpulse.simulation.model import happy_index
from stream_processors.exporter.corrected import correction_of
from stream_processors.exporter.state import ExporterState
from stream_processors.exporter.summary import summarise
from tests.support.aggregates import NOW, bucket_of
from tests.support.sums import window

THETA = (0.4, 0.3, 0.2, 0.1)
RHO = (0.3, 0.2, 0.15, 0.1)


@pytest.fixture
def state() -> ExporterState:
    state = ExporterState(clock=lambda: NOW)
    state.windows.apply(bucket_of("cam", window(THETA, propensities=RHO)), NOW)
    state.windows.apply(bucket_of("nocam", window(THETA, linked=[0, 0, 0, 0])), NOW)
    state.windows.apply(bucket_of("quiet", window(THETA, visitors=20)), NOW)
    return state


def value(state: ExporterState, name: str, **labels: str) -> float | None:
    return state.registry.get_sample_value(name, labels)


def test_the_corrected_index_and_its_interval(state: ExporterState) -> None:
    labels = {"store": "cam", "window": "15m"}
    corrected = value(state, "kioskpulse_happy_index", method="corrected", **labels)
    assert corrected == pytest.approx(happy_index(THETA), abs=1e-5)
    lower = value(state, "kioskpulse_happy_index_lower", **labels)
    upper = value(state, "kioskpulse_happy_index_upper", **labels)
    assert lower is not None
    assert upper is not None
    assert lower < corrected < upper
    assert value(state, "kioskpulse_correction_available", reason="ok", **labels) == 1.0
    for rating, (share, rho) in enumerate(zip(THETA, RHO, strict=True), start=1):
        labels_r = {**labels, "rating": str(rating)}
        assert value(
            state, "kioskpulse_satisfaction_share", method="corrected", **labels_r
        ) == pytest.approx(share, abs=1e-7)
        assert value(state, "kioskpulse_response_propensity", **labels_r) == pytest.approx(
            rho, rel=1e-6
        )
    assert value(state, "kioskpulse_negative_bias_factor", **labels) == pytest.approx(3.0)


def test_a_store_without_camera_is_corrected_with_the_pooled_matrix(state: ExporterState) -> None:
    labels = {"store": "nocam", "window": "1h"}
    corrected = value(state, "kioskpulse_happy_index", method="corrected", **labels)
    assert corrected == pytest.approx(happy_index(THETA), abs=1e-5)


def test_thin_data_give_a_reason_and_no_number(state: ExporterState) -> None:
    labels = {"store": "quiet", "window": "24h"}
    assert value(state, "kioskpulse_correction_available", reason="too_few_visitors", **labels) == 0
    assert value(state, "kioskpulse_happy_index", method="corrected", **labels) is None
    assert value(state, "kioskpulse_happy_index", method="raw", **labels) is not None
    assert value(state, "kioskpulse_happy_index_lower", **labels) is None


def test_the_summary_carries_the_same_correction(state: ExporterState) -> None:
    summary = summarise(state.windows, "nocam", "1h", NOW)
    assert summary.corrected is not None
    assert summary.corrected["available"] is True
    assert summary.corrected["confusion"] == "pooled"
    assert summary.corrected["happy_index"] == pytest.approx(
        value(state, "kioskpulse_happy_index", method="corrected", store="nocam", window="1h")
    )
    assert summary.corrected["shares"] == pytest.approx(
        {str(i): t for i, t in enumerate(THETA, start=1)}, abs=1e-7
    )
    assert correction_of(state.windows, "quiet", "1h", NOW).reason == "too_few_visitors"


def test_the_physical_bound_shows_on_metrics_and_in_the_summary() -> None:
    state = ExporterState(clock=lambda: NOW)
    # μ says 3 % of the visitors are at level 1, but 5.2 % pressed 1 (issue 14's analyst).
    analyst = window((0.03, 0.52, 0.0, 0.45), linked=[100] * 4, propensities=(1.74, 0.2, 0.2, 0.2))
    state.windows.apply(bucket_of("analyst", analyst), NOW)
    state.windows.apply(bucket_of("cam", window(THETA, propensities=RHO)), NOW)
    state.windows.apply(bucket_of("flood", window(THETA, propensities=(1.5,) * 4)), NOW)
    labels = {"store": "analyst", "window": "1h"}
    assert value(state, "kioskpulse_correction_available", reason="ok", **labels) == 1.0
    assert value(state, "kioskpulse_correction_bounded", **labels) == 1.0
    for rating in "1234":
        rho = value(state, "kioskpulse_response_propensity", rating=rating, **labels)
        assert rho is None or 0.0 <= rho <= 1.0
    share = value(state, "kioskpulse_satisfaction_share", rating="1", method="corrected", **labels)
    assert share is not None
    assert share >= 104 / 2000
    assert value(state, "kioskpulse_correction_bounded", store="cam", window="1h") == 0.0
    flood = {"store": "flood", "window": "1h"}
    assert (
        value(state, "kioskpulse_correction_available", reason="presses_exceed_visitors", **flood)
        == 0.0
    )
    assert value(state, "kioskpulse_correction_bounded", **flood) is None
    assert value(state, "kioskpulse_happy_index", method="corrected", **flood) is None

    corrected = summarise(state.windows, "analyst", "1h", NOW).corrected
    assert corrected is not None
    assert corrected["bounded_levels"] == [1]
    assert all(0.0 <= p <= 1.0 for p in corrected["response_propensity"].values() if p is not None)
    cam = summarise(state.windows, "cam", "1h", NOW).corrected
    assert cam is not None
    assert cam["bounded_levels"] == []
    flooded = summarise(state.windows, "flood", "1h", NOW).corrected
    assert flooded is not None
    assert (flooded["reason"], flooded["bounded_levels"]) == ("presses_exceed_visitors", None)


def test_the_sample_and_the_fit_of_the_corrected_figures_are_shown(state: ExporterState) -> None:
    labels = {"store": "cam", "window": "15m"}
    assert value(state, "kioskpulse_correction_sample", sample="cross_camera", **labels) == 1.0
    assert value(state, "kioskpulse_correction_fit_p_value", **labels) == pytest.approx(1.0)
    summary = summarise(state.windows, "cam", "15m", NOW).corrected
    assert summary is not None
    assert summary["sample"] == "cross_camera"
    assert summary["fit_p_value"] == pytest.approx(1.0)
    # Without figures for want of visitors, there is no sample to name.
    quiet = {"store": "quiet", "window": "15m"}
    assert value(state, "kioskpulse_correction_sample", sample="cross_camera", **quiet) is None
