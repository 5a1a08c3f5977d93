"""Face crops exactly as the expression model was trained and as fer prepares them.

fer (and Arriaga's face_classification before it) pads the grey frame by 40 px
with the mean of its last two rows, squares each face box by growing its short
side, widens it by 10 px on every side and resizes to 64×64 with bilinear
interpolation. Matching this matters: the model's accuracy is only known for
these inputs.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["CROP_SIZE", "MARGIN", "PADDING", "face_crops", "square"]

CROP_SIZE = 64
PADDING = 40
MARGIN = 10


def square(box: npt.NDArray[np.int_]) -> tuple[int, int, int, int]:
    """Grow the short side of an (x, y, w, h) box to make it square, keeping the centre."""
    x, y, w, h = (int(v) for v in box)
    if h > w:
        x -= (h - w) // 2
        w = h
    elif w > h:
        y -= (w - h) // 2
        h = w
    return x, y, w, h


def face_crops(gray: npt.NDArray[np.uint8], boxes: npt.NDArray[np.int_]) -> npt.NDArray[np.uint8]:
    """N×64×64 grey crops for the N boxes (x, y, w, h) of a grey frame."""
    if len(boxes) == 0:
        return np.zeros((0, CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    fill = cv2.mean(gray[-2:, :])[0]
    padded = cv2.copyMakeBorder(
        gray, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT, value=fill
    )
    crops = np.empty((len(boxes), CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    for index, box in enumerate(boxes):
        x, y, w, h = square(box)
        x1 = max(0, x - MARGIN + PADDING)
        y1 = max(0, y - MARGIN + PADDING)
        x2 = x + w + MARGIN + PADDING
        y2 = y + h + MARGIN + PADDING
        crops[index] = cv2.resize(
            padded[y1:y2, x1:x2], (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR
        )
    return crops
