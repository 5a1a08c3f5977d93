"""Face detection behind one small interface.

Default: MTCNN (``vision/mtcnn.py``), a CNN cascade that finds faces from 24 px at
640×480 in about a third of the time fer's Haar settings take for faces from 50 px
(docs/benchmarks.md). The smallest face is chosen per frame: a floor camera looks for
far visitors, a kiosk camera only for the person at the kiosk, which is cheaper.
Also: OpenCV's Haar frontal-face cascade (it ships with opencv-python-headless < 5),
fast on a downscaled frame but blind below ~50 px there, and OpenCV's YuNet
(``cv2.FaceDetectorYN``) when the operator provides its ONNX file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt

from vision.mtcnn import Mtcnn, MtcnnSettings

__all__ = [
    "DetectorKind",
    "FaceDetector",
    "HaarFaceDetector",
    "MtcnnFaceDetector",
    "YuNetFaceDetector",
    "make_detector",
]

Boxes = npt.NDArray[np.int_]
Image = npt.NDArray[np.uint8]
DetectorKind = Literal["mtcnn", "haar"]


class FaceDetector(Protocol):
    #: Whether ``detect`` may run in several threads at once on one instance.
    thread_safe: bool

    def detect(self, bgr: Image, gray: Image, min_face: int | None = None) -> Boxes:
        """Face boxes as an N×4 int array of (x, y, w, h) in the frame's pixels.

        ``min_face``: the smallest face wanted, in pixels of the frame; None: the
        detector's own setting. Detectors that cannot honour it ignore it."""
        ...


@runtime_checkable
class LandmarkDetector(Protocol):
    """A detector that also gives five landmarks per face (MTCNN): the frame pipeline then
    reads each face's yaw off them (``vision.attention``)."""

    def detect_landmarks(
        self, bgr: Image, gray: Image, min_face: int | None = None
    ) -> tuple[Boxes, npt.NDArray[np.float32]]: ...


def _no_faces() -> Boxes:
    return np.zeros((0, 4), dtype=np.int64)


class MtcnnFaceDetector:
    """MTCNN on the frame at full size; faces from ``min_face`` px wide (default 24)."""

    #: ONNX Runtime sessions run concurrently; the detector keeps no state per frame.
    thread_safe = True

    def __init__(self, *, min_face: int = 24, threads: int = 1) -> None:
        self.min_face = min_face
        self._mtcnn = Mtcnn(threads=threads)

    def detect(self, bgr: Image, gray: Image, min_face: int | None = None) -> Boxes:
        return self.detect_landmarks(bgr, gray, min_face)[0]

    def detect_landmarks(
        self, bgr: Image, gray: Image, min_face: int | None = None
    ) -> tuple[Boxes, npt.NDArray[np.float32]]:
        """``detect``'s boxes and each face's five landmarks (N×5×2, x y in frame pixels;
        ``vision.attention``): the detector that gives them (issue 16)."""
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        found = self._mtcnn.detect_with_landmarks(
            rgb, MtcnnSettings.for_faces_from(min_face or self.min_face)
        )
        if len(found) == 0:
            return _no_faces(), np.zeros((0, 5, 2), np.float32)
        landmarks = np.stack([found[:, 5:10], found[:, 10:15]], axis=2).astype(np.float32)
        corners = np.round(found[:, 0:4]).astype(np.int64)
        boxes: Boxes = np.stack(
            [corners[:, 0], corners[:, 1], corners[:, 2] - corners[:, 0] + 1,
             corners[:, 3] - corners[:, 1] + 1],
            axis=1,
        )  # fmt: skip
        return boxes, landmarks


def _haar_cascade_path() -> Path:
    data = getattr(cv2, "data", None)
    if data is None:
        raise RuntimeError(
            "this OpenCV build ships no Haar cascades (OpenCV 5 dropped them): "
            "install opencv-python-headless<5"
        )
    return Path(data.haarcascades) / "haarcascade_frontalface_default.xml"


class HaarFaceDetector:
    """Viola-Jones frontal faces on a frame scaled to ``work_width`` pixels wide."""

    #: OpenCV's CascadeClassifier keeps working buffers in the instance.
    thread_safe = False

    def __init__(
        self,
        *,
        cascade_path: Path | None = None,
        scale_factor: float = 1.2,
        min_neighbors: int = 5,
        min_face: int = 24,
        work_width: int = 320,
    ) -> None:
        """``min_face`` is in pixels of the frame at ``work_width``.

        Detection is ~95 % of a frame's time, so the defaults favour speed: a
        320-px-wide copy (faces from 48 px in a 640×480 frame, the cascade's 24 px
        window) and a 1.2 pyramid step, about 25 ms per frame on one core against
        ~50 ms for 480 px / 1.15 and ~85 ms for fer's full size / 1.1 (see
        docs/benchmarks.md). They find exactly the astronaut's face at 512×512,
        640×480 and 1280×720 and the four of the mosaic. Small or far faces are
        found more reliably with a wider copy and a finer step (settings
        ``vision_detect_width`` and ``vision_detect_scale``), at that cost.
        """
        path = cascade_path or _haar_cascade_path()
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade {path}")
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_face, self.work_width = min_face, work_width

    def detect(self, bgr: Image, gray: Image, min_face: int | None = None) -> Boxes:
        height, width = gray.shape[:2]
        scale = min(1.0, self.work_width / width)
        small = gray
        if scale < 1.0:
            small = np.asarray(
                cv2.resize(
                    gray,
                    (round(width * scale), round(height * scale)),
                    interpolation=cv2.INTER_AREA,
                ),
                dtype=np.uint8,
            )
        found = self._cascade.detectMultiScale(
            small,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_face, self.min_face),
        )
        if len(found) == 0:
            return _no_faces()
        boxes: Boxes = np.round(np.asarray(found, dtype=np.float64) / scale).astype(np.int64)
        return boxes


class YuNetFaceDetector:
    """OpenCV's YuNet CNN detector; more robust to pose, needs its ONNX file."""

    #: The instance is set to each frame's size before it runs (``setInputSize``).
    thread_safe = False

    def __init__(self, model_path: Path, *, score_threshold: float = 0.8) -> None:
        if not model_path.is_file():
            raise FileNotFoundError(f"YuNet model not found: {model_path}")
        self._detector = cv2.FaceDetectorYN.create(
            str(model_path), "", (320, 320), score_threshold=score_threshold
        )

    def detect(self, bgr: Image, gray: Image, min_face: int | None = None) -> Boxes:
        height, width = bgr.shape[:2]
        self._detector.setInputSize((width, height))
        _, faces = self._detector.detect(bgr)
        if faces is None:
            return _no_faces()
        boxes: Boxes = np.round(np.asarray(faces)[:, :4]).astype(np.int64)
        return boxes


def make_detector(
    kind: DetectorKind = "mtcnn",
    *,
    yunet_model: Path | None = None,
    min_face: int = 24,
    work_width: int = 320,
    scale_factor: float = 1.2,
    threads: int = 1,
) -> FaceDetector:
    """YuNet when a model file is given, else MTCNN or the Haar cascade (at that width
    and step, its smallest face 48 px in a 640-px-wide frame whatever the width)."""
    if yunet_model is not None:
        return YuNetFaceDetector(yunet_model)
    if kind == "mtcnn":
        return MtcnnFaceDetector(min_face=min_face, threads=threads)
    haar_min = max(16, round(48 * work_width / 640))
    return HaarFaceDetector(scale_factor=scale_factor, min_face=haar_min, work_width=work_width)
