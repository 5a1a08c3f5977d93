"""Convert facenet-pytorch's MTCNN weights (P-, R- and O-Net) to three ONNX files.

Uses numpy and the onnx package only — no torch: the ``.pt`` files are legacy torch state
dicts, read by ``tools.model.torch_legacy``. The layer graphs are facenet-pytorch 2.6.0's
``PNet``, ``RNet`` and ``ONet`` (``facenet_pytorch/models/mtcnn.py``), written out below
layer by layer; the converted outputs are tested against torch's (``make_mtcnn_reference``).

    python -m tools.model.convert_mtcnn [--wheel PATH] [--out-dir DIR]

from the repository root. Without ``--wheel`` it downloads the pinned wheel with
``pip download``. The output is deterministic: the same weights give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from tools.model.torch_legacy import load_state_dict
from tools.model.wheels import download_wheel
from vision.models import MTCNN_PATHS

__all__ = ["NETS", "convert_net", "main"]

FACENET_VERSION = "2.6.0"
#: SHA-256 of the weight files in the facenet-pytorch 2.6.0 wheel (the card describes these).
WEIGHT_SHA256 = {
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
OPSET = 17
IR_VERSION = 8


@dataclass(frozen=True)
class Conv:
    name: str


@dataclass(frozen=True)
class PRelu:
    name: str


@dataclass(frozen=True)
class Pool:
    kernel: int
    stride: int


@dataclass(frozen=True)
class Dense:
    """Transpose to (N, W, H, C) as the Caffe-trained weights expect, flatten, multiply."""

    name: str
    flatten: bool = False


Layer = Conv | PRelu | Pool | Dense


@dataclass(frozen=True)
class Net:
    name: str
    input_size: int | None  # None: fully convolutional (P-Net), any H×W
    trunk: tuple[Layer, ...]
    #: (output name, the layer computing it from the trunk, whether a softmax follows: the
    #: face probability).
    heads: tuple[tuple[str, Conv | Dense, bool], ...]


NETS: dict[str, Net] = {
    "pnet": Net(
        "pnet",
        None,
        (
            Conv("conv1"), PRelu("prelu1"), Pool(2, 2),
            Conv("conv2"), PRelu("prelu2"),
            Conv("conv3"), PRelu("prelu3"),
        ),
        (("reg", Conv("conv4_2"), False), ("prob", Conv("conv4_1"), True)),
    ),
    "rnet": Net(
        "rnet",
        24,
        (
            Conv("conv1"), PRelu("prelu1"), Pool(3, 2),
            Conv("conv2"), PRelu("prelu2"), Pool(3, 2),
            Conv("conv3"), PRelu("prelu3"),
            Dense("dense4", flatten=True), PRelu("prelu4"),
        ),
        (("reg", Dense("dense5_2"), False), ("prob", Dense("dense5_1"), True)),
    ),
    "onet": Net(
        "onet",
        48,
        (
            Conv("conv1"), PRelu("prelu1"), Pool(3, 2),
            Conv("conv2"), PRelu("prelu2"), Pool(3, 2),
            Conv("conv3"), PRelu("prelu3"), Pool(2, 2),
            Conv("conv4"), PRelu("prelu4"),
            Dense("dense5", flatten=True), PRelu("prelu5"),
        ),
        (
            ("reg", Dense("dense6_2"), False),
            ("landmarks", Dense("dense6_3"), False),
            ("prob", Dense("dense6_1"), True),
        ),
    ),
}  # fmt: skip


class _Builder:
    def __init__(self, weights: Mapping[str, NDArray[np.float32]]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.spatial = False  # whether the current tensor is N×C×H×W

    def constant(self, name: str, array: NDArray[np.float32]) -> str:
        self.initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def node(self, op: str, inputs: Sequence[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output

    def layer(self, layer: Layer, x: str, out: str) -> str:
        if isinstance(layer, Conv):
            kernel = self.weights[f"{layer.name}.weight"]
            return self.node(
                "Conv",
                [x, self.constant(f"{layer.name}.weight", kernel),
                 self.constant(f"{layer.name}.bias", self.weights[f"{layer.name}.bias"])],
                out,
                kernel_shape=list(kernel.shape[2:]),
            )  # fmt: skip
        if isinstance(layer, PRelu):
            slope = self.weights[f"{layer.name}.weight"]
            shaped = slope.reshape(-1, 1, 1) if self.spatial else slope
            return self.node("PRelu", [x, self.constant(f"{layer.name}.weight", shaped)], out)
        if isinstance(layer, Pool):
            # torch's MaxPool2d(ceil_mode=True): a partial window at the end counts.
            return self.node(
                "MaxPool", [x], out,
                kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2, ceil_mode=1,
            )  # fmt: skip
        if layer.flatten:
            # The weights were trained in Caffe on transposed images: torch permutes
            # (0, 3, 2, 1) before flattening, and so must we.
            x = self.node("Transpose", [x], f"{layer.name}.transposed", perm=[0, 3, 2, 1])
            x = self.node("Flatten", [x], f"{layer.name}.flat", axis=1)
            self.spatial = False
        return self.node(
            "Gemm",
            [x, self.constant(f"{layer.name}.weight", self.weights[f"{layer.name}.weight"]),
             self.constant(f"{layer.name}.bias", self.weights[f"{layer.name}.bias"])],
            out,
            transB=1,
        )  # fmt: skip


def convert_net(
    net: Net, weights: Mapping[str, NDArray[np.float32]], source: str
) -> onnx.ModelProto:
    """One MTCNN stage as a checked ONNX model: input ``image`` float32 N×3×H×W, RGB scaled
    as ``(x - 127.5) / 128``; outputs ``reg`` (box offsets), ``prob`` (N×2[×h×w]: not-face,
    face) and, for the O-Net, ``landmarks``."""
    builder = _Builder(weights)
    builder.spatial = True
    x = "image"
    for index, layer in enumerate(net.trunk):
        x = builder.layer(layer, x, f"trunk{index}")
    trunk, spatial = x, builder.spatial
    outputs: list[onnx.ValueInfoProto] = []
    map_side: list[int | str] = ["h", "w"] if spatial else []
    for name, head, softmax in net.heads:
        builder.spatial = spatial
        y = builder.layer(head, trunk, f"{name}.logits" if softmax else name)
        if softmax:
            y = builder.node("Softmax", [y], name, axis=1)
        channels = weights[f"{head.name}.weight"].shape[0]
        outputs.append(
            helper.make_tensor_value_info(y, TensorProto.FLOAT, ["N", channels, *map_side])
        )
    side: list[int | str] = ["H", "W"] if net.input_size is None else [net.input_size] * 2
    used = {i.name for i in builder.initializers}
    unused = sorted(set(weights) - used)
    if unused:
        raise ValueError(f"{net.name}: weights not used by the graph: {unused}")
    model = helper.make_model(
        helper.make_graph(
            builder.nodes,
            f"mtcnn_{net.name}",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, *side])],
            outputs,
            builder.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="kioskpulse tools.model.convert_mtcnn",
        producer_version="1",
        doc_string=(
            f"MTCNN {net.name.upper()} (Zhang et al., 2016) with facenet-pytorch "
            f"{FACENET_VERSION}'s weights ({source}), converted to ONNX. Input 'image': "
            "float32 [N,3,H,W] RGB, (x - 127.5) / 128."
        ),
    )
    helper.set_model_props(model, {"source": source, "facenet_pytorch": FACENET_VERSION})
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.model.convert_mtcnn",
        description=f"Convert facenet-pytorch {FACENET_VERSION}'s MTCNN weights to ONNX.",
    )
    parser.add_argument("--wheel", type=Path, help="a facenet-pytorch wheel already downloaded")
    parser.add_argument("--out-dir", type=Path, default=MTCNN_PATHS["pnet"].parent)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="convert_mtcnn-") as workdir:
        wheel = args.wheel or download_wheel("facenet-pytorch", FACENET_VERSION, Path(workdir))
        with zipfile.ZipFile(wheel) as archive:
            for name, net in NETS.items():
                member = f"facenet_pytorch/data/{name}.pt"
                data = archive.read(member)
                digest = hashlib.sha256(data).hexdigest()
                if digest != WEIGHT_SHA256[name]:
                    raise SystemExit(
                        f"{member}: SHA-256 {digest}, expected {WEIGHT_SHA256[name]} "
                        f"(facenet-pytorch {FACENET_VERSION}); the model card describes that file"
                    )
                path = Path(workdir) / f"{name}.pt"
                path.write_bytes(data)
                model = convert_net(net, load_state_dict(path), f"{member} sha256 {digest}")
                out = args.out_dir / MTCNN_PATHS[name].name
                onnx.save(model, out)
                print(f"{member} (sha256 {digest}) -> {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
