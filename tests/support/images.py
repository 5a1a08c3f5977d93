"""Frames for the vision tests: real photographs (``tools/frames.py``) and made-up headers."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime

from kioskpulse.events import FrameHeaders
from tools.frames import astronaut_bgr, four_faces, jpeg, letterbox

__all__ = [
    "ASTRONAUT_FRAMES",
    "astronaut_bgr",
    "four_faces",
    "frame_headers",
    "jpeg",
    "letterbox",
    "png_header_only",
]

ASTRONAUT_FRAMES = {
    "512x512": lambda: astronaut_bgr(),
    "640x480": lambda: letterbox(astronaut_bgr(), 640, 480),
    "1280x720": lambda: letterbox(astronaut_bgr(), 1280, 720),
}


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


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR chunk declaring a huge image, and nothing else."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
