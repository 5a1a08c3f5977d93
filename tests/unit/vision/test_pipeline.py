"""Frames → observations on a real photograph: one face, happy, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest

from kioskpulse.events import EXPRESSIONS
from kioskpulse.settings import Settings
from tests.support.faces import pasted_faces
from tests.support.images import ASTRONAUT_FRAMES, four_faces, frame_headers, jpeg, png_header_only
from vision.pipeline import Frame, FramePipeline

HAPPY = EXPRESSIONS.index("happy")


@pytest.mark.parametrize("size", list(ASTRONAUT_FRAMES))
def test_the_astronaut_is_one_happy_face(pipeline: FramePipeline, size: str) -> None:
    make: Callable[[], np.ndarray] = ASTRONAUT_FRAMES[size]
    observations, [analysed] = pipeline.process([Frame(frame_headers(f"cam-{size}"), jpeg(make()))])
    assert analysed.rejected is None
    assert len(observations) == 1, f"expected exactly one face, got {analysed.boxes.tolist()}"
    [face] = observations
    assert face.probs[HAPPY] >= 0.9, dict(zip(EXPRESSIONS, face.probs, strict=True))
    assert abs(sum(face.probs) - 1) < 1e-5
    assert face.bbox is not None
    height, width = make().shape[:2]
    assert face.bbox.x + face.bbox.w <= width
    assert face.bbox.y + face.bbox.h <= height
    assert (face.camera_id, face.store_id, face.role, face.source) == (
        f"cam-{size}", "s1", "floor", "server",
    )  # fmt: skip


def test_no_face_no_observation(pipeline: FramePipeline) -> None:
    blank = np.full((480, 640, 3), 127, np.uint8)
    observations, [analysed] = pipeline.process([Frame(frame_headers(), jpeg(blank))])
    assert observations == []
    assert analysed.rejected is None


def test_faces_of_several_frames_are_classified_in_one_batch_and_tracked(
    pipeline: FramePipeline,
) -> None:
    frame = jpeg(ASTRONAUT_FRAMES["640x480"]())
    start = frame_headers("cam-track").captured_at
    frames = [
        Frame(frame_headers("cam-track", captured_at=start + timedelta(seconds=i)), frame)
        for i in range(5)
    ]
    observations, _ = pipeline.process(frames)
    assert len(observations) == 5
    assert len({o.track_id for o in observations}) == 1, "one visitor across five frames"


def test_bad_frames_are_rejected_and_the_good_ones_still_processed(pipeline: FramePipeline) -> None:
    good = jpeg(ASTRONAUT_FRAMES["512x512"]())
    frames = [
        Frame(frame_headers("cam-bad"), b""),
        Frame(frame_headers("cam-bad"), good[: len(good) // 2]),
        Frame(frame_headers("cam-bad"), png_header_only(20000, 20000)),
        Frame(frame_headers("cam-bad"), np.random.default_rng(3).bytes(4096)),
        Frame(frame_headers("cam-good"), good),
    ]
    observations, analysed = pipeline.process(frames)
    reasons = [a.rejected.reason if a.rejected else None for a in analysed]
    assert reasons == ["empty", "truncated", "too_large", "undecodable", None]
    assert [o.camera_id for o in observations] == ["cam-good"]


def test_a_mosaic_of_four_faces_gives_four_tracks(pipeline: FramePipeline) -> None:
    observations, _ = pipeline.process([Frame(frame_headers("cam-mosaic"), jpeg(four_faces()))])
    assert len(observations) == 4
    assert len({o.track_id for o in observations}) == 4
    assert all(o.probs[HAPPY] >= 0.9 for o in observations)


@pytest.mark.parametrize(
    ("overrides", "faces"),
    [
        ({"role": "floor"}, 12),  # floor cameras look for faces from 24 px
        ({"role": "kiosk", "kiosk_id": "k1"}, 0),  # kiosk cameras from 48 px: cheaper
        ({"role": "kiosk", "kiosk_id": "k1", "min_face_px": 24}, 12),  # the camera's own
        ({"role": "floor", "min_face_px": 64}, 0),
    ],
)
def test_the_smallest_face_comes_from_the_camera_or_its_role(
    overrides: dict[str, object], faces: int
) -> None:
    pipeline = FramePipeline.from_settings(Settings())
    frame, _ = pasted_faces(24)
    headers = frame_headers("cam-small", **overrides)
    observations, _ = pipeline.process([Frame(headers, jpeg(frame))])
    assert len(observations) == faces
    assert all(o.bbox is not None and 18 <= o.bbox.w <= 32 for o in observations)


@pytest.mark.parametrize(
    ("zone", "in_zone"),
    [
        ("k1:0,0,320,240", 1),  # the top-left tile of the mosaic
        ("k1:0,0,640,240", 2),  # the top row
        ("k1:0,0,640,480", 4),  # the whole frame
        ("k1:600,440,40,40", 0),  # a corner no face's centre lies in
        (None, 0),  # no zone
    ],
)
def test_faces_in_the_frames_kiosk_zone_are_stamped_with_its_kiosk(
    pipeline: FramePipeline, zone: str | None, in_zone: int
) -> None:
    camera = "cam-zone-" + (zone or "none").replace(":", "-").replace(",", "-")
    headers = frame_headers(camera, kiosk_zone=zone)
    observations, _ = pipeline.process([Frame(headers, jpeg(four_faces()))])
    assert len(observations) == 4
    stamped = [o for o in observations if o.zone_kiosk_id is not None]
    assert len(stamped) == in_zone
    assert {o.zone_kiosk_id for o in stamped} <= {"k1"}
    assert headers.kiosk_zone is None or all(
        headers.kiosk_zone.holds(o.bbox) == (o.zone_kiosk_id == "k1")
        for o in observations
        if o.bbox is not None
    )
    assert {o.kiosk_id for o in observations} == {None}, "a floor camera belongs to no kiosk"
