"""ONNX Runtime sessions as the vision stage runs them: a fixed, small number of threads."""

from __future__ import annotations

import onnxruntime as ort

__all__ = ["session_options"]


def session_options(threads: int) -> ort.SessionOptions:
    """Options for a session with ``threads`` intra-op threads and all graph optimisations."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 1:
        # Spinning workers would take the core OpenCV needs next (33.6 → 23.5 frames/s
        # on two cores with the Haar detector, docs/benchmarks.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
