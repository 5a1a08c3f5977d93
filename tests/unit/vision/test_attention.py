"""Attention of display cameras' faces (issue 16): yaw from landmarks, else the box."""

from __future__ import annotations

import io
import math
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from kiosk_api import create_app
from kioskpulse.bus.memory import MemoryBus
from kioskpulse.devices import edit_registry
from kioskpulse.event_records import events_in
from kioskpulse.events import BBox, FaceObservation
from kioskpulse.topics import FACES
from tests.support.fleet import Fleet, memory_settings
from tests.support.images import ASTRONAUT_FRAMES, frame_headers, jpeg
from tools.frames import astronaut_bgr, letterbox
from vision.attention import (
    FRONTAL_MAX_YAW_DEGREES,
    frontal_by_box,
    frontal_by_landmarks,
    yaw_degrees,
)
from vision.detector import MtcnnFaceDetector
from vision.edge import AgentOptions, EdgeAgent
from vision.pipeline import Frame, FramePipeline


def landmarks(yaw: float, depth: float = 1.0) -> list[tuple[float, float]]:
    """Five points of a face turned by ``yaw`` degrees: eyes at ±1 (shrunk by cos), the
    nose ``depth`` half spans in front of them (moved by sin), mouth corners below."""
    theta = math.radians(yaw)
    half = math.cos(theta)
    nose = depth * math.sin(theta)
    return [(100 - 20 * half, 100), (100 + 20 * half, 100), (100 + 20 * nose, 120),
            (100 - 15 * half, 140), (100 + 15 * half, 140)]  # fmt: skip


@pytest.mark.parametrize("yaw", [-60.0, -25.0, 0.0, 10.0, 45.0])
def test_the_yaw_of_a_model_face_is_read_back(yaw: float) -> None:
    assert yaw_degrees(landmarks(yaw)) == pytest.approx(yaw, abs=1e-6)


@pytest.mark.parametrize(("yaw", "frontal"), [(0.0, True), (25.0, True), (-40.0, False)])
def test_frontal_within_the_bound(yaw: float, frontal: bool) -> None:
    assert FRONTAL_MAX_YAW_DEGREES == 30.0
    assert frontal_by_landmarks(landmarks(yaw)) is frontal


def test_degenerate_landmarks_read_as_turned_away() -> None:
    assert not frontal_by_landmarks([(10, 10), (10, 10), (12, 20), (8, 30), (12, 30)])


@pytest.mark.parametrize(
    ("bbox", "frontal"),
    [(BBox(x=0, y=0, w=80, h=100), True), (BBox(x=0, y=0, w=40, h=100), False), (None, True)],
)
def test_the_box_fallback(bbox: BBox | None, frontal: bool) -> None:
    assert frontal_by_box(bbox) is frontal


# ---------------------------------------------------------------------- in the pipeline


def test_mtcnn_landmarks_of_the_astronaut_read_as_frontal() -> None:
    rgb = np.ascontiguousarray(letterbox(astronaut_bgr(), 640, 480)[:, :, ::-1])
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    gray = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), np.uint8)
    boxes, landmarks = MtcnnFaceDetector(min_face=20).detect_landmarks(bgr, gray)
    assert boxes.shape == (1, 4)
    x, y, w, h = boxes[0]
    # Five points inside the face box: eyes above the nose, the nose above the mouth.
    assert ((landmarks[0, :, 0] >= x) & (landmarks[0, :, 0] <= x + w)).all()
    assert ((landmarks[0, :, 1] >= y) & (landmarks[0, :, 1] <= y + h)).all()
    eyes, nose, mouth = landmarks[0, 0:2, 1].mean(), landmarks[0, 2, 1], landmarks[0, 3:5, 1].mean()
    assert eyes < nose < mouth
    assert frontal_by_landmarks(landmarks[0])


def test_a_display_cameras_faces_carry_its_label_and_the_frontal_flag(
    pipeline: FramePipeline,
) -> None:
    headers = frame_headers("cam-display", role="display", display="spring collection")
    observations, _ = pipeline.process([Frame(headers, jpeg(ASTRONAUT_FRAMES["640x480"]()))])
    [face] = observations
    assert (face.role, face.display, face.frontal) == ("display", "spring collection", True)


def test_only_a_display_cameras_faces_carry_the_frontal_flag(pipeline: FramePipeline) -> None:
    headers = frame_headers("cam-floor-attention")
    [face], _ = pipeline.process([Frame(headers, jpeg(ASTRONAUT_FRAMES["640x480"]()))])
    assert face.frontal is None
    # ...and its record is what an earlier version wrote and reads.
    assert b'"frontal"' not in face.to_bytes()
    assert b'"display"' not in face.to_bytes()


# ---------------------------------------------------------------------- the edge agent


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "astronaut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    frame = ASTRONAUT_FRAMES["640x480"]()
    for _ in range(10):
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.parametrize(("camera", "role", "frontal"), [("cam-d1", "display", True),
                                                         ("cam-floor", "floor", None)])  # fmt: skip
async def test_an_edge_agent_sends_whether_faces_look_and_the_api_keeps_it_for_displays(
    fleet: Fleet, bus: MemoryBus, video: Path, camera: str, role: str, frontal: bool | None
) -> None:
    with edit_registry(fleet.path) as registry:
        fleet.tokens["cam-d1"] = registry.add_camera("cam-d1", "s1", "display", display="hats")
    app = create_app(memory_settings(fleet), bus=bus, manage_bus=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    options = AgentOptions(
        source=str(video), camera_id=camera, token=fleet.tokens[camera], api="http://api", fps=2.0
    )
    agent = EdgeAgent(options, pipeline=FramePipeline(), client=client, out=io.StringIO())
    await agent.run()
    faces = events_in(bus.records(FACES), FaceObservation)
    assert len(faces) == 2
    assert {(f.role, f.frontal, f.display) for f in faces} == {
        (role, frontal, "hats" if role == "display" else None)
    }
