"""Press ↔ face linkage: what the kiosk's own camera saw of whoever pressed.

A press at ``t`` is linked to the faces the kiosk's camera (role ``kiosk``) saw
from ``t - before`` to ``t + after``. When several people are in view, the track
with the largest face wins (the one standing at the kiosk), then the one seen
closest to ``t``; the link is the mean probability vector of that track's faces in
the window. Faces too small to read (``probs`` None) are kept, so that a replay of
one is known, but never link. Faces and presses may arrive in any order: the caller
re-links the presses near a new face (``KioskLinks.reach`` says which).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from stream_processors.aggregation import fixedpoint
from stream_processors.aggregation.fixedpoint import Vector

__all__ = ["KioskFace", "KioskFaces", "KioskLinks"]

_MAX_CHAR = chr(0x10FFFF)


@dataclass(frozen=True, slots=True)
class KioskFace:
    at: float
    camera_id: str
    track_id: str
    area: int
    #: None: too small to read (``AggregationConfig.reads_expression``).
    probs: Vector | None

    @property
    def key(self) -> tuple[float, str, str]:
        return (self.at, self.camera_id, self.track_id)


class KioskFaces:
    """The faces one kiosk's camera(s) saw, in time order."""

    def __init__(self) -> None:
        self._keys: list[tuple[float, str, str]] = []
        self._faces: dict[tuple[float, str, str], KioskFace] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, face: KioskFace) -> bool:
        """Add a face; False if it was already there (a replayed observation)."""
        if face.key in self._faces:
            return False
        bisect.insort(self._keys, face.key)
        self._faces[face.key] = face
        return True

    def remove_until(self, at: float) -> None:
        cut = bisect.bisect_left(self._keys, (at,))
        for key in self._keys[:cut]:
            del self._faces[key]
        del self._keys[:cut]

    def between(self, start: float, end: float) -> list[KioskFace]:
        lo = bisect.bisect_left(self._keys, (start,))
        hi = bisect.bisect_right(self._keys, (end, _MAX_CHAR))
        return [self._faces[key] for key in self._keys[lo:hi]]

    def link(self, pressed_at: float, before: float, after: float) -> Vector | None:
        """The presser's mean probabilities, or None when the camera saw nobody."""
        # Each read face with its vector (the pair keeps the vector's type known).
        tracks: dict[tuple[str, str], list[tuple[KioskFace, Vector]]] = {}
        for face in self.between(pressed_at - before, pressed_at + after):
            if face.probs is not None:
                tracks.setdefault((face.camera_id, face.track_id), []).append((face, face.probs))
        if not tracks:
            return None

        def rank(
            item: tuple[tuple[str, str], list[tuple[KioskFace, Vector]]],
        ) -> tuple[int, float, str, str]:
            (camera_id, track_id), seen = item
            nearest = min(abs(face.at - pressed_at) for face, _ in seen)
            return (max(face.area for face, _ in seen), -nearest, camera_id, track_id)

        _, best = max(tracks.items(), key=rank)
        total = fixedpoint.zeros(len(best[0][1]))
        for _, probs in best:
            fixedpoint.add(total, probs)
        return fixedpoint.mean(total, len(best))


class KioskLinks:
    """The faces of every kiosk's camera(s) in one store, and the link window around a press."""

    def __init__(self, before: float, after: float) -> None:
        self.before = before
        self.after = after
        self._faces: dict[str, KioskFaces] = {}

    def add(self, kiosk_id: str, face: KioskFace) -> bool:
        """Add a face; False if it was already there (a replayed observation)."""
        faces = self._faces.get(kiosk_id)
        if faces is None:
            faces = self._faces[kiosk_id] = KioskFaces()
        return faces.add(face)

    def link(self, kiosk_id: str, pressed_at: float) -> Vector | None:
        """What the kiosk's camera saw of whoever pressed at ``pressed_at`` (None: nobody)."""
        faces = self._faces.get(kiosk_id)
        return None if faces is None else faces.link(pressed_at, self.before, self.after)

    def reach(self, face_at: float) -> tuple[float, float]:
        """The press times whose link window holds a face seen at ``face_at``."""
        return face_at - self.after, face_at + self.before

    def remove_until(self, at: float) -> None:
        for faces in self._faces.values():
            faces.remove_until(at)
