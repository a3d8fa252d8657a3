"""Which image files a list of inputs (files, folders, glob patterns) names, and what was passed over.

:func:`expand_inputs` turns what a user typed into the files to analyse and says,
for each input, what it could not use:

- a **file** named explicitly is always taken, whatever its extension or kind
  (pipe, device, ...), so that reading it reports what it is;
- a **folder** is scanned recursively for files with an image extension
  (:data:`ferkit.imageio.IMAGE_SUFFIXES`, case-insensitive, AVIF and HEIC/HEIF
  included). Symbolic links to folders are followed, each folder is scanned once
  (a link to an ancestor neither loops nor lists files twice), and what is passed
  over is reported: files with other extensions (a count and a few examples),
  broken links, pipes and other special files, folders reached a second time
  through a link. A sub-folder that cannot be read is a problem of its own; the
  rest of the scan goes on;
- a **glob pattern** (``photos/*.jpg``, ``**/*.png``) that is not itself an
  existing path takes the images among its matches, and scans the folders it
  matches as above; a pattern that matches nothing is a problem.

Files are listed in the order of the inputs, sorted by path within each folder or
pattern, and each file once (the first input that reaches it wins; a file reached
again through a link or another input is passed over with a notice).
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ferkit.imageio import display_name, file_kind, is_image_path

#: How many example names a notice about skipped files shows.
MAX_EXAMPLES = 5


@dataclass
class InputProblem:
    """An input that names nothing usable, or a path that could not be scanned."""

    name: str      # display name (ferkit.imageio.display_name)
    message: str   # one line, says what is wrong


@dataclass
class InputScan:
    """What :func:`expand_inputs` found."""

    files: list[Path] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def expand_inputs(inputs: Iterable[str | os.PathLike] | str | os.PathLike) -> InputScan:
    """The image files that ``inputs`` (files, folders, glob patterns) name; see the module docstring.

    Never raises for a path that cannot be read: each such path becomes an
    :class:`InputProblem` and the other inputs are still scanned.
    """
    if isinstance(inputs, (str, bytes, os.PathLike)):
        inputs = [inputs]
    scan = InputScan()
    listed: set[str] = set()
    for item in inputs:
        _Expansion(scan, listed).expand(item)
    return scan


class _Expansion:
    """One top-level input: its files, and the notices about what it passed over."""

    def __init__(self, scan: InputScan, listed: set[str]) -> None:
        self.scan = scan
        self.listed = listed           # real paths of the files taken so far, all inputs
        self.visited: set[tuple[int, int]] = set()   # (device, inode) of folders scanned
        self.found: list[tuple[Path, str]] = []      # (path, real path) of images
        self.images_seen = 0                         # images found, already-listed ones included
        self.unknown: list[str] = []
        self.special: list[str] = []
        self.broken: list[str] = []
        self.relinked: list[str] = []
        self.duplicates: list[str] = []
        self.base: str | None = None   # folder that example names are relative to

    # -- inputs ------------------------------------------------------------------------------

    def expand(self, item: str | os.PathLike) -> None:
        text = os.fsdecode(item)
        name = display_name(text)
        try:
            st = os.stat(text)
        except FileNotFoundError:
            if os.path.lexists(text):
                self.problem(name, f"broken symbolic link: {name}")
            elif glob.has_magic(text):
                self.expand_glob(text, name)
            else:
                self.problem(name, f"file not found: {name}")
            return
        except OSError as e:
            self.problem(name, _access_message(name, e))
            return
        except ValueError as e:  # e.g. an embedded NUL
            self.problem(name, f"invalid path: {name}: {e}")
            return
        if stat.S_ISDIR(st.st_mode):
            self.base = text
            self.walk(text, st)
            self.finish(_folder_label(name))
            if not self.images_seen:
                detail = (f" ({_count(len(self.unknown), 'file')} with other extensions skipped)"
                          if self.unknown else "")
                self.problem(name, f"no images found in folder: {name}{detail}")
        else:
            # Named explicitly: always taken, whatever it is; reading it says what is wrong.
            self.take(Path(text), os.path.realpath(text), name)
            self.finish(name)

    def expand_glob(self, pattern: str, name: str) -> None:
        matches = sorted(glob.glob(pattern, recursive=True))
        if not matches:
            self.problem(name, f"no files match: {name}")
            return
        for match in matches:
            shown = display_name(match)
            try:
                st = os.stat(match)
            except FileNotFoundError:
                self.broken.append(shown)
                continue
            except OSError as e:
                self.problem(shown, _access_message(shown, e))
                continue
            if stat.S_ISDIR(st.st_mode):
                self.walk(match, st)
            elif not stat.S_ISREG(st.st_mode):
                self.special.append(f"{shown} is {file_kind(st.st_mode)}")
            elif is_image_path(Path(match)):
                self.take(Path(match), os.path.realpath(match), shown)
            else:
                self.unknown.append(shown)
        self.finish(name)
        if not self.images_seen:
            self.problem(name, f"no images among the {_count(len(matches), 'match', 'matches')} "
                               f"of: {name}")

    # -- folders -----------------------------------------------------------------------------

    def walk(self, root: str, root_stat: os.stat_result) -> None:
        """Scan ``root`` recursively: real sub-folders first, then linked ones (loop-safe)."""
        key = (root_stat.st_dev, root_stat.st_ino)
        if key in self.visited:
            return
        self.visited.add(key)
        folders = deque([root])
        links: deque[str] = deque()
        while folders or links:
            if folders:
                folder = folders.popleft()
            else:
                folder = links.popleft()
                try:
                    st = os.stat(folder)
                except OSError as e:
                    self.problem(display_name(folder), _access_message(display_name(folder), e))
                    continue
                key = (st.st_dev, st.st_ino)
                if key in self.visited:
                    self.relinked.append(self.rel(folder))
                    continue
                self.visited.add(key)
            self.scan_folder(folder, folders, links)

    def scan_folder(self, folder: str, folders: deque[str], links: deque[str]) -> None:
        shown = display_name(folder)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            self.problem(shown, f"cannot read folder: {shown}: {_reason(e)}")
            return
        real_folder = os.path.realpath(folder)
        for entry in entries:
            try:
                self.scan_entry(entry, real_folder, folders, links)
            except OSError as e:
                path = display_name(entry.path)
                self.problem(path, _access_message(path, e))

    def scan_entry(self, entry: os.DirEntry, real_folder: str, folders: deque[str],
                   links: deque[str]) -> None:
        if entry.is_symlink():
            try:
                st = entry.stat()
            except FileNotFoundError:
                self.broken.append(self.rel(entry.path))
                return
            except OSError as e:
                if e.errno == errno.ELOOP:
                    self.broken.append(self.rel(entry.path))
                    return
                raise
            if stat.S_ISDIR(st.st_mode):
                links.append(entry.path)
                return
            real = os.path.realpath(entry.path)
            mode = st.st_mode
        else:
            if entry.is_dir(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                key = (st.st_dev, st.st_ino)
                if key in self.visited:   # a bind mount of an ancestor
                    self.relinked.append(self.rel(entry.path))
                    return
                self.visited.add(key)
                folders.append(entry.path)
                return
            real = os.path.join(real_folder, entry.name)
            mode = stat.S_IFREG if entry.is_file(follow_symlinks=False) else entry.stat(
                follow_symlinks=False).st_mode
        if not stat.S_ISREG(mode):
            self.special.append(f"{self.rel(entry.path)} is {file_kind(mode)}")
        elif is_image_path(Path(entry.name)):
            self.take(Path(entry.path), real, self.rel(entry.path))
        else:
            self.unknown.append(self.rel(entry.path))

    # -- bookkeeping -------------------------------------------------------------------------

    def take(self, path: Path, real: str, shown: str) -> None:
        self.images_seen += 1
        if real in self.listed:
            self.duplicates.append(shown)
            return
        self.listed.add(real)
        self.found.append((path, real))

    def rel(self, path: str) -> str:
        if self.base is not None:
            return display_name(os.path.relpath(path, self.base))
        return display_name(path)

    def problem(self, name: str, message: str) -> None:
        self.scan.problems.append(InputProblem(name, message))

    def finish(self, label: str) -> None:
        self.scan.files.extend(sorted(path for path, _ in self.found))
        notes = [
            (self.unknown, "file with an unknown extension", "files with unknown extensions"),
            (self.special, "file that is not a regular file", "files that are not regular files"),
            (self.broken, "broken symbolic link", "broken symbolic links"),
            (self.relinked, "linked folder scanned already", "linked folders scanned already"),
            (self.duplicates, "file listed already", "files listed already"),
        ]
        for names, one, many in notes:
            if names:
                self.scan.skipped.append(f"{label}: skipped {_count(len(names), one, many)} "
                                         f"({_examples(names)})")


def _folder_label(name: str) -> str:
    return name if name.endswith(("/", os.sep)) else name + "/"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _examples(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_EXAMPLES])
    return shown + (", ..." if len(names) > MAX_EXAMPLES else "")


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def _access_message(name: str, e: OSError) -> str:
    if isinstance(e, PermissionError):
        return f"permission denied: {name}"
    if e.errno == errno.ELOOP:
        return f"symbolic link loop: {name}"
    return f"cannot access {name}: {_reason(e)}"


__all__ = ["MAX_EXAMPLES", "InputProblem", "InputScan", "expand_inputs"]
