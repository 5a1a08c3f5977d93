"""A floor camera's kiosk zone: its text form, which faces it holds, and its frame header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from kioskpulse.events import BBox, FrameHeaders, KioskZone

ZONE = KioskZone(kiosk_id="k1", x=100, y=80, w=200, h=240)


@pytest.mark.parametrize(
    "text",
    ["k1:100,80,200,240", " k1:100,80,200,240\n", "k1: 100, 80, 200, 240", "k1:100 ,80,200,240"],
)
def test_the_text_form_is_read_with_or_without_spaces(text: str) -> None:
    assert KioskZone.parse(text) == ZONE


def test_the_text_form_round_trips() -> None:
    assert ZONE.header() == "k1:100,80,200,240"
    assert KioskZone.parse(ZONE.header()) == ZONE
    odd = KioskZone(kiosk_id="store-7.kiosk_1", x=0, y=0, w=1, h=100_000)
    assert KioskZone.parse(odd.header()) == odd


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not KIOSK:X,Y,W,H"),
        ("k1", "is not KIOSK:X,Y,W,H"),
        ("100,80,200,240", "is not KIOSK:X,Y,W,H"),
        ("k1:100,80,200", "is not KIOSK:X,Y,W,H"),
        ("k1:100,80,200,240,5", "is not KIOSK:X,Y,W,H"),
        ("k1:100,80,200,", "is not KIOSK:X,Y,W,H"),
        ("k1:-1,80,200,240", "is not KIOSK:X,Y,W,H"),
        ("k1:1.5,80,200,240", "is not KIOSK:X,Y,W,H"),
        ("k1:0x10,80,200,240", "is not KIOSK:X,Y,W,H"),
        ("k1:\u0661,80,200,240", "is not KIOSK:X,Y,W,H"),  # a non-ASCII digit (Arabic-Indic 1)
        ("k1:100,80,0,240", "w: Input should be greater than 0"),
        ("k1:100,80,200,0", "h: Input should be greater than 0"),
        ("k1:100001,80,200,240", "x: Input should be less than or equal to 100000"),
        (":100,80,200,240", "kiosk_id"),
        ("kiosk one:100,80,200,240", "kiosk_id"),
        ("k1:2:100,80,200,240", "is not KIOSK:X,Y,W,H"),
    ],
)
def test_a_malformed_zone_is_a_one_line_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        KioskZone.parse(text)
    assert "\n" not in str(error.value)
    assert repr(text) in str(error.value), "the message quotes what was given"


@pytest.mark.parametrize(
    ("bbox", "inside"),
    [
        (BBox(x=150, y=100, w=50, h=50), True),  # wholly inside
        (BBox(x=60, y=100, w=100, h=50), True),  # centre (110, 125) inside, left edge out
        (BBox(x=0, y=0, w=200, h=160), True),  # centre (100, 80): the top-left corner counts
        (BBox(x=0, y=0, w=198, h=160), False),  # centre (99, 80): one pixel left of it
        (BBox(x=200, y=200, w=200, h=200), False),  # centre (300, 300): the right edge does not
        (BBox(x=250, y=250, w=99, h=99), True),  # centre (299.5, 299.5): just inside
        (BBox(x=0, y=0, w=50, h=50), False),
        (BBox(x=1000, y=1000, w=50, h=50), False),
    ],
)
def test_a_zone_holds_the_faces_whose_centre_lies_in_it(bbox: BBox, inside: bool) -> None:
    assert ZONE.holds(bbox) is inside
    assert ZONE.kiosk_at(bbox) == ("k1" if inside else None)


def test_a_face_without_a_box_is_in_no_zone() -> None:
    assert ZONE.kiosk_at(None) is None


def _headers(**overrides: object) -> FrameHeaders:
    values: dict[str, object] = {
        "camera_id": "cam-floor",
        "store_id": "s1",
        "role": "floor",
        "captured_at": datetime(2026, 11, 24, 12, tzinfo=UTC),
        "content_type": "image/jpeg",
    }
    return FrameHeaders.model_validate(values | overrides)


def test_the_zone_travels_as_one_flat_header() -> None:
    headers = _headers(kiosk_zone=ZONE)
    raw = headers.to_headers()
    assert ("kiosk_zone", b"k1:100,80,200,240") in raw
    parsed = FrameHeaders.from_headers(raw)
    assert parsed == headers
    assert parsed.kiosk_zone == ZONE
    assert _headers(kiosk_zone="k1:100,80,200,240") == headers, "the text form is accepted"


def test_frames_without_a_zone_have_no_zone_header() -> None:
    headers = _headers()
    assert headers.kiosk_zone is None
    assert all(name != "kiosk_zone" for name, _ in headers.to_headers())
    assert FrameHeaders.from_headers(headers.to_headers()).kiosk_zone is None


def test_a_malformed_zone_header_is_refused() -> None:
    raw = [*_headers().to_headers(), ("kiosk_zone", b"k1:100,80")]
    with pytest.raises(ValidationError, match="is not KIOSK:X,Y,W,H"):
        FrameHeaders.from_headers(raw)
