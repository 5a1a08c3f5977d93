"""Expression model against face size (issue 13): how its output degrades as faces shrink.

Floor cameras find faces from 24 px wide (MTCNN), and the expression model sees every
face as a 64×64 grey crop (``vision/crops.py``): a small face is enlarged to fill it and
carries less. This study measures how much less, to choose the width below which a face's
expression is not worth more than the store's prior (``min_expression_face_px``).

Method. skimage's astronaut (``tools/frames.py``: Eileen Collins, smiling) is found once
at full size by the pipeline's default detector, so the box is the kind the observations
carry. Seeded random variants of the photograph (the first is the photograph itself):
horizontal flip, rotation about the face's centre (±10°), lighting gain (0.6–1.3), then,
at each face width, Gaussian blur (sigma 0, 0.5 or 1 px of that scale) and, for half of
them, a JPEG round trip at quality 85. Each variant is rendered at face widths
``SIZES``: the whole image is resized (area averaging to shrink, as a sensor integrates;
bilinear to enlarge) so that the detected box has that width, and the face is cropped
with ``vision.crops.face_crops`` from the known, scaled box, so that detector misses and
box jitter do not enter. ``vision.classifier.ExpressionClassifier`` classifies the crops.

Per width: the mean probability vector; how often the argmax agrees with the 128-px
answer of the same variant; the mean total-variation distance (TV, half the L1 distance)
to the 128-px distribution of the same variant. The same TV for two priors, a visitor's
expression guessed without looking: ``uniform`` (nothing known) and ``mean`` (the
classifier's mean output over all variants at widths ≥ 64: a store whose every visitor
looked like this one, the best prior a store could have). A width is *no better than a
prior* where its TV ≥ the prior's, and *clearly better* where its TV plus twice its
standard error is below the prior's, there and at every larger width.

Limits: one identity and one expression (happy), so the figures say how fast the model
loses a clear smile, not how it confuses expressions in general; widths above the
photograph's own (about 87 px; the results hold the box) are enlargements and hold no more
detail than it has.

    .venv/bin/python bench/face_size.py             # 200 variants, about 5 s on one core
    .venv/bin/python bench/face_size.py --quick     # 20 variants

Output: a markdown table on stdout, progress on stderr, everything in
``bench/results/face-size-<timestamp>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import benchlib
import cv2
import numpy as np
import numpy.typing as npt
from benchlib import REPO, code_version, machine_facts, say

sys.path.insert(0, str(REPO))  # the repository's packages, and tools/ (not installed)
from tools.frames import astronaut_bgr

# bench/vision.py is a script: with bench/ first on sys.path, ``import vision`` would find
# it instead of the project's package (benchlib, bench/'s own module, is imported above).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH]

from kioskpulse.events import EXPRESSIONS  # noqa: E402
from vision.classifier import ExpressionClassifier  # noqa: E402
from vision.crops import face_crops  # noqa: E402
from vision.detector import make_detector  # noqa: E402

SIZES = (12, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128)
#: Each variant's answer at this width is the one the smaller widths are held against.
REFERENCE = 128
#: The ``mean`` prior averages the classifier's output at widths from this one.
MEAN_PRIOR_FROM = 64
#: Below this argmax agreement with the reference, the answer is mostly another class.
AGREEMENT_FLOOR = 0.5
JPEG_QUALITY = 85

Image = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]
Probabilities = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Variant:
    flip: bool
    gain: float
    angle: float  # degrees, about the face's centre
    blur: float  # Gaussian sigma in pixels at the rendered width
    jpeg: bool


def draw_variants(count: int, seed: int) -> list[Variant]:
    """``count`` variants, the first the photograph as it is; the rest drawn with ``seed``."""
    rng = random.Random(seed)
    variants = [Variant(flip=False, gain=1.0, angle=0.0, blur=0.0, jpeg=False)]
    for _ in range(count - 1):
        variants.append(
            Variant(
                flip=rng.random() < 0.5,
                gain=round(rng.uniform(0.6, 1.3), 3),
                angle=round(rng.uniform(-10.0, 10.0), 2),
                blur=rng.choice((0.0, 0.5, 1.0)),
                jpeg=rng.random() < 0.5,
            )
        )
    return variants


def find_face(image: Image) -> Box:
    """The astronaut's face box at full size, as the pipeline's default detector gives it."""
    gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    boxes = make_detector().detect(image, gray)
    if len(boxes) != 1:
        raise RuntimeError(f"expected one face in the astronaut, the detector found {len(boxes)}")
    x, y, w, h = (int(v) for v in boxes[0])
    return x, y, w, h


def posed(image: Image, box: Box, variant: Variant) -> tuple[Image, Box]:
    """The variant's flip, rotation and lighting, at full size; the face keeps its box."""
    x, y, w, h = box
    if variant.flip:
        image = np.ascontiguousarray(image[:, ::-1])
        x = image.shape[1] - x - w
    # About the face's centre, so that the box still holds the face.
    matrix = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), variant.angle, 1.0)
    size = (image.shape[1], image.shape[0])
    rotated = cv2.warpAffine(image, matrix, size, borderMode=cv2.BORDER_REFLECT)
    lit = cv2.convertScaleAbs(rotated, alpha=variant.gain)  # saturates at 255
    return np.asarray(lit, dtype=np.uint8), (x, y, w, h)


def rendered(image: Image, box: Box, width: int, variant: Variant) -> tuple[Image, Box]:
    """The grey frame in which the face box is ``width`` px wide, and that box."""
    scale = width / box[2]
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    shrink = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    frame = np.asarray(cv2.resize(image, size, interpolation=shrink), dtype=np.uint8)
    if variant.blur:
        # After resizing: the blur of a lens or of motion is in the camera's pixels.
        frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), variant.blur), dtype=np.uint8)
    if variant.jpeg:
        frame = jpeg_round_trip(frame)
    gray = np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    x, y, w, h = (round(v * scale) for v in box)
    return gray, (x, y, w, h)


def jpeg_round_trip(frame: Image) -> Image:
    """``frame`` as a camera posting JPEGs would deliver it."""
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), dtype=np.uint8)


def crops_of(image: Image, box: Box, variants: Sequence[Variant], sizes: Sequence[int]) -> Image:
    """Variants × widths × 64 × 64 crops, as ``face_crops`` makes them in the pipeline."""
    crops = []
    for variant in variants:
        pose, pose_box = posed(image, box, variant)
        for width in sizes:
            gray, scaled = rendered(pose, pose_box, width, variant)
            crops.append(face_crops(gray, np.array([scaled], dtype=np.int64))[0])
    stacked: Image = np.stack(crops).reshape(len(variants), len(sizes), *crops[0].shape)
    return stacked


def total_variation(p: Probabilities, q: Probabilities) -> Probabilities:
    """Half the L1 distance between distributions along the last axis (0: equal, 1: disjoint)."""
    return np.asarray(0.5 * np.abs(p - q).sum(axis=-1), dtype=np.float64)


def priors(probs: Probabilities, sizes: Sequence[int]) -> dict[str, Probabilities]:
    """A visitor's expression guessed without looking at the face."""
    large = [i for i, width in enumerate(sizes) if width >= MEAN_PRIOR_FROM]
    return {
        "uniform": np.full(len(EXPRESSIONS), 1 / len(EXPRESSIONS)),
        "mean": probs[:, large].reshape(-1, len(EXPRESSIONS)).mean(axis=0),
    }


def summarise(probs: Probabilities, sizes: Sequence[int]) -> dict[str, Any]:
    """Per width: mean vector, argmax agreement and TV to the reference; the priors' TV."""
    reference = probs[:, list(sizes).index(REFERENCE)]
    n = len(probs)
    rows = []
    for i, width in enumerate(sizes):
        distances = total_variation(probs[:, i], reference)
        agreement = np.mean(probs[:, i].argmax(axis=1) == reference.argmax(axis=1))
        rows.append(
            {
                "width": width,
                "mean": [round(float(p), 4) for p in probs[:, i].mean(axis=0)],
                "agreement": round(float(agreement), 4),
                "tv": round(float(distances.mean()), 4),
                "tv_se": round(float(distances.std(ddof=1) / np.sqrt(n)), 4),
            }
        )
    guesses = priors(probs, sizes)
    prior_tv = {
        name: round(float(total_variation(prior, reference).mean()), 4)
        for name, prior in guesses.items()
    }
    return {
        "rows": rows,
        "priors": {name: [round(float(p), 4) for p in prior] for name, prior in guesses.items()},
        "prior_tv": prior_tv,
        "verdicts": {name: verdicts(rows, tv) for name, tv in prior_tv.items()},
        "largest_width_agreement_below": largest(rows, lambda r: r["agreement"] < AGREEMENT_FLOOR),
        "reference_off_one_hot": round(float(total_variation(reference, one_hot_happy()).max()), 4),
    }


def one_hot_happy() -> Probabilities:
    vector = np.zeros(len(EXPRESSIONS))
    vector[EXPRESSIONS.index("happy")] = 1.0
    return vector


def largest(rows: Sequence[dict[str, Any]], holds: Callable[[dict[str, Any]], bool]) -> int | None:
    """The largest width whose row satisfies ``holds`` (None: no such width)."""
    return max((row["width"] for row in rows if holds(row)), default=None)


def verdicts(rows: Sequence[dict[str, Any]], prior_tv: float) -> dict[str, int | None]:
    """Where the classifier is no better than a prior, and from where it is clearly better."""
    clearly = None
    for row in sorted(rows, key=lambda r: -r["width"]):
        if row["tv"] + 2 * row["tv_se"] >= prior_tv:
            break
        clearly = row["width"]
    return {
        "largest_no_better": largest(rows, lambda r: r["tv"] >= prior_tv),
        "smallest_clearly_better": clearly,
    }


def happy_share_beaten(row: dict[str, Any]) -> float:
    """The largest p(happy) of a prior that this width still beats clearly.

    Against a one-hot answer a prior π is at TV 1 - π[happy], whatever else it holds. The
    reference answers are nearly one-hot happy (``reference_off_one_hot``, the largest TV
    between one and one-hot happy, says how nearly), so a width whose TV plus twice its
    standard error is t beats, clearly, every prior with p(happy) below about 1 - t. That
    generalises the two priors to a store of any mix, for a happy visitor.
    """
    return max(0.0, 1.0 - float(row["tv"]) - 2 * float(row["tv_se"]))


def markdown(summary: dict[str, Any], variants: int) -> str:
    header = " | ".join(name[:8] for name in EXPRESSIONS)
    lines = [
        f"Mean probabilities, argmax agreement and TV distance to the {REFERENCE}-px answer "
        f"of the same variant ({variants} variants; TV ± its standard error).",
        "",
        f"| face px | {header} | agreement | TV to {REFERENCE} px | beats priors with p(happy) < |",
        "|---:|" + "---:|" * len(EXPRESSIONS) + "---:|---:|---:|",
    ]
    for row in summary["rows"]:
        means = " | ".join(f"{p:.3f}" for p in row["mean"])
        lines.append(
            f"| {row['width']} | {means} | {row['agreement']:.0%} "
            f"| {row['tv']:.3f} ± {row['tv_se']:.3f} | {happy_share_beaten(row):.2f} |"
        )
    lines.append("")
    for name, tv in summary["prior_tv"].items():
        verdict = summary["verdicts"][name]
        lines.append(
            f"- prior `{name}` {summary['priors'][name]}: TV {tv:.3f}; no better than it up to "
            f"{verdict['largest_no_better']} px, clearly better from "
            f"{verdict['smallest_clearly_better']} px"
        )
    lines.append(
        f"- argmax agreement below {AGREEMENT_FLOOR:.0%} up to "
        f"{summary['largest_width_agreement_below']} px"
    )
    lines.append(
        f"- the {REFERENCE}-px answers are within TV {summary['reference_off_one_hot']:.3f} "
        "of one-hot happy"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    cv2.setNumThreads(1)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    image = astronaut_bgr()
    box = find_face(image)
    variants = draw_variants(args.variants, args.seed)
    say(f"face box {box}; {len(variants)} variants × {len(SIZES)} widths")
    crops = crops_of(image, box, variants, SIZES)
    classifier = ExpressionClassifier(threads=1)
    flat = classifier.infer(crops.reshape(-1, *crops.shape[2:]))
    probs = flat.astype(np.float64).reshape(len(variants), len(SIZES), len(EXPRESSIONS))
    summary = summarise(probs, SIZES)
    print(markdown(summary, len(variants)))
    report = {
        "benchmark": "face-size",
        "started": stamp,
        "arguments": vars(args),
        "code": code_version(["vision", "bench/face_size.py"]),
        "machine": machine_facts(["numpy", "opencv-python-headless", "onnxruntime"]),
        "face_box": box,
        "sizes": SIZES,
        "reference": REFERENCE,
        "seconds": round(time.perf_counter() - started, 1),
        "summary": summary,
        "variants": [asdict(variant) for variant in variants],
        "probabilities": np.round(probs, 5).tolist(),
    }
    say(f"results: {benchlib.write_results('face-size', stamp, report)}")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=200, help="variants (default 200)")
    parser.add_argument("--seed", type=int, default=13, help="of the variants (default 13)")
    parser.add_argument("--quick", action="store_true", help="20 variants")
    args = parser.parse_args(argv)
    if args.quick:
        args.variants = 20
    if args.variants < 2:
        parser.error("--variants must be at least 2 (a standard error needs two)")
    return args


if __name__ == "__main__":
    sys.exit(run(parse_args(sys.argv[1:])))
