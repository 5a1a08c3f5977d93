"""Additive statistics: buckets merge in any grouping and any order."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kioskpulse.events import (
    EXPRESSIONS,
    TONES,
    TRIANGLE,
    KioskStatus,
    ScaleStatistics,
    StoreAggregate,
)
from stream_processors.statistics import Statistics, happy_index

E = len(EXPRESSIONS)
T = len(TRIANGLE)
counts = st.integers(0, 1000)
sums = st.floats(0, 1000, allow_nan=False)
times = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@st.composite
def scale_statistics(draw: st.DrawFn, scale: int) -> ScaleStatistics:
    return ScaleStatistics(
        presses=draw(st.lists(counts, min_size=scale, max_size=scale)),
        suppressed=draw(counts),
        linked_presses=draw(st.lists(counts, min_size=scale, max_size=scale)),
        linked_prob_sums=[draw(st.lists(sums, min_size=E, max_size=E)) for _ in range(scale)],
        # Second moments, or none (a bucket written before they existed).
        linked_prob_sq_sums=draw(
            st.one_of(
                st.just([]),
                st.lists(st.lists(sums, min_size=T, max_size=T), min_size=scale, max_size=scale),
            )
        ),
    )


@st.composite
def statistics(draw: st.DrawFn) -> Statistics:
    scales = draw(st.sets(st.sampled_from([4, 5]), max_size=2))
    aggregate = StoreAggregate(
        store_id="s1",
        bucket_start=draw(times),
        bucket_seconds=60,
        updated_at=draw(times),
        ratings={scale: draw(scale_statistics(scale)) for scale in scales},
        visitors=draw(counts),
        visitor_prob_sums=draw(st.lists(sums, min_size=E, max_size=E)),
        visitor_prob_sq_sums=draw(st.one_of(st.just([]), st.lists(sums, min_size=T, max_size=T))),
        expression_counts=draw(st.lists(counts, min_size=E, max_size=E)),
        tone_counts=draw(st.lists(counts, min_size=len(TONES), max_size=len(TONES))),
        kiosks=draw(
            st.dictionaries(
                st.sampled_from(["k1", "k2"]),
                st.builds(KioskStatus, last_seen=times, buffered=st.integers(0, 5)),
            )
        ),
        cameras_last_seen=draw(st.dictionaries(st.sampled_from(["c1", "c2"]), times)),
        # The aggregator leaves out reasons without answers.
        followups=draw(
            st.dictionaries(st.sampled_from(["queue", "staff", "price"]), st.integers(1, 1000))
        ),
    )
    return Statistics.of(aggregate)


def close(a: Any, b: Any) -> bool:
    """Equal, with float sums equal up to rounding (integers must match exactly)."""
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if hasattr(a, "__dataclass_fields__"):
        return close(vars(a), vars(b))
    return bool(a == b)


@given(statistics(), statistics(), statistics())
def test_merging_is_associative(a: Statistics, b: Statistics, c: Statistics) -> None:
    assert close((a + b) + c, a + (b + c))


@given(statistics(), statistics())
def test_merging_is_order_independent(a: Statistics, b: Statistics) -> None:
    assert close(a + b, b + a)


@given(statistics())
def test_the_empty_statistics_are_neutral(a: Statistics) -> None:
    assert close(a + Statistics(), a)
    assert close(Statistics() + a, a)


@given(statistics(), statistics())
def test_taking_back_what_was_added_gives_the_first_again(a: Statistics, b: Statistics) -> None:
    difference = (a + b) - b
    # Kiosks and cameras are latest-of, not additive (the difference keeps a + b's); scales
    # only in b stay, as zeros. Everything else must come back, second moments included.
    ignored = {"ratings": {}, "kiosks": {}, "cameras_last_seen": {}}
    assert close(vars(difference) | ignored, vars(a) | ignored)
    for scale, sums in difference.ratings.items():
        if scale in a.ratings:
            assert close(sums, a.ratings[scale])
        else:
            assert not any(sums.presses)
            assert sums.linked_sq_known


@given(statistics(), statistics())
def test_second_moments_are_known_only_where_every_part_has_them(
    a: Statistics, b: Statistics
) -> None:
    total = a + b
    assert total.visitor_sq_known == (a.visitor_sq_known and b.visitor_sq_known)
    for scale, sums in total.ratings.items():
        parts = [s.ratings[scale] for s in (a, b) if scale in s.ratings]
        assert sums.linked_sq_known == all(part.linked_sq_known for part in parts)
        assert sums.to_contract().linked_prob_sq_sums == (
            sums.linked_prob_sq_sums if sums.linked_sq_known else []
        )


def _bucket(visitors: int, squares: list[float]) -> Statistics:
    return Statistics.of(
        StoreAggregate(
            store_id="s1",
            bucket_start=datetime(2026, 11, 24, tzinfo=UTC),
            bucket_seconds=60,
            updated_at=datetime(2026, 11, 24, tzinfo=UTC),
            visitors=visitors,
            visitor_prob_sq_sums=squares,
        )
    )


def test_an_old_bucket_makes_a_window_s_second_moments_unknown_while_in_it() -> None:
    new, old = _bucket(3, [0.1] * T), _bucket(2, [])
    assert new.visitor_sq_known
    assert not old.visitor_sq_known
    assert not (new + old).visitor_sq_known
    assert ((new + old) - old).visitor_sq_known
    # An old bucket without visitors is known to add nothing.
    assert (new + _bucket(0, [])).visitor_sq_known


def test_happy_index_is_hundred_times_the_mean_position() -> None:
    assert happy_index([0, 0, 0, 10]) == 100.0
    assert happy_index([10, 0, 0, 0]) == 0.0
    assert happy_index([1, 1, 1, 1]) == 50.0
    assert happy_index([0, 0, 0, 0]) is None


def test_raw_happy_index_weighs_every_press_on_its_own_scale() -> None:
    mixed = Statistics.total(
        [
            Statistics(ratings={}),
            Statistics.of(
                StoreAggregate(
                    store_id="s1",
                    bucket_start=datetime(2026, 11, 24, tzinfo=UTC),
                    bucket_seconds=60,
                    updated_at=datetime(2026, 11, 24, tzinfo=UTC),
                    ratings={
                        4: ScaleStatistics(
                            presses=[0, 0, 0, 1], linked_presses=[0] * 4,
                            linked_prob_sums=[[0.0] * E] * 4,
                        ),
                        5: ScaleStatistics(
                            presses=[1, 0, 0, 0, 0], linked_presses=[0] * 5,
                            linked_prob_sums=[[0.0] * E] * 5,
                        ),
                    },
                )
            ),
        ]
    )  # fmt: skip
    assert mixed.presses == 2
    assert mixed.raw_happy_index() == 50.0


def test_followup_reasons_add_up_and_rank_by_count_then_reason() -> None:
    parts = [
        Statistics(followups={"queue": 2, "staff": 1}),
        Statistics(followups={"staff": 1, "price": 2}),
        Statistics(followups={"other": 1}),
    ]
    total = Statistics.total(parts)
    assert total.followups == {"queue": 2, "staff": 2, "price": 2, "other": 1}
    assert total.top_followups() == [("price", 2), ("queue", 2), ("staff", 2), ("other", 1)]
    assert (total - parts[2]).followups == {"queue": 2, "staff": 2, "price": 2}
    assert Statistics().top_followups() == []
