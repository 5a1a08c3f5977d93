"""The vision stage's Prometheus metrics (module-level, registered once)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from kioskpulse.freshness import NewestEventTime

__all__ = [
    "BATCH_FACES",
    "BATCH_SECONDS",
    "DETECT_SECONDS",
    "FACES",
    "FRAMES",
    "INFER_SECONDS",
    "NEWEST_FRAME",
]

_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

FRAMES = Counter(
    "kioskpulse_vision_frames",
    "Frames handled by the vision stage, by outcome (ok, or why they were rejected).",
    ["outcome"],
)
FACES = Counter("kioskpulse_vision_faces", "Faces found and classified.")
DETECT_SECONDS = Histogram(
    "kioskpulse_vision_detect_duration_seconds",
    "Face detection and cropping time per frame (decoding excluded).",
    buckets=_SECONDS,
)
INFER_SECONDS = Histogram(
    "kioskpulse_vision_infer_duration_seconds",
    "Expression inference time per batch of faces.",
    buckets=_SECONDS,
)
BATCH_SECONDS = Histogram(
    "kioskpulse_vision_batch_duration_seconds",
    "Time to analyse one batch of frames (decode, detect, classify, track).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
#: The newest capture time of the frames the stage analysed.
NEWEST_FRAME = NewestEventTime("vision", "of the frames analysed")
BATCH_FACES = Histogram(
    "kioskpulse_vision_batch_faces",
    "Faces per inference batch.",
    buckets=(0, 1, 2, 4, 8, 16, 32, 64, 128, 256),
)
