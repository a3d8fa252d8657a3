"""ONNX Runtime session settings shared by the detector and the classifier."""

from __future__ import annotations

import onnxruntime as ort


def session_options(threads: int = 0) -> ort.SessionOptions:
    """Options for a CPU session; ``threads=0`` lets ONNX Runtime choose.

    Idle worker threads sleep instead of spinning: the detector and the
    classifier run one after the other, and spinning threads of one session
    steal the cores the other needs (measured: 14-18 ms vs 9.5 ms end to end
    for a 640x480 photo on 2 cores, benchmarks/pipeline.py).
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts
