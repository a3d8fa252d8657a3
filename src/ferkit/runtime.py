"""ONNX Runtime sessions for the detector and the classifier, built in one place,
and the softmax every probability in ferkit goes through."""

from __future__ import annotations

import os

import numpy as np


def session_options(threads: int = 0):
    """Options for a CPU session; ``threads=0`` lets ONNX Runtime choose.

    Idle worker threads sleep instead of spinning: the detector and the
    classifier run one after the other, and spinning threads of one session
    steal the cores the other needs (measured: 14-18 ms vs 9.5 ms end to end
    for a 640x480 photo on 2 cores, benchmarks/pipeline.py).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def create_session(model: str | os.PathLike | bytes, threads: int = 0,
                   providers: list[str] | None = None):
    """An ONNX Runtime inference session for a model file (or its bytes).

    A file that is not a loadable ONNX graph raises :class:`~ferkit.errors.ModelError`.
    """
    import onnxruntime as ort

    from ferkit.errors import ModelError

    source = model if isinstance(model, bytes) else os.fspath(model)
    try:
        return ort.InferenceSession(source, session_options(threads),
                                    providers=providers or ["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/... types
        name = "<bytes>" if isinstance(model, bytes) else os.fspath(model)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{name}: not a loadable ONNX model ({first})") from None


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64; rows sum to 1.

    Non-finite logits (a broken model) raise :class:`~ferkit.errors.ModelError`
    rather than turning into NaN probabilities.
    """
    from ferkit.errors import ModelError

    if not temperature > 0:
        raise ModelError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    if not np.isfinite(z).all():
        raise ModelError("the model produced non-finite outputs (NaN or infinity)")
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)
