"""Frame bytes → pixels, refusing what must not be decoded.

The image size is read from the PNG or JPEG header *before* decoding: a tiny file
can declare 20000×20000 pixels and make the decoder allocate gigabytes.

Exceptions::

    FrameRejected (ValueError)   the frame cannot or must not be decoded; ``reason`` is a
                                 short label for metrics, the message says why
"""

from __future__ import annotations

import struct

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_MAX_PIXELS", "FrameRejected", "declared_size", "decode_frame"]

#: Larger than any camera frame (8K is 33 Mpx), small enough to bound memory.
DEFAULT_MAX_PIXELS = 40_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Bytes some cameras append after the image's end marker.
_TRAILER_ALLOWANCE = 1024
_JPEG_SOI = b"\xff\xd8"
# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class FrameRejected(ValueError):
    """The frame cannot or must not be decoded."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as the PNG or JPEG header declares it; None if not found."""
    if data.startswith(_PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(_JPEG_SOI):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _JPEG_SOF:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + length
    return None


def _truncated(data: bytes) -> bool:
    # libjpeg decodes a truncated JPEG into a half-grey image without an error, so
    # look for the end marker ourselves; a small trailer after it is tolerated.
    tail = data[-_TRAILER_ALLOWANCE:]
    if data.startswith(_JPEG_SOI):
        return b"\xff\xd9" not in tail
    return b"IEND" not in tail


def decode_frame(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> npt.NDArray[np.uint8]:
    """The frame as a BGR image, or FrameRejected with the reason."""
    if not data:
        raise FrameRejected("empty", "the frame is empty")
    size = declared_size(data)
    if size is None:
        raise FrameRejected("undecodable", "not a PNG or JPEG with a readable size header")
    width, height = size
    if width == 0 or height == 0:
        raise FrameRejected("undecodable", f"the header declares {width}×{height} pixels")
    if width * height > max_pixels:
        raise FrameRejected(
            "too_large", f"{width}×{height} pixels is over the limit of {max_pixels:,} pixels"
        )
    if _truncated(data):
        raise FrameRejected("truncated", "the image ends before its end marker (truncated upload?)")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameRejected("undecodable", "the image data is corrupt or truncated")
    return np.asarray(image, dtype=np.uint8)
