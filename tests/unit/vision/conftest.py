"""Real photographs for the vision tests: skimage's astronaut (Eileen Collins, smiling)."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
from skimage import data

from kioskpulse.events import FrameHeaders


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``image`` to fit width×height and pad with black bars, as a camera feed would."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    resized = cv2.resize(image, (round(w * scale), round(h * scale)))
    out = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    out[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return out


def astronaut_bgr() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def four_faces() -> np.ndarray:
    """640×480 mosaic of four 320×240 tiles, each with the astronaut's face (95 px) whole."""
    tile = astronaut_bgr()[0:240, 80:400]
    return np.ascontiguousarray(np.vstack([np.hstack([tile, tile]), np.hstack([tile, tile])]))


ASTRONAUT_FRAMES = {
    "512x512": lambda: astronaut_bgr(),
    "640x480": lambda: letterbox(astronaut_bgr(), 640, 480),
    "1280x720": lambda: letterbox(astronaut_bgr(), 1280, 720),
}


def jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def frame_headers(camera: str = "cam-floor", **overrides: object) -> FrameHeaders:
    values: dict[str, object] = {
        "camera_id": camera,
        "store_id": "s1",
        "role": "floor",
        "captured_at": datetime(2026, 11, 24, 12, tzinfo=UTC),
        "content_type": "image/jpeg",
    }
    values.update(overrides)
    return FrameHeaders.model_validate(values)
