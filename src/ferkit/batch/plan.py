"""What a batch analyses: the inputs expanded into items, each with the name its record carries.

Images are found by :func:`ferkit.inputs.expand_inputs` (folders, globs, files),
so an item's ``name`` is the ``file`` that ``ferkit analyze`` writes for it.
Videos (``kind="videos"``) are found the same way with video extensions; each
gets an output folder under ``--out`` named after its path inside the folder it
was found in. Object-store URIs (``s3://``, ``gs://``, ``file://``, ...) are
listed with pyarrow's filesystems and read by the engines as they are.

An input that cannot be read, or that names nothing, becomes an item with its
``error`` already set: it gets an error record and never reaches an engine.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from ferkit.errors import InputError, UsageError
from ferkit.imageio import IMAGE_SUFFIXES, display_name, load_image

#: URI schemes read through pyarrow's filesystems (and Ray Data's readers).
OBJECT_STORE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "file")

#: Extensions of the files a folder or pattern contributes in a video batch.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg",
                            ".wmv", ".flv", ".ts", ".mts", ".m2ts", ".3gp", ".ogv"})

KINDS = ("images", "videos")


@dataclass(frozen=True)
class Item:
    """One input: ``name`` (its records' ``file``), ``source`` (a local path or an
    object-store URI to read), ``folder`` (videos: where its outputs go, relative
    to the output folder) and ``error`` when it is known to fail before it is read."""

    name: str
    source: str | None
    folder: str | None = None
    error: str | None = None


@dataclass
class Plan:
    """The items of a batch, in input order, and notices about what was passed over."""

    kind: str
    items: list[Item] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def pending(self, done: set[str]) -> "Plan":
        """The plan without the items whose names are in ``done``."""
        return replace(self, items=[i for i in self.items if i.name not in done])

    @property
    def runnable(self) -> list[Item]:
        return [i for i in self.items if i.error is None]

    @property
    def failed(self) -> list[Item]:
        return [i for i in self.items if i.error is not None]


def is_uri(source: str) -> bool:
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.lower() in OBJECT_STORE_SCHEMES


def build_plan(inputs, kind: str = "images") -> Plan:
    """Expand ``inputs`` (paths, folders, globs, object-store URIs) into a :class:`Plan`."""
    if kind not in KINDS:
        raise UsageError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [os.fsdecode(i) for i in inputs]
    if not inputs:
        raise UsageError("no inputs given")
    local = [i for i in inputs if not is_uri(i)]
    uris = [i for i in inputs if is_uri(i)]
    plan = Plan(kind)
    if kind == "images":
        _add_images(plan, local)
    else:
        _add_videos(plan, local)
    suffixes = IMAGE_SUFFIXES if kind == "images" else VIDEO_SUFFIXES
    for uri in uris:
        _add_uri(plan, uri, suffixes)
    seen: set[str] = set()
    unique = [i for i in plan.items if not (i.name in seen or seen.add(i.name))]
    if len(unique) < len(plan.items):
        n = len(plan.items) - len(unique)
        plan.skipped.append(f"skipped {n} input{'s' if n > 1 else ''} listed already")
    plan.items = _unique_folders(unique) if kind == "videos" else unique
    return plan


def read_error(path: str) -> str | None:
    """Why the local file ``path`` cannot be read (not a regular file, no permission),
    in ``ferkit analyze``'s words, without reading it; ``None`` when it can be."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode) and os.access(path, os.R_OK):
            return None
    except (OSError, ValueError):
        pass
    try:
        load_image(path)   # refuses it from its stat, or when opening it, before decoding
    except InputError as e:
        return str(e)
    return None


# --- images -----------------------------------------------------------------------------------

def _add_images(plan: Plan, inputs: list[str]) -> None:
    if not inputs:
        return
    from ferkit.inputs import expand_inputs

    scan = expand_inputs(inputs)
    plan.skipped.extend(scan.skipped)
    plan.items.extend(Item(p.name, None, error=p.message) for p in scan.problems)
    for path in scan.files:
        text = os.fspath(path)
        plan.items.append(Item(display_name(text), text, error=read_error(text)))


# --- videos -----------------------------------------------------------------------------------

def _is_video(path: str) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _add_videos(plan: Plan, inputs: list[str]) -> None:
    taken: set[str] = set()

    def take(path: str, folder: str) -> None:
        real = os.path.realpath(path)
        if real not in taken:
            taken.add(real)
            plan.items.append(Item(display_name(path), path, _posix(folder), read_error(path)))

    for text in inputs:
        name = display_name(text)
        if os.path.isdir(text):
            found, others = _walk_videos(text)
            for path in found:
                take(path, os.path.relpath(path, text))
            if others:
                plan.skipped.append(f"{name}: skipped {others} file{'s' if others > 1 else ''} "
                                    f"that {'are not videos' if others > 1 else 'is not a video'}")
            if not found:
                plan.items.append(Item(name, None, error=f"no videos found in folder: {name}"))
        elif os.path.lexists(text):
            take(text, os.path.basename(text))   # named explicitly: always taken
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            videos = [m for m in matches if os.path.isfile(m) and _is_video(m)]
            for folder in (m for m in matches if os.path.isdir(m)):
                videos += [p for p in _walk_videos(folder)[0]]
            for path in videos:
                take(path, os.path.basename(path))
            if not videos:
                plan.items.append(Item(name, None, error=f"no videos among the matches of: {name}"
                                       if matches else f"no files match: {name}"))
        else:
            plan.items.append(Item(name, None, error=f"file not found: {name}"))


def _walk_videos(folder: str) -> tuple[list[str], int]:
    """Video files under ``folder`` (sorted, symbolic links to folders not followed)
    and how many other files were passed over."""
    found, others = [], 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if _is_video(f):
                found.append(os.path.join(root, f))
            else:
                others += 1
    return found, others


def _posix(folder: str) -> str:
    """``folder`` as a relative POSIX path that stays inside the output folder."""
    parts = [p for p in PurePosixPath(display_name(folder).replace(os.sep, "/")).parts
             if p not in ("", ".", "..", "/")]
    return "/".join(parts) or "video"


def _unique_folders(items: list[Item]) -> list[Item]:
    """Give each video its own output folder: ``clip.mp4``, then ``clip.mp4-2``, ... in plan order."""
    used: set[str] = set()
    unique = []
    for item in items:
        if item.folder is None:
            unique.append(item)
            continue
        folder, k = item.folder, 1
        while folder.lower() in used:
            k += 1
            folder = f"{item.folder}-{k}"
        used.add(folder.lower())
        unique.append(replace(item, folder=folder))
    return unique


# --- object stores ----------------------------------------------------------------------------

def _add_uri(plan: Plan, uri: str, suffixes) -> None:
    try:
        import pyarrow.fs as pafs
    except ImportError:
        raise UsageError(f"{uri}: reading object-store URIs needs pyarrow: "
                         "pip install 'ferkit[ray]'") from None
    scheme = uri.partition("://")[0]
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            listed = fs.get_file_info(pafs.FileSelector(path, recursive=True))
            files = sorted(i.path for i in listed if i.type == pafs.FileType.File
                           and PurePosixPath(i.path).suffix.lower() in suffixes)
            if not files:
                plan.items.append(Item(uri, None, error=f"no {plan.kind} found in folder: {uri}"))
        elif info.type == pafs.FileType.File:
            files = [path]
        else:
            plan.items.append(Item(uri, None, error=f"file not found: {uri}"))
            return
    except (OSError, ValueError) as e:   # pyarrow's errors derive from these
        plan.items.append(Item(uri, None, error=f"cannot list {uri}: {e}"))
        return
    base = path.rstrip("/")
    for f in files:
        full = f"{scheme}://{f}"
        folder = f[len(base):].lstrip("/") if f != path else PurePosixPath(f).name
        plan.items.append(Item(full, full, _posix(folder) if plan.kind == "videos" else None))




def read_list(path: str | os.PathLike) -> list[str]:
    """The inputs a list file names, one a line; blank lines and ``#`` comments are passed over."""
    name = display_name(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read the input list {name}: {getattr(e, 'strerror', None) or e}") from None
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


__all__ = ["KINDS", "OBJECT_STORE_SCHEMES", "VIDEO_SUFFIXES", "Item", "Plan", "build_plan",
           "is_uri", "read_error", "read_list"]
