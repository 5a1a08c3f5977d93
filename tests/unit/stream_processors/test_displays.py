"""Display figures and label comparisons (issue 16): the delta-method maths, the
exporter's gauges and the comparison API."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from kioskpulse.devices import RegistryFile, edit_registry
from kioskpulse.events import EXPRESSIONS, DisplayStatistics, StoreAggregate
from stream_processors.aggregation.displays import DisplayTally, DisplayTrack
from stream_processors.displays import DisplaySums, Sample, add_displays, compare
from stream_processors.exporter.app import create_exporter_app
from stream_processors.exporter.console import SummaryConsole
from stream_processors.exporter.display_report import display_lines
from stream_processors.exporter.state import ExporterState
from tests.support.aggregates import NOW, aggregate
from tests.support.fleet import Fleet

SURPRISE, HAPPY, NEUTRAL = (EXPRESSIONS.index(e) for e in ("surprise", "happy", "neutral"))


def sample(values: Sequence[float]) -> Sample:
    return Sample(len(values), math.fsum(values), math.fsum(v * v for v in values))


def dwells(rng: random.Random, n: int, mean: float) -> list[float]:
    """Skewed per-track dwell times (gamma, shape 2) with the given mean."""
    return [rng.gammavariate(2.0, mean / 2.0) for _ in range(n)]


# ---------------------------------------------------------------------- the maths


def test_a_known_30_percent_effect_is_recovered_within_the_interval() -> None:
    rng = random.Random(16)
    after, before = sample(dwells(rng, 400, 13.0)), sample(dwells(rng, 400, 10.0))
    result = compare(after, before)
    assert result.ratio is not None
    assert result.ratio_interval is not None
    low, high = result.ratio_interval
    assert low < 1.3 < high
    assert low > 1.0  # and the effect is told from none
    assert result.difference_interval is not None
    assert result.difference_interval[0] < 3.0 < result.difference_interval[1]


def test_the_95_percent_intervals_cover_the_true_ratio_about_95_percent_of_the_time() -> None:
    rng = random.Random(7)
    runs, covered, covered_difference = 400, 0, 0
    for _ in range(runs):
        result = compare(sample(dwells(rng, 150, 13.0)), sample(dwells(rng, 150, 10.0)))
        assert result.ratio_interval is not None
        assert result.difference_interval is not None
        covered += result.ratio_interval[0] < 1.3 < result.ratio_interval[1]
        covered_difference += result.difference_interval[0] < 3.0 < result.difference_interval[1]
    # Binomial(400, 0.95) lies within 0.92..0.98 with probability > 0.99.
    assert 0.92 <= covered / runs <= 0.98
    assert 0.92 <= covered_difference / runs <= 0.98


def test_a_share_is_the_mean_of_a_zero_one_value() -> None:
    result = compare(Sample(200, 80, 80), Sample(300, 60, 60))
    assert result.a == pytest.approx(0.4)
    assert result.b == pytest.approx(0.2)
    se = math.sqrt(0.4 * 0.6 / 199 + 0.2 * 0.8 / 299)  # sample variances: n - 1
    assert result.difference_interval == pytest.approx((0.2 - 1.96 * se, 0.2 + 1.96 * se), rel=1e-3)


def test_thin_or_zero_samples_say_why_instead_of_a_number() -> None:
    thin = compare(Sample(1, 5.0, 25.0), sample([1.0, 2.0, 3.0]))
    assert thin.difference is None
    assert thin.ratio is None
    assert thin.reason
    zero = compare(sample([0.0, 0.0]), sample([1.0, 2.0]))
    assert zero.difference == pytest.approx(-1.5)
    assert zero.ratio is None
    assert zero.reason


# ---------------------------------------------------------------------- the sums


def track(dwell: float, attention: float, expression: int = SURPRISE) -> DisplayTrack:
    sums = [0] * len(EXPRESSIONS)
    sums[expression] = 1
    return DisplayTrack(
        "cam-display", "x", 0.0, dwell, 0.0, True, round(attention * 1000), 1, 1, sums
    )


def statistics(tracks: Sequence[DisplayTrack]) -> DisplayStatistics:
    tally = DisplayTally()
    for one in tracks:
        tally.add(one)
    return DisplayStatistics.model_validate(tally.to_contract().model_dump())


def test_display_sums_add_and_subtract_exactly() -> None:
    a = DisplaySums.of(statistics([track(3.0, 1.0), track(8.0, 2.5, HAPPY)]))
    b = DisplaySums.of(statistics([track(40.0, 0.0, NEUTRAL)]))
    both = add_displays({"x": a}, {"x": b, "y": b})
    assert both["x"].watchers == 3
    assert both["x"].dwell == pytest.approx(51.0)
    assert both["x"].dwell_sample().mean == pytest.approx(17.0)
    assert both["x"].interest_sample() == Sample(3, 2, 2)
    # A label back at no watchers goes: (a + b) - b == a.
    assert add_displays(both, {"x": b, "y": b}, -1) == {"x": a}


# ---------------------------------------------------------------------- the exporter


def display_aggregate(
    minutes_ago: float, displays: dict[str, DisplayStatistics], tones: list[int] | None = None
) -> StoreAggregate:
    value = aggregate("s1", minutes_ago, visitors=sum(tones or []), tones=tones)
    return value.model_copy(update={"displays": displays})


@pytest.fixture
def state() -> ExporterState:
    rng = random.Random(3)
    state = ExporterState(clock=lambda: NOW)
    spring = [track(d, d / 2) for d in dwells(rng, 300, 10.0)]
    summer = [
        track(d, d / 2, HAPPY if i % 2 else NEUTRAL) for i, d in enumerate(dwells(rng, 300, 13.0))
    ]
    floor_tones = [30, 20, 10, 140]  # 25 % interested
    state.windows.apply(display_aggregate(90, {"spring": statistics(spring)}, floor_tones), NOW)
    state.windows.apply(display_aggregate(30, {"summer": statistics(summer)}, floor_tones), NOW)
    return state


def gauge(state: ExporterState, name: str, **labels: str) -> float | None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(state.collector)
    return registry.get_sample_value(name, {"store": "s1", **labels})


def test_the_exporter_reports_display_figures_per_label(state: ExporterState) -> None:
    assert gauge(state, "kioskpulse_display_watchers", window="24h", display="spring") == 300
    assert gauge(state, "kioskpulse_display_watchers", window="1h", display="spring") is None
    assert gauge(state, "kioskpulse_display_watchers", window="1h", display="summer") == 300
    le = {"window": "24h", "display": "summer"}
    assert gauge(state, "kioskpulse_display_dwell_watchers", **le, bound="+Inf") == 300
    counts = [
        gauge(state, "kioskpulse_display_dwell_watchers", **le, bound=b) or 0.0
        for b in ("1", "10", "120")
    ]
    assert counts == sorted(counts)
    assert gauge(state, "kioskpulse_display_interest_share", **le) == pytest.approx(0.5)
    assert gauge(state, "kioskpulse_display_floor_interest_share", window="24h") == pytest.approx(
        0.25
    )
    assert gauge(state, "kioskpulse_display_interest_lift_ratio", **le) == pytest.approx(2.0)
    assert gauge(state, "kioskpulse_display_tone_share", **le, tone="apathy") == pytest.approx(0.5)
    mean = gauge(state, "kioskpulse_display_dwell_mean_seconds", **le)
    attention = gauge(state, "kioskpulse_display_attention_mean_seconds", **le)
    assert mean is not None
    assert attention == pytest.approx(mean / 2, rel=1e-3)


# ---------------------------------------------------------------------- the API


@pytest.fixture
async def client(state: ExporterState, fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    app = create_exporter_app(state, RegistryFile(fleet.path, check_interval=0))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://exporter"
    ) as client:
        yield client


@pytest.fixture
def auth(fleet: Fleet) -> dict[str, str]:
    with edit_registry(fleet.path) as registry:
        token = registry.add_operator("ops")
    return {"Authorization": f"Bearer {token}"}


async def test_the_api_compares_two_labels(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get(
        "/v1/stores/s1/displays/compare",
        params={"a": "summer", "b": "spring", "window": "24h"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["a"], body["b"], body["method"], body["confidence"]) == (
        "summer",
        "spring",
        "delta",
        0.95,
    )
    dwell = body["dwell_seconds"]
    assert dwell["a_tracks"] == dwell["b_tracks"] == 300
    low, high = dwell["ratio_interval"]
    assert low < 1.3 < high
    attention = body["attention_seconds"]
    assert attention["ratio"] == pytest.approx(dwell["ratio"], rel=1e-3)
    interest = body["interest_share"]
    assert interest["a"] == pytest.approx(0.5)
    assert interest["b"] == pytest.approx(1.0)


async def test_the_api_compares_a_label_with_the_floor(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get(
        "/v1/stores/s1/displays/compare", params={"a": "summer"}, headers=auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["b"] == "floor"
    assert body["dwell_seconds"]["ratio"] is None
    assert body["dwell_seconds"]["reason"]
    interest = body["interest_share"]
    assert interest["b"] == pytest.approx(0.25)
    assert interest["b_tracks"] == 400
    assert interest["ratio"] == pytest.approx(2.0)
    assert interest["difference_interval"][0] > 0


async def test_the_api_lists_a_stores_display_labels(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get("/v1/stores/s1/displays", params={"window": "1h"}, headers=auth)
    assert response.status_code == 200
    assert [item["display"] for item in response.json()] == ["summer"]


@pytest.mark.parametrize(
    ("path", "params", "said"),
    [
        ("/v1/stores/s1/displays/compare", {"a": "autumn"}, "'autumn' has no watchers"),
        ("/v1/stores/s1/displays/compare", {"a": "summer", "b": "autumn"}, "'spring', 'summer'"),
        ("/v1/stores/nowhere/displays/compare", {"a": "summer"}, "no aggregates"),
        ("/v1/stores/s1/displays/compare", {"a": "spring", "window": "1h"}, "in this window"),
    ],
)
async def test_unknown_labels_and_stores_are_refused_with_a_reason(
    client: httpx.AsyncClient, auth: dict[str, str], path: str, params: dict[str, str], said: str
) -> None:
    response = await client.get(path, params=params, headers=auth)
    assert response.status_code == 404
    assert said in response.json()["detail"]


def test_the_demo_console_shows_the_display_labels(state: ExporterState) -> None:
    lines = display_lines(state.windows, "1h", NOW)
    assert lines == [
        "s1           display 'summer': 300 watchers, dwell "
        f"{state.windows.window('s1', '1h', NOW).displays['summer'].dwell / 300:.1f} s, "
        f"attention {state.windows.window('s1', '1h', NOW).displays['summer'].attention / 300:.1f}"
        " s, interested 50% (floor 25%)"
    ]
    # The console shows the last 15 minutes: a watcher of "autumn" 5 minutes ago.
    state.windows.apply(display_aggregate(5, {"autumn": statistics([track(4.0, 2.0)])}), NOW)
    assert "s1           display 'autumn': 1 watchers, dwell 4.0 s, attention 2.0 s, " in (
        SummaryConsole(state).render()
    )
