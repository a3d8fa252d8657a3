"""The one progress bar every long-running step of ferkit shows (rich, on standard error)."""

from __future__ import annotations


def progress_bar(enabled: bool = True, *extra_columns, remaining: bool = True, console=None):
    """A :class:`rich.progress.Progress`: description, bar, ``done/total``, any
    ``extra_columns``, elapsed and (with ``remaining``) remaining time.

    Descriptions are shown verbatim (file names are not read as rich markup).
    Disabled, it draws nothing and costs nothing.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
               *extra_columns, TimeElapsedColumn()]
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console or Console(stderr=True), disable=not enabled)
