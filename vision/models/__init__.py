"""The expression model's file and the constants that go with it.

``fer_mini_xception.onnx`` is fer's Keras mini-Xception converted by
``tools/model/convert_fer.py``; see ``MODEL_CARD.md`` beside it for where it came from and
how it was checked. Its output classes are ``kioskpulse.events.EXPRESSIONS``, in order.
"""

from pathlib import Path

__all__ = ["INPUT_SIZE", "MODEL_PATH", "MTCNN_PATHS"]

#: The ONNX file: input ``input`` float32 [N, 1, 64, 64] in [-1, 1], output ``probs`` [N, 7].
MODEL_PATH: Path = Path(__file__).with_name("fer_mini_xception.onnx")

#: Side of the square grayscale face crop the model takes, in pixels.
INPUT_SIZE = 64

#: MTCNN's three stages (facenet-pytorch's weights, ``tools/model/convert_mtcnn.py``):
#: input ``image`` float32 [N, 3, H, W] RGB scaled as (x - 127.5) / 128.
MTCNN_PATHS: dict[str, Path] = {
    name: Path(__file__).with_name(f"mtcnn_{name}.onnx") for name in ("pnet", "rnet", "onet")
}
