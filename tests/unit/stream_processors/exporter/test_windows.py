"""Window maths of the exporter: upserts, boundaries, expiry, totals, the cached sums."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

import pytest

from kioskpulse.events import KioskStatus
from stream_processors.exporter import windows
from stream_processors.exporter.windows import AggregateWindows
from stream_processors.statistics import Statistics
from tests.support.aggregates import NOW, aggregate


def presses(statistics: Statistics, scale: int = 4) -> list[int]:
    return statistics.ratings[scale].presses


def levels(statistics: Statistics) -> list[int]:
    """Presses by level of the 4-button scale, zeros when the window has none."""
    return presses(statistics) if 4 in statistics.ratings else [0, 0, 0, 0]


def test_a_newer_value_of_a_bucket_replaces_the_old_one() -> None:
    held = AggregateWindows()
    held.apply(aggregate(minutes_ago=2, presses={4: [1, 0, 0, 1]}, visitors=3), NOW)
    assert presses(held.window("s1", "15m", NOW)) == [1, 0, 0, 1]  # cache filled
    held.apply(aggregate(minutes_ago=2, presses={4: [2, 0, 1, 3]}, visitors=5), NOW)

    for window in ("15m", "1h", "24h"):
        statistics = held.window("s1", window, NOW)
        assert presses(statistics) == [2, 0, 1, 3]
        assert statistics.visitors == 5
    totals = held.view("s1").totals
    assert totals.presses == {4: [2, 0, 1, 3]}
    assert totals.visitors == 5


@pytest.mark.parametrize(
    ("minutes_ago", "in_windows"),
    [
        (-2, {"15m", "1h", "24h"}),  # a kiosk clock slightly ahead: still counted
        (0, {"15m", "1h", "24h"}),
        (15, {"15m", "1h", "24h"}),  # starts exactly at the window start: in
        (15.01, {"1h", "24h"}),  # partly covered would still start before: out
        (60, {"1h", "24h"}),
        (61, {"24h"}),
        (24 * 60, {"24h"}),
        (24 * 60 + 1, set()),
    ],
)
def test_a_bucket_is_in_a_window_when_it_starts_at_or_after_its_start(
    minutes_ago: float, in_windows: set[str]
) -> None:
    held = AggregateWindows()
    held.apply(aggregate(minutes_ago=minutes_ago, presses={4: [0, 0, 0, 1]}), NOW)
    got = {w for w in ("15m", "1h", "24h") if held.window("s1", w, NOW).presses}
    assert got == in_windows


def test_windows_slide_with_the_clock() -> None:
    held = AggregateWindows()
    for minute in range(0, 120, 10):
        held.apply(aggregate(minutes_ago=minute, presses={4: [1, 0, 0, 0]}), NOW)
    assert held.window("s1", "1h", NOW).presses == 7  # 0, 10, ..., 60
    assert held.window("s1", "1h", NOW + timedelta(minutes=5)).presses == 6
    assert held.window("s1", "1h", NOW + timedelta(minutes=65)).presses == 0
    assert held.window("s1", "1h", NOW).presses == 7  # the clock going back rebuilds


def test_expiry_drops_old_buckets_but_keeps_the_totals() -> None:
    held = AggregateWindows()
    then = NOW - timedelta(hours=23)
    held.apply(aggregate(minutes_ago=23 * 60, presses={4: [0, 1, 0, 0]}, visitors=4), then)
    held.apply(aggregate(minutes_ago=1, presses={4: [0, 0, 1, 0]}, visitors=2), NOW)
    assert held.window("s1", "24h", NOW).presses == 2

    later = NOW + timedelta(hours=2)
    assert held.expire(later) == 1
    assert held.view("s1").buckets == 1
    assert held.window("s1", "24h", later).presses == 1
    totals = held.view("s1").totals
    assert totals.presses == {4: [0, 1, 1, 0]}
    assert totals.visitors == 6


def test_a_late_upsert_of_an_expired_bucket_replaces_its_counts() -> None:
    held = AggregateWindows(lateness=timedelta(days=7))
    old = 3 * 24 * 60  # three days back: outside every window
    held.apply(aggregate(minutes_ago=old, presses={4: [1, 0, 0, 0]}), NOW)
    held.apply(aggregate(minutes_ago=old, presses={4: [1, 0, 0, 2]}, updated_minutes_ago=0), NOW)
    assert held.view("s1").totals.presses == {4: [1, 0, 0, 2]}
    assert held.view("s1").buckets == 0
    assert held.window("s1", "24h", NOW).presses == 0


def test_a_replay_counts_each_bucket_once_however_many_versions_it_had() -> None:
    held = AggregateWindows(lateness=timedelta(days=7))
    # The uncompacted head of the topic: several versions of month-old buckets.
    for day in range(30, 0, -1):
        for version in range(1, 4):
            bucket = aggregate(
                minutes_ago=day * 24 * 60,
                presses={4: [0, version, 0, 0]},
                updated_minutes_ago=day * 24 * 60 - version,
            )
            held.apply(bucket, NOW)
    assert held.view("s1").totals.presses == {4: [0, 90, 0, 0]}


def test_counts_of_buckets_past_the_lateness_are_forgotten() -> None:
    held = AggregateWindows(lateness=timedelta(days=1))
    held.apply(aggregate(minutes_ago=10 * 24 * 60, presses={4: [1, 0, 0, 0]}), NOW)
    held.apply(aggregate(minutes_ago=0, presses={4: [1, 0, 0, 0]}), NOW)
    # Ten days later by the store's stream time, the old bucket can no longer change.
    assert len(held._stores["s1"].ledger) == 1


def test_two_scales_add_up_per_scale_and_share_one_happy_index() -> None:
    held = AggregateWindows()
    held.apply(aggregate(minutes_ago=1, presses={4: [0, 0, 0, 2], 5: [2, 0, 0, 0, 0]}), NOW)
    held.apply(aggregate(minutes_ago=2, presses={5: [0, 0, 2, 0, 0]}), NOW)
    statistics = held.window("s1", "15m", NOW)
    assert presses(statistics, 4) == [0, 0, 0, 2]
    assert presses(statistics, 5) == [2, 0, 2, 0, 0]
    # (2 * 100 + 2 * 0 + 2 * 50) / 6
    assert statistics.raw_happy_index() == pytest.approx(50.0)
    assert held.view("s1").totals.presses == {4: [0, 0, 0, 2], 5: [2, 0, 2, 0, 0]}


def test_kiosks_and_cameras_keep_their_newest_report(
    kiosk_status: Callable[[float, int], KioskStatus],
) -> None:
    held = AggregateWindows()
    early, late = kiosk_status(10, 5), kiosk_status(1, 0)
    held.apply(aggregate(minutes_ago=1, kiosks={"k1": late}, cameras={"c1": NOW}), NOW)
    held.apply(
        aggregate(minutes_ago=10, kiosks={"k1": early}, cameras={"c1": NOW - timedelta(minutes=9)}),
        NOW,
    )
    view = held.view("s1")
    assert view.kiosks == {"k1": late}
    assert view.cameras_last_seen == {"c1": NOW}


def test_stores_are_listed_and_unknown_ones_raise() -> None:
    held = AggregateWindows()
    held.apply(aggregate("s2", 1), NOW)
    held.apply(aggregate("s1", 1), NOW)
    assert held.stores() == ["s1", "s2"]
    assert "s1" in held
    assert "nope" not in held
    with pytest.raises(KeyError):
        held.window("nope", "1h", NOW)


def test_cached_sums_equal_a_fresh_sum_through_any_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Upserts, late buckets, expiry and a moving clock, against the sum from scratch."""
    monkeypatch.setattr(windows, "REBUILD_AFTER", 40)  # rebuilds happen in this history too
    rng = random.Random(7)
    held = AggregateWindows()
    latest: dict[float, Statistics] = {}  # bucket start -> latest value, all kept
    now = NOW
    for step in range(600):
        if rng.random() < 0.3:
            now += timedelta(seconds=rng.randrange(0, 600))
        minutes_ago = rng.choice([0, 0, 1, 5, 14, 15, 16, 59, 60, 61, 600, 1439, 1440, 1500])
        bucket = aggregate(
            minutes_ago=minutes_ago - (now - NOW).total_seconds() / 60,
            presses={4: [rng.randrange(5) for _ in range(4)]},
            visitors=rng.randrange(10),
            expressions=[rng.randrange(3) for _ in range(7)],
        )
        held.apply(bucket, now)
        latest[bucket.bucket_start.timestamp()] = Statistics.of(bucket)
        if step % 7 == 0:
            held.expire(now)
        for window, seconds in (("15m", 900), ("1h", 3600), ("24h", 86400)):
            got = held.window("s1", window, now)
            want = Statistics.total(
                s for start, s in latest.items() if start >= now.timestamp() - seconds
            )
            assert got.presses == want.presses
            assert levels(got) == levels(want)
            assert got.visitors == want.visitors
            assert got.expression_counts == want.expression_counts
            assert got.visitor_prob_sums == pytest.approx(want.visitor_prob_sums, abs=1e-9)
