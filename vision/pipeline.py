"""Frames → face observations: decode, detect, crop, classify in one batch, track.

``analyse`` is stateless and thread-safe (OpenCV and ONNX Runtime release the GIL),
so callers run it in a thread pool, never on the event loop. ``track`` keeps one
tracker per camera and must see each camera's frames in capture order; it is
cheap and guarded by a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from kioskpulse.events import BBox, CameraRole, FaceObservation, FrameHeaders
from kioskpulse.settings import Settings
from vision import metrics
from vision.attention import frontal_by_landmarks
from vision.classifier import ExpressionClassifier
from vision.crops import face_crops
from vision.decode import DEFAULT_MAX_PIXELS, FrameRejected, decode_frame
from vision.detector import FaceDetector, LandmarkDetector, make_detector
from vision.tracker import FaceTracker

__all__ = ["AnalysedFrame", "Frame", "FramePipeline"]

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Frame:
    """One camera frame as it comes off ``camera.frames.v1``."""

    headers: FrameHeaders
    data: bytes


@dataclass
class AnalysedFrame:
    """A frame's faces and their expression probabilities, or why it was rejected."""

    headers: FrameHeaders
    boxes: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    probs: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 7), np.float32))
    rejected: FrameRejected | None = None
    #: Per face, whether it looks at the camera, from the detector's landmarks; None: a
    #: detector without landmarks (the aggregator then judges by the box: vision.attention).
    frontal: list[bool] | None = None


class FramePipeline:
    """The vision stage's logic, shared by the faust agent, the embedded runtime and edge agents."""

    def __init__(
        self,
        detector: FaceDetector | None = None,
        classifier: ExpressionClassifier | None = None,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        tracker_factory: Callable[[], FaceTracker] = FaceTracker,
        min_face_by_role: Mapping[CameraRole, int] | None = None,
    ) -> None:
        """``min_face_by_role``: the smallest face per camera role when a frame's headers
        name none; default the detector's own setting for every role."""
        self.detector = detector or make_detector()
        self.classifier = classifier or ExpressionClassifier()
        self.min_face_by_role = dict(min_face_by_role or {})
        self.max_pixels = max_pixels
        self._tracker_factory = tracker_factory
        self._trackers: dict[str, FaceTracker] = {}
        self._tracking = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> FramePipeline:
        """The pipeline as configured: YuNet if a model is given, else ``vision_detector``;
        one ONNX thread per model."""
        return cls(
            make_detector(
                settings.vision_detector,
                yunet_model=settings.yunet_model,
                min_face=settings.vision_floor_min_face_px,
                work_width=settings.vision_detect_width,
                scale_factor=settings.vision_detect_scale,
            ),
            ExpressionClassifier(threads=1),
            max_pixels=settings.vision_max_pixels,
            min_face_by_role={
                "floor": settings.vision_floor_min_face_px,
                "kiosk": settings.vision_kiosk_min_face_px,
                # People at a display stand about as far as on the floor.
                "display": settings.vision_floor_min_face_px,
            },
        )

    def min_face(self, headers: FrameHeaders) -> int | None:
        """The smallest face to look for in this camera's frame (None: the detector's)."""
        return headers.min_face_px or self.min_face_by_role.get(headers.role)

    def process(self, frames: Sequence[Frame]) -> tuple[list[FaceObservation], list[AnalysedFrame]]:
        """Observations of all faces, and every frame's analysis (rejections included)."""
        analysed = self.analyse(frames)
        return self.track(analysed), analysed

    def analyse(self, frames: Sequence[Frame]) -> list[AnalysedFrame]:
        """Decode and detect frame by frame, then classify all faces in one batch."""
        results: list[AnalysedFrame] = []
        decoded: list[tuple[AnalysedFrame, Image]] = []
        for frame in frames:
            try:
                bgr = decode_frame(frame.data, self.max_pixels)
            except FrameRejected as exc:
                metrics.FRAMES.labels(exc.reason).inc()
                results.append(AnalysedFrame(frame.headers, rejected=exc))
                continue
            result = AnalysedFrame(frame.headers)
            results.append(result)
            decoded.append((result, bgr))
        self._detect_and_classify(decoded)
        return results

    def analyse_images(self, images: Sequence[tuple[FrameHeaders, Image]]) -> list[AnalysedFrame]:
        """``analyse`` for frames already decoded to BGR (edge agents reading video)."""
        results = [AnalysedFrame(headers) for headers, _ in images]
        self._detect_and_classify(list(zip(results, (image for _, image in images), strict=True)))
        return results

    def _detect_and_classify(self, decoded: Sequence[tuple[AnalysedFrame, Image]]) -> None:
        crops: list[npt.NDArray[np.uint8]] = []
        for result, bgr in decoded:
            started = time.perf_counter()
            gray = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
            min_face = self.min_face(result.headers)
            if isinstance(self.detector, LandmarkDetector):
                result.boxes, landmarks = self.detector.detect_landmarks(bgr, gray, min_face)
                result.frontal = [frontal_by_landmarks(points) for points in landmarks]
            else:
                result.boxes = self.detector.detect(bgr, gray, min_face)
            crops.append(face_crops(gray, result.boxes))
            metrics.DETECT_SECONDS.observe(time.perf_counter() - started)
            metrics.FRAMES.labels("ok").inc()

        all_crops = np.concatenate(crops) if crops else np.zeros((0, 64, 64), np.uint8)
        started = time.perf_counter()
        probs = self.classifier.infer(all_crops)
        if len(all_crops):
            metrics.INFER_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_FACES.observe(len(all_crops))
        metrics.FACES.inc(len(all_crops))

        offset = 0
        for result, _ in decoded:
            result.probs = probs[offset : offset + len(result.boxes)]
            offset += len(result.boxes)

    def track(self, analysed: Sequence[AnalysedFrame]) -> list[FaceObservation]:
        """Give every face its camera's track id; frames must come in capture order per camera."""
        observations = []
        with self._tracking:
            for frame in analysed:
                if frame.rejected is not None:
                    continue
                headers = frame.headers
                tracker = self._trackers.get(headers.camera_id)
                if tracker is None:
                    tracker = self._trackers[headers.camera_id] = self._tracker_factory()
                track_ids = tracker.update(frame.boxes, headers.captured_at)
                frontal: Sequence[bool | None] = frame.frontal or [None] * len(track_ids)
                faces = zip(frame.boxes, frame.probs, track_ids, frontal, strict=True)
                for box, probs, track_id, looks in faces:
                    observations.append(_observation(headers, box, probs, track_id, looks))
        return observations


def _observation(
    headers: FrameHeaders,
    box: npt.NDArray[np.int64],
    probs: npt.NDArray[np.float32],
    track_id: str,
    frontal: bool | None = None,
) -> FaceObservation:
    x, y, w, h = (int(v) for v in box)
    bbox = BBox(x=max(0, x), y=max(0, y), w=w, h=h)
    zone = headers.kiosk_zone
    return FaceObservation(
        track_id=track_id,
        captured_at=headers.captured_at,
        probs=[float(p) for p in probs],
        bbox=bbox,
        # Attention is a display camera's figure (the edge agent, which does not know its
        # role, takes the frame's own ``frontal`` list instead).
        frontal=frontal if headers.role == "display" else None,
        camera_id=headers.camera_id,
        store_id=headers.store_id,
        role=headers.role,
        kiosk_id=headers.kiosk_id,
        source="server",
        # A face in a floor camera's kiosk zone: the kiosk's presser (issue 14).
        zone_kiosk_id=zone.kiosk_at(bbox) if zone is not None else None,
        # A display camera's label (issue 16): the registry's, stamped on its frames.
        display=headers.display,
    )
