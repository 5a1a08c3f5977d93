"""The expression classifier: the ONNX mini-Xception on batches of 64×64 face crops."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from kioskpulse.events import EXPRESSIONS
from vision.models import INPUT_SIZE, MODEL_PATH
from vision.runtime import session_options

__all__ = ["ExpressionClassifier"]

Probabilities = npt.NDArray[np.float32]


class ExpressionClassifier:
    """Expression probabilities (in the order of ``EXPRESSIONS``) for grey face crops."""

    labels = EXPRESSIONS

    def __init__(
        self,
        model_path: Path = MODEL_PATH,
        *,
        threads: int = 1,
        providers: Sequence[str] | None = None,
        max_batch: int = 8,
    ) -> None:
        """``providers`` default: CUDA first when this onnxruntime build has it, then CPU.

        Batches are run ``max_batch`` faces at a time: on one core 8 per run is ~7 %
        faster per face than 32 (cache-sized activations, docs/benchmarks.md).
        """
        options = session_options(threads)
        available = ort.get_available_providers()
        wanted = providers or ["CUDAExecutionProvider", "CPUExecutionProvider"]
        chosen = [p for p in wanted if p in available]
        if not chosen:
            raise RuntimeError(f"none of the providers {wanted} is available ({available})")
        self.session = ort.InferenceSession(str(model_path), options, providers=chosen)
        self.providers = self.session.get_providers()
        self._input = self.session.get_inputs()[0].name
        self.max_batch = max_batch

    def infer(self, crops: npt.NDArray[np.uint8]) -> Probabilities:
        """N×64×64 uint8 grey crops → N×7 probabilities; an empty batch gives a 0×7 array."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        batch = self._preprocess(crops)
        outputs = [
            self.session.run(None, {self._input: batch[start : start + self.max_batch]})[0]
            for start in range(0, len(batch), self.max_batch)
        ]
        return self._postprocess(np.concatenate(outputs))

    @staticmethod
    def _preprocess(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if crops.ndim != 3 or crops.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"expected N×{INPUT_SIZE}×{INPUT_SIZE} crops, got {crops.shape}")
        scaled = crops.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
        return np.ascontiguousarray(scaled[:, None, :, :])

    @staticmethod
    def _postprocess(outputs: npt.NDArray[np.float32]) -> Probabilities:
        # The softmax output sums to 1 up to float error; make it exact for the contract.
        probs = np.clip(outputs.astype(np.float32), 0.0, 1.0)
        totals: Probabilities = probs.sum(axis=1, keepdims=True)
        result: Probabilities = probs / totals
        return result
