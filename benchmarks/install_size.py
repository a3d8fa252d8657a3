"""Disk size of the environment ``pip install`` makes: an old revision against this checkout.

    python benchmarks/install_size.py [--old eb681ca] [--new WORKTREE] [--extra plots ...] [--top 15]

Each variant is installed into a fresh virtual environment in a temporary folder
(the environment has no pip of its own: the running interpreter's pip installs
into it with ``pip --python``), then measured: the whole environment on disk
(like ``du -s``; hard links counted once) and each installed distribution (the
files its RECORD lists, ``.libs`` folders of vendored libraries included).

``--old`` is a git revision (exported with ``git archive``); ``--new`` is a
revision or ``WORKTREE``, the checkout's working tree as it is now (tracked and
untracked files that git does not ignore). ``--extra NAME`` adds a variant of
``--new`` installed with that extra. pip's cache is used, so reruns are fast;
the first run downloads several hundred MB and takes a few minutes.
Sizes are in MB of 10^6 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 1e6

# Run inside the measured environment: {distribution name: (version, bytes on disk)}.
_PER_DIST = r"""
import json, os, re, sys
from importlib import metadata
seen, out = set(), {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name is None:
        continue
    name = re.sub(r"[-_.]+", "-", name).lower()   # PEP 503 normal form
    if name in out:
        continue
    total = 0
    for f in dist.files or []:
        p = os.path.realpath(dist.locate_file(f))
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_blocks * 512
    out[name] = (dist.version, total)
json.dump(out, sys.stdout)
"""


@dataclass
class Env:
    label: str
    total: int = 0                                   # bytes on disk, the whole environment
    dists: dict[str, tuple[str, int]] = field(default_factory=dict)
    seconds: float = 0.0


def disk_usage(root: Path) -> int:
    """Bytes on disk under ``root`` (allocated blocks, hard links once), as ``du -s`` counts."""
    seen, total = set(), 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def export_source(rev: str, dest: Path) -> Path:
    """The project's files at ``rev`` (or the working tree for ``WORKTREE``) in ``dest``."""
    dest.mkdir(parents=True)
    if rev == "WORKTREE":
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=REPO, check=True, capture_output=True).stdout.decode()
        for rel in filter(None, listed.split("\0")):
            src = REPO / rel
            if src.is_file():   # a tracked file deleted in the working tree is left out
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
        return dest
    archive = dest.with_suffix(".tar")
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), rev], cwd=REPO, check=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):   # Python >= 3.10.12 / 3.11.4
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    archive.unlink()
    return dest


def build_env(label: str, source: Path, extra: str | None, where: Path, quiet: bool) -> Env:
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    target = f"{source}[{extra}]" if extra else str(source)
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "install", "--disable-pip-version-check",
           target]
    done = subprocess.run(cmd, capture_output=quiet, text=True)
    if done.returncode:
        if quiet:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"pip install {target} failed (exit {done.returncode})")
    seconds = time.perf_counter() - start
    dists = json.loads(subprocess.run([str(python), "-c", _PER_DIST], check=True,
                                      capture_output=True, text=True).stdout)
    return Env(label, disk_usage(venv), {k: tuple(v) for k, v in dists.items()}, seconds)


def report(envs: list[Env], top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 100))
    base = envs[0]
    summary = Table(title="Environment size on disk (fresh venv + pip install)")
    for col in ("environment", "distributions", "size", f"vs {base.label}", "install time"):
        summary.add_column(col, justify="left" if col == "environment" else "right")
    for env in envs:
        diff = (env.total - base.total) / MB
        summary.add_row(env.label, str(len(env.dists)), f"{env.total / MB:.0f} MB",
                        "" if env is base else f"{diff:+.0f} MB", f"{env.seconds:.0f} s")
    console.print(summary)

    largest = sorted({name for env in envs for name in env.dists},
                     key=lambda n: -max(env.dists.get(n, ("", 0))[1] for env in envs))[:top]
    table = Table(title="Largest distributions (MB on disk; - = not installed)")
    table.add_column("distribution")
    for env in envs:
        table.add_column(env.label, justify="right")
    for name in largest:
        cells = []
        for env in envs:
            version, size = env.dists.get(name, (None, 0))
            cells.append(f"{size / MB:.1f}" if version is not None else "-")
        table.add_row(name, *cells)
    console.print(table)
    for env in envs[1:]:
        gone = sorted(set(base.dists) - set(env.dists))
        added = sorted(set(env.dists) - set(base.dists))
        console.print(f"{env.label}: without {', '.join(gone) or 'nothing'}; "
                      f"adds {', '.join(added) or 'nothing'} (against {base.label})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="eb681ca", help="git revision to compare against (default eb681ca)")
    parser.add_argument("--new", default="WORKTREE", help="git revision or WORKTREE (default)")
    parser.add_argument("--extra", action="append", default=None,
                        help="also measure --new with this extra (repeatable; default: plots)")
    parser.add_argument("--top", type=int, default=15, help="how many distributions to list")
    parser.add_argument("--keep", action="store_true", help="keep the environments (their folder is printed)")
    parser.add_argument("--verbose", action="store_true", help="show pip's output (else shown only on failure)")
    args = parser.parse_args()
    extras = ["plots"] if args.extra is None else [e for e in args.extra if e]

    tmp = Path(tempfile.mkdtemp(prefix="ferkit-install-size-"))
    try:
        variants = [(f"old {args.old}", args.old, None), (_label(args.new), args.new, None)]
        variants += [(f"{_label(args.new)} + {e}", args.new, e) for e in extras]
        sources: dict[str, Path] = {}
        envs = []
        for i, (label, rev, extra) in enumerate(variants):
            if rev not in sources:
                sources[rev] = export_source(rev, tmp / f"src-{len(sources)}")
            print(f"installing {label} ...", file=sys.stderr, flush=True)
            envs.append(build_env(label, sources[rev], extra, tmp / f"env-{i}", quiet=not args.verbose))
        report(envs, args.top)
    finally:
        if args.keep:
            print(f"environments kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _label(rev: str) -> str:
    return "new" if rev == "WORKTREE" else f"new {rev}"


if __name__ == "__main__":
    main()
