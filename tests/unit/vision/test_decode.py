"""Bad frames are refused with a reason before they can hurt the worker."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.support.images import png_header_only
from vision.decode import FrameRejected, declared_size, decode_frame


def encode(image: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


IMAGE = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_good_frames_decode_to_bgr(ext: str) -> None:
    data = encode(IMAGE, ext)
    assert declared_size(data) == (64, 48)
    assert decode_frame(data).shape == (48, 64, 3)


def test_a_jpeg_with_a_short_trailer_still_decodes() -> None:
    assert decode_frame(encode(IMAGE, ".jpg") + b"\x00" * 100).shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (np.random.default_rng(2).bytes(5000), "undecodable"),
        (encode(IMAGE, ".jpg")[:-300], "truncated"),
        (encode(IMAGE, ".png")[:-40], "truncated"),
        (png_header_only(20000, 20000), "too_large"),
        (png_header_only(0, 10), "undecodable"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "undecodable"),
    ],
    ids=["empty", "random", "truncated-jpeg", "truncated-png", "20000x20000", "zero", "no-sof"],
)
def test_bad_frames_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(FrameRejected) as rejected:
        decode_frame(data)
    assert rejected.value.reason == reason
    assert str(rejected.value)


def test_corrupt_data_behind_good_headers_is_rejected() -> None:
    good = encode(IMAGE, ".png")
    corrupt = good[:40] + bytes(len(good) - 52) + good[-12:]
    with pytest.raises(FrameRejected) as rejected:
        decode_frame(corrupt)
    assert rejected.value.reason == "undecodable"
