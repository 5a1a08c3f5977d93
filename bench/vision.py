"""Vision benchmark: our FramePipeline against the fer package, per CPU core.

Issue 3: frames/s and the classifier's faces/s on two photographs. Issue 13: which faces
each detector finds in generated camera scenes (faces 16–128 px wide), its false
positives, and frames/s over those scenes.

Usage::

    .venv/bin/python bench/vision.py                 # everything, about 17 minutes
    .venv/bin/python bench/vision.py --quick         # smoke run, about 2 minutes
    .venv/bin/python bench/vision.py --phases recall # issue 13 only, about 5 minutes
    .venv/bin/python bench/vision.py --no-peer       # ours only, no TensorFlow needed
    .venv/bin/python bench/vision.py --duration 10 --repeats 5

The peer, fer 25.10.3, needs TensorFlow 2.15 (Python 3.11), and its small-face mode
(``FER(mtcnn=True)``) facenet-pytorch and torch, which the project does not depend on: the
first run creates a venv for them, ``bench/.venv-fer`` (git-ignored, about 2.9 GB of
downloads, 2.5 GB of it torch 2.2.2 and the CUDA libraries its PyPI wheel depends on;
6.3 GB on disk), and later runs reuse it when ``FER(mtcnn=False)`` and ``FER(mtcnn=True)``
can be made there. If it cannot be made to work, fer's columns say "skipped (why)" and
the rest still runs.

Frames (issue 3): two 640×480 JPEGs (quality 90) made by ``tools/frames.py``: skimage's
astronaut letterboxed to 640×480 (one face) and the mosaic of four astronaut tiles (four
faces). Scenes (issue 13): ``tools/scenes.py``'s seeded 640×480 JPEGs (quality 85) with
known faces, face-free ones, and the two frames above. Both sides start from the same
JPEG bytes and decode them inside the timed loop.

Phases (``--phases``, default all). Every measurement is a warm-up and then ``--duration``
s (``recall``: one pass over all scenes), in ``--repeats`` interleaved rounds (every
measurement once per round); medians and min–max of the rounds are reported:

  pipeline    ours: ``FramePipeline.process([frame])``, JPEG bytes to observations (decode,
              detect, crop, classify, track). fer: ``cv2.imdecode`` then
              ``FER(mtcnn=False).detect_emotions(img)``, fer's default (its quantized TFLite
              model) and, as an extra, ``use_tflite=False`` (the Keras model we converted).
              Also ours with fer's detector settings (Haar scale 1.1, minNeighbors 5,
              minSize 50, at full size), and, untimed, the faces each side finds in a
              lossless PNG of the frames (fer's Haar fires on the astronaut's space
              shuttle there, not in the JPEG).
  stages      the pipeline's steps timed one by one per frame: where the time goes.
  haar        a bare ``detectMultiScale`` with fer's settings in both venvs: the OpenCV
              builds differ (fer's venv needs numpy < 2, hence an older OpenCV).
  classifier  faces/s of ``ExpressionClassifier.infer`` on N×64×64 crops, N = 1, 8, 32, and
              fer's own classifier on the same crops.
  threads     informative: the pipeline and the classifier on two CPUs with two threads
              (and ours once more with ONNX Runtime on one thread, as the service runs it).
  recall      issue 13, on every scene, one frame per call, for: ours as configured
              (``FramePipeline.from_settings(Settings())``, floor-camera headers: MTCNN
              from 24 px), ours with the old default (``vision_detector="haar"``: Haar on
              a 320-px-wide copy), fer's default ``FER(mtcnn=False)`` and fer's small-face
              mode ``FER(mtcnn=True)`` (facenet-pytorch's MTCNN in torch). Faces found
              (boxes matched one to one to the true faces at IoU >= 0.4) per face-size
              bin, false positives per face-free frame and per face frame, and frames/s
              per core over the whole pass.

Per core: every measurement runs in a worker process pinned to one CPU with
``os.sched_setaffinity``, ``cv2.setNumThreads(1)``, ONNX Runtime with one thread
(``ExpressionClassifier(threads=1)``), TensorFlow's thread pools at one thread and, for
fer's small-face mode, torch's (``torch.set_num_threads(1)``,
``torch.set_num_interop_threads(1)``). Workers are this script, run with the hidden
``_worker`` command (with fer's venv's Python for the peer). Other processes' CPU use on
a worker's CPUs is read from /proc/stat around every measurement, which is repeated when
it exceeds 0.1 cores.

Progress goes to stderr; the results (markdown) to stdout, and everything as JSON to
``bench/results/vision-<timestamp>.json``. Exit status: 0 done, 2 setup problem (our
pipeline cannot run), 3 a target of a phase that ran missed with ``--fail-on-target``,
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import itertools
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import benchlib
from benchlib import REPO, code_version, die_with_parent, process_cpu_seconds, say

sys.path.insert(0, str(REPO))  # the repository's packages, and tools/ (not installed)
from tools.frames import astronaut_bgr, four_faces, jpeg, letterbox
from tools.scenes import SIZE_BINS, Scene, make_scenes, match, size_bin

SCRIPT = str(Path(__file__).resolve())
BENCH = Path(__file__).resolve().parent
DEFAULT_FER_VENV = BENCH / ".venv-fer"

# This file is bench/vision.py: with bench/ first on sys.path, ``import vision`` would find
# this script instead of the project's package. (benchlib, bench/'s own module, is
# imported above, while bench/ is still there.)
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH]

# The peer's venv. fer 25.10.3 declares tensorflow, opencv-contrib-python, facenet-pytorch
# (torch), pandas, moviepy, ... as dependencies; FER(mtcnn=False) imports only cv2, numpy,
# pkg_resources, requests, PIL and tensorflow, and FER(mtcnn=True) also facenet_pytorch
# (torch, torchvision, tqdm). Installing those and fer with --no-deps keeps the venv at one
# OpenCV build and one TensorFlow (a plain `pip install fer` here pulls tensorflow *and*
# tensorflow-cpu and two OpenCV wheels over each other, 7 GB, after pip backtracks through
# ten TensorFlow releases).
FER_VERSION = "25.10.3"
FER_DEPENDENCIES = (
    "tensorflow-cpu==2.15.1",  # loads fer's Keras-2.0.5 HDF5 file; needs Python <= 3.11
    "numpy<2",  # TensorFlow 2.15 is built against numpy 1.x
    # OpenCV 5 has no CascadeClassifier, and 4.12 and later need numpy >= 2: without this
    # bound pip downloads three newer wheels before it settles on 4.11.
    "opencv-python-headless<4.12",
    "requests",
    "setuptools<81",  # fer imports pkg_resources
    # fer's small-face mode: facenet-pytorch 2.6.0 asks for torch 2.2.x and Pillow 10.2.x.
    # The PyPI wheel of torch brings its CUDA libraries (2.5 GB of downloads); the CPU-only
    # index would save most of that but is not reachable everywhere. The worker hides the
    # GPU (CUDA_VISIBLE_DEVICES=""), so fer's MTCNN runs on the CPU like everything else.
    "torch==2.2.2",
    "tqdm",
    "Pillow>=10.2,<10.3",
)
#: Installed with --no-deps after FER_DEPENDENCIES: what they import is there by then, and
#: their declared dependencies are unwanted (fer's, above) or would only make pip resolve
#: torch and Pillow once more.
FER_NO_DEPS = (f"fer=={FER_VERSION}", "facenet-pytorch==2.6.0", "torchvision==0.17.2")
FER_PYTHON = "python3.11"

# Acceptance of issue 3.
TARGET_RATIO = 3.0  # our frames/s per core ≥ 3× fer's, with the same faces
TARGET_FACES_PER_S = 5000.0  # classifier alone, per core, batched

# Acceptance of issue 13, for ours as configured on a floor camera.
TARGET_RECALL_SMALL = 0.90  # faces 24–32 px
SMALL_BIN = (24, 32)
TARGET_RECALL_LARGE = 0.98  # each bin from 40 px up
TARGET_FP_PER_EMPTY = 0.05  # false positives per face-free frame
TARGET_SCENE_RATIO = 2.0  # frames/s per core over the scenes, against fer's default
#: Scenes: frames with faces (4 each: ≥ 150 per size bin in a full run) and without.
SCENE_SEED = 13
SCENES_FULL = (200, 100)
SCENES_QUICK = (40, 20)
RECALL_IOU = 0.4
#: The engines of the recall phase: (worker, pipeline variant), and what the report calls them.
SCENE_ENGINES = {
    "ours": ("ours-1", "settings"),
    "ours-haar": ("ours-1", "haar-default"),
    "fer": ("fer-1", "default"),
    "fer-mtcnn": ("fer-mtcnn-1", "default"),
}
SCENE_TITLES = {
    "ours": "ours as configured: MTCNN from 24 px (floor camera)",
    "ours-haar": "ours, old default: Haar on a 320-px copy, from 48 px",
    "fer": "fer default, `FER(mtcnn=False)`: Haar from 50 px",
    "fer-mtcnn": "fer small-face mode, `FER(mtcnn=True)`: facenet-pytorch MTCNN from 20 px",
}
PHASES = ("pipeline", "stages", "haar", "classifier", "threads", "recall")

FRAMES = {
    "astronaut": {
        "title": "astronaut, letterboxed to 640×480",
        "expected_faces": 1,
    },
    "four-faces": {
        "title": "four-face mosaic, 640×480",
        "expected_faces": 4,
    },
}
BATCHES = (1, 8, 32)
MATCH_IOU = 0.5
#: Other processes' CPU use on a worker's CPUs (in cores) above which progress warns.
OTHER_LOAD_WARNING = 0.05
#: ... and above which a measurement is repeated (``--busy-retries`` times at most).
OTHER_LOAD_RETRY = 0.10

# fer 25.10.3's Haar settings (FER.__init__ defaults), for our detector and the bare control.
FER_HAAR = {"scale_factor": 1.1, "min_neighbors": 5, "min_size": 50}


class SetupError(Exception):
    """The benchmark cannot run (our pipeline does not load, frames cannot be made, ...)."""


class WorkerError(Exception):
    """A worker process died, did not answer, or could not start."""


# =============================================================================== measuring


def measure(call: Callable[[], object], warmup: float, duration: float) -> dict[str, float]:
    """Call repeatedly: ``warmup`` s (at least once) unmeasured, then ``duration`` s measured."""
    deadline = time.perf_counter() + warmup
    call()
    while time.perf_counter() < deadline:
        call()
    calls = 0
    cpu_start, start = time.process_time(), time.perf_counter()
    while True:
        call()
        calls += 1
        now = time.perf_counter()
        if now - start >= duration:
            break
    seconds = now - start
    return {
        "calls": calls,
        "seconds": seconds,
        "calls_per_s": calls / seconds,
        "cpu_cores": (time.process_time() - cpu_start) / seconds,
    }


def measure_stages(
    step: Callable[[], dict[str, float]], warmup: float, duration: float
) -> dict[str, Any]:
    """Like ``measure``, for a step that returns its own per-stage durations in seconds."""
    deadline = time.perf_counter() + warmup
    step()
    while time.perf_counter() < deadline:
        step()
    totals: dict[str, float] = {}
    calls = 0
    start = time.perf_counter()
    while True:
        for stage, seconds in step().items():
            totals[stage] = totals.get(stage, 0.0) + seconds
        calls += 1
        now = time.perf_counter()
        if now - start >= duration:
            break
    return {
        "calls": calls,
        "seconds": now - start,
        "calls_per_s": calls / (now - start),
        "ms": {stage: total / calls * 1000 for stage, total in totals.items()},
    }


def timed_pass(call: Callable[[Any], Any], items: list[Any], warmup: float) -> dict[str, Any]:
    """``call`` on the items in turn (first ``warmup`` s of them unmeasured, at least one),
    then once on every item, each call timed: the rate, the per-item times and the
    answers (turned into JSON by the caller, outside the timing)."""
    clock = time.perf_counter
    deadline = clock() + warmup
    for item in itertools.cycle(items):
        call(item)
        if clock() >= deadline:
            break
    answers, ms = [], []
    cpu_start, start = time.process_time(), clock()
    for item in items:
        began = clock()
        answers.append(call(item))
        ms.append((clock() - began) * 1000)
    seconds = clock() - start
    return {
        "calls": len(items),
        "seconds": seconds,
        "calls_per_s": len(items) / seconds,
        "cpu_cores": (time.process_time() - cpu_start) / seconds,
        "ms": [round(t, 3) for t in ms],
        "answers": answers,
    }


def load_scenes(frames_dir: Path) -> list[bytes]:
    """The scenes' JPEG bytes, in the order make_scene_files wrote them."""
    return [path.read_bytes() for path in sorted((frames_dir / "scenes").glob("*.jpg"))]


# =============================================================================== engines


def load_inputs(frames_dir: Path, cv2: Any, np: Any) -> tuple[Any, Any, Any, Any]:
    """What every engine measures on: JPEG and PNG frames, the face crop, fer's cascade.

    cv2 and numpy are passed in: the fer worker runs in another venv with its own.
    """
    frames = {name: (frames_dir / f"{name}.jpg").read_bytes() for name in FRAMES}
    lossless = {name: (frames_dir / f"{name}.png").read_bytes() for name in FRAMES}
    crop = np.asarray(cv2.imread(str(frames_dir / "face-crop.png"), cv2.IMREAD_GRAYSCALE))
    cascade = cv2.CascadeClassifier(
        str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
    )
    return frames, lossless, crop.astype(np.uint8), cascade


class OursEngine:
    """Our FramePipeline, in the project's venv."""

    def __init__(self, frames_dir: Path, threads: int) -> None:
        import cv2
        import numpy as np

        cv2.setNumThreads(threads)
        from kioskpulse.events import EXPRESSIONS, FrameHeaders
        from kioskpulse.settings import Settings
        from vision.classifier import ExpressionClassifier
        from vision.crops import face_crops
        from vision.decode import DEFAULT_MAX_PIXELS, decode_frame
        from vision.detector import HaarFaceDetector
        from vision.pipeline import AnalysedFrame, Frame, FramePipeline

        self.cv2, self.np = cv2, np
        self.frames_dir = frames_dir
        self.scene_frames: list[bytes] | None = None
        self.settings = Settings()
        self.AnalysedFrame = AnalysedFrame
        self.decode_frame, self.max_pixels = decode_frame, DEFAULT_MAX_PIXELS
        self.face_crops = face_crops
        self.expressions = EXPRESSIONS  # the model's label order (fer's too)
        self.threads = threads
        # CPU only: a CUDA build of onnxruntime would otherwise take the GPU.
        self.classifier = ExpressionClassifier(threads=threads, providers=["CPUExecutionProvider"])
        fer_like = HaarFaceDetector(
            scale_factor=FER_HAAR["scale_factor"],
            min_neighbors=FER_HAAR["min_neighbors"],
            min_face=FER_HAAR["min_size"],
            work_width=1_000_000,  # never downscale
        )
        self.pipelines = {
            "default": FramePipeline(classifier=self.classifier),
            "fer-haar": FramePipeline(detector=fer_like, classifier=self.classifier),
        }
        if threads > 1:
            # OpenCV on all threads, ONNX Runtime on one: the service's default classifier.
            single = ExpressionClassifier(threads=1, providers=["CPUExecutionProvider"])
            self.pipelines["ort-1"] = FramePipeline(classifier=single)
        # Issue 13: the pipeline exactly as the service builds it (the environment's
        # KIOSKPULSE_* settings included; facts() reports them), and the same with the
        # detector of before (Haar on a 320-px copy; make_detector("haar")). Made on first
        # use: workers of the other phases do not need them.
        self.pipeline_factories: dict[str, Callable[[], Any]] = {
            "settings": lambda: FramePipeline.from_settings(self.settings),
            "haar-default": lambda: FramePipeline.from_settings(
                self.settings.model_copy(update={"vision_detector": "haar"})
            ),
        }
        self.headers = FrameHeaders.model_validate(
            {
                "camera_id": "bench-cam",
                "store_id": "bench-store",
                "role": "floor",
                "captured_at": dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC),
                "content_type": "image/jpeg",
            }
        )
        self.png_headers = self.headers.model_copy(update={"content_type": "image/png"})
        self.Frame = Frame
        self.frames, self.lossless, self.crop, self.cascade = load_inputs(frames_dir, cv2, np)

    def facts(self) -> dict[str, Any]:
        import onnxruntime

        settings = self.settings.model_dump(mode="json")
        return {
            "engine": "ours",
            "cv2": self.cv2.__version__,
            "cv2_threads": self.cv2.getNumThreads(),
            "onnxruntime": onnxruntime.__version__,
            "onnxruntime_providers": self.classifier.providers,
            "numpy": self.np.__version__,
            "settings": {
                k: v for k, v in settings.items() if k.startswith("vision_") or k == "yunet_model"
            },
        }

    def _pipeline(self, variant: str) -> Any:
        if variant not in self.pipelines:
            self.pipelines[variant] = self.pipeline_factories[variant]()
        return self.pipelines[variant]

    def scenes(self, variant: str, warmup: float) -> dict[str, Any]:
        """One timed pass over the scenes, a frame per ``process`` call, with floor-camera
        headers; the boxes found in each."""
        pipeline = self._pipeline(variant)
        if self.scene_frames is None:
            self.scene_frames = load_scenes(self.frames_dir)
        frames = [self.Frame(self.headers, data) for data in self.scene_frames]
        result = timed_pass(lambda frame: pipeline.process([frame])[1][0], frames, warmup)
        boxes = []
        for analysed in result.pop("answers"):
            if analysed.rejected is not None:
                raise RuntimeError(f"scene rejected: {analysed.rejected}")
            boxes.append([[int(v) for v in box] for box in analysed.boxes])
        result["boxes"] = boxes
        detector = pipeline.detector
        result["detector"] = {
            "type": type(detector).__name__,
            "min_face": pipeline.min_face(self.headers),
            **{k: v for k, v in vars(detector).items() if not k.startswith("_")},
        }
        return result

    def pipeline(self, frame: str, variant: str, warmup: float, duration: float) -> dict[str, Any]:
        pipeline = self.pipelines[variant]
        batch = [self.Frame(self.headers, self.frames[frame])]
        result = measure(lambda: pipeline.process(batch), warmup, duration)
        result["faces"] = self._faces(pipeline, batch)
        return result

    def faces(self, frame: str) -> dict[str, Any]:
        """The faces found once in the lossless PNG of the frame (not timed)."""
        batch = [self.Frame(self.png_headers, self.lossless[frame])]
        return {"faces": self._faces(self.pipelines["default"], batch)}

    def _faces(self, pipeline: Any, batch: list[Any]) -> list[dict[str, Any]]:
        _, (analysed,) = pipeline.process(batch)
        if analysed.rejected is not None:
            raise RuntimeError(f"frame rejected: {analysed.rejected}")
        return [
            {
                "box": [int(v) for v in box],
                "top": self.expressions[int(probs.argmax())],
                "happy": round(float(probs[self.expressions.index("happy")]), 4),
            }
            for box, probs in zip(analysed.boxes, analysed.probs, strict=True)
        ]

    def stages(self, frame: str, warmup: float, duration: float) -> dict[str, Any]:
        cv2, np = self.cv2, self.np
        pipeline = self.pipelines["default"]
        data, headers = self.frames[frame], self.headers
        clock = time.perf_counter

        def step() -> dict[str, float]:
            t0 = clock()
            bgr = self.decode_frame(data, self.max_pixels)
            t1 = clock()
            gray = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
            boxes = pipeline.detector.detect(bgr, gray)
            t2 = clock()
            crops = self.face_crops(gray, boxes)
            t3 = clock()
            probs = self.classifier.infer(crops)
            t4 = clock()
            pipeline.track([self.AnalysedFrame(headers, boxes=boxes, probs=probs)])
            t5 = clock()
            return {
                "decode": t1 - t0,
                "detect": t2 - t1,
                "crop": t3 - t2,
                "classify": t4 - t3,
                "track": t5 - t4,
            }

        return measure_stages(step, warmup, duration)

    def haar(self, frame: str, warmup: float, duration: float) -> dict[str, Any]:
        bgr = self.decode_frame(self.frames[frame], self.max_pixels)
        gray = self.cv2.cvtColor(bgr, self.cv2.COLOR_BGR2GRAY)
        return bare_haar(self.cv2, self.cascade, gray, warmup, duration)

    def classifier_run(self, batch: int, warmup: float, duration: float) -> dict[str, Any]:
        crops = self.np.ascontiguousarray(self.np.repeat(self.crop[None], batch, axis=0))
        result = measure(lambda: self.classifier.infer(crops), warmup, duration)
        result["faces_per_s"] = result["calls_per_s"] * batch
        return result


class FerEngine:
    """fer's FER(mtcnn=False), or with ``mtcnn`` its small-face mode, in fer's own venv."""

    def __init__(self, frames_dir: Path, threads: int, *, keras: bool, mtcnn: bool = False) -> None:
        import cv2
        import numpy as np

        cv2.setNumThreads(threads)
        self.torch: Any = None
        if mtcnn:
            import torch

            # Before torch runs anything: its inter-op pool cannot be resized once started.
            torch.set_num_threads(threads)
            torch.set_num_interop_threads(threads)
            self.torch = torch
        import tensorflow as tf

        # Before TensorFlow's runtime starts (the environment says the same, see worker_main).
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        from fer.fer import FER

        self.cv2, self.np, self.tf = cv2, np, tf
        self.keras, self.mtcnn = keras, mtcnn
        self.threads = threads
        self.frames_dir = frames_dir
        self.scene_frames: list[bytes] | None = None
        # Default settings: the Haar detector (or facenet-pytorch's MTCNN, its defaults:
        # faces from 20 px) and, unless keras, the quantized TFLite model. fer hands the
        # MTCNN its BGR frame as it is, although facenet's nets were trained on RGB: that
        # is fer's small-face mode as shipped, measured as such.
        self.fer = FER(mtcnn=mtcnn, use_tflite=not keras)
        self.frames, self.lossless, self.crop, self.cascade = load_inputs(frames_dir, cv2, np)

    def facts(self) -> dict[str, Any]:
        facts = {
            "engine": "fer",
            "model": "keras" if self.keras else "tflite (default)",
            "detector": "mtcnn (facenet-pytorch)" if self.mtcnn else "haar (default)",
            "fer": importlib.metadata.version("fer"),
            "tensorflow": self.tf.__version__,
            "cv2": self.cv2.__version__,
            "cv2_threads": self.cv2.getNumThreads(),
            "numpy": self.np.__version__,
            "tf_intra_op_threads": self.tf.config.threading.get_intra_op_parallelism_threads(),
        }
        if self.torch is not None:
            facts["torch"] = self.torch.__version__
            facts["torch_threads"] = self.torch.get_num_threads()
            facts["torch_interop_threads"] = self.torch.get_num_interop_threads()
            facts["facenet-pytorch"] = importlib.metadata.version("facenet-pytorch")
        return facts

    def scenes(self, variant: str, warmup: float) -> dict[str, Any]:
        """One timed pass over the scenes, ``cv2.imdecode`` + ``detect_emotions`` per frame;
        the boxes found in each (``face["box"]``)."""
        if self.scene_frames is None:
            self.scene_frames = load_scenes(self.frames_dir)
        result = timed_pass(
            lambda data: self.fer.detect_emotions(self.decode(data)), self.scene_frames, warmup
        )
        result["boxes"] = [
            [[int(v) for v in face["box"]] for face in faces] for faces in result.pop("answers")
        ]
        return result

    def decode(self, data: bytes) -> Any:
        return self.cv2.imdecode(self.np.frombuffer(data, self.np.uint8), self.cv2.IMREAD_COLOR)

    def pipeline(self, frame: str, variant: str, warmup: float, duration: float) -> dict[str, Any]:
        data = self.frames[frame]
        result = measure(lambda: self.fer.detect_emotions(self.decode(data)), warmup, duration)
        result["faces"] = self._faces(data)
        return result

    def faces(self, frame: str) -> dict[str, Any]:
        """The faces found once in the lossless PNG of the frame (not timed)."""
        return {"faces": self._faces(self.lossless[frame])}

    def _faces(self, data: bytes) -> list[dict[str, Any]]:
        return [
            {
                "box": [int(v) for v in face["box"]],
                "top": max(face["emotions"], key=face["emotions"].get),
                "happy": float(face["emotions"]["happy"]),  # fer rounds to 2 decimals
            }
            for face in self.fer.detect_emotions(self.decode(data))
        ]

    def stages(self, frame: str, warmup: float, duration: float) -> dict[str, Any]:
        data = self.frames[frame]
        clock = time.perf_counter

        def step() -> dict[str, float]:
            t0 = clock()
            img = self.decode(data)
            t1 = clock()
            faces = self.fer.find_faces(img, bgr=True)  # grey + Haar
            t2 = clock()
            # Grey again, pad, crop, classify, label: fer's own code for given boxes.
            self.fer.detect_emotions(img, face_rectangles=faces)
            t3 = clock()
            return {"decode": t1 - t0, "detect": t2 - t1, "crop+classify": t3 - t2}

        return measure_stages(step, warmup, duration)

    def haar(self, frame: str, warmup: float, duration: float) -> dict[str, Any]:
        gray = self.cv2.cvtColor(self.decode(self.frames[frame]), self.cv2.COLOR_BGR2GRAY)
        return bare_haar(self.cv2, self.cascade, gray, warmup, duration)

    def classifier_run(self, batch: int, warmup: float, duration: float) -> dict[str, Any]:
        # Exactly what detect_emotions hands its classifier: N×64×64 float32 in [-1, 1].
        crops = self.np.repeat(self.crop[None], batch, axis=0).astype("float32")
        crops = (crops / 255.0 - 0.5) * 2.0
        classify = self.fer._classify_emotions
        result = measure(lambda: self.np.asarray(classify(crops)), warmup, duration)
        result["faces_per_s"] = result["calls_per_s"] * batch
        return result


def bare_haar(cv2: Any, cascade: Any, gray: Any, warmup: float, duration: float) -> dict[str, Any]:
    """detectMultiScale with fer's settings on a full-size grey frame."""
    size = (FER_HAAR["min_size"], FER_HAAR["min_size"])

    def call() -> object:
        return cascade.detectMultiScale(
            gray,
            scaleFactor=FER_HAAR["scale_factor"],
            minNeighbors=FER_HAAR["min_neighbors"],
            flags=cv2.CASCADE_SCALE_IMAGE,
            minSize=size,
        )

    result = measure(call, warmup, duration)
    result["boxes"] = [[int(v) for v in box] for box in call()]
    return result


# =============================================================================== worker side


def reply_stream() -> TextIO:
    """The worker's answers: the original stdout; anything libraries print goes to stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "w", buffering=1)


def worker_main(argv: list[str]) -> int:
    """The hidden ``_worker`` command: answer one JSON task per stdin line, on stdout."""
    parser = argparse.ArgumentParser(prog="bench/vision.py _worker")
    parser.add_argument("--engine", choices=("ours", "fer"), required=True)
    parser.add_argument("--keras", action="store_true")
    parser.add_argument("--mtcnn", action="store_true")
    parser.add_argument("--cpus", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--frames", type=Path, required=True)
    args = parser.parse_args(argv)

    # First, before any library starts a thread: every thread inherits the affinity.
    cpus = {int(c) for c in args.cpus.split(",")}
    os.sched_setaffinity(0, cpus)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    replies = reply_stream()

    def answer(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    try:
        engine: OursEngine | FerEngine
        if args.engine == "ours":
            engine = OursEngine(args.frames, args.threads)
        else:
            engine = FerEngine(args.frames, args.threads, keras=args.keras, mtcnn=args.mtcnn)
        facts = engine.facts()
    except Exception as exc:
        answer({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    facts.update(
        {
            "cpus": sorted(os.sched_getaffinity(0)),
            "threads": args.threads,
            "python": platform.python_version(),
            "executable": sys.executable,
        }
    )
    answer({"ready": True, "facts": facts})

    for line in sys.stdin:
        task = json.loads(line)
        kind, warmup, duration = task.get("kind"), task.get("warmup"), task.get("duration")
        try:
            if kind == "quit":
                break
            if kind == "pipeline":
                result = engine.pipeline(task["frame"], task["variant"], warmup, duration)
            elif kind == "stages":
                result = engine.stages(task["frame"], warmup, duration)
            elif kind == "haar":
                result = engine.haar(task["frame"], warmup, duration)
            elif kind == "classifier":
                result = engine.classifier_run(task["batch"], warmup, duration)
            elif kind == "faces":
                result = engine.faces(task["frame"])
            elif kind == "scenes":
                result = engine.scenes(task["variant"], warmup)
            else:
                result = {"error": f"unknown task {kind!r}"}
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        answer(result)
    return 0


def probe_main() -> int:
    """The hidden ``_probe`` command, in fer's venv: can both FER modes be made, and which
    versions."""
    replies = reply_stream()
    try:
        import cv2
        import tensorflow as tf
        import torch
        from fer.fer import FER

        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError(f"OpenCV {cv2.__version__} has no CascadeClassifier")
        FER(mtcnn=False)
        FER(mtcnn=True)  # imports facenet_pytorch, loads its weights into torch
        versions: dict[str, Any] = {"python": platform.python_version()}
        packages = ("fer", "numpy", "keras", "opencv-python-headless", "facenet-pytorch")
        for package in (*packages, "torchvision", "Pillow"):
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                versions[package] = importlib.metadata.version(package)
        versions["tensorflow"] = tf.__version__
        versions["torch"] = torch.__version__
        versions["cv2"] = cv2.__version__
    except Exception as exc:
        replies.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    replies.write(json.dumps({"ok": True, "versions": versions}) + "\n")
    return 0


# =============================================================================== orchestration


def cpus_jiffies(cpus: list[int]) -> tuple[int, int]:
    """(busy, total) jiffies of the given CPUs together, from /proc/stat."""
    wanted = {f"cpu{c}" for c in cpus}
    busy = total = 0
    with contextlib.suppress(OSError), open("/proc/stat") as stat:
        for line in stat:
            name, *values = line.split()
            if name in wanted:
                numbers = [int(v) for v in values[:8]]
                idle = numbers[3] + numbers[4]  # idle + iowait
                total += sum(numbers) - numbers[7]  # without steal
                busy += sum(numbers) - numbers[7] - idle
    return busy, total


class Worker:
    """A worker process and its line protocol."""

    def __init__(
        self,
        name: str,
        python: str,
        engine: str,
        cpus: list[int],
        threads: int,
        frames_dir: Path,
        log_dir: Path,
        *,
        keras: bool = False,
        mtcnn: bool = False,
    ) -> None:
        self.name = name
        self.cpus = cpus
        self.log_path = log_dir / f"{name}.log"
        command = [
            python,
            SCRIPT,
            "_worker",
            "--engine",
            engine,
            "--cpus",
            ",".join(str(c) for c in cpus),
            "--threads",
            str(threads),
            "--frames",
            str(frames_dir),
        ]
        if keras:
            command.append("--keras")
        if mtcnn:
            command.append("--mtcnn")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=REPO,
                preexec_fn=die_with_parent,
            )
        self.facts: dict[str, Any] = {}

    def ready(self, timeout: float) -> dict[str, Any]:
        message = self._read(timeout)
        if not message.get("ready"):
            raise WorkerError(f"{self.name} did not start: {message.get('error')}")
        self.facts = message["facts"]
        return self.facts

    def ask(self, task: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The worker's answer, with ``other_cores``: what else ran on its CPUs meanwhile."""
        assert self.process.stdin is not None
        wall, jiffies = time.perf_counter(), cpus_jiffies(self.cpus)
        own = process_cpu_seconds(self.process.pid)
        try:
            self.process.stdin.write(json.dumps(task) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerError(f"{self.name} is gone ({exc}); {self.log_tail()}") from exc
        answer = self._read(timeout)
        wall = time.perf_counter() - wall
        busy, total = (b - a for a, b in zip(jiffies, cpus_jiffies(self.cpus), strict=True))
        own_after = process_cpu_seconds(self.process.pid)
        if total > 0 and own is not None and own_after is not None:
            busy_cores = busy / total * len(self.cpus)
            answer["other_cores"] = round(max(0.0, busy_cores - (own_after - own) / wall), 3)
        return answer

    def _read(self, timeout: float) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], timeout)
        if not readable:
            raise WorkerError(f"{self.name} gave no answer within {timeout:.0f} s")
        line = stdout.readline()
        if not line:
            code = self.process.wait(timeout=10)
            raise WorkerError(f"{self.name} exited with status {code}; {self.log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return "last lines of its log:\n      " + "\n      ".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.process.stdin is not None
                self.process.stdin.write('{"kind": "quit"}\n')
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def make_frames(directory: Path) -> dict[str, Any]:
    """The two frames as JPEG files, and the astronaut's face crop as a PNG, in ``directory``."""
    try:
        import cv2
        import numpy as np

        from vision.crops import face_crops
        from vision.detector import HaarFaceDetector

        cv2.setNumThreads(1)  # no OpenCV thread pool in the process that forks the workers
        # tools/frames.py imports scikit-image (a dev dependency) here.
        images = {"astronaut": letterbox(astronaut_bgr(), 640, 480), "four-faces": four_faces()}
    except ImportError as exc:
        raise SetupError(f"{exc}; run the bench with the project's venv: .venv/bin/python") from exc

    facts: dict[str, Any] = {}
    for name, image in images.items():
        data = jpeg(image)
        (directory / f"{name}.jpg").write_bytes(data)
        cv2.imwrite(str(directory / f"{name}.png"), image)  # lossless, for the faces check
        facts[name] = {"width": image.shape[1], "height": image.shape[0], "jpeg_bytes": len(data)}
    # The classifier's input: our crop of the astronaut's face, as the pipeline cuts it.
    decoded = cv2.imdecode(np.frombuffer(jpeg(images["astronaut"]), np.uint8), cv2.IMREAD_COLOR)
    gray = np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    boxes = HaarFaceDetector().detect(decoded, gray)
    if len(boxes) == 0:
        raise SetupError("our detector finds no face in the astronaut frame")
    cv2.imwrite(str(directory / "face-crop.png"), face_crops(gray, boxes[:1])[0])
    return facts


def make_scene_files(
    directory: Path, seed: int, face_frames: int, empty_frames: int
) -> tuple[list[Scene], dict[str, Any]]:
    """tools/scenes.py's scenes as ``directory/scenes/NNNN.jpg`` (the workers read them in
    name order), and what they hold."""
    try:
        scenes = make_scenes(seed, face_frames, empty_frames)
    except ImportError as exc:
        raise SetupError(f"{exc}; run the bench with the project's venv: .venv/bin/python") from exc
    folder = directory / "scenes"
    folder.mkdir()
    for index, scene in enumerate(scenes):
        (folder / f"{index:04d}.jpg").write_bytes(scene.jpeg)
    per_bin = {bin_name(b): 0 for b in SIZE_BINS}
    for scene in scenes:
        for face in scene.faces:
            name = bin_name(size_bin(face[2]))
            per_bin[name] = per_bin.get(name, 0) + 1
    facts = {
        "seed": seed,
        "frames": len(scenes),
        "face_frames": sum(1 for s in scenes if s.faces and s.name.startswith("faces-")),
        "face_free_frames": sum(1 for s in scenes if not s.faces),
        "known_frames": [s.name for s in scenes if not s.name.startswith(("faces-", "empty-"))],
        "faces": sum(per_bin.values()),
        "faces_per_bin": per_bin,
        "backgrounds": sorted({s.background for s in scenes}),
        "jpeg_bytes_mean": round(sum(len(s.jpeg) for s in scenes) / len(scenes)),
    }
    return scenes, facts


def bin_name(size: tuple[int, int] | None) -> str:
    return "other" if size is None else f"{size[0]}–{size[1]}"


# ------------------------------------------------------------------------------- fer's venv


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def probe_fer(python: Path) -> dict[str, Any]:
    """Run ``_probe`` in fer's venv: {"ok": True, "versions": ...} or {"ok": False, "error"}."""
    try:
        done = subprocess.run(
            [str(python), SCRIPT, "_probe"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=REPO,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    lines = done.stdout.strip().splitlines()
    try:
        answer: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"ok": False, "error": f"probe exited with status {done.returncode}: {tail}"}
    return answer


def ensure_fer_venv(venv: Path, base_python: str) -> tuple[Path | None, dict[str, Any]]:
    """fer's venv, made or reused: (its python, versions), or (None, {"reason": ...})."""
    python = venv_python(venv)
    if python.exists():
        say(f"fer: checking the existing venv {venv} ...")
        probe = probe_fer(python)
        if probe["ok"]:
            say(f"fer: reusing {venv} ({format_versions(probe['versions'])})")
            return python, probe["versions"]
        say(f"fer: the venv does not work ({probe['error']}); installing into it again")
    else:
        interpreter = shutil.which(base_python)
        if interpreter is None:
            return None, {
                "reason": f"{base_python} not found (TensorFlow 2.15 needs Python <= 3.11)"
            }
        say(f"fer: creating {venv} with {interpreter} (first run only) ...")
        try:
            subprocess.run([interpreter, "-m", "venv", str(venv)], check=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, {"reason": f"cannot create the venv: {exc}"}
    # A venv ignores itself (as Python 3.13's venv does), whatever the repository's .gitignore.
    with contextlib.suppress(OSError):
        (venv / ".gitignore").write_text("# created by bench/vision.py\n*\n")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    steps = [[*pip, *FER_DEPENDENCIES], [*pip, "--no-deps", *FER_NO_DEPS]]
    for command in steps:
        say(f"fer: $ {' '.join(command)}")
        try:
            done = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, timeout=1800)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, {"reason": f"pip failed: {exc}"}
        if done.returncode != 0:
            return None, {"reason": f"pip install failed with status {done.returncode}"}
    probe = probe_fer(python)
    if not probe["ok"]:
        return None, {"reason": f"fer does not work after installing: {probe['error']}"}
    say(f"fer: ready ({format_versions(probe['versions'])})")
    return python, probe["versions"]


def format_versions(versions: dict[str, Any]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items())


# ------------------------------------------------------------------------------- plan and run


def build_plan(
    workers: dict[str, Worker], batches: tuple[int, ...], phases: list[str], scene_count: int
) -> list[dict[str, Any]]:
    """Every measurement of one round, in the order they run (each once per round)."""
    plan: list[dict[str, Any]] = []

    def add(worker: str, key: str, task: dict[str, Any]) -> None:
        plan.append({"worker": worker, "key": key, "task": task})

    if "pipeline" in phases:
        for frame in FRAMES:
            add("ours-1", f"pipeline/ours/{frame}/1", {"kind": "pipeline", "frame": frame})
            add("fer-1", f"pipeline/fer/{frame}/1", {"kind": "pipeline", "frame": frame})
            add(
                "fer-keras-1", f"pipeline/fer-keras/{frame}/1", {"kind": "pipeline", "frame": frame}
            )
            add(
                "ours-1",
                f"pipeline/ours-fer-haar/{frame}/1",
                {"kind": "pipeline", "frame": frame, "variant": "fer-haar"},
            )
    for frame in FRAMES:
        if "stages" in phases:
            add("ours-1", f"stages/ours/{frame}/1", {"kind": "stages", "frame": frame})
            add("fer-1", f"stages/fer/{frame}/1", {"kind": "stages", "frame": frame})
        if "haar" in phases:
            add("ours-1", f"haar/ours/{frame}/1", {"kind": "haar", "frame": frame})
            add("fer-1", f"haar/fer/{frame}/1", {"kind": "haar", "frame": frame})
    if "classifier" in phases:
        for batch in batches:
            task: dict[str, Any] = {"kind": "classifier", "batch": batch}
            add("ours-1", f"classifier/ours/{batch}/1", task)
            add("fer-1", f"classifier/fer/{batch}/1", dict(task))
            add("fer-keras-1", f"classifier/fer-keras/{batch}/1", dict(task))
    if "threads" in phases:
        for frame in FRAMES:
            add("ours-2", f"pipeline/ours/{frame}/2", {"kind": "pipeline", "frame": frame})
            add(
                "ours-2",
                f"pipeline/ours-ort1/{frame}/2",
                {"kind": "pipeline", "frame": frame, "variant": "ort-1"},
            )
            add("fer-2", f"pipeline/fer/{frame}/2", {"kind": "pipeline", "frame": frame})
        for batch in batches[1:]:
            add("ours-2", f"classifier/ours/{batch}/2", {"kind": "classifier", "batch": batch})
    if "recall" in phases:
        # Ours and fer alternate, so that a slow spell of the machine hits both.
        for engine in ("ours", "fer", "ours-haar", "fer-mtcnn"):
            worker, variant = SCENE_ENGINES[engine]
            add(worker, f"scenes/{engine}/1", {"kind": "scenes", "variant": variant})
            # A pass is not cut at --duration: give fer's MTCNN (~0.1 s a frame) room.
            plan[-1]["timeout"] = 120 + 2.0 * scene_count
    for item in plan:
        item["task"].setdefault("variant", "default")
    return [item for item in plan if item["worker"] in workers]


def lossless_faces(workers: dict[str, Worker]) -> dict[str, dict[str, Any]]:
    """Faces each one-thread engine finds in the lossless PNGs of the frames (not timed)."""
    found: dict[str, dict[str, Any]] = {}
    for name, engine in (("ours-1", "ours"), ("fer-1", "fer"), ("fer-keras-1", "fer-keras")):
        if name not in workers:
            continue
        found[engine] = {}
        for frame in FRAMES:
            try:
                answer = workers[name].ask({"kind": "faces", "frame": frame}, timeout=120)
            except WorkerError as exc:
                answer = {"error": str(exc)}
            found[engine][frame] = answer
            faces = answer.get("faces")
            say(
                f"  {name:>12} lossless {frame:<10}  "
                + (f"{len(faces)} face(s)" if faces is not None else f"ERROR {answer['error']}")
            )
    return found


def rate_of(result: dict[str, Any]) -> float | None:
    if "error" in result:
        return None
    value = result.get("faces_per_s", result.get("calls_per_s"))
    return None if value is None else float(value)


def progress_line(item: dict[str, Any], result: dict[str, Any]) -> str:
    kind = item["task"]["kind"]
    if "error" in result:
        return f"ERROR {result['error']}"
    if kind == "classifier":
        text = f"{result['faces_per_s']:10,.0f} faces/s"
    elif kind == "scenes":
        boxes = sum(len(found) for found in result["boxes"])
        text = (
            f"{result['calls_per_s']:10,.1f} frames/s over {result['calls']} scenes, {boxes} boxes"
        )
    elif kind == "stages":
        parts = ", ".join(f"{k} {v:.2f}" for k, v in result["ms"].items())
        text = f"{result['calls_per_s']:10,.1f} frames/s  (ms: {parts})"
    else:
        text = f"{result['calls_per_s']:10,.1f} frames/s"
        if "faces" in result:
            text += f"  {len(result['faces'])} face(s)"
        if "boxes" in result:
            text += f"  {len(result['boxes'])} box(es)"
    if "cpu_cores" in result:
        text += f"  [{result['cpu_cores']:.2f} cores]"
    if result.get("other_cores", 0.0) > OTHER_LOAD_WARNING:
        text += f"  WARNING: other processes used {result['other_cores']:.2f} of its cores"
    return text


def run_rounds(
    workers: dict[str, Worker], plan: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {item["key"]: [] for item in plan}
    for round_index in range(args.repeats):
        say(f"round {round_index + 1}/{args.repeats}")
        for item in plan:
            worker = workers[item["worker"]]
            task = {**item["task"], "warmup": args.warmup, "duration": args.duration}
            timeout = item.get("timeout", args.warmup + args.duration + 120)
            disturbed: list[float] = []
            while True:
                try:
                    result = worker.ask(task, timeout)
                except WorkerError as exc:
                    if item["worker"].startswith("ours"):
                        raise SetupError(str(exc)) from exc
                    result = {"error": str(exc)}
                other = result.get("other_cores", 0.0)
                if other <= OTHER_LOAD_RETRY or len(disturbed) >= args.busy_retries:
                    break
                disturbed.append(other)
                say(f"    other processes used {other:.2f} cores of its CPUs: measuring again")
                time.sleep(2.0)
            result["round"] = round_index
            result["disturbed_attempts"] = disturbed
            results[item["key"]].append(result)
            kind = item["task"]["kind"]
            label = f"{item['worker']:>12} {item['key'].split('/')[0]:>10} " + (
                f"batch {item['task']['batch']:>2}"
                if kind == "classifier"
                else f"{item['task']['variant']:<10}"
                if kind == "scenes"
                else f"{item['task']['frame']:<10}"
            )
            variant = item["task"].get("variant")
            if variant == "fer-haar":
                label += " (fer's Haar settings)"
            elif variant == "ort-1":
                label += " (ONNX Runtime on 1 thread)"
            say(f"  {label}  {progress_line(item, result)}")
    return results


# =============================================================================== analysis


def median_spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "min": None, "max": None, "spread_pct": None, "n": 0}
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median * 100 if median else None
    return {
        "median": median,
        "min": min(values),
        "max": max(values),
        "spread_pct": spread,
        "n": len(values),
    }


def iou(a: list[int], b: list[int]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    inter_w = max(0, min(ax2, bx2) - max(a[0], b[0]))
    inter_h = max(0, min(ay2, by2) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match_faces(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> dict[str, Any]:
    """Greedy one-to-one matching of boxes at IoU ≥ MATCH_IOU, best overlaps first."""
    pairs = sorted(
        ((iou(o["box"], t["box"]), i, j) for i, o in enumerate(ours) for j, t in enumerate(theirs)),
        reverse=True,
    )
    used_ours: set[int] = set()
    used_theirs: set[int] = set()
    matched = []
    for overlap, i, j in pairs:
        if overlap < MATCH_IOU or i in used_ours or j in used_theirs:
            continue
        used_ours.add(i)
        used_theirs.add(j)
        matched.append({"ours": i, "fer": j, "iou": round(overlap, 3)})
    return {
        "ours": len(ours),
        "fer": len(theirs),
        "matched": len(matched),
        "same": len(matched) == len(ours) == len(theirs),
        "pairs": matched,
        "ours_unmatched": [ours[i]["box"] for i in range(len(ours)) if i not in used_ours],
        "fer_unmatched": [theirs[j]["box"] for j in range(len(theirs)) if j not in used_theirs],
    }


def summarize(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for key, runs in results.items():
        kind = key.split("/")[0]
        errors = [r["error"] for r in runs if "error" in r]
        good = [r for r in runs if "error" not in r]
        entry: dict[str, Any] = {"errors": errors}
        rates = [v for v in map(rate_of, good) if v is not None]
        entry["rate"] = median_spread(rates)
        entry["cpu_cores"] = median_spread([r["cpu_cores"] for r in good if "cpu_cores" in r])
        entry["other_cores_max"] = max((r.get("other_cores", 0.0) for r in good), default=None)
        if kind == "stages" and good:
            stages = good[0]["ms"].keys()
            entry["ms"] = {s: median_spread([r["ms"][s] for r in good]) for s in stages}
        if kind == "pipeline" and good:
            entry["faces"] = good[0]["faces"]
            entry["faces_stable"] = all(r["faces"] == good[0]["faces"] for r in good)
        if kind == "haar" and good:
            entry["boxes"] = good[0]["boxes"]
        if kind == "scenes" and good:
            # Recall from the first round's pass; the detectors are deterministic, which
            # boxes_stable checks.
            entry["boxes"] = good[0]["boxes"]
            entry["boxes_stable"] = all(r["boxes"] == good[0]["boxes"] for r in good)
            entry["ms_rounds"] = [r["ms"] for r in good]
            entry["detector"] = good[0].get("detector")
        summary[key] = entry
    return summary


def med(summary: dict[str, Any], key: str) -> float | None:
    entry = summary.get(key)
    if entry is None:
        return None
    value = entry["rate"]["median"]
    return None if value is None else float(value)


def judge(summary: dict[str, Any], peer_reason: str | None) -> dict[str, Any]:
    """The two targets of issue 3, frame by frame for the first."""
    verdicts: dict[str, Any] = {"frames": {}}
    passed_all = True
    for frame, spec in FRAMES.items():
        ours = summary.get(f"pipeline/ours/{frame}/1", {})
        fer = summary.get(f"pipeline/fer/{frame}/1", {})
        ours_rate, fer_rate = med(summary, f"pipeline/ours/{frame}/1"), None
        if fer and fer["rate"]["median"] is not None:
            fer_rate = fer["rate"]["median"]
        verdict: dict[str, Any] = {"ours_faces": len(ours.get("faces", []))}
        verdict["ours_found_expected"] = verdict["ours_faces"] == spec["expected_faces"]
        if fer_rate is None or ours_rate is None:
            reason = peer_reason or "; ".join(fer.get("errors", [])[:1]) or "no result"
            verdict.update({"ratio": None, "result": f"skipped ({reason})"})
            passed_all = False
        else:
            faces = match_faces(ours.get("faces", []), fer.get("faces", []))
            ratio = ours_rate / fer_rate
            # Every face of ours is one of fer's, and ours are the frame's real faces; fer's
            # extra boxes are reported, not held against us.
            faces_ok = verdict["ours_found_expected"] and faces["matched"] == faces["ours"]
            speed_ok = ratio >= TARGET_RATIO
            verdict.update(
                {
                    "ratio": ratio,
                    "faces": faces,
                    "speed_ok": speed_ok,
                    "faces_ok": faces_ok,
                    "result": "PASS" if speed_ok and faces_ok else "FAIL",
                }
            )
            passed_all = passed_all and speed_ok and faces_ok
        verdicts["frames"][frame] = verdict
    verdicts["pipeline_target_met"] = passed_all
    skipped = [v for v in verdicts["frames"].values() if v["ratio"] is None]
    verdicts["pipeline_result"] = "skipped" if skipped else "PASS" if passed_all else "FAIL"

    batched = {b: med(summary, f"classifier/ours/{b}/1") for b in BATCHES if b > 1}
    best_batch = max(batched, key=lambda b: batched[b] or 0.0) if batched else None
    best = batched.get(best_batch) if best_batch else None
    verdicts["classifier"] = {
        "best_batch": best_batch,
        "faces_per_s": best,
        "result": "PASS" if best is not None and best >= TARGET_FACES_PER_S else "FAIL",
    }
    verdicts["classifier_target_met"] = verdicts["classifier"]["result"] == "PASS"
    return verdicts


def recall_analysis(
    scenes: list[Scene], summary: dict[str, Any], peer_reason: str | None
) -> dict[str, Any]:
    """Per engine of the recall phase: faces found per size bin, false positives, speed."""
    engines: dict[str, Any] = {}
    for engine in SCENE_ENGINES:
        entry = summary.get(f"scenes/{engine}/1")
        if not entry or "boxes" not in entry:
            errors = (entry or {}).get("errors") or []
            reason = errors[0] if errors else peer_reason if engine.startswith("fer") else None
            engines[engine] = {"skipped": reason or "no result"}
            continue
        bins: dict[str, dict[str, Any]] = {bin_name(b): {"faces": 0, "found": 0} for b in SIZE_BINS}
        known: dict[str, str] = {}
        ious: list[float] = []
        misses: list[dict[str, Any]] = []
        false_positives: list[dict[str, Any]] = []
        fp_face_free = fp_face_frames = 0
        for scene, boxes in zip(scenes, entry["boxes"], strict=True):
            found = match(boxes, scene.faces, RECALL_IOU)
            for face in scene.faces:
                bins.setdefault(bin_name(size_bin(face[2])), {"faces": 0, "found": 0})["faces"] += 1
            for _, j, overlap in found.pairs:
                bins[bin_name(size_bin(scene.faces[j][2]))]["found"] += 1
                ious.append(overlap)
            for j in found.missed:
                look = scene.looks[j]._asdict() if scene.looks else None
                misses.append({"scene": scene.name, "box": scene.faces[j], "blur": scene.blur})
                if look:
                    misses[-1]["look"] = {k: round(v, 2) for k, v in look.items()}
            for i in found.extra:
                false_positives.append(
                    {"scene": scene.name, "box": boxes[i], "face_free": not scene.faces}
                )
            if scene.faces:
                fp_face_frames += len(found.extra)
            else:
                fp_face_free += len(found.extra)
            if not scene.name.startswith(("faces-", "empty-")):
                known[scene.name] = f"{len(found.pairs)}/{len(scene.faces)}"
        for counts in bins.values():
            counts["recall"] = counts["found"] / counts["faces"] if counts["faces"] else None
        face_free = [i for i, scene in enumerate(scenes) if not scene.faces]
        with_faces = [i for i, scene in enumerate(scenes) if scene.faces]

        def mean_ms(indices: list[int], entry: dict[str, Any] = entry) -> float | None:
            per_round = [statistics.fmean(ms[i] for i in indices) for ms in entry["ms_rounds"]]
            return statistics.median(per_round) if per_round and indices else None

        engines[engine] = {
            "bins": bins,
            "fp_per_face_free_frame": fp_face_free / len(face_free) if face_free else None,
            "fp_per_face_frame": fp_face_frames / len(with_faces) if with_faces else None,
            "median_iou": statistics.median(ious) if ious else None,
            "known_frames": known,
            "frames_per_s": entry["rate"],
            "cpu_cores": entry["cpu_cores"],
            "ms_face_frame": mean_ms(with_faces),
            "ms_face_free_frame": mean_ms(face_free),
            "boxes_stable": entry["boxes_stable"],
            "detector": entry.get("detector"),
            "misses": misses,
            "false_positives": false_positives,
        }
    ratios: dict[str, Any] = {}
    for ours, peer in itertools.product(("ours", "ours-haar"), SCENE_ENGINES):
        if peer != ours:
            a, b = med(summary, f"scenes/{ours}/1"), med(summary, f"scenes/{peer}/1")
            ratios[f"{ours}/{peer}"] = a / b if a and b else None
    return {"engines": engines, "ratios": ratios}


def judge_recall(analysis: dict[str, Any], repeats: int) -> dict[str, Any]:
    """The targets of issue 13, for ours as configured."""
    ours = analysis["engines"]["ours"]
    ratios = analysis["ratios"]
    rows: list[dict[str, Any]] = []

    def row(target: str, measured: str, passed: bool | None) -> None:
        result = "skipped" if passed is None else "PASS" if passed else "FAIL"
        rows.append({"target": target, "measured": measured, "result": result})

    if "skipped" in ours:
        row("ours: recall, false positives, speed", f"skipped ({ours['skipped']})", None)
    else:
        small = ours["bins"][bin_name(SMALL_BIN)]
        row(
            f"recall ≥ {TARGET_RECALL_SMALL:.0%} for faces {bin_name(SMALL_BIN)} px",
            recall_text(small),
            small["recall"] is not None and small["recall"] >= TARGET_RECALL_SMALL,
        )
        large = {
            k: v for k, v in ours["bins"].items() if k != "other" and int(k.split("–")[0]) >= 40
        }
        row(
            f"recall ≥ {TARGET_RECALL_LARGE:.0%} from 40 px (each bin)",
            "; ".join(f"{k} px: {recall_text(v)}" for k, v in large.items()),
            all(
                v["recall"] is not None and v["recall"] >= TARGET_RECALL_LARGE
                for v in large.values()
            ),
        )
        fp = ours["fp_per_face_free_frame"]
        row(
            f"false positives ≤ {TARGET_FP_PER_EMPTY:g} per face-free frame",
            f"{fmt(fp, 3)}",
            fp is not None and fp <= TARGET_FP_PER_EMPTY,
        )
        vs_fer, vs_mtcnn = ratios["ours/fer"], ratios["ours/fer-mtcnn"]
        fer = analysis["engines"]["fer"]
        row(
            f"frames/s per core ≥ {TARGET_SCENE_RATIO:g}× fer's default",
            f"{vs_fer:.2f}×" if vs_fer else f"skipped ({fer.get('skipped', 'no result')})",
            None if vs_fer is None else vs_fer >= TARGET_SCENE_RATIO,
        )
        mtcnn = analysis["engines"]["fer-mtcnn"]
        row(
            "ratio to fer's small-face mode > ratio to fer's default",
            f"{vs_mtcnn:.2f}× vs {vs_fer:.2f}×"
            if vs_mtcnn and vs_fer
            else f"skipped ({mtcnn.get('skipped', fer.get('skipped', 'no result'))})",
            None if not (vs_mtcnn and vs_fer) else vs_mtcnn > vs_fer,
        )
    row("medians of 3 rounds", f"{repeats} round(s)", repeats >= 3)
    return {"rows": rows, "met": all(r["result"] == "PASS" for r in rows)}


def recall_text(counts: dict[str, Any]) -> str:
    if not counts.get("faces"):
        return "–"
    return f"{counts['recall']:.1%} ({counts['found']}/{counts['faces']})"


# =============================================================================== report


def fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def fmt_stat(stat: dict[str, Any] | None, digits: int = 1) -> str:
    """The median with its min–max, or the median alone after a single round."""
    if not stat or stat.get("median") is None:
        return "–"
    text = fmt(stat["median"], digits)
    if stat.get("n", 0) > 1:
        text += f" ({fmt(stat['min'], digits)}–{fmt(stat['max'], digits)})"
    return text


def cell(summary: dict[str, Any], key: str, skipped: str | None, digits: int = 1) -> str:
    entry = summary.get(key)
    if entry is None:
        return f"skipped ({skipped})" if skipped else "–"
    if entry["rate"]["median"] is None:
        return f"error ({entry['errors'][0][:80]})" if entry["errors"] else "–"
    return fmt_stat(entry["rate"], digits)


def faces_text(faces: list[dict[str, Any]]) -> str:
    if not faces:
        return "none"
    return "<br>".join(
        f"({f['box'][0]}, {f['box'][1]}, {f['box'][2]}×{f['box'][3]}) {f['top']} "
        f"p(happy) {f['happy']:.2f}"
        for f in faces
    )


def markdown(report: dict[str, Any]) -> str:
    """The issue-3 tables of the phases that ran, then issue 13's."""
    summary, verdicts = report["summary"], report["targets"]
    phases = report["arguments"]["phases"]
    skipped = report["peer"].get("reason")
    no_two = report["two_threads"].get("reason")
    out: list[str] = []

    if "pipeline" in phases:
        out.append(
            f"### Per core: frames/s, 640×480 JPEG → observations, one thread on CPU "
            f"{report['cpus']['one'][0]}"
        )
        out.append("")
        out.append(
            "| frame | ours | fer (default: TFLite) | ours ÷ fer | target ≥ 3× | same faces "
            "| fer (Keras, `use_tflite=False`) | ours with fer's Haar settings |"
        )
        out.append("|---|--:|--:|--:|---|---|--:|--:|")
        for frame, spec in FRAMES.items():
            verdict = verdicts["frames"][frame]
            ratio = verdict.get("ratio")
            faces = verdict.get("faces")
            same = "–"
            if faces:
                same = (
                    f"{'yes' if faces['same'] else 'no'} (ours {faces['ours']}, "
                    f"fer {faces['fer']}, matched {faces['matched']})"
                )
            result = verdict["result"]
            if ratio is not None:
                result = f"{'PASS' if verdict['speed_ok'] else 'FAIL'}"
                if not verdict["faces_ok"]:
                    result += " (faces differ)"
            out.append(
                f"| {spec['title']} | {cell(summary, f'pipeline/ours/{frame}/1', None)} "
                f"| {cell(summary, f'pipeline/fer/{frame}/1', skipped)} "
                f"| {'–' if ratio is None else f'{ratio:.2f}×'} | {result} | {same} "
                f"| {cell(summary, f'pipeline/fer-keras/{frame}/1', skipped)} "
                f"| {cell(summary, f'pipeline/ours-fer-haar/{frame}/1', None)} |"
            )
        out.append("")

    if "threads" in phases:
        out.append(
            "### Informative: two threads on CPUs "
            + " and ".join(str(c) for c in report["cpus"]["two"])
        )
        out.append("")
        if no_two:
            out.append(f"skipped ({no_two})")
        else:
            out.append(
                "| frame | ours | × one thread | cores used | ours, ONNX Runtime on 1 thread "
                "| × one thread | cores used | fer (TFLite) | × one thread | cores used "
                "| ours ÷ fer |"
            )
            out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
            for frame, spec in FRAMES.items():
                row = [spec["title"]]
                rates = {}
                for engine in ("ours", "ours-ort1", "fer"):
                    two, one = (
                        med(summary, f"pipeline/{engine}/{frame}/2"),
                        med(summary, f"pipeline/{engine.removesuffix('-ort1')}/{frame}/1"),
                    )
                    rates[engine] = two
                    entry = summary.get(f"pipeline/{engine}/{frame}/2")
                    row.append(
                        cell(
                            summary,
                            f"pipeline/{engine}/{frame}/2",
                            skipped if engine == "fer" else None,
                        )
                    )
                    row.append(f"{two / one:.2f}×" if two and one else "–")
                    row.append(fmt(entry["cpu_cores"]["median"], 2) if entry else "–")
                ratio = rates["ours"] / rates["fer"] if rates["ours"] and rates["fer"] else None
                row.append("–" if ratio is None else f"{ratio:.2f}×")
                out.append("| " + " | ".join(row) + " |")
        out.append("")

    if "stages" in phases:
        out.append("### Where the time goes: ms per frame, one thread (stages timed one by one)")
        out.append("")
        out.append(
            "| frame | engine | decode | detect (grey + detector) | crop | classify | track "
            "| sum | whole pipeline (1 / frames/s) | bare Haar, fer's settings |"
        )
        out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
        for frame, spec in FRAMES.items():
            for engine in ("ours", "fer"):
                entry = summary.get(f"stages/{engine}/{frame}/1")
                whole = med(summary, f"pipeline/{engine}/{frame}/1")
                haar = med(summary, f"haar/{engine}/{frame}/1")
                if not entry or "ms" not in entry:
                    note = f"skipped ({skipped})" if skipped and engine == "fer" else "–"
                    out.append(f"| {spec['title']} | {engine} | {note} | | | | | | | |")
                    continue
                ms = {k: v["median"] for k, v in entry["ms"].items()}
                if engine == "ours":
                    crop, classify, track = (
                        fmt(ms["crop"], 2),
                        fmt(ms["classify"], 2),
                        fmt(ms["track"], 2),
                    )
                else:
                    crop, classify, track = (
                        f"{fmt(ms['crop+classify'], 2)} (with classify)",
                        "(in crop)",
                        "–",
                    )
                out.append(
                    f"| {spec['title']} | {engine} | {fmt(ms['decode'], 2)} "
                    f"| {fmt(ms['detect'], 2)} "
                    f"| {crop} | {classify} | {track} | {fmt(sum(ms.values()), 2)} "
                    f"| {fmt(1000 / whole if whole else None, 2)} "
                    f"| {fmt(1000 / haar if haar else None, 2)} |"
                )
        out.append("")

    if "classifier" in phases:
        out.append("### Classifier alone, one thread: faces/s on N×64×64 crops")
        out.append("")
        out.append(
            "| batch | ours (ONNX Runtime) | ours, ms per batch | fer (TFLite, a face at a time) "
            "| fer (Keras) | informative: ours on two threads |"
        )
        out.append("|--:|--:|--:|--:|--:|--:|")
        for batch in BATCHES:
            ours = med(summary, f"classifier/ours/{batch}/1")
            out.append(
                f"| {batch} | {cell(summary, f'classifier/ours/{batch}/1', None, 0)} "
                f"| {fmt(batch / ours * 1000 if ours else None, 2)} "
                f"| {cell(summary, f'classifier/fer/{batch}/1', skipped, 0)} "
                f"| {cell(summary, f'classifier/fer-keras/{batch}/1', skipped, 0)} "
                f"| {cell(summary, f'classifier/ours/{batch}/2', no_two, 0)} |"
            )
        out.append("")

    if "pipeline" in phases:
        out.append("### Faces found (x, y, w×h), top expression and p(happy)")
        out.append("")
        out.append("| frame | input | expected | ours | fer (TFLite) | fer (Keras) | same faces |")
        out.append("|---|---|--:|---|---|---|---|")
        lossless = report.get("lossless_faces", {})
        for frame, spec in FRAMES.items():
            for source in ("JPEG (measured)", "lossless PNG"):
                row = [spec["title"], source, str(spec["expected_faces"])]
                found: dict[str, list[dict[str, Any]] | None] = {}
                for engine in ("ours", "fer", "fer-keras"):
                    if source == "lossless PNG":
                        answer = lossless.get(engine, {}).get(frame)
                        faces = None if answer is None else answer.get("faces")
                    else:
                        entry = summary.get(f"pipeline/{engine}/{frame}/1") or {}
                        faces = entry.get("faces")
                    found[engine] = faces
                    if faces is not None:
                        row.append(faces_text(faces))
                    else:
                        row.append(f"skipped ({skipped})" if skipped and engine != "ours" else "–")
                ours, fer = found["ours"], found["fer"]
                if ours is not None and fer is not None:
                    match = match_faces(ours, fer)
                    row.append(
                        f"{'yes' if match['same'] else 'no'} (ours {match['ours']}, "
                        f"fer {match['fer']}, matched {match['matched']})"
                    )
                else:
                    row.append("–")
                out.append("| " + " | ".join(row) + " |")
        out.append("")

    others = [
        e["other_cores_max"] for e in summary.values() if e.get("other_cores_max") is not None
    ]
    if others:
        out.append(
            f"Other processes on the measured CPUs: at most {max(others):.2f} cores during any "
            "measurement (from /proc/stat, less the worker's own CPU time)."
        )
        out.append("")

    if verdicts is not None:
        out.append("### Targets (issue 3)")
        out.append("")
        out.append("| target | measured | result |")
        out.append("|---|---|---|")
        parts = []
        for frame, verdict in verdicts["frames"].items():
            if verdict.get("ratio") is None:
                parts.append(f"{frame}: {verdict['result']}")
                continue
            faces = verdict["faces"]
            parts.append(
                f"{frame}: {verdict['ratio']:.2f}×, same faces "
                f"{'yes' if faces['same'] else 'no'} (ours {faces['ours']}, fer {faces['fer']}, "
                f"matched {faces['matched']})"
            )
        if "pipeline" in phases:
            out.append(
                f"| ours ≥ {TARGET_RATIO:g}× fer's frames/s per core, same faces "
                f"| {'; '.join(parts)} | {verdicts['pipeline_result']} |"
            )
        classifier = verdicts["classifier"]
        if "classifier" in phases:
            out.append(
                f"| classifier ≥ {TARGET_FACES_PER_S:,.0f} faces/s per core, batched "
                f"| {fmt(classifier['faces_per_s'])} faces/s "
                f"(best batch: {classifier['best_batch']}) | {classifier['result']} |"
            )
        out.append("")
    if report.get("recall"):
        out += recall_markdown(report)
    return "\n".join(out)


def recall_markdown(report: dict[str, Any]) -> list[str]:
    recall = report["recall"]
    facts, analysis, targets = recall["scenes"], recall["analysis"], recall["targets"]
    engines, ratios = analysis["engines"], analysis["ratios"]
    out = [
        f"### Small faces (issue 13): faces found, one thread on CPU {report['cpus']['one'][0]}",
        "",
        f"{facts['frames']} scenes (seed {facts['seed']}): {facts['face_frames']} with faces, "
        f"{facts['face_free_frames']} face-free, and {', '.join(facts['known_frames'])}; "
        f"{facts['faces']} faces. Found: a box at IoU ≥ {RECALL_IOU:g} with the face, one "
        "box per face, from the first round's pass (boxes the same in every round: "
        + ", ".join(
            f"{engine} {'yes' if e.get('boxes_stable') else 'no'}"
            for engine, e in engines.items()
            if "skipped" not in e
        )
        + ").",
        "",
        "| engine | "
        + " | ".join(f"{bin_name(b)} px" for b in SIZE_BINS)
        + " | false positives per face-free frame | per face frame | median IoU "
        + "| astronaut, four faces |",
        "|---|" + "--:|" * (len(SIZE_BINS) + 3) + "---|",
    ]
    for engine, title in SCENE_TITLES.items():
        e = engines[engine]
        if "skipped" in e:
            out.append(f"| {title} | skipped ({e['skipped']}) |" + " |" * (len(SIZE_BINS) + 3))
            continue
        bins = " | ".join(recall_text(e["bins"][bin_name(b)]) for b in SIZE_BINS)
        known = ", ".join(f"{found}" for found in e["known_frames"].values())
        out.append(
            f"| {title} | {bins} | {fmt(e['fp_per_face_free_frame'], 3)} "
            f"| {fmt(e['fp_per_face_frame'], 3)} | {fmt(e['median_iou'], 2)} | {known} |"
        )
    out += [
        "",
        "### Small faces (issue 13): frames/s per core over the scenes "
        "(JPEG decode, detect, classify; one frame per call)",
        "",
        "| engine | frames/s | cores used | ms per frame with faces | ms per face-free frame "
        "| ours ÷ this | ours with Haar ÷ this |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for engine, title in SCENE_TITLES.items():
        e = engines[engine]
        if "skipped" in e:
            out.append(f"| {title} | skipped ({e['skipped']}) | | | | | |")
            continue
        ours, haar = ratios.get(f"ours/{engine}"), ratios.get(f"ours-haar/{engine}")
        out.append(
            f"| {title} | {fmt_stat(e['frames_per_s'])} | {fmt(e['cpu_cores']['median'], 2)} "
            f"| {fmt(e['ms_face_frame'], 1)} | {fmt(e['ms_face_free_frame'], 1)} "
            f"| {'–' if ours is None else f'{ours:.2f}×'} "
            f"| {'–' if haar is None else f'{haar:.2f}×'} |"
        )
    out += ["", "### Targets (issue 13), ours as configured", ""]
    out += ["| target | measured | result |", "|---|---|---|"]
    out += [f"| {r['target']} | {r['measured']} | {r['result']} |" for r in targets["rows"]]
    out.append("")
    return out


# =============================================================================== facts


def machine_facts() -> dict[str, Any]:
    return benchlib.machine_facts(
        ("opencv-python-headless", "onnxruntime", "numpy", "scikit-image")
    )


# =============================================================================== main


@contextlib.contextmanager
def started_workers(
    specs: list[dict[str, Any]], frames_dir: Path, log_dir: Path
) -> Iterator[dict[str, Worker]]:
    workers: dict[str, Worker] = {}
    try:
        for spec in specs:
            workers[spec["name"]] = Worker(
                spec["name"],
                spec["python"],
                spec["engine"],
                spec["cpus"],
                spec["threads"],
                frames_dir,
                log_dir,
                keras=spec.get("keras", False),
                mtcnn=spec.get("mtcnn", False),
            )
        yield workers
    finally:
        for worker in workers.values():
            worker.stop()


def run(args: argparse.Namespace) -> int:
    facts = machine_facts()
    code = code_version(("vision", "kioskpulse", "pyproject.toml", "tools/scenes.py"))
    usable = facts["cpus_usable"]
    cpus = {"one": usable[:1], "two": usable[:2]}
    phases: list[str] = args.phases
    two_threads: dict[str, Any] = {}
    if len(usable) < 2:
        two_threads["reason"] = "fewer than two CPUs usable"
    elif "threads" not in phases:
        two_threads["reason"] = "phase not run"
    say(
        f"vision bench: {facts['cpu_model']}, {len(usable)} usable CPU(s); "
        f"per core on CPU {cpus['one'][0]}; phases {', '.join(phases)}; {args.repeats} "
        f"round(s) of {args.duration:g} s after {args.warmup:g} s warm-up"
    )

    peer: dict[str, Any] = {}
    fer_python: Path | None = None
    if args.no_peer:
        peer["reason"] = "--no-peer"
    else:
        fer_python, peer_facts = ensure_fer_venv(args.fer_venv, args.fer_base_python)
        peer.update(peer_facts)
        if fer_python is None:
            say(f"fer: SKIPPED, {peer['reason']}; measuring ours only")

    with tempfile.TemporaryDirectory(prefix="kioskpulse-vision-bench-") as tmp:
        frames_dir = Path(tmp)
        frame_facts = make_frames(frames_dir)
        scenes: list[Scene] = []
        scene_facts: dict[str, Any] = {}
        if "recall" in phases:
            say("making the scenes ...")
            scenes, scene_facts = make_scene_files(
                frames_dir, args.scene_seed, args.face_frames, args.empty_frames
            )
            say(
                f"  {scene_facts['frames']} scenes, {scene_facts['faces']} faces: "
                + ", ".join(f"{k} px {v}" for k, v in scene_facts["faces_per_bin"].items())
            )
        specs: list[dict[str, Any]] = [
            {"name": "ours-1", "python": sys.executable, "engine": "ours", "threads": 1},
        ]
        if fer_python is not None:
            fer = {"python": str(fer_python), "engine": "fer", "threads": 1}
            specs.append({"name": "fer-1", **fer})
            if {"pipeline", "classifier"} & set(phases):
                specs.append({"name": "fer-keras-1", **fer, "keras": True})
            if "recall" in phases:
                specs.append({"name": "fer-mtcnn-1", **fer, "mtcnn": True})
        if not two_threads:
            specs.append({"name": "ours-2", "python": sys.executable, "engine": "ours"})
            if fer_python is not None:
                specs.append({"name": "fer-2", "python": str(fer_python), "engine": "fer"})
        for spec in specs:
            spec.setdefault("threads", 2)
            spec["cpus"] = cpus["one"] if spec["threads"] == 1 else cpus["two"]

        say("starting the workers ...")
        with started_workers(specs, frames_dir, frames_dir) as workers:
            worker_facts = {}
            for name, worker in list(workers.items()):
                try:
                    worker_facts[name] = worker.ready(timeout=300)
                    say(f"  {name}: {format_versions(worker_facts[name])}")
                except WorkerError as exc:
                    if name.startswith("ours"):
                        raise SetupError(str(exc)) from exc
                    say(f"  {name}: FAILED, {exc}")
                    worker.stop()
                    del workers[name]
                    peer.setdefault("worker_errors", {})[name] = str(exc)
            if fer_python is not None and "fer-1" not in workers:
                peer["reason"] = f"fer's worker did not start: {peer['worker_errors']['fer-1']}"
            plan = build_plan(workers, BATCHES, phases, len(scenes))
            lossless: dict[str, Any] = {}
            if "pipeline" in phases:
                say("faces in the lossless PNGs of the frames (untimed) ...")
                lossless = lossless_faces(workers)
            started = time.perf_counter()
            results = run_rounds(workers, plan, args)
            elapsed = time.perf_counter() - started

    summary = summarize(results)
    verdicts = None
    if {"pipeline", "classifier"} & set(phases):
        verdicts = judge(summary, peer.get("reason"))
    recall: dict[str, Any] = {}
    if "recall" in phases:
        analysis = recall_analysis(scenes, summary, peer.get("reason"))
        recall = {
            "scenes": scene_facts,
            "analysis": analysis,
            "targets": judge_recall(analysis, args.repeats),
        }
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    report = {
        "benchmark": "vision",
        "started": stamp,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": facts,
        "code": code,
        "frames": frame_facts,
        "cpus": cpus,
        "two_threads": two_threads,
        "peer": peer,
        "workers": worker_facts,
        "measured_seconds": elapsed,
        "summary": summary,
        "lossless_faces": lossless,
        "targets": verdicts,
        "recall": recall,
        "rounds": results,
    }
    path = benchlib.write_results("vision", stamp, report)
    print(markdown(report), flush=True)
    say(f"results: {path.relative_to(REPO)}")
    met = not recall or recall["targets"]["met"]
    if verdicts is not None:
        met = met and ("pipeline" not in phases or verdicts["pipeline_target_met"])
        met = met and ("classifier" not in phases or verdicts["classifier_target_met"])
    return 3 if args.fail_on_target and not met else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/vision.py",
        description="Vision benchmark: FramePipeline vs fer, frames/s per CPU core.",
    )
    parser.add_argument("--duration", type=float, help="measured seconds each (default 5)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each (default 1)")
    parser.add_argument("--repeats", type=int, help="rounds of every measurement (default 3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: 1 round of 1 s, {SCENES_QUICK[0]}+{SCENES_QUICK[1]} scenes",
    )
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=PHASES,
        default=list(PHASES),
        metavar="PHASE",
        help=f"what to measure (default all): {', '.join(PHASES)}",
    )
    parser.add_argument(
        "--scene-seed", type=int, default=SCENE_SEED, help="scenes' seed (default %(default)s)"
    )
    parser.add_argument(
        "--face-frames",
        type=int,
        help=f"scenes with faces, 4 each (default {SCENES_FULL[0]}, --quick {SCENES_QUICK[0]})",
    )
    parser.add_argument(
        "--empty-frames",
        type=int,
        help=f"face-free scenes (default {SCENES_FULL[1]}, --quick {SCENES_QUICK[1]})",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip fer (no venv needed)")
    parser.add_argument(
        "--fer-venv",
        type=Path,
        default=DEFAULT_FER_VENV,
        help="fer's venv, made on first use (default bench/.venv-fer)",
    )
    parser.add_argument(
        "--fer-base-python",
        default=FER_PYTHON,
        help="interpreter that creates fer's venv (default %(default)s)",
    )
    parser.add_argument(
        "--busy-retries",
        type=int,
        default=2,
        help="measure again when other processes used > 0.1 cores of the worker's CPUs "
        "(default: at most %(default)s times)",
    )
    parser.add_argument(
        "--fail-on-target", action="store_true", help="exit 3 when a target is missed"
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (1.0 if args.quick else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)
    args.repeats = args.repeats or (1 if args.quick else 3)
    scenes = SCENES_QUICK if args.quick else SCENES_FULL
    args.face_frames = scenes[0] if args.face_frames is None else args.face_frames
    args.empty_frames = scenes[1] if args.empty_frames is None else args.empty_frames
    args.phases = [phase for phase in PHASES if phase in args.phases]  # in their order
    if args.duration <= 0 or args.warmup < 0 or args.repeats < 1:
        parser.error("--duration and --repeats must be positive, --warmup not negative")
    if args.face_frames < 0 or args.empty_frames < 0:
        parser.error("--face-frames and --empty-frames must not be negative")
    args.fer_venv = args.fer_venv.resolve()
    return args


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM: unwind like Ctrl-C, so that the workers are stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        return worker_main(argv[1:])
    if argv[:1] == ["_probe"]:
        return probe_main()
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        return run(args)
    except SetupError as exc:
        say(f"vision bench: {exc}")
        return 2
    except KeyboardInterrupt:
        say("vision bench: interrupted; the workers were stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
