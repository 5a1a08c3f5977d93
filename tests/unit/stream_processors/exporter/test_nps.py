"""NPS kiosks on /metrics and in the JSON summary (issue 16): the raw NPS and its groups
equal the formula on the presses, the corrected NPS with its interval or the reason."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stream_processors.aggregation.aggregator import Aggregator
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.exporter.console import render
from stream_processors.exporter.state import ExporterState
from stream_processors.exporter.summary import summarise
from tests.support.aggregates import NOW, bucket_of
from tests.support.events import T0, press
from tests.support.sums import window

THETA = (0.04, 0.03, 0.03, 0.04, 0.05, 0.05, 0.06, 0.15, 0.15, 0.2, 0.2)
RHO = (0.3,) * 7 + (0.2,) * 2 + (0.1,) * 2
SMILEY = (0.4, 0.3, 0.2, 0.1)


@pytest.fixture
def state() -> ExporterState:
    state = ExporterState(clock=lambda: NOW)
    nps = window(THETA, propensities=RHO)
    smiley = window(SMILEY)
    # Both kinds of kiosk in one store: the NPS of its NPS kiosk, the Happy Index of both.
    both = replace(nps, ratings={**nps.ratings, 4: smiley.ratings[4]})
    state.windows.apply(bucket_of("nps", nps), NOW)
    state.windows.apply(bucket_of("both", both), NOW)
    state.windows.apply(bucket_of("smiley", smiley), NOW)
    state.windows.apply(bucket_of("thin", window(THETA, propensities=RHO, visitors=20)), NOW)
    return state


def value(state: ExporterState, name: str, **labels: str) -> float | None:
    return state.registry.get_sample_value(name, labels)


def formula(presses: list[int]) -> float:
    """NPS = % of 9-10 minus % of 0-6."""
    return 100 * sum(presses[9:]) / sum(presses) - 100 * sum(presses[:7]) / sum(presses)


def test_the_raw_nps_and_groups_equal_the_formula_on_the_presses(state: ExporterState) -> None:
    presses = window(THETA, propensities=RHO).ratings[11].presses
    for store in ("nps", "both"):
        labels = {"store": store, "window": "1h"}
        raw = value(state, "kioskpulse_nps", method="raw", **labels)
        assert raw == pytest.approx(formula(presses))
        shares = {
            group: value(state, "kioskpulse_nps_group_share", group=group, method="raw", **labels)
            for group in ("detractor", "passive", "promoter")
        }
        total = sum(presses)
        assert shares == pytest.approx(
            {
                "detractor": sum(presses[:7]) / total,
                "passive": sum(presses[7:9]) / total,
                "promoter": sum(presses[9:]) / total,
            }
        )


def test_the_rating_shares_of_an_nps_kiosk_are_labelled_0_to_10(state: ExporterState) -> None:
    presses = window(THETA, propensities=RHO).ratings[11].presses
    labels = {"store": "nps", "window": "15m", "scale": "11"}
    shares = [value(state, "kioskpulse_rating_share", rating=str(r), **labels) for r in range(11)]
    assert shares == pytest.approx([n / sum(presses) for n in presses])
    assert value(state, "kioskpulse_rating_share", rating="11", **labels) is None
    counted = [
        value(state, "kioskpulse_ratings_total", store="nps", scale="11", rating=str(r))
        for r in range(11)
    ]
    assert counted == presses


def test_the_happy_index_reads_an_nps_score_as_score_over_10(state: ExporterState) -> None:
    presses = window(THETA, propensities=RHO).ratings[11].presses
    raw = value(state, "kioskpulse_happy_index", store="nps", window="15m", method="raw")
    expected = 100 * sum(score / 10 * n for score, n in enumerate(presses)) / sum(presses)
    assert raw == pytest.approx(expected)


def test_the_corrected_nps_with_its_interval_and_groups(state: ExporterState) -> None:
    labels = {"store": "nps", "window": "15m"}
    corrected = value(state, "kioskpulse_nps", method="corrected", **labels)
    assert corrected == pytest.approx(10.0, abs=1e-6)
    lower = value(state, "kioskpulse_nps_lower", **labels)
    upper = value(state, "kioskpulse_nps_upper", **labels)
    assert lower is not None
    assert upper is not None
    assert corrected is not None
    assert -100 <= lower < corrected < upper <= 100
    for group, share in (("detractor", 0.3), ("passive", 0.3), ("promoter", 0.4)):
        got = value(state, "kioskpulse_nps_group_share", group=group, method="corrected", **labels)
        assert got == pytest.approx(share, abs=1e-9)
    assert value(state, "kioskpulse_nps_correction_available", reason="ok", **labels) == 1.0
    # An NPS-only store has no corrected Happy Index: 11 levels are too many to tell apart.
    assert value(state, "kioskpulse_correction_available", reason="ill_conditioned", **labels) == 0
    assert value(state, "kioskpulse_happy_index", method="corrected", **labels) is None


def test_the_groups_response_propensities_and_the_detractor_bias_factor(
    state: ExporterState,
) -> None:
    # RHO: detractors press with 0.3, passives 0.2, promoters 0.1.
    labels = {"store": "nps", "window": "15m"}
    for group, propensity in (("detractor", 0.3), ("passive", 0.2), ("promoter", 0.1)):
        got = value(state, "kioskpulse_nps_response_propensity", group=group, **labels)
        assert got == pytest.approx(propensity, rel=1e-6)
    factor = value(state, "kioskpulse_nps_detractor_bias_factor", **labels)
    assert factor == pytest.approx(3.0, rel=1e-6)
    thin = {"store": "thin", "window": "15m"}
    assert value(state, "kioskpulse_nps_detractor_bias_factor", **thin) is None


def test_a_store_with_both_kinds_has_both_corrected_indices(state: ExporterState) -> None:
    labels = {"store": "both", "window": "15m"}
    assert value(state, "kioskpulse_nps", method="corrected", **labels) == pytest.approx(10.0)
    assert (
        value(state, "kioskpulse_correction_available", reason="ill_conditioned", **labels) is None
    )


def test_without_a_corrected_nps_the_reason_and_nothing_else(state: ExporterState) -> None:
    labels = {"store": "thin", "window": "15m"}
    reason = value(
        state, "kioskpulse_nps_correction_available", reason="too_few_visitors", **labels
    )
    assert reason == 0.0
    assert value(state, "kioskpulse_nps", method="raw", **labels) is not None
    for name in ("kioskpulse_nps_lower", "kioskpulse_nps_upper"):
        assert value(state, name, **labels) is None
    assert value(state, "kioskpulse_nps", method="corrected", **labels) is None


def test_stores_without_nps_presses_have_no_nps_series(state: ExporterState) -> None:
    exposition = state.exposition().decode()
    labels = {"store": "smiley", "window": "15m"}
    assert value(state, "kioskpulse_nps", method="raw", **labels) is None
    for reason in ("ok", "no_presses"):
        assert value(state, "kioskpulse_nps_correction_available", reason=reason, **labels) is None
    assert 'kioskpulse_nps{store="smiley"' not in exposition


def test_the_json_summary_has_the_nps_beside_the_happy_index(state: ExporterState) -> None:
    summary = summarise(state.windows, "both", "15m", NOW).model_dump(by_alias=True)
    presses = window(THETA, propensities=RHO).ratings[11].presses
    assert summary["nps_raw"] == pytest.approx(formula(presses))
    assert set(summary["nps_group_shares_raw"]) == {"detractor", "passive", "promoter"}
    assert list(summary["presses_by_scale"]["11"]["presses"]) == [str(r) for r in range(11)]
    assert list(summary["presses_by_scale"]["4"]["presses"]) == ["1", "2", "3", "4"]
    corrected = summary["corrected_nps"]
    assert corrected["available"] is True
    assert corrected["nps"] == pytest.approx(10.0, abs=1e-6)
    assert corrected["nps_lower"] < corrected["nps"] < corrected["nps_upper"]
    smiley = summarise(state.windows, "smiley", "15m", NOW)
    assert (smiley.nps_raw, smiley.nps_group_shares_raw, smiley.corrected_nps) == (None,) * 3


def test_nps_presses_are_counted_per_score_by_the_aggregator() -> None:
    config = AggregationConfig(lateness_seconds=3600, visit_idle_seconds=10)
    aggregator = Aggregator(config)
    for seconds, score in ((0, 0), (10, 6), (20, 7), (30, 10), (31, 10)):  # the last: misuse
        aggregator.add_rating(press(seconds, score, kiosk="n1", scale=11))
    aggregator.flush()
    [store] = aggregator.stores.values()
    [bucket_] = store.buckets.values()
    statistics = bucket_.to_aggregate(store.store_id, config.bucket_seconds, T0).ratings[11]
    assert statistics.presses == [1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1]
    assert statistics.suppressed == 1


def test_the_demo_console_shows_the_nps_beside_the_happy_index(state: ExporterState) -> None:
    summaries = [summarise(state.windows, store, "15m", NOW) for store in ("both", "smiley")]
    both, smiley = render(summaries, 1.0).splitlines()[2:]
    presses = window(THETA, propensities=RHO).ratings[11].presses
    assert both.endswith(f"NPS: raw {formula(presses):.1f}, all visitors 10.0 ±{_half(state)}")
    assert "NPS" not in smiley


def _half(state: ExporterState) -> str:
    corrected = summarise(state.windows, "both", "15m", NOW).corrected_nps
    assert corrected is not None
    return f"{(corrected['nps_upper'] - corrected['nps_lower']) / 2:.1f}"
