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


__all__ = ["ConfigError", "DatasetError", "FerkitError", "InputError", "ModelError",
           "OutputError", "UnknownNameError", "UsageError"]
