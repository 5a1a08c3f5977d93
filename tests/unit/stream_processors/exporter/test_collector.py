"""What /metrics says for a known set of aggregates, to the last digit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kioskpulse.events import KioskStatus
from stream_processors.exporter.collector import Family, StoreCollector
from stream_processors.exporter.figures import Figure, GaugeSpec, RawFigures
from stream_processors.exporter.state import ExporterState
from stream_processors.statistics import Statistics
from tests.support.aggregates import NOW, aggregate


@pytest.fixture
def state(kiosk_status: Callable[[float, int], KioskStatus]) -> ExporterState:
    state = ExporterState(clock=lambda: NOW)
    # s1: a 4-button kiosk, a floor camera and a kiosk camera; s2: a 5-button kiosk only.
    state.windows.apply(
        aggregate(
            "s1",
            5,
            presses={4: [1, 1, 2, 4]},
            suppressed=3,
            linked={4: [0, 1, 0, 2]},
            visitors=16,
            expressions=[1, 0, 1, 8, 2, 2, 2],
            tones=[2, 8, 2, 4],
            kiosks={"k1": kiosk_status(1, 7)},
            cameras={"cam-floor": NOW - timedelta(seconds=30)},
            followups={"queue": 2, "staff": 1},
        ),
        NOW,
    )
    state.windows.apply(aggregate("s1", 30, presses={4: [2, 0, 0, 0]}, visitors=4), NOW)
    state.windows.apply(aggregate("s2", 2, presses={5: [0, 0, 0, 0, 2]}), NOW)
    return state


def value(state: ExporterState, name: str, **labels: str) -> float | None:
    return state.registry.get_sample_value(name, labels)


def test_happy_index_per_window(state: ExporterState) -> None:
    # 15m: (0*1 + 1*1 + 2*2 + 3*4) / (3 * 8) = 17/24; 1h adds two presses of the worst button.
    hi = "kioskpulse_happy_index"
    assert value(state, hi, store="s1", window="15m", method="raw") == pytest.approx(100 * 17 / 24)
    assert value(state, hi, store="s1", window="1h", method="raw") == pytest.approx(100 * 17 / 30)
    assert value(state, hi, store="s1", window="24h", method="raw") == pytest.approx(100 * 17 / 30)
    assert value(state, hi, store="s2", window="15m", method="raw") == 100.0


def test_shares_and_rates(state: ExporterState) -> None:
    share = "kioskpulse_rating_share"
    assert value(state, share, store="s1", window="15m", scale="4", rating="4") == 0.5
    assert value(state, share, store="s1", window="1h", scale="4", rating="1") == 0.3
    assert value(state, share, store="s2", window="1h", scale="5", rating="5") == 1.0
    assert value(state, "kioskpulse_window_visitors", store="s1", window="15m") == 16
    assert value(state, "kioskpulse_window_visitors", store="s1", window="1h") == 20
    assert value(state, "kioskpulse_response_rate", store="s1", window="15m") == 0.5
    assert value(state, "kioskpulse_response_rate", store="s1", window="1h") == 0.5
    assert value(state, "kioskpulse_linked_presses", store="s1", window="15m") == 3
    expression = "kioskpulse_expression_share"
    assert value(state, expression, store="s1", window="15m", expression="happy") == 0.5
    assert value(state, expression, store="s1", window="15m", expression="disgust") == 0.0
    tone = "kioskpulse_tone_share"
    assert value(state, tone, store="s1", window="15m", tone="satisfaction") == 0.5
    assert value(state, tone, store="s1", window="15m", tone="fear_anger") == 0.125


def test_undefined_figures_are_left_out(state: ExporterState) -> None:
    # s2 has no floor camera: no visitors, so no rate and no shares of them.
    assert value(state, "kioskpulse_window_visitors", store="s2", window="1h") == 0
    assert value(state, "kioskpulse_response_rate", store="s2", window="1h") is None
    assert (
        value(state, "kioskpulse_expression_share", store="s2", window="1h", expression="happy")
        is None
    )
    assert value(state, "kioskpulse_tone_share", store="s2", window="1h", tone="apathy") is None
    # s2 has no 4-button kiosk.
    assert (
        value(state, "kioskpulse_rating_share", store="s2", window="1h", scale="4", rating="1")
        is None
    )


def test_counters(state: ExporterState) -> None:
    ratings = "kioskpulse_ratings_total"
    assert value(state, ratings, store="s1", scale="4", rating="1") == 3
    assert value(state, ratings, store="s1", scale="4", rating="4") == 4
    assert value(state, ratings, store="s2", scale="5", rating="5") == 2
    assert value(state, "kioskpulse_ratings_suppressed_total", store="s1") == 3
    assert value(state, "kioskpulse_visitors_total", store="s1") == 20
    assert value(state, "kioskpulse_followup_total", store="s1", reason="queue") == 2


def test_devices_and_operational_metrics(state: ExporterState) -> None:
    seen = (NOW - timedelta(minutes=1)).timestamp()
    assert (
        value(state, "kioskpulse_kiosk_last_seen_timestamp_seconds", store="s1", kiosk="k1") == seen
    )
    assert value(state, "kioskpulse_kiosk_buffered_events", store="s1", kiosk="k1") == 7
    camera = "kioskpulse_camera_last_seen_timestamp_seconds"
    assert value(state, camera, store="s1", camera="cam-floor") == NOW.timestamp() - 30
    assert value(state, "kioskpulse_exporter_stores") == 2
    assert value(state, "kioskpulse_exporter_buckets") == 3
    newest = (NOW - timedelta(minutes=2)).timestamp()
    assert value(state, "kioskpulse_exporter_last_aggregate_updated_timestamp_seconds") == newest


def test_the_ingest_counts_good_and_bad_messages(state: ExporterState) -> None:
    assert state.ingest(aggregate("s3", 1).to_bytes(), "test") is not None
    assert state.ingest(b"{not json", "test") is None
    assert state.ingest(b'{"store_id": "s4"}', "test") is None
    assert state.ingest(None, "test") is None  # a tombstone is not an error
    assert value(state, "kioskpulse_exporter_aggregates_consumed_total") == 1
    assert value(state, "kioskpulse_exporter_aggregates_invalid_total") == 2
    assert value(state, "kioskpulse_exporter_stores") == 3


def test_aggregates_dated_far_ahead_are_refused_and_current_counts_stay_exact() -> None:
    state = ExporterState(clock=lambda: NOW, max_ahead=timedelta(minutes=5))
    assert state.ingest(aggregate("s1", 2, presses={4: [1, 0, 0, 0]}).to_bytes(), "test")
    two_years = -2 * 365 * 24 * 60
    forged = [
        aggregate("s1", two_years, presses={4: [0, 0, 0, 5]}),  # a bucket from years ahead
        aggregate("s1", 3, presses={4: [0, 0, 0, 5]}, updated_minutes_ago=two_years),
    ]
    for each in forged:
        assert state.ingest(each.to_bytes(), "test") is None
    slightly_ahead = aggregate("s1", -4, presses={4: [0, 1, 0, 0]})  # within the skew
    assert state.ingest(slightly_ahead.to_bytes(), "test") is not None
    # The current bucket's next upsert replaces its counts: nothing counted twice.
    assert state.ingest(aggregate("s1", 2, presses={4: [2, 0, 0, 0]}).to_bytes(), "test")
    assert value(state, "kioskpulse_exporter_aggregates_invalid_total") == 2
    totals = [value(state, "kioskpulse_ratings_total", store="s1", scale="4", rating=str(level))
              for level in range(1, 5)]  # fmt: skip
    assert totals == [2, 1, 0, 0]
    assert state.windows.window("s1", "15m", NOW).presses == 3
    newest = value(state, "kioskpulse_exporter_last_aggregate_updated_timestamp_seconds")
    assert newest == (NOW + timedelta(minutes=4)).timestamp()


class _Corrected:
    """A provider that shares a family with the raw figures and sees every store first."""

    def __init__(self) -> None:
        self.prepared: list[tuple[str, list[str]]] = []

    def gauges(self) -> tuple[GaugeSpec, ...]:
        return (
            GaugeSpec("kioskpulse_happy_index", "Happy Index.", ("method",)),
            GaugeSpec("kioskpulse_correction_available", "1 if corrected.", ("reason",)),
        )

    def prepare(
        self, window: str, statistics: Mapping[str, Statistics], settled: Mapping[str, Statistics]
    ) -> None:
        self.prepared.append((window, sorted(statistics)))

    def figures(
        self, store_id: str, window: str, statistics: Statistics, settled: Statistics
    ) -> Iterable[Figure]:
        yield ("kioskpulse_happy_index", ("corrected",), 42.0)
        yield ("kioskpulse_correction_available", ("ok",), 1.0)


def test_a_figure_provider_adds_samples_to_a_shared_family() -> None:
    corrected = _Corrected()
    state = ExporterState(clock=lambda: NOW, providers=(RawFigures(), corrected))
    state.windows.apply(aggregate("s1", 1, presses={4: [0, 0, 0, 1]}), NOW)
    state.windows.apply(aggregate("s2", 1, presses={4: [1, 0, 0, 0]}), NOW)
    labels = {"store": "s1", "window": "1h"}
    assert value(state, "kioskpulse_happy_index", method="raw", **labels) == 100.0
    assert value(state, "kioskpulse_happy_index", method="corrected", **labels) == 42.0
    assert value(state, "kioskpulse_correction_available", reason="ok", **labels) == 1.0
    # Every window prepared once per scrape, with every store's sums, before the figures.
    assert corrected.prepared[:3] == [(w, ["s1", "s2"]) for w in ("15m", "1h", "24h")]


def test_a_family_declared_with_other_labels_is_refused() -> None:
    class Clash(_Corrected):
        def gauges(self) -> tuple[GaugeSpec, ...]:
            return (GaugeSpec("kioskpulse_happy_index", "Happy Index.", ("estimator",)),)

    with pytest.raises(ValueError, match="declared with labels"):
        StoreCollector(ExporterState().windows, lambda: NOW, (RawFigures(), Clash()))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_fast_exposition_says_what_generate_latest_says(state: ExporterState) -> None:
    fast = state.exposition().decode()
    assert samples(fast) == samples(generate_latest(state.registry).decode())
    assert fast.count("# TYPE kioskpulse_ratings_total counter") == 1


def test_the_fast_exposition_escapes_label_values() -> None:
    family = Family("kioskpulse_test", "gauge", "A test.", ("reason",))
    family.add(('say "no"\\n\nnow',), 1.0)
    out: list[str] = []
    family.render(out)
    assert samples("".join(out)) == {("kioskpulse_test", (("reason", 'say "no"\\n\nnow'),)): 1.0}
