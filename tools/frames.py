"""Real camera frames for the tests and the benchmarks: skimage's astronaut (Eileen
Collins, smiling), letterboxed as a camera would, and a mosaic of four of her.

numpy, OpenCV and scikit-image are imported in the functions, not at the top: bench/vision.py
imports this module at its top, and that script is also its own worker process, which runs in
fer's venv (no scikit-image there) and pins its CPUs and thread counts before any library
starts a thread pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["astronaut_bgr", "four_faces", "jpeg", "letterbox"]


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``image`` to fit width×height and pad with black bars, as a camera feed would."""
    import cv2
    import numpy as np

    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    resized = cv2.resize(image, (round(w * scale), round(h * scale)))
    out = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    out[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return out


def astronaut_bgr() -> np.ndarray:
    """``skimage.data.astronaut()``, 512×512, in OpenCV's BGR channel order."""
    import numpy as np
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # type: ignore[no-untyped-call]


def four_faces() -> np.ndarray:
    """640×480 mosaic of four 320×240 tiles, each with the astronaut's face (95 px) whole."""
    import numpy as np

    tile = astronaut_bgr()[0:240, 80:400]
    return np.ascontiguousarray(np.vstack([np.hstack([tile, tile]), np.hstack([tile, tile])]))


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """``image`` as JPEG bytes, OpenCV's encoder at ``quality``."""
    import cv2

    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {image.shape} image as JPEG")
    return encoded.tobytes()
