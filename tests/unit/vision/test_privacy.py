"""Privacy (issue 16): nothing that identifies a person leaves the vision stage.

What leaves is a face observation: device ids, a short-lived per-camera track id, a
time, seven expression probabilities, a box and whether the face looked at the
camera. No crop, no embedding, nothing that could find the same person again.
"""

from __future__ import annotations

import json
from datetime import timedelta

from kioskpulse.events import EXPRESSIONS, FaceObservation
from tests.support.images import ASTRONAUT_FRAMES, frame_headers, jpeg
from vision.pipeline import Frame, FramePipeline

#: Every field a face observation may carry. A new one is a privacy decision: add it
#: here only with its reason in docs/displays.md, "Privacy".
NON_IDENTIFYING = {
    "schema_version", "store_id", "camera_id", "role", "kiosk_id", "zone_kiosk_id",
    "display", "source", "track_id", "captured_at", "probs", "bbox", "frontal",
}  # fmt: skip


def test_a_face_observation_has_only_non_identifying_fields() -> None:
    assert set(FaceObservation.model_fields) == NON_IDENTIFYING


def test_a_display_cameras_faces_leave_the_pipeline_as_a_few_numbers(
    pipeline: FramePipeline,
) -> None:
    headers = frame_headers("cam-window", role="display", display="spring collection")
    observations, _ = pipeline.process([Frame(headers, jpeg(ASTRONAUT_FRAMES["640x480"]()))])
    assert observations, "the astronaut's face is found"
    for observation in observations:
        wire = observation.to_bytes()
        body = json.loads(wire)
        assert set(body) <= NON_IDENTIFYING
        assert len(body["probs"]) == len(EXPRESSIONS), "seven probabilities, no embedding"
        assert set(body["bbox"]) == {"x", "y", "w", "h"}
        assert len(wire) < 600, f"no image data: {len(wire)} bytes"


def test_the_same_face_on_two_cameras_gets_unrelated_track_ids(pipeline: FramePipeline) -> None:
    # Tracks are per camera: a person seen by two cameras (or by one camera after a
    # pause) is two tracks, never re-identified.
    frame = jpeg(ASTRONAUT_FRAMES["640x480"]())
    first = frame_headers("cam-left")
    later = frame_headers("cam-left", captured_at=first.captured_at + timedelta(minutes=5))
    observations, _ = pipeline.process(
        [Frame(first, frame), Frame(frame_headers("cam-right"), frame), Frame(later, frame)]
    )
    ids = [observation.track_id for observation in observations]
    assert len(ids) == 3, ids
    assert len(set(ids)) == 3, ids
