"""The per-camera tracker: ids stay with a face through small motion, split for separate people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from vision.tracker import FaceTracker, iou_matrix

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)


def boxes(*rows: tuple[int, int, int, int]) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_iou_of_identical_disjoint_and_half_overlapping_boxes() -> None:
    iou = iou_matrix(boxes((0, 0, 10, 10)), boxes((0, 0, 10, 10), (20, 20, 5, 5), (5, 0, 10, 10)))
    assert iou[0, 0] == 1.0
    assert iou[0, 1] == 0.0
    assert abs(iou[0, 2] - 50 / 150) < 1e-9


def test_a_face_moving_a_little_keeps_its_id_over_20_frames() -> None:
    tracker = FaceTracker()
    ids = [
        tracker.update(boxes((100 + 4 * i, 80 + 2 * i, 90, 90)), at(i * 0.5))[0] for i in range(20)
    ]
    assert len(set(ids)) == 1, "a visitor seen in 20 frames is one visitor"
    assert tracker.tracks[ids[0]].hits == 20


def test_a_fast_step_within_the_centre_shift_keeps_the_id() -> None:
    tracker = FaceTracker()
    first = tracker.update(boxes((100, 100, 80, 80)), at(0))
    # Overlap below the IoU threshold (0.28), but the centre moved only 0.56 box sizes.
    second = tracker.update(boxes((145, 100, 80, 80)), at(0.5))
    assert first == second


def test_separate_people_get_separate_ids_and_keep_them() -> None:
    tracker = FaceTracker()
    first = tracker.update(boxes((50, 50, 80, 80), (400, 60, 80, 80)), at(0))
    assert len(set(first)) == 2
    # Same people, listed in the other order and slightly moved.
    second = tracker.update(boxes((405, 62, 80, 80), (52, 49, 80, 80)), at(0.5))
    assert second == [first[1], first[0]]


def test_a_newcomer_does_not_steal_an_existing_id() -> None:
    tracker = FaceTracker()
    [alice] = tracker.update(boxes((100, 100, 80, 80)), at(0))
    ids = tracker.update(boxes((102, 101, 80, 80), (500, 300, 80, 80)), at(0.5))
    assert ids[0] == alice
    assert ids[1] != alice


def test_two_faces_cannot_share_one_track() -> None:
    tracker = FaceTracker()
    [alice] = tracker.update(boxes((100, 100, 80, 80)), at(0))
    ids = tracker.update(boxes((98, 100, 80, 80), (110, 104, 80, 80)), at(0.5))
    assert alice in ids
    assert len(set(ids)) == 2


def test_a_track_ends_after_the_idle_time_by_capture_time() -> None:
    tracker = FaceTracker(idle_seconds=2.0)
    [first] = tracker.update(boxes((100, 100, 80, 80)), at(0))
    assert tracker.update(boxes(), at(1.5)) == []
    assert first in tracker.tracks
    ended = tracker.expire(at(2.5))
    assert [t.track_id for t in ended] == [first]
    [again] = tracker.update(boxes((100, 100, 80, 80)), at(3.0))
    assert again != first, "the same place after the idle time is a new visitor"


def test_ids_differ_between_tracker_instances() -> None:
    a = FaceTracker().update(boxes((0, 0, 50, 50)), at(0))
    b = FaceTracker().update(boxes((0, 0, 50, 50)), at(0))
    assert a != b


def test_a_jump_of_a_whole_box_is_a_new_track() -> None:
    tracker = FaceTracker()
    first = tracker.update(boxes((100, 100, 80, 80)), at(0))
    second = tracker.update(boxes((200, 100, 80, 80)), at(0.5))
    assert first != second
