"""Per-camera face tracking: stable track ids across frames, so one visitor is one track.

Association is greedy on overlap (IoU), with a fallback on centre distance for
faces that moved more than their box overlaps between two sampled frames (cameras
post at 1–2 frames/s). A track ends after ``idle_seconds`` without a match,
judged by the frames' capture times (event time), never by the wall clock.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

__all__ = ["FaceTracker", "Track"]

Boxes = npt.NDArray[np.int_]


@dataclass
class Track:
    track_id: str
    box: tuple[int, int, int, int]
    last_seen: datetime
    hits: int = 1


class FaceTracker:
    """Assigns a track id to every face box of one camera's frames, in capture order."""

    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        max_center_shift: float = 0.6,
        idle_seconds: float = 3.0,
    ) -> None:
        """``max_center_shift`` is in units of the larger box's size."""
        self.iou_threshold = iou_threshold
        self.max_center_shift = max_center_shift
        self.idle = timedelta(seconds=idle_seconds)
        # A random prefix keeps ids unique across restarts and replicas of a worker.
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self.tracks: dict[str, Track] = {}

    def update(self, boxes: Boxes, captured_at: datetime) -> list[str]:
        """Track ids for ``boxes`` (N×4, x y w h) seen at ``captured_at``, in order."""
        self.expire(captured_at)
        live = list(self.tracks.values())
        assigned: list[str | None] = [None] * len(boxes)
        if live and len(boxes):
            for face, track in _greedy_pairs(
                boxes, live, self.iou_threshold, self.max_center_shift
            ):
                box = boxes[face]
                track.box = (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
                track.last_seen = max(track.last_seen, captured_at)
                track.hits += 1
                assigned[face] = track.track_id
        ids = []
        for face, track_id in enumerate(assigned):
            if track_id is None:
                box = boxes[face]
                track_id = f"{self._prefix}-{next(self._counter)}"
                self.tracks[track_id] = Track(
                    track_id, (int(box[0]), int(box[1]), int(box[2]), int(box[3])), captured_at
                )
            ids.append(track_id)
        return ids

    def expire(self, now: datetime) -> list[Track]:
        """End and return the tracks idle for longer than ``idle_seconds`` at ``now``."""
        ended = [t for t in self.tracks.values() if now - t.last_seen > self.idle]
        for track in ended:
            del self.tracks[track.track_id]
        return ended


def iou_matrix(a: Boxes, b: Boxes) -> npt.NDArray[np.float64]:
    """Intersection over union of every box of ``a`` with every box of ``b`` (x y w h)."""
    ax1, ay1 = a[:, 0:1], a[:, 1:2]
    ax2, ay2 = ax1 + a[:, 2:3], ay1 + a[:, 3:4]
    bx1, by1 = b[:, 0], b[:, 1]
    bx2, by2 = bx1 + b[:, 2], by1 + b[:, 3]
    inter_w = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    inter_h = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = inter_w * inter_h
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def _greedy_pairs(
    boxes: Boxes, tracks: list[Track], iou_threshold: float, max_center_shift: float
) -> list[tuple[int, Track]]:
    """(face index, track) pairs: best overlaps first, then nearest centres."""
    known = np.array([t.box for t in tracks], dtype=np.int64)
    iou = iou_matrix(boxes.astype(np.int64), known)
    centers_faces = boxes[:, :2] + boxes[:, 2:] / 2
    centers_tracks = known[:, :2] + known[:, 2:] / 2
    distance = np.linalg.norm(centers_faces[:, None, :] - centers_tracks[None, :, :], axis=2)
    scale = np.maximum(boxes[:, None, 2:].max(axis=2), known[None, :, 2:].max(axis=2))
    shift = distance / np.maximum(scale, 1)

    pairs: list[tuple[int, Track]] = []
    used_faces: set[int] = set()
    used_tracks: set[int] = set()
    candidates = [
        (-iou[f, t], f, t) for f, t in zip(*np.nonzero(iou >= iou_threshold), strict=True)
    ]
    candidates += [
        (1.0 + shift[f, t], f, t)
        for f, t in zip(*np.nonzero(shift <= max_center_shift), strict=True)
    ]
    for _, face, track in sorted(candidates):
        if face in used_faces or track in used_tracks:
            continue
        used_faces.add(int(face))
        used_tracks.add(int(track))
        pairs.append((int(face), tracks[track]))
    return pairs
