"""MTCNN: the converted nets against torch, the cascade on real and pasted faces.

``tests/fixtures/mtcnn_reference.npz`` holds torch's outputs (facenet-pytorch 2.6.0) for
seeded inputs, and facenet-pytorch's own detection on the astronaut: see
``tools/model/make_mtcnn_reference.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from tests.support.faces import found, iou, pasted_faces
from tools.frames import astronaut_bgr, letterbox
from tools.model.torch_legacy import LegacyFormatError, load_state_dict
from vision.detector import MtcnnFaceDetector, make_detector
from vision.models import MTCNN_PATHS
from vision.mtcnn import Mtcnn, MtcnnSettings, nms

REFERENCE = Path(__file__).resolve().parents[2] / "fixtures" / "mtcnn_reference.npz"


@pytest.fixture(scope="module")
def reference() -> dict[str, NDArray[np.float32]]:
    with np.load(REFERENCE) as data:
        return {name: data[name] for name in data.files}


@pytest.fixture(scope="module")
def detector() -> MtcnnFaceDetector:
    return MtcnnFaceDetector()


@pytest.mark.parametrize("net", ["pnet", "rnet", "onet"])
def test_onnx_nets_match_torch(net: str, reference: dict[str, NDArray[np.float32]]) -> None:
    session = ort.InferenceSession(str(MTCNN_PATHS[net]), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"image": reference[f"{net}_input"]})
    for info, output in zip(session.get_outputs(), outputs, strict=True):
        np.testing.assert_allclose(output, reference[f"{net}_{info.name}"], atol=2e-5)


def test_cascade_finds_the_face_torch_finds(reference: dict[str, NDArray[np.float32]]) -> None:
    rgb = np.ascontiguousarray(letterbox(astronaut_bgr(), 640, 480)[:, :, ::-1])
    ours = Mtcnn().detect(rgb, MtcnnSettings(pyramid_face=20))  # facenet-pytorch's min size
    (theirs,) = reference["astronaut_boxes"]
    assert len(ours) == 1
    # Not identical: torch's "area" resampling and its squeezing of boxes at the frame's
    # edge differ from OpenCV's INTER_AREA and our zero padding.
    assert iou(ours[0], theirs) > 0.85
    assert ours[0, 4] > 0.99


# Faces found of 12 with the defaults; the Haar default of before found 0 up to 48 px
# (issue 13's table). Below the smallest face asked for, finding some is a bonus.
@pytest.mark.parametrize(
    ("width", "at_least"), [(24, 12), (32, 12), (40, 12), (48, 12), (64, 12), (96, 12)]
)
def test_size_sweep_finds_faces_from_24_px(
    detector: MtcnnFaceDetector, width: int, at_least: int
) -> None:
    frame, truth = pasted_faces(width)
    boxes = detector.detect(frame, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert found(boxes, truth) >= at_least
    assert len(boxes) == found(boxes, truth), "a box that is no face"


def test_the_haar_default_of_before_misses_them() -> None:
    """The reason for the change, kept honest: Haar on a 320-px copy finds none at 40 px."""
    frame, truth = pasted_faces(40)
    haar = make_detector("haar")
    assert found(haar.detect(frame, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)), truth) == 0


def test_a_kiosk_camera_setting_skips_small_faces(detector: MtcnnFaceDetector) -> None:
    frame, _ = pasted_faces(24)
    assert len(detector.detect(frame, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 64)) == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_face_free_frame_yields_nothing(detector: MtcnnFaceDetector, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 2)
    assert len(detector.detect(frame, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))) == 0


def test_a_photo_without_faces_yields_nothing(detector: MtcnnFaceDetector) -> None:
    from skimage import data

    for image in (data.coffee(), data.chelsea(), data.rocket()):  # a cat's face too
        bgr = letterbox(np.ascontiguousarray(image[:, :, ::-1]), 640, 480)
        assert len(detector.detect(bgr, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))) == 0


def test_pyramid_starts_where_the_smallest_face_fits_the_pnet() -> None:
    settings = MtcnnSettings.for_faces_from(24)
    assert settings.pyramid_face == 32  # the P-Net reaches down to ¾ of its window
    scales = Mtcnn.scales(480, 640, settings)
    assert scales[0] == pytest.approx(12 / 32)
    assert 480 * scales[-1] >= 12 > 480 * scales[-1] * 0.709


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [50, 50, 59, 59]], np.float32)
    scores = np.array([0.8, 0.9, 0.7], np.float32)
    assert nms(boxes, scores, 0.5) == [1, 2]
    inner = np.array([[0, 0, 19, 19], [5, 5, 9, 9]], np.float32)
    assert nms(inner, np.array([0.9, 0.8], np.float32), 0.7) == [0, 1]
    assert nms(inner, np.array([0.9, 0.8], np.float32), 0.7, by_min=True) == [0]


def test_legacy_reader_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "not-torch.pt"
    path.write_bytes(b"\x80\x04K\x07.")  # a pickled 7
    with pytest.raises(LegacyFormatError, match="magic number"):
        load_state_dict(path)


def test_model_card_states_the_weights_hashes() -> None:
    from tools.model.convert_mtcnn import WEIGHT_SHA256

    card = MTCNN_PATHS["pnet"].with_name("MTCNN_MODEL_CARD.md").read_text(encoding="utf-8")
    assert all(digest in card for digest in WEIGHT_SHA256.values())
