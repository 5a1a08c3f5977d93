"""The misuse filter and press ↔ face linkage, on their own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream_processors.aggregation import fixedpoint
from stream_processors.aggregation.linkage import KioskFace, KioskFaces
from stream_processors.aggregation.misuse import KioskTimeline


def greedy(times: list[float], interval: float) -> set[float]:
    counted: list[float] = []
    for t in sorted(times):
        if not counted or t - counted[-1] >= interval:
            counted.append(t)
    return set(counted)


def counted_times(timeline: KioskTimeline, ids: dict[str, float]) -> set[float]:
    return {ids[event_id] for event_id, counts in timeline.counted.items() if counts}


def test_presses_closer_than_the_interval_count_once() -> None:
    timeline = KioskTimeline(5.0)
    for i, t in enumerate([0.0, 1.0, 4.9, 5.0, 9.0, 10.0]):
        timeline.insert(t, f"e{i}")
    assert [timeline.counted[f"e{i}"] for i in range(6)] == [True, False, False, True, False, True]


def test_a_late_press_re_decides_the_later_ones() -> None:
    timeline = KioskTimeline(5.0)
    timeline.insert(10.0, "b")
    timeline.insert(14.0, "c")
    assert timeline.counted == {"b": True, "c": False}
    changed = timeline.insert(7.0, "a")  # uploaded late, pressed first
    assert set(changed) == {"a", "b", "c"}
    assert timeline.counted == {"a": True, "b": False, "c": True}


def test_inserting_the_same_press_again_changes_nothing() -> None:
    timeline = KioskTimeline(5.0)
    assert timeline.insert(1.0, "a") == ["a"]
    assert timeline.insert(1.0, "a") == []


@given(st.lists(st.integers(0, 120), min_size=1, max_size=40, unique=True), st.randoms())
def test_the_filter_does_not_depend_on_arrival_order(seconds: list[int], rng: object) -> None:
    times = [s / 2 for s in seconds]
    ids = {f"e{i}": t for i, t in enumerate(times)}
    order = list(ids.items())
    rng.shuffle(order)  # type: ignore[attr-defined]
    timeline = KioskTimeline(5.0)
    for event_id, t in order:
        timeline.insert(t, event_id)
    assert counted_times(timeline, ids) == greedy(times, 5.0)


PROBS_A = fixedpoint.to_fixed([0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1])
PROBS_B = fixedpoint.to_fixed([0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])


def test_no_face_in_the_window_means_no_link() -> None:
    faces = KioskFaces()
    faces.add(KioskFace(100.0, "cam", "t1", 900, PROBS_A))
    assert faces.link(50.0, before=3, after=1) is None
    assert faces.link(103.5, before=3, after=1) is None  # 3.5 s after the face


def test_the_window_runs_from_three_seconds_before_to_one_after() -> None:
    faces = KioskFaces()
    faces.add(KioskFace(100.0, "cam", "t1", 900, PROBS_A))
    assert faces.link(103.0, before=3, after=1) == PROBS_A  # face 3 s before the press
    assert faces.link(99.0, before=3, after=1) == PROBS_A  # face 1 s after the press


def test_the_largest_face_wins_and_its_track_is_averaged() -> None:
    faces = KioskFaces()
    faces.add(KioskFace(99.0, "cam", "far", 400, PROBS_B))
    faces.add(KioskFace(99.5, "cam", "near", 2500, PROBS_A))
    faces.add(KioskFace(100.5, "cam", "near", 2500, PROBS_B))
    link = faces.link(100.0, before=3, after=1)
    assert link == fixedpoint.mean([a + b for a, b in zip(PROBS_A, PROBS_B, strict=True)], 2)


def test_equal_faces_go_to_the_one_seen_closest_to_the_press() -> None:
    faces = KioskFaces()
    faces.add(KioskFace(98.0, "cam", "early", 900, PROBS_B))
    faces.add(KioskFace(99.8, "cam", "close", 900, PROBS_A))
    assert faces.link(100.0, before=3, after=1) == PROBS_A
