"""Camera-like scenes with known faces, for the small-face recall benchmark (issue 13).

A scene is a 640×480 JPEG (quality 85) of a photograph from ``skimage.data`` with copies
of the astronaut's face pasted in at known places and sizes (16–128 px wide), or the same
kind of frame without a face (for false positives), plus the two frames of
``tools/frames.py`` with their known faces. Everything is drawn from one seeded
generator, so a seed gives the same scenes (with the same OpenCV, libjpeg and
scikit-image builds).

Each face is the astronaut's head, cut from the 512×512 image around the box OpenCV's
Haar cascade finds there (computed, not written down) with some hair and chin around
it, then rotated in plane (±15°), perhaps mirrored, scaled so that the face box is the
wanted width, brightened or darkened (gain 0.6–1.3, offset ±20), and blended in
through a feathered ellipse at a random place where it overlaps no other head. The
whole frame is then blurred a little or not (Gaussian sigma 0, 0.5 or 1 px) and JPEG-coded.
The pasted face box is the ground truth.

One face, many times, is a narrow test: it says whether a detector sees *this* face at
a size, pose and lighting, on textured backgrounds, not how it does on real footage.

As in tools/frames.py, numpy, OpenCV and scikit-image are imported in the functions:
bench/vision.py imports this module at its top and is also its own worker process,
which runs in fer's venv (no scikit-image there) and pins its CPUs before any library
starts a thread pool.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from tools.frames import astronaut_bgr, four_faces, jpeg, letterbox

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BACKGROUNDS",
    "SIZE_BINS",
    "Look",
    "Match",
    "Scene",
    "box_iou",
    "face_box",
    "make_scenes",
    "match",
    "size_bin",
]

Box = tuple[int, int, int, int]  # x, y, w, h in the frame's pixels

WIDTH, HEIGHT = 640, 480
JPEG_QUALITY = 85
#: Face widths reported together (px); scenes draw as many faces from each.
SIZE_BINS: tuple[tuple[int, int], ...] = ((16, 23), (24, 32), (33, 39), (40, 63), (64, 128))
FACES_PER_FRAME = 4
#: Photographs shipped with scikit-image, none with a human face (camera and astronaut
#: have one). Those that do not load (some need a download) are left out.
BACKGROUNDS = (
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "brick",
    "grass",
    "gravel",
    "coins",
    "page",
    "text",
    "moon",
    "immunohistochemistry",
    "retina",
    "cell",
    "horse",
    "logo",
    "colorwheel",
)
#: The pasted head: the face box grown by this share of its width on every side, so
#: that a detector sees hair, ears and chin around the face, as in a real frame.
HEAD_MARGIN = 0.3
MAX_ROTATION = 15.0  # degrees, either way
GAIN, OFFSET = (0.6, 1.3), 20.0
BLUR_SIGMAS = (0.0, 0.5, 1.0)
#: Random places tried for a head before it moves on to the next frame.
PLACE_ATTEMPTS = 200


class Look(NamedTuple):
    """How one pasted face was drawn."""

    angle: float  # in-plane rotation, degrees (counter-clockwise)
    flipped: bool
    gain: float
    offset: float


@dataclass(frozen=True)
class Scene:
    """One frame and its faces. ``faces`` and ``looks`` are parallel lists."""

    jpeg: bytes
    faces: list[Box]
    name: str
    background: str = ""
    blur: float = 0.0
    looks: list[Look] = field(default_factory=list)


@dataclass(frozen=True)
class Match:
    """Found boxes paired one to one with true boxes (indices into the two lists)."""

    pairs: list[tuple[int, int, float]]  # (found, true, IoU), best overlap first
    missed: list[int]  # true boxes no found box matched
    extra: list[int]  # found boxes that matched no true box: false positives


def size_bin(width: int) -> tuple[int, int] | None:
    """The ``SIZE_BINS`` entry a face ``width`` px wide falls in, if any."""
    return next((b for b in SIZE_BINS if b[0] <= width <= b[1]), None)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    inter_w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match(
    found_boxes: Iterable[Iterable[float]], true_boxes: Iterable[Iterable[float]], iou: float = 0.4
) -> Match:
    """Greedy one-to-one matching, highest IoU first, of pairs with IoU ≥ ``iou``.

    Detectors draw different boxes around the same face (MTCNN's reach from brow to
    chin, Haar's are squarer), so the threshold is lower than the usual 0.5: at 0.4 a
    box still has to cover most of the face and little else."""
    found = [tuple(float(v) for v in box) for box in found_boxes]
    true = [tuple(float(v) for v in box) for box in true_boxes]
    candidates = sorted(
        (
            (overlap, i, j)
            for i, f in enumerate(found)
            for j, t in enumerate(true)
            if (overlap := box_iou(f, t)) >= iou
        ),
        reverse=True,
    )
    used_found: set[int] = set()
    used_true: set[int] = set()
    pairs = []
    for overlap, i, j in candidates:
        if i in used_found or j in used_true:
            continue
        used_found.add(i)
        used_true.add(j)
        pairs.append((i, j, overlap))
    return Match(
        pairs=pairs,
        missed=[j for j in range(len(true)) if j not in used_true],
        extra=[i for i in range(len(found)) if i not in used_found],
    )


@functools.cache
def face_box() -> Box:
    """The astronaut's face in the 512×512 image: OpenCV's Haar cascade at full size with
    fer's settings (scale 1.1, 5 neighbours, from 50 px), its largest box."""
    import cv2

    gray = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY)
    cascade = cv2.CascadeClassifier(
        cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    )
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(50, 50))
    if len(found) == 0:
        raise RuntimeError("OpenCV's Haar cascade finds no face in skimage's astronaut")
    x, y, w, h = (int(v) for v in max(found, key=lambda box: int(box[2])))
    return x, y, w, h


@functools.cache
def backgrounds() -> tuple[tuple[str, np.ndarray], ...]:
    """``BACKGROUNDS`` that load, as 8-bit BGR images."""
    import numpy as np
    from skimage import data

    loaded = []
    for name in BACKGROUNDS:
        try:
            image = np.asarray(getattr(data, name)())
        except Exception:  # noqa: S112  (a missing optional download: leave it out)
            continue
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        # RGBA (logo): the colour without the alpha channel; RGB to OpenCV's BGR.
        loaded.append((name, np.ascontiguousarray(image[:, :, 2::-1], dtype=np.uint8)))
    if not loaded:
        raise RuntimeError("none of skimage.data's background photographs loads")
    return tuple(loaded)


def _head() -> tuple[np.ndarray, int]:
    """The astronaut's head (float32 BGR, square) and the face's margin in it (px)."""
    import numpy as np

    x, y, w, h = face_box()
    margin = round(HEAD_MARGIN * w)
    source = astronaut_bgr()
    if min(x, y) < margin or max(y + h, x + w) + margin > min(source.shape[:2]):
        raise RuntimeError(f"the face box {(x, y, w, h)} is too near the image's edge")
    # Square around the face box's centre (Haar boxes are square): the face box sits in
    # the middle, so rotating and mirroring the head keep it where it was.
    head = source[y - margin : y + w + margin, x - margin : x + w + margin]
    return head.astype(np.float32), margin


def _background(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """A random background scaled (1–1.5× beyond covering) and cropped to 640×480."""
    import cv2
    import numpy as np

    choices = backgrounds()
    name, image = choices[int(rng.integers(len(choices)))]
    h, w = image.shape[:2]
    scale = max(HEIGHT / h, WIDTH / w) * float(rng.uniform(1.0, 1.5))
    size = (max(WIDTH, round(w * scale)), max(HEIGHT, round(h * scale)))
    shrink = size[0] < w
    scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    top = int(rng.integers(scaled.shape[0] - HEIGHT + 1))
    left = int(rng.integers(scaled.shape[1] - WIDTH + 1))
    return name, scaled[top : top + HEIGHT, left : left + WIDTH].astype(np.float32)


def _paste(
    frame: np.ndarray, head: np.ndarray, margin: int, width: int, x: int, y: int, look: Look
) -> Box:
    """Blend the head into ``frame`` with its patch's corner at (x, y), its face box
    ``width`` px wide: the face box in the frame."""
    import cv2
    import numpy as np

    face = head.shape[0] - 2 * margin
    side = _patch_side(head.shape[0], face, width)
    # Rotate at full resolution, then shrink with area averaging: rotating the small
    # patch would alias (warpAffine does not low-pass).
    centre = ((head.shape[1] - 1) / 2, (head.shape[0] - 1) / 2)
    turn = cv2.getRotationMatrix2D(centre, look.angle, 1.0)
    rotated = cv2.warpAffine(
        head, turn, (head.shape[1], head.shape[0]), borderMode=cv2.BORDER_REFLECT
    )
    shrink = side < head.shape[0]
    patch = cv2.resize(
        rotated, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    if look.flipped:
        patch = patch[:, ::-1]
    patch = np.clip(patch * look.gain + look.offset, 0, 255)
    # Feathered ellipse, a little narrower than tall like a head; reflected corners of the
    # rotation fall outside it. Opaque to 85 % of the radii, then fading to nothing.
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
    radius = np.sqrt(
        ((xx - side / 2) / (side * 0.42)) ** 2 + ((yy - side / 2) / (side * 0.48)) ** 2
    )
    alpha = np.clip((1.0 - radius) / 0.15, 0.0, 1.0)[..., None]
    region = frame[y : y + side, x : x + side]
    region[:] = region * (1.0 - alpha) + patch * alpha
    offset = round(margin * side / head.shape[0])
    return x + offset, y + offset, width, width


def _patch_side(head_side: int, face: int, width: int) -> int:
    """The pasted patch's side (px) for a face box ``width`` px wide."""
    return round(head_side * width / face)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _finish(frame: np.ndarray, rng: np.random.Generator) -> tuple[bytes, float]:
    """Blur the frame (or not) and JPEG-code it: (bytes, sigma)."""
    import cv2
    import numpy as np

    sigma = float(BLUR_SIGMAS[int(rng.integers(len(BLUR_SIGMAS)))])
    if sigma > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    return jpeg(np.clip(np.rint(frame), 0, 255).astype(np.uint8), JPEG_QUALITY), sigma


def _face_widths(rng: np.random.Generator, count: int) -> list[int]:
    """``count`` face widths, the same number (±1) from each size bin, in random order."""
    widths = [
        int(rng.integers(low, high + 1))
        for low, high in (SIZE_BINS[i % len(SIZE_BINS)] for i in range(count))
    ]
    return [widths[i] for i in rng.permutation(count)]


def _face_frames(rng: np.random.Generator, frames: int) -> list[Scene]:
    head, margin = _head()
    face = head.shape[0] - 2 * margin
    waiting = _face_widths(rng, frames * FACES_PER_FRAME)
    scenes: list[Scene] = []
    # A frame takes the next FACES_PER_FRAME faces plus any that did not fit the last
    # one, largest first; faces that find no room wait for the next frame, so every face
    # drawn is in some frame and the size bins stay even (a few frames may be added).
    while waiting:
        wanted = sorted(waiting[:FACES_PER_FRAME], reverse=True)
        waiting = waiting[FACES_PER_FRAME:]
        background, frame = _background(rng)
        patches: list[Box] = []
        faces: list[Box] = []
        looks: list[Look] = []
        left_over: list[int] = []
        for width in wanted:
            side = _patch_side(head.shape[0], face, width)
            for _ in range(PLACE_ATTEMPTS):
                x = int(rng.integers(WIDTH - side + 1))
                y = int(rng.integers(HEIGHT - side + 1))
                if not any(_overlaps((x, y, side, side), p) for p in patches):
                    break
            else:
                left_over.append(width)
                continue
            look = Look(
                angle=float(rng.uniform(-MAX_ROTATION, MAX_ROTATION)),
                flipped=bool(rng.random() < 0.5),
                gain=float(rng.uniform(*GAIN)),
                offset=float(rng.uniform(-OFFSET, OFFSET)),
            )
            patches.append((x, y, side, side))
            faces.append(_paste(frame, head, margin, width, x, y, look))
            looks.append(look)
        waiting = left_over + waiting
        data, sigma = _finish(frame, rng)
        name = f"faces-{len(scenes):04d}-{background}"
        scenes.append(Scene(data, faces, name, background, sigma, looks))
    return scenes


def _empty_frames(rng: np.random.Generator, frames: int) -> list[Scene]:
    scenes = []
    for index in range(frames):
        background, frame = _background(rng)
        data, sigma = _finish(frame, rng)
        scenes.append(Scene(data, [], f"empty-{index:04d}-{background}", background, sigma))
    return scenes


def _known_frames() -> list[Scene]:
    """tools/frames.py's two frames (JPEG quality 90, as the issue-3 bench measures them)."""
    x, y, w, h = face_box()
    # letterbox(): scaled to fit, centred.
    scale = min(WIDTH / 512, HEIGHT / 512)
    left, top = (WIDTH - round(512 * scale)) // 2, (HEIGHT - round(512 * scale)) // 2
    size = round(w * scale)
    astronaut = [(round(x * scale) + left, round(y * scale) + top, size, size)]
    # four_faces(): four 320×240 tiles cut from (80, 0) of the astronaut.
    tile_x, tile_y = 80, 0
    if x < tile_x or x + w > tile_x + WIDTH // 2 or y + h > tile_y + HEIGHT // 2:
        raise RuntimeError(f"the face box {(x, y, w, h)} is not whole in four_faces()' tiles")
    mosaic = [
        (x - tile_x + dx, y - tile_y + dy, w, h)
        for dy in (0, HEIGHT // 2)
        for dx in (0, WIDTH // 2)
    ]
    return [
        Scene(jpeg(letterbox(astronaut_bgr(), WIDTH, HEIGHT)), astronaut, "astronaut", "astronaut"),
        Scene(jpeg(four_faces()), mosaic, "four-faces", "astronaut"),
    ]


def make_scenes(
    seed: int, face_frames: int, empty_frames: int, *, known: bool = True
) -> list[Scene]:
    """``face_frames`` frames with FACES_PER_FRAME faces each (a frame or two more when
    the last ones' faces did not all fit), ``empty_frames`` without a face, and, with
    ``known``, the astronaut and four-face frames of tools/frames.py; in that order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    scenes = _face_frames(rng, face_frames) + _empty_frames(rng, empty_frames)
    return scenes + (_known_frames() if known else [])
