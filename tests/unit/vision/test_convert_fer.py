"""The converter on a tiny Keras-2-style HDF5 file written here: no download, no TensorFlow.

The tiny model has every layer type of fer's file, odd and non-square sizes (so TensorFlow
"same" padding is asymmetric), a depth multiplier of 2 and a residual Add; a numpy
implementation of the Keras layers (NHWC, as TensorFlow computes them) is the reference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from tools.model.convert_fer import ConversionError, convert_hdf5

Array = NDArray[np.float32]
H, W, C = 9, 7, 2
EPSILON = 1e-3


def layer(class_name: str, name: str, inputs: list[str], **config: Any) -> dict[str, Any]:
    inbound = [[[source, 0, 0, {}] for source in inputs]] if inputs else []
    return {
        "class_name": class_name,
        "name": name,
        "config": {"name": name, **config},
        "inbound_nodes": inbound,
    }


def window(**config: Any) -> dict[str, Any]:
    return {"data_format": "channels_last", "dilation_rate": [1, 1], **config}


LAYERS = [
    layer("InputLayer", "input_1", [], batch_input_shape=[None, H, W, C], dtype="float32"),
    layer(
        "Conv2D",
        "conv2d_1",
        ["input_1"],
        **window(filters=4, kernel_size=[3, 3], strides=[2, 2], padding="same"),
        use_bias=True,
        activation="linear",
    ),
    layer("BatchNormalization", "batch_normalization_1", ["conv2d_1"], axis=-1, epsilon=EPSILON),
    layer("Activation", "activation_1", ["batch_normalization_1"], activation="relu"),
    layer(
        "SeparableConv2D",
        "separable_conv2d_1",
        ["activation_1"],
        **window(filters=3, kernel_size=[3, 3], strides=[1, 1], padding="same"),
        depth_multiplier=2,
        use_bias=False,
        activation="linear",
    ),
    layer(
        "MaxPooling2D",
        "max_pooling2d_1",
        ["separable_conv2d_1"],
        data_format="channels_last",
        pool_size=[3, 3],
        strides=[2, 2],
        padding="same",
    ),
    layer(
        "Conv2D",
        "conv2d_2",
        ["activation_1"],
        **window(filters=3, kernel_size=[1, 1], strides=[2, 2], padding="same"),
        use_bias=False,
        activation="relu",
    ),
    layer("Add", "add_1", ["max_pooling2d_1", "conv2d_2"]),
    layer("GlobalAveragePooling2D", "global_average_pooling2d_1", ["add_1"]),
    layer("Activation", "predictions", ["global_average_pooling2d_1"], activation="softmax"),
]


def make_weights() -> dict[str, dict[str, Array]]:
    rng = np.random.default_rng(7)

    def normal(*shape: int) -> Array:
        return rng.normal(0.0, 0.5, shape).astype(np.float32)

    return {
        "conv2d_1": {"kernel": normal(3, 3, C, 4), "bias": normal(4)},
        "batch_normalization_1": {
            "gamma": normal(4) + 1,
            "beta": normal(4),
            "moving_mean": normal(4),
            "moving_variance": np.abs(normal(4)) + 0.5,
        },
        "separable_conv2d_1": {
            "depthwise_kernel": normal(3, 3, 4, 2),
            "pointwise_kernel": normal(1, 1, 8, 3),
        },
        "conv2d_2": {"kernel": normal(1, 1, 4, 3)},
    }


def write_keras_h5(path: Path, layers: list[dict[str, Any]], weights: dict[str, Any]) -> None:
    """The layout Keras 2 writes: weights under model_weights/<layer>/<layer>_1/<name>:0."""
    config = {
        "class_name": "Model",
        "config": {
            "name": "tiny",
            "layers": layers,
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["predictions", 0, 0]],
        },
    }
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.0.5"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [entry["name"].encode() for entry in layers]
        for entry in layers:
            group = root.create_group(entry["name"])
            names = [f"{entry['name']}_1/{key}:0" for key in weights.get(entry["name"], {})]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, array in zip(names, weights.get(entry["name"], {}).values(), strict=True):
                group.create_dataset(name, data=array)
        # Keras also stores optimizer state; the converter must leave it alone
        f.create_group("optimizer_weights").create_dataset("junk", data=np.zeros(3))


# --- numpy reference of the Keras layers, NHWC -------------------------------------------


def same_pad(x: Array, k: int, s: int, value: float) -> Array:
    """TensorFlow "same": total pad (out-1)*s + k - in, the odd pixel at the end."""
    pads = []
    for size in x.shape[1:3]:
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=value)


def patches(x: Array, k: int, s: int, value: float = 0.0) -> tuple[Array, int, int]:
    """[N, OH, OW, k*k, C] windows of ``x`` under "same" padding."""
    oh, ow = -(-x.shape[1] // s), -(-x.shape[2] // s)
    x = same_pad(x, k, s, value)
    taps = [x[:, i : i + s * oh : s, j : j + s * ow : s] for i in range(k) for j in range(k)]
    return np.stack(taps, axis=3), oh, ow


def conv(x: Array, kernel: Array, s: int, bias: Array | None = None) -> Array:
    k = kernel.shape[0]
    windows, _, _ = patches(x, k, s)
    out = np.einsum("nhwtc,tco->nhwo", windows, kernel.reshape(k * k, *kernel.shape[2:]))
    return out + bias if bias is not None else out


def depthwise(x: Array, kernel: Array) -> Array:
    k, _, c, mult = kernel.shape
    windows, oh, ow = patches(x, k, 1)
    out = np.einsum("nhwtc,tcm->nhwcm", windows, kernel.reshape(k * k, c, mult))
    return out.reshape(x.shape[0], oh, ow, c * mult)


def reference(x: Array, w: dict[str, dict[str, Array]]) -> Array:
    bn = w["batch_normalization_1"]
    y = conv(x, w["conv2d_1"]["kernel"], 2, w["conv2d_1"]["bias"])
    y = (y - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + EPSILON) * bn["gamma"]
    y = np.maximum(y + bn["beta"], 0)
    sep = depthwise(y, w["separable_conv2d_1"]["depthwise_kernel"])
    sep = conv(sep, w["separable_conv2d_1"]["pointwise_kernel"], 1)
    # negative maxima exist here, so a pad counted as 0 would show
    pooled = patches(sep, 3, 2, value=-np.inf)[0].max(axis=3)
    z = (pooled + np.maximum(conv(y, w["conv2d_2"]["kernel"], 2), 0)).mean(axis=(1, 2))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


# --- tests --------------------------------------------------------------------------------


@pytest.fixture
def weights() -> dict[str, dict[str, Array]]:
    return make_weights()


@pytest.fixture
def tiny_h5(tmp_path: Path, weights: dict[str, dict[str, Array]]) -> Path:
    path = tmp_path / "tiny.hdf5"
    write_keras_h5(path, LAYERS, weights)
    return path


def test_the_numpy_reference_pads_asymmetrically() -> None:
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 5, 1)
    # 5 px, 3x3 window, stride 2: out 3, total pad 2 -> one each side; 4 px: one, at the end
    assert same_pad(x, 3, 2, 0.0).shape == (1, 3, 7, 1)
    assert same_pad(x[:, :, :4], 3, 2, -1.0)[0, 1, :, 0].tolist() == [0, 1, 2, 3, -1]


def test_matches_the_numpy_reference(tiny_h5: Path, weights: dict[str, dict[str, Array]]) -> None:
    model = convert_hdf5(tiny_h5)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(-1, 1, (5, H, W, C)).astype(np.float32)
    (probs,) = session.run(None, {"input": x.transpose(0, 3, 1, 2).copy()})
    np.testing.assert_allclose(probs, reference(x, weights), atol=1e-5)


def test_interface_and_parameters(tiny_h5: Path, weights: dict[str, dict[str, Array]]) -> None:
    model = convert_hdf5(tiny_h5, metadata={"labels": "a,b,c"})
    graph = model.graph
    assert [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [
        "N",
        C,
        H,
        W,
    ]
    assert [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [
        "N",
        3,
    ]
    count = sum(a.size for layer_weights in weights.values() for a in layer_weights.values())
    assert sum(int(np.prod(t.dims)) for t in graph.initializer) == count
    props = {p.key: p.value for p in model.metadata_props}
    assert props["labels"] == "a,b,c"
    assert props["keras_version"] == "2.0.5"
    assert len(props["source_sha256"]) == 64


def test_reconversion_is_byte_identical(tiny_h5: Path) -> None:
    first = convert_hdf5(tiny_h5, metadata={"source": "test"}).SerializeToString()
    second = convert_hdf5(tiny_h5, metadata={"source": "test"}).SerializeToString()
    assert first == second
    onnx.checker.check_model(onnx.load_from_string(first), full_check=True)


def test_unknown_layer_type_is_refused(
    tmp_path: Path, weights: dict[str, dict[str, Array]]
) -> None:
    layers = [dict(entry) for entry in LAYERS]
    layers[3] = layer("Dropout", "activation_1", ["batch_normalization_1"], rate=0.5)
    path = tmp_path / "dropout.hdf5"
    write_keras_h5(path, layers, weights)
    with pytest.raises(ConversionError, match="'activation_1': Keras layer type 'Dropout'"):
        convert_hdf5(path)


def test_unknown_activation_is_refused(
    tmp_path: Path, weights: dict[str, dict[str, Array]]
) -> None:
    layers = [dict(entry) for entry in LAYERS]
    layers[3] = layer("Activation", "activation_1", ["batch_normalization_1"], activation="elu")
    path = tmp_path / "elu.hdf5"
    write_keras_h5(path, layers, weights)
    with pytest.raises(ConversionError, match="activation 'elu' is not handled"):
        convert_hdf5(path)
