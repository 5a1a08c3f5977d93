"""Which device timestamps are plausible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kioskpulse.eventtime import EventTimeWindow

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
WINDOW = EventTimeWindow(skew=timedelta(minutes=5), lateness=timedelta(days=7))


def test_times_inside_the_window_pass() -> None:
    for when in (NOW, NOW + timedelta(minutes=5), NOW - timedelta(days=7)):
        assert WINDOW.problem(when, NOW) is None


def test_the_future_beyond_the_skew_is_refused_with_a_hint() -> None:
    problem = WINDOW.problem(NOW + timedelta(minutes=6), NOW)
    assert problem is not None
    assert "360 s in the future" in problem
    assert "clock" in problem


def test_older_than_the_lateness_is_refused() -> None:
    problem = WINDOW.problem(NOW - timedelta(days=7, seconds=1), NOW)
    assert problem is not None
    assert "allowed lateness" in problem
