"""Faces of known size and place for the detector tests: the astronaut pasted on noise."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from tools.frames import astronaut_bgr

__all__ = ["found", "iou", "pasted_faces"]

#: Faces per frame: a 4×3 grid of 160-px cells over 640×480.
GRID = [(col * 160 + 80, row * 160 + 80) for row in range(3) for col in range(4)]
#: The astronaut's face box (x, y, w, h) in skimage's 512×512 image (Haar, fer's settings).
ASTRONAUT_FACE = (177, 66, 95, 95)


def iou(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def pasted_faces(width: int, seed: int = 0) -> tuple[NDArray[np.uint8], list[tuple[int, ...]]]:
    """The astronaut's face ``width`` px wide (with some head around it), pasted in the 12
    cells of a blurred-noise 640×480 frame; returns the frame and the face boxes."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    frame = cv2.GaussianBlur(noise, (0, 0), 3)
    x, y, w, _ = ASTRONAUT_FACE
    margin = w // 3  # forehead, hair and chin around the box
    head = astronaut_bgr()[y - margin : y + w + margin, x - margin : x + w + margin]
    side = round(head.shape[0] * width / w)
    scaled = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA)
    boxes = []
    for cx, cy in GRID:
        left, top = cx - side // 2, cy - side // 2
        frame[top : top + side, left : left + side] = scaled
        offset = round(margin * width / w)
        boxes.append((left + offset, top + offset, width, width))
    return frame, boxes


def found(detected: NDArray[np.int_], truth: list[tuple[int, ...]]) -> int:
    """Faces of ``truth`` with a detected box overlapping them by IoU ≥ 0.4."""

    def corners(box: tuple[int, ...] | NDArray[np.int_]) -> NDArray[np.float32]:
        x, y, w, h = (float(v) for v in box)
        return np.array([x, y, x + w, y + h], np.float32)

    return sum(any(iou(corners(t), corners(d)) >= 0.4 for d in detected) for t in truth)
