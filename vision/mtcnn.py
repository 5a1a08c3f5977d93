"""MTCNN (Zhang et al., 2016): a three-stage CNN cascade that finds faces from ~12 px up.

A small fully convolutional P-Net slides over an image pyramid and proposes windows; the
R-Net (24×24 input) rejects most of them; the O-Net (48×48) scores and places the rest.
The weights are facenet-pytorch's (``vision/models/MODEL_CARD.md``), run by ONNX Runtime;
the cascade itself follows facenet-pytorch's ``detect_face`` except that crops reaching out
of the frame are padded with zeros (the original MTCNN's way) instead of being squeezed.

The pyramid's first scale maps ``pyramid_face`` pixels onto the P-Net's 12-px window, so
the cost grows with the square of the frame-to-face ratio: its first level is most of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from vision.models import MTCNN_PATHS
from vision.runtime import session_options

__all__ = ["Mtcnn", "MtcnnSettings"]

Floats = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]

#: The P-Net's window and stride, in pixels of the scaled image.
CELL, STRIDE = 12, 2
#: Pyramid step: each level is 0.709× the previous (√½, the paper's choice).
PYRAMID_FACTOR = 0.709


#: The P-Net finds faces down to about this fraction of its window: its box regression
#: reaches them (measured in docs/benchmarks.md), so the pyramid can start higher.
PNET_REACH = 0.75


@dataclass(frozen=True)
class MtcnnSettings:
    """Where the pyramid starts (``pyramid_face``: the face size, in px, that its first
    level brings to the P-Net's 12-px window) and each stage's face-probability threshold
    (facenet-pytorch's defaults)."""

    pyramid_face: int = 32
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    #: Stop the pyramid when faces would be larger than this (px); None: the frame's size.
    max_face: int | None = None

    @classmethod
    def for_faces_from(cls, min_face: int) -> MtcnnSettings:
        """The settings that find faces from ``min_face`` px wide."""
        return cls(pyramid_face=max(CELL, round(min_face / PNET_REACH)))


def _session(path: str, threads: int) -> ort.InferenceSession:
    return ort.InferenceSession(path, session_options(threads), providers=["CPUExecutionProvider"])


def _normalise(rgb: Image) -> Floats:
    """H×W×3 (or N×H×W×3) uint8 RGB → N×3×H×W float32 in [-1, 1) as the nets were trained."""
    batch = rgb[None] if rgb.ndim == 3 else rgb
    scaled = (batch.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 128)
    return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))


def nms(boxes: Floats, scores: Floats, threshold: float, *, by_min: bool = False) -> list[int]:
    """Greedy non-maximum suppression on x1, y1, x2, y2 boxes (inclusive pixel corners):
    the indices kept, best first. ``by_min`` divides the overlap by the smaller box (the
    O-Net stage's rule, which also removes a small box inside a bigger one)."""
    if not by_min:  # OpenCV's is the same rule, in C++: ~3× faster on a P-Net level
        sizes = boxes[:, 2:4] - boxes[:, 0:2] + 1
        rects = np.concatenate([boxes[:, 0:2], sizes], axis=1).astype(np.float64)
        # The stubs ask for sequences; OpenCV takes the arrays as they are, without copies.
        kept = cv2.dnn.NMSBoxes(rects, scores.astype(np.float64), 0.0, threshold)  # type: ignore[arg-type]
        return [int(i) for i in np.asarray(kept).reshape(-1)]
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep: list[int] = []
    while order.size:
        best, rest = int(order[0]), order[1:]
        keep.append(best)
        w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = w * h
        order = rest[inter / np.minimum(area[best], area[rest]) <= threshold]
    return keep


def _regress(boxes: Floats, offsets: Floats) -> Floats:
    """Move each box's corners by the nets' offsets, in units of its width and height."""
    size = boxes[:, 2:4] - boxes[:, 0:2] + 1
    moved = boxes.copy()
    moved[:, 0:2] += offsets[:, 0:2] * size
    moved[:, 2:4] += offsets[:, 2:4] * size
    return moved


def _square(boxes: Floats) -> Floats:
    """Grow each box to a square around its centre (the next net's input is square)."""
    size = boxes[:, 2:4] - boxes[:, 0:2]
    side = size.max(axis=1)
    squared = boxes.copy()
    squared[:, 0:2] = boxes[:, 0:2] + size * 0.5 - side[:, None] * 0.5
    squared[:, 2:4] = squared[:, 0:2] + side[:, None]
    return squared


def _crops(rgb: Image, boxes: Floats, side: int) -> Image:
    """The boxes cut out of the frame (zeros beyond its edges), resized to side×side."""
    height, width = rgb.shape[:2]
    out = np.zeros((len(boxes), side, side, 3), dtype=np.uint8)
    for index, (x1, y1, x2, y2) in enumerate(np.trunc(boxes).astype(np.int64)):
        w, h = x2 - x1 + 1, y2 - y1 + 1
        if w < 2 or h < 2:
            continue
        patch = np.zeros((h, w, 3), dtype=np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, width - 1), min(y2, height - 1)
        if sx2 < sx1 or sy2 < sy1:
            continue
        patch[sy1 - y1 : sy2 - y1 + 1, sx1 - x1 : sx2 - x1 + 1] = rgb[sy1 : sy2 + 1, sx1 : sx2 + 1]
        out[index] = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
    return out


class Mtcnn:
    """Faces in RGB frames: ``detect`` returns N×5 float32 (x1, y1, x2, y2, score).

    Thread-safe: ONNX Runtime sessions may run concurrently; the settings come per call."""

    def __init__(self, *, threads: int = 1) -> None:
        self._pnet = _session(str(MTCNN_PATHS["pnet"]), threads)
        self._rnet = _session(str(MTCNN_PATHS["rnet"]), threads)
        self._onet = _session(str(MTCNN_PATHS["onet"]), threads)

    @staticmethod
    def scales(height: int, width: int, settings: MtcnnSettings) -> list[float]:
        """The pyramid: the first level shrinks ``pyramid_face`` to the P-Net's 12 px."""
        first = CELL / settings.pyramid_face
        largest = min(height, width)
        if settings.max_face is not None:
            largest = min(largest, settings.max_face)
        levels, scale = [], first
        while largest * scale >= CELL:
            levels.append(scale)
            scale *= PYRAMID_FACTOR
        return levels

    def detect(self, rgb: Image, settings: MtcnnSettings | None = None) -> Floats:
        """Faces as rows (x1, y1, x2, y2, score) in frame pixels."""
        return self.detect_with_landmarks(rgb, settings)[:, 0:5]

    def detect_with_landmarks(self, rgb: Image, settings: MtcnnSettings | None = None) -> Floats:
        """Faces as rows (x1, y1, x2, y2, score, then the x of the five landmarks, then
        their y), in frame pixels. Landmarks in facenet-pytorch's order: left eye, right
        eye, nose, left and right mouth corners (vision.attention reads the yaw off them)."""
        settings = settings or MtcnnSettings()
        candidates = self._propose(rgb, settings)
        if len(candidates):
            candidates = self._refine(rgb, candidates, settings.thresholds[1])
        if not len(candidates):
            return np.zeros((0, 15), dtype=np.float32)
        return self._output(rgb, candidates, settings.thresholds[2])

    def _propose(self, rgb: Image, settings: MtcnnSettings) -> Floats:
        """P-Net over the pyramid: candidate squares in frame pixels, with scores."""
        height, width = rgb.shape[:2]
        found: list[Floats] = []
        level = rgb
        for scale in self.scales(height, width, settings):
            size = (int(width * scale + 1), int(height * scale + 1))
            # Each level from the one before: INTER_AREA from the full frame every time
            # costs ~6 ms a frame, most of it for the smallest levels.
            level = np.asarray(cv2.resize(level, size, interpolation=cv2.INTER_AREA), np.uint8)
            offsets, probs = self._pnet.run(None, {"image": _normalise(level)})
            face = probs[0, 1]
            ys, xs = np.nonzero(face >= settings.thresholds[0])
            if not len(ys):
                continue
            corner = np.stack([xs, ys], axis=1).astype(np.float32)
            boxes = np.empty((len(ys), 9), dtype=np.float32)
            boxes[:, 0:2] = np.floor((STRIDE * corner + 1) / scale)
            boxes[:, 2:4] = np.floor((STRIDE * corner + CELL) / scale)
            boxes[:, 4] = face[ys, xs]
            boxes[:, 5:9] = offsets[0][:, ys, xs].T
            found.append(boxes[nms(boxes[:, 0:4], boxes[:, 4], 0.5)])
        if not found:
            return np.zeros((0, 5), dtype=np.float32)
        boxes = np.concatenate(found)
        boxes = boxes[nms(boxes[:, 0:4], boxes[:, 4], 0.7)]
        moved = _regress(boxes[:, 0:4], boxes[:, 5:9])
        return np.concatenate([_square(moved), boxes[:, 4:5]], axis=1)

    def _refine(self, rgb: Image, candidates: Floats, threshold: float) -> Floats:
        offsets, probs = self._run(self._rnet, _crops(rgb, candidates[:, 0:4], 24), ("reg", "prob"))
        passed = probs[:, 1] > threshold
        boxes = np.concatenate([candidates[passed, 0:4], probs[passed, 1:2]], axis=1)
        boxes[:, 0:4] = _square(_regress(boxes[:, 0:4], offsets[passed]))
        # Unlike facenet-pytorch (NMS at 0.7, then regression): the R-Net's regression
        # brings a face's several windows onto nearly the same box, and suppressing
        # those at 0.5 halves the O-Net's work (its crops are ~10× an R-Net's) with the
        # same recall on the benchmark's frames (docs/benchmarks.md).
        return boxes[nms(boxes[:, 0:4], boxes[:, 4], 0.5)]

    def _output(self, rgb: Image, candidates: Floats, threshold: float) -> Floats:
        offsets, points, probs = self._run(
            self._onet, _crops(rgb, candidates[:, 0:4], 48), ("reg", "landmarks", "prob")
        )
        passed = probs[:, 1] > threshold
        boxes = np.concatenate([candidates[passed, 0:4], probs[passed, 1:2]], axis=1)
        # Landmarks are fractions of the box the O-Net saw (before its regression), as
        # facenet-pytorch reads them.
        width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        xs = width * points[passed, 0:5] + boxes[:, 0:1] - 1
        ys = height * points[passed, 5:10] + boxes[:, 1:2] - 1
        boxes[:, 0:4] = _regress(boxes[:, 0:4], offsets[passed])
        faces = np.concatenate([boxes, xs, ys], axis=1).astype(np.float32)
        return faces[nms(faces[:, 0:4], faces[:, 4], 0.7, by_min=True)]

    @staticmethod
    def _run(session: ort.InferenceSession, crops: Image, names: Sequence[str]) -> list[Floats]:
        outputs: list[Floats] = session.run(list(names), {"image": _normalise(crops)})
        return outputs
