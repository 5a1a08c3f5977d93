"""Follow-up answers in the exporter: the counter, the summary's top reasons, the console."""

from __future__ import annotations

import pytest

from stream_processors.exporter.console import render
from stream_processors.exporter.state import ExporterState
from stream_processors.exporter.summary import summarise
from tests.support.aggregates import NOW, aggregate

COUNTER = "kioskpulse_followup_total"


@pytest.fixture
def state() -> ExporterState:
    """s1 has answers in the last 15 minutes and an hour ago; s2 has presses only."""
    state = ExporterState(clock=lambda: NOW)
    state.windows.apply(
        aggregate("s1", 5, presses={4: [3, 1, 0, 2]}, followups={"queue": 2, "staff": 1}), NOW
    )
    state.windows.apply(aggregate("s1", 10, followups={"staff": 1, "price": 1}), NOW)
    state.windows.apply(aggregate("s1", 50, followups={"cleanliness": 4}), NOW)
    state.windows.apply(aggregate("s2", 2, presses={5: [0, 0, 0, 0, 2]}), NOW)
    return state


def counted(state: ExporterState, store: str, reason: str) -> float | None:
    return state.registry.get_sample_value(COUNTER, {"store": store, "reason": reason})


def test_the_counter_counts_answers_per_store_and_reason(state: ExporterState) -> None:
    assert counted(state, "s1", "queue") == 2
    assert counted(state, "s1", "staff") == 2
    assert counted(state, "s1", "cleanliness") == 4
    assert counted(state, "s1", "other") is None, "no series for a reason never given"
    assert counted(state, "s2", "queue") is None
    text = state.collector.render()
    assert "# TYPE kioskpulse_followup_total counter\n" in text
    assert "# TYPE kioskpulse_followup gauge" not in text


def test_an_upsert_replaces_the_answers_of_its_bucket(state: ExporterState) -> None:
    state.windows.apply(
        aggregate("s1", 5, presses={4: [3, 1, 0, 2]}, followups={"queue": 3, "staff": 1}), NOW
    )
    state.windows.apply(aggregate("s1", 10), NOW)  # its answer went to another bucket
    assert counted(state, "s1", "queue") == 3
    assert counted(state, "s1", "staff") == 1
    assert counted(state, "s1", "price") == 0, "a counter's series stays once it was seen"


def test_answers_leave_the_rating_counters_alone(state: ExporterState) -> None:
    ratings = "kioskpulse_ratings_total"
    assert (
        state.registry.get_sample_value(ratings, {"store": "s1", "scale": "4", "rating": "1"}) == 3
    )


def test_the_summary_lists_the_windows_reasons_most_given_first(state: ExporterState) -> None:
    summary = summarise(state.windows, "s1", "15m", NOW).model_dump(mode="json", by_alias=True)
    assert summary["followup_reasons"] == [
        {"reason": "queue", "count": 2},
        {"reason": "staff", "count": 2},
        {"reason": "price", "count": 1},
    ]
    hour = summarise(state.windows, "s1", "1h", NOW)
    assert [(r.reason, r.count) for r in hour.followup_reasons] == [
        ("cleanliness", 4),
        ("queue", 2),
        ("staff", 2),
        ("price", 1),
    ]
    assert summarise(state.windows, "s2", "1h", NOW).followup_reasons == []


def test_the_console_says_why_presses_were_unhappy_when_it_knows(state: ExporterState) -> None:
    summaries = [summarise(state.windows, store, "15m", NOW) for store in ("s1", "s2")]
    s1, s2 = render(summaries, 10.0).splitlines()[2:]
    assert s1.endswith("  why unhappy: queue 2, staff 2, price 1")
    assert "why unhappy" not in s2
