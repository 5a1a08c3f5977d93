"""Write torch's MTCNN outputs that the ONNX conversion and our cascade are tested against.

Run once, by hand, with a throwaway venv that has torch and facenet-pytorch (bench/vision.py's
fer venv has both) — never imported by the package or the tests:

    bench/.venv-fer/bin/python tools/model/make_mtcnn_reference.py \
        --astronaut .venv/lib/python3.11/site-packages/skimage/data/astronaut.png

Writes ``tests/fixtures/mtcnn_reference.npz``:

- ``<net>_input`` / ``<net>_<output>``: seeded inputs in [-1, 1] for each net (P-Net 2×3×37×53,
  R-Net 6×3×24×24, O-Net 6×3×48×48) and torch's outputs for them (``reg``, ``prob`` and
  the O-Net's ``landmarks``);
- ``astronaut_boxes``: facenet-pytorch's ``MTCNN(keep_all=True).detect`` (x1, y1, x2, y2,
  probability) on the astronaut letterboxed to 640×480, in RGB as the model expects;
- ``versions``: the library versions that produced the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import facenet_pytorch  # type: ignore[import-not-found]
import numpy as np
import torch  # type: ignore[import-not-found]
from facenet_pytorch import MTCNN
from facenet_pytorch.models.mtcnn import ONet, PNet, RNet  # type: ignore[import-not-found]

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "fixtures" / "mtcnn_reference.npz"
sys.path.insert(0, str(REPO))  # run as a script from another venv: the repository's tools/
from tools.frames import letterbox  # noqa: E402 -- needs the path above

SHAPES = {"pnet": (2, 3, 37, 53), "rnet": (6, 3, 24, 24), "onet": (6, 3, 48, 48)}
OUTPUTS = {"pnet": ("reg", "prob"), "rnet": ("reg", "prob"), "onet": ("reg", "landmarks", "prob")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--astronaut", type=Path, required=True, help="skimage's astronaut.png")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(13)
    arrays: dict[str, np.ndarray] = {}
    nets = {"pnet": PNet(), "rnet": RNet(), "onet": ONet()}
    for name, net in nets.items():
        x = rng.uniform(-1.0, 1.0, SHAPES[name]).astype(np.float32)
        with torch.no_grad():
            outputs = net.eval()(torch.from_numpy(x))
        arrays[f"{name}_input"] = x
        for output_name, value in zip(OUTPUTS[name], outputs, strict=True):
            arrays[f"{name}_{output_name}"] = value.numpy()
    bgr = cv2.imread(str(args.astronaut), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {args.astronaut}")
    rgb = np.ascontiguousarray(letterbox(bgr, 640, 480)[:, :, ::-1])
    boxes, probs = MTCNN(keep_all=True).detect(rgb)
    arrays["astronaut_boxes"] = np.concatenate([boxes, probs[:, None]], axis=1).astype(np.float32)
    versions = {
        "torch": torch.__version__,
        "facenet_pytorch": getattr(facenet_pytorch, "__version__", "2.6.0"),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }
    arrays["versions"] = np.array(json.dumps(versions))
    np.savez_compressed(args.out, **arrays)  # type: ignore[arg-type]  # numpy 1 and 2 differ
    print(f"wrote {args.out}: {sorted(arrays)}; astronaut boxes {arrays['astronaut_boxes']}")


if __name__ == "__main__":
    main()
