"""ferkit's error model: every mistake a user can make raises a :class:`FerkitError`.

Each class says what went wrong, and ``exit_code`` what the CLI exits with:
2 for usage errors found before any work starts (unknown names, bad options,
configs, models or output places), 1 for inputs that could not be analysed
(the rest of a batch still runs) and for outputs that failed mid-run. The CLI
prints ``str(error)`` as one line, never a traceback.

The classes also derive from the built-in exception a Python caller would
expect (``ValueError``, ``OSError``, ``KeyError`` is avoided because it quotes
its message), so ``except ValueError`` keeps working around the API.
"""

from __future__ import annotations

import math
from numbers import Integral, Real


class FerkitError(Exception):
    """Base of every error ferkit raises for something the user can fix."""

    exit_code = 1


class UsageError(FerkitError, ValueError):
    """An argument or option value that ferkit cannot use (found before work starts)."""

    exit_code = 2


class UnknownNameError(UsageError):
    """A name (model, detector, label set, preset, format, ...) that ferkit does not know."""


class ConfigError(UsageError):
    """A training or data configuration that cannot be used as written."""


class DatasetError(UsageError):
    """Training data that cannot train a model (no files, one class, empty classes, ...)."""


class ModelError(FerkitError, ValueError):
    """A model that cannot be used: missing or garbage file, card missing, or card and graph disagree."""

    exit_code = 2


class InputError(FerkitError, ValueError):
    """An input (image, video, stream) that cannot be read; other inputs of a batch still run."""

    exit_code = 1


class OutputError(FerkitError, OSError):
    """A place results cannot be written to (read-only, full, a folder where a file is wanted, ...).

    ``exit_code`` is 2 when raised before work starts, 1 when writing failed mid-run.
    """

    exit_code = 2

    def __init__(self, message: str, *, during_run: bool = False) -> None:
        super().__init__(message)
        if during_run:
            self.exit_code = 1


def check_int(name: str, value, *, low: int, optional: bool = False) -> None:
    """Refuse (:class:`UsageError`) an option that is not an integer >= ``low`` (``None`` if ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise UsageError(f"{name} must be an integer >= {low}, got {value!r}")


def check_number(name: str, value, *, low: float, high: float, optional: bool = False) -> None:
    """Refuse (:class:`UsageError`) an option that is not a finite number from ``low`` to ``high``."""
    if value is None and optional:
        return
    if (isinstance(value, bool) or not isinstance(value, Real)
            or not math.isfinite(value) or not low <= value <= high):
        raise UsageError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")


__all__ = ["check_int", "check_number", "ConfigError", "DatasetError", "FerkitError", "InputError", "ModelError",
           "OutputError", "UnknownNameError", "UsageError"]
