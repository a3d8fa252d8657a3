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


def softmax(logits: np.ndarray, temperature: float = 1.0,
            shift: np.ndarray | None = None) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature - shift`` in float64; rows sum to 1.

    ``shift`` (one value per class) is the class-prior correction
    ``tau * log(prior)`` (see :class:`~ferkit.card.PriorCorrection`). Non-finite
    logits (a broken model) raise :class:`~ferkit.errors.ModelError` rather than
    turning into NaN probabilities.
    """
    from ferkit.errors import ModelError

    if not temperature > 0:
        raise ModelError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    if not np.isfinite(z).all():
        raise ModelError("the model produced non-finite outputs (NaN or infinity)")
    if shift is not None:
        z = z - np.asarray(shift, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


class RunAhead:
    """Iterates ``items`` on a worker thread, at most ``depth`` items ahead of the
    consumer, so that its work (decoding, detection: FFmpeg, Pillow and ONNX
    Runtime release the GIL) overlaps the consumer's on another core.

    Iterating a ``RunAhead`` gives the items in order; an exception the items
    raise is raised there, after the items before it. :meth:`close` (or leaving
    the ``with`` block) stops the worker after the item in hand, closes ``items``
    on the worker thread (a generator's ``finally`` runs there) and waits for it.
    """

    _ITEM, _END, _ERROR = range(3)

    def __init__(self, items, depth: int = 2, name: str = "ferkit-ahead") -> None:
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _fill(self, items) -> None:
        try:
            for item in items:
                if not self._put((self._ITEM, item)):
                    return
            self._put((self._END, None))
        except BaseException as e:  # handed to the consumer's thread
            self._put((self._ERROR, e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _put(self, entry) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            kind, value = self._queue.get()
            if kind == self._ITEM:
                yield value
            elif kind == self._ERROR:
                self._stop.set()
                raise value
            else:
                return

    def close(self) -> None:
        """Stop the worker and wait for it (it finishes the item in hand first); the
        iteration then ends, as if ``items`` had."""
        import queue

        self._stop.set()
        while self._thread.is_alive() or not self._queue.empty():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)
        self._queue.put_nowait((self._END, None))

    def __enter__(self) -> "RunAhead":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
