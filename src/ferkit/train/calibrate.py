"""Temperature scaling: one scalar ``T`` dividing the logits, fitted on validation data.

The negative log-likelihood of ``softmax(z / T)`` is convex in ``1 / T``, so the
minimum is where its derivative changes sign; bisection on ``log(1 / T)``
finds it to machine precision without an optimiser dependency.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ferkit.errors import UsageError
from ferkit.runtime import softmax

from .metrics import expected_calibration_error, negative_log_likelihood

T_RANGE = (0.05, 20.0)


@dataclass
class CalibrationResult:
    temperature: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def _nll_slope(z: np.ndarray, targets: np.ndarray, beta: float) -> float:
    """d NLL / d beta for probabilities softmax(beta * z)."""
    p = softmax(z * beta)
    return float(((p * z).sum(1) - z[np.arange(len(z)), targets]).mean())


def fit_temperature(logits, targets) -> CalibrationResult:
    """The temperature minimising validation NLL, with NLL and ECE before and after."""
    z = np.asarray(logits, dtype=np.float64)
    t = np.asarray(targets, dtype=np.int64)
    if len(z) == 0:
        raise UsageError("temperature scaling needs at least one validation sample")
    lo, hi = np.log(1 / T_RANGE[1]), np.log(1 / T_RANGE[0])   # log beta
    if _nll_slope(z, t, np.exp(lo)) >= 0:
        log_beta = lo
    elif _nll_slope(z, t, np.exp(hi)) <= 0:
        log_beta = hi
    else:
        for _ in range(100):
            mid = (lo + hi) / 2
            if _nll_slope(z, t, np.exp(mid)) < 0:
                lo = mid
            else:
                hi = mid
        log_beta = (lo + hi) / 2
    temperature = float(np.exp(-log_beta))
    before, after = softmax(z), softmax(z, temperature)
    return CalibrationResult(temperature, negative_log_likelihood(before, t),
                             negative_log_likelihood(after, t),
                             expected_calibration_error(before, t),
                             expected_calibration_error(after, t), len(t))


def estimate_prior(logits, temperature: float) -> list[float]:
    """The class distribution a model learned, as its mean calibrated prediction over a
    sample from the training distribution (the validation split): the prior of
    :class:`~ferkit.card.PriorCorrection`."""
    z = np.asarray(logits, dtype=np.float64)
    if len(z) == 0:
        raise UsageError("estimating the class prior needs at least one sample")
    return [float(p) for p in softmax(z, temperature).mean(0)]
