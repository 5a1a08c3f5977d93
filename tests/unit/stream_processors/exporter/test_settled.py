"""Figures that set presses against visitors read only settled buckets (issue 14).

A visitor counts when its track closes, a press at once: the newest bucket has its
presses before its visitors. Until the store's settled time passes its end, such a
bucket must change neither the corrected figures nor the response rate.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kioskpulse.events import StoreAggregate
from stream_processors.exporter.state import ExporterState
from stream_processors.exporter.summary import summarise
from stream_processors.exporter.windows import QUIET_MARGIN_SECONDS, WINDOWS
from tests.support.aggregates import NOW, aggregate, bucket_of
from tests.support.sums import window

THETA = (0.4, 0.3, 0.2, 0.1)
RHO = (0.3, 0.2, 0.15, 0.1)
#: The families computed from settled buckets only.
SETTLED_FAMILIES = (
    "kioskpulse_happy_index_lower",
    "kioskpulse_happy_index_upper",
    "kioskpulse_satisfaction_share",
    "kioskpulse_response_propensity",
    "kioskpulse_negative_bias_factor",
    "kioskpulse_correction_bounded",
    "kioskpulse_correction_available",
    "kioskpulse_response_rate",
)


def settled_bucket(settled_until: datetime | None) -> StoreAggregate:
    """Noise-free sums of two thousand visitors, five minutes ago."""
    bucket = bucket_of("s1", window(THETA, propensities=RHO))
    return bucket.model_copy(update={"settled_until": settled_until})


def newest_bucket(settled_until: datetime | None, updated_at: datetime = NOW) -> StoreAggregate:
    """The last minute: 300 presses of the worst button, their visitors not counted yet."""
    return aggregate(
        "s1",
        1,
        presses={4: [300, 0, 0, 0]},
        visitors=0,
        settled_until=settled_until,
    ).model_copy(update={"updated_at": updated_at})


def settled_figures(state: ExporterState) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the settled families, and the corrected index, by name and labels."""
    samples = {}
    for metric in state.registry.collect():
        for sample in metric.samples:
            corrected = sample.labels.get("method") == "corrected"
            if sample.name in SETTLED_FAMILIES or corrected:
                samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def exporter(*aggregates: StoreAggregate) -> ExporterState:
    state = ExporterState(clock=lambda: NOW)
    for value in aggregates:
        state.windows.apply(value, NOW)
    return state


def test_an_unsettled_bucket_changes_no_corrected_figure_nor_the_response_rate() -> None:
    until = NOW - timedelta(minutes=2)
    without = exporter(settled_bucket(until))
    with_newest = exporter(settled_bucket(until), newest_bucket(until))
    expected = settled_figures(without)
    assert any(name == "kioskpulse_response_propensity" for name, _ in expected)
    assert settled_figures(with_newest) == expected
    # The raw figures count every bucket: the 300 presses are there.
    labels = {"store": "s1", "window": "15m"}
    presses = with_newest.windows.window("s1", "15m", NOW).presses
    assert presses == without.windows.window("s1", "15m", NOW).presses + 300
    raw = [state.registry.get_sample_value("kioskpulse_happy_index", {**labels, "method": "raw"})
           for state in (without, with_newest)]  # fmt: skip
    assert raw[0] is not None
    assert raw[1] is not None
    assert raw[1] < raw[0]
    for w in WINDOWS:
        a = summarise(without.windows, "s1", w, NOW)
        b = summarise(with_newest.windows, "s1", w, NOW)
        assert b.corrected == a.corrected
        assert b.response_rate == a.response_rate
        assert b.presses == a.presses + 300


def test_once_settled_the_bucket_counts() -> None:
    until = NOW - timedelta(minutes=2)
    before = exporter(settled_bucket(until), newest_bucket(until))
    # The store's clock moved past the bucket's end plus the track-idle time.
    before.windows.apply(newest_bucket(NOW), NOW)
    labels = {"store": "s1", "window": "15m"}
    rate = before.registry.get_sample_value("kioskpulse_response_rate", labels)
    statistics = before.windows.window("s1", "15m", NOW)
    assert rate == pytest.approx(statistics.presses / statistics.visitors)
    assert before.windows.settled_window("s1", "15m", NOW) == statistics
    summary = summarise(before.windows, "s1", "15m", NOW)
    assert summary.response_rate == pytest.approx(rate)
    assert summary.corrected is not None
    unsettled = summarise(exporter(settled_bucket(until), newest_bucket(until)).windows,
                          "s1", "15m", NOW).corrected  # fmt: skip
    assert summary.corrected != unsettled  # 300 more presses of the worst button


def test_the_json_and_the_metrics_say_until_when() -> None:
    until = NOW - timedelta(minutes=2)
    state = exporter(settled_bucket(until), newest_bucket(until))
    gauge = "kioskpulse_store_settled_until_timestamp_seconds"
    assert state.registry.get_sample_value(gauge, {"store": "s1"}) == until.timestamp()
    body = summarise(state.windows, "s1", "1h", NOW).model_dump(mode="json", by_alias=True)
    assert body["settled_until"] == "2026-11-24T11:58:00Z"
    # It only moves forward: a value re-read from the compacted topic changes nothing.
    state.windows.apply(newest_bucket(NOW), NOW)
    state.windows.apply(settled_bucket(until), NOW)
    assert state.registry.get_sample_value(gauge, {"store": "s1"}) == NOW.timestamp()


def test_without_a_settled_time_the_wall_clock_of_the_aggregator_decides() -> None:
    # An older aggregator: a bucket is settled once its value was computed at least the
    # track-idle time (10 s) after its end.
    state = exporter(
        settled_bucket(None), newest_bucket(None, updated_at=NOW + timedelta(seconds=9))
    )
    assert state.windows.view("s1").settled_until == NOW - timedelta(minutes=1)
    assert state.windows.settled_window("s1", "15m", NOW).presses == (
        state.windows.window("s1", "15m", NOW).presses - 300
    )
    state.windows.apply(newest_bucket(None, updated_at=NOW + timedelta(seconds=10)), NOW)
    assert state.windows.view("s1").settled_until == NOW
    assert state.windows.settled_window("s1", "15m", NOW) == state.windows.window("s1", "15m", NOW)


def test_a_window_with_nothing_settled_is_empty() -> None:
    state = exporter(
        aggregate(
            "s1",
            1,
            presses={4: [1, 2, 3, 4]},
            visitors=3,
            settled_until=NOW - timedelta(minutes=1),
            updated_minutes_ago=0,
        )
    )
    assert state.windows.settled_window("s1", "1h", NOW).presses == 0
    assert state.windows.settled_window("s1", "1h", NOW).visitors == 0
    assert (
        state.registry.get_sample_value("kioskpulse_response_rate", {"store": "s1", "window": "1h"})
        is None
    )
    assert (
        state.registry.get_sample_value(
            "kioskpulse_window_visitors", {"store": "s1", "window": "1h"}
        )
        == 3
    )


def test_a_store_that_sends_nothing_for_twice_the_track_idle_time_and_a_margin_settles() -> None:
    # Every sighting and every closed track sends an aggregate, and a track closes by
    # the aggregator's wall clock track_idle after its last sighting: silence that long
    # means no track is open. The aggregator does not re-send buckets to say so.
    until = NOW - timedelta(minutes=2)
    clock = [NOW]
    state = ExporterState(clock=lambda: clock[0])
    for value in (settled_bucket(until), newest_bucket(until)):
        state.windows.apply(value, NOW)
    gauge = "kioskpulse_store_settled_until_timestamp_seconds"
    quiet = 2 * 10 + QUIET_MARGIN_SECONDS  # the default track idle time is 10 s
    for seconds, settled in ((quiet, until), (quiet + 1, NOW)):  # the newest bucket ends NOW
        clock[0] = NOW + timedelta(seconds=seconds)
        assert state.windows.view("s1", clock[0]).settled_until == settled
        assert state.registry.get_sample_value(gauge, {"store": "s1"}) == settled.timestamp()
    later = clock[0]
    assert state.windows.settled_window("s1", "15m", later) == state.windows.window(
        "s1", "15m", later
    )
