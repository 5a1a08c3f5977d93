"""Does a face look at the camera? The ``frontal`` flag of display cameras' faces (issue 16).

Two estimates, the better one where the detector allows it (docs/vision.md, "Attention"):

- **landmarks** (MTCNN's five points): the yaw from where the nose tip lies between the
  eyes. Turning the head by an angle θ moves the nose, which stands out of the plane
  of the eyes, sideways by about ``sin θ`` of the half eye span, while the span itself
  shrinks by ``cos θ`` only: the nose's offset from the eyes' midpoint, in half spans,
  is about ``tan θ`` (a nose about as deep as half the eye span, as on an average adult
  face). Frontal within ``FRONTAL_MAX_YAW_DEGREES``.
- **box aspect** (detectors without landmarks: Haar, YuNet as used here; an edge agent
  that sends no flag): a face box much narrower than tall is a face in profile.
  Coarse: a frontal face's box is about square for MTCNN and Haar, a profile's about
  half as wide as tall.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from kioskpulse.events import BBox

__all__ = [
    "FRONTAL_MAX_YAW_DEGREES",
    "FRONTAL_MIN_ASPECT",
    "frontal_by_box",
    "frontal_by_landmarks",
    "yaw_degrees",
]

#: The largest head turn still counted as looking at the camera (and at its display).
FRONTAL_MAX_YAW_DEGREES = 30.0

#: The narrowest box (width / height) still counted as a frontal face.
FRONTAL_MIN_ASPECT = 0.6


def yaw_degrees(landmarks: npt.ArrayLike) -> float:
    """The head's yaw from five landmarks (x, y) in MTCNN's order: left eye, right eye,
    nose, left and right mouth corners. 0: facing the camera; the sign says which way.
    Eyes on top of each other (a degenerate detection) read as fully turned (±90°)."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    left, right, nose = points[0], points[1], points[2]
    half_span = (right[0] - left[0]) / 2
    offset = nose[0] - (left[0] + right[0]) / 2
    if abs(half_span) < 1e-6:
        return math.copysign(90.0, offset) if offset else 90.0
    return math.degrees(math.atan(offset / half_span))


def frontal_by_landmarks(landmarks: npt.ArrayLike) -> bool:
    """Whether the face of these landmarks looks at the camera (|yaw| within bound)."""
    return abs(yaw_degrees(landmarks)) <= FRONTAL_MAX_YAW_DEGREES


def frontal_by_box(bbox: BBox | None) -> bool:
    """The fallback: whether a face box is wide enough to be frontal. No box: assumed
    frontal (a face detector found a face, and they mostly find frontal ones)."""
    return bbox is None or bbox.w / bbox.h >= FRONTAL_MIN_ASPECT
