"""How long ``ferkit`` takes to start: the median wall time of a few commands that
do little work, and the modules ``import ferkit.cli`` spends its time on.

    python benchmarks/startup.py                      # this checkout, this interpreter
    python benchmarks/startup.py --before c09cb45~1 --before-python /tmp/old-venv/bin/python

``--before REV`` also measures the ``src/`` of an earlier commit (extracted with
``git archive`` into a temporary folder and put first on ``PYTHONPATH``), run by
``--before-python`` (default: this interpreter), and prints both side by side.
Every command runs in a fresh interpreter as ``python -c "from ferkit.cli import
main; main()" ARGS`` (the ``ferkit`` script without its wrapper), in an empty
temporary folder. Timings depend on the machine and its load: compare columns of
one run, not runs on different machines.

Measured for issue 19 (2 shared cores, median of 9, ms; before: a27e556 with
typer 0.29.2, after: this change with typer 0.26.8):

    command                               before  after
    import ferkit.cli                        186    126
    ferkit --version                         183    141
    ferkit --help                            273    237
    ferkit analyze --help                    429    308
    ferkit models                            347    287
    ferkit analyze x.jpg --format xml        972    278   (exit 2; was refused after loading OpenCV/ONNX Runtime)
    ferkit analyze missing.jpg -q            807    524   (exit 1; loads the detector and the model)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; sys.argv[0] = 'ferkit'; from ferkit.cli import main; main()"
COMMANDS = [
    ["--version"],
    ["--help"],
    ["analyze", "--help"],
    ["models"],
    ["analyze", "x.jpg", "--format", "xml"],      # a usage error
    ["analyze", "missing.jpg", "-q"],             # a per-file error: loads the detector and model
]
IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


class Setup:
    """An interpreter and, optionally, a ``src`` folder that shadows the installed ferkit."""

    def __init__(self, name: str, python: str, src: Path | None) -> None:
        self.name, self.python, self.src = name, python, src

    def env(self) -> dict:
        env = dict(os.environ, COLUMNS="100", TERMINAL_WIDTH="100")
        env.pop("FERKIT_DEBUG", None)
        if self.src is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.src), env.get("PYTHONPATH")]))
        return env

    def run(self, argv: list[str], cwd: Path) -> tuple[float, int, str]:
        start = time.perf_counter()
        proc = subprocess.run([self.python, *argv], cwd=cwd, env=self.env(), capture_output=True,
                              text=True, timeout=300)
        return time.perf_counter() - start, proc.returncode, proc.stderr

    def importtime(self, cwd: Path) -> list[tuple[int, int, int, str]]:
        """(cumulative µs, self µs, depth, module) for ``import ferkit.cli``."""
        _, code, stderr = self.run(["-X", "importtime", "-c", "import ferkit.cli"], cwd)
        if code != 0:
            raise RuntimeError(f"{self.name}: import ferkit.cli failed:\n{stderr}")
        rows = []
        for m in IMPORTTIME.finditer(stderr):
            own, cumulative, indent, module = m.groups()
            rows.append((int(cumulative), int(own), len(indent) // 2, module))
        return rows

    def describe(self, cwd: Path) -> str:
        code = ("import importlib.metadata as m, sys; "
                "print(sys.version.split()[0], *(f'{p} {m.version(p)}' for p in ('typer', 'rich')))")
        proc = subprocess.run([self.python, "-c", code], cwd=cwd, capture_output=True, text=True,
                              env=self.env())
        return f"{self.name}: python {proc.stdout.strip()}" + (f", src {self.src}" if self.src else "")


def extract_src(rev: str, into: Path) -> Path:
    """``src/`` of commit ``rev``, written under ``into``."""
    archive = subprocess.run(["git", "archive", "--format=tar", rev, "src"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def measure(setups: list[Setup], runs: int, top: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for s in setups:
            print(s.describe(cwd))
        print(f"\nmedian wall time of {runs} runs (ms), exit code in brackets\n")
        header = f"| {'command':42} |" + "".join(f" {s.name:>16} |" for s in setups)
        print(header)
        print("|" + "-" * 44 + "|" + "".join("-" * 18 + "|" for _ in setups))
        rows = [("python -c pass", ["-c", "pass"]),
                ("import ferkit.cli", ["-c", "import ferkit.cli"])]
        rows += [("ferkit " + " ".join(c), ["-c", CLI, *c]) for c in COMMANDS]
        for label, argv in rows:
            cells = []
            for s in setups:
                s.run(argv, cwd)  # warm the file cache
                times, codes = [], set()
                for _ in range(runs):
                    seconds, code, _ = s.run(argv, cwd)
                    times.append(seconds)
                    codes.add(code)
                cells.append(f"{statistics.median(times) * 1000:8.0f} [{','.join(map(str, sorted(codes)))}]")
            print(f"| {label:42} |" + "".join(f" {c:>16} |" for c in cells))

        for s in setups:
            tables = [s.importtime(cwd) for _ in range(runs)]
            total = statistics.median(next(c for c, _, d, m in t if m == "ferkit.cli") for t in tables)
            print(f"\n{s.name}: python -X importtime -c 'import ferkit.cli': {total / 1000:.0f} ms "
                  f"(median of {runs}); top {top} modules by cumulative time (last run)\n")
            print(f"| {'module':48} | {'cumulative ms':>13} | {'self ms':>7} |")
            print("|" + "-" * 50 + "|" + "-" * 15 + "|" + "-" * 9 + "|")
            for cumulative, own, depth, module in sorted(tables[-1], reverse=True)[:top]:
                print(f"| {'  ' * depth + module:48} | {cumulative / 1000:13.1f} | {own / 1000:7.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (median reported)")
    parser.add_argument("--top", type=int, default=15, help="modules listed from -X importtime")
    parser.add_argument("--python", default=sys.executable, help="interpreter for this checkout")
    parser.add_argument("--before", metavar="REV", help="also measure the src/ of this commit")
    parser.add_argument("--before-python", help="interpreter for --before (default: --python)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        setups = []
        if args.before:
            src = extract_src(args.before, Path(tmp))
            setups.append(Setup("before", args.before_python or args.python, src))
        setups.append(Setup("after" if args.before else "now", args.python, ROOT / "src"))
        measure(setups, args.runs, args.top)


if __name__ == "__main__":
    main()
