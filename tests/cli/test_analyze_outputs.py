"""``ferkit analyze`` when the output place is wrong, full, read-only or taken:
one line before any work where it can be known then, line-complete files where not."""

import fcntl
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from ferkit.cli import app
from imagefiles import astronaut

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, ["analyze", *map(str, args)])
    return result.exit_code, result.output


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("in") / "astronaut.png"
    Image.fromarray(astronaut()).save(path)
    return path


@pytest.fixture
def mounted(tmp_path):
    """``mount(size_kb, readonly)`` gives a fresh tmpfs (root only; skipped where mounting is not allowed)."""
    mounts = []

    def mount(size_kb: int, readonly: bool = False) -> Path:
        point = tmp_path / f"mnt{len(mounts)}"
        point.mkdir()
        opts = f"size={size_kb}k" + (",ro" if readonly else "")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()})")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_out_naming_an_existing_folder(photo, tmp_path):
    code, output = run(photo, "--out", tmp_path)
    assert code == 2 and "is a folder" in one_error_line(output)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_out_under_a_file_is_refused_before_any_work(photo, tmp_path, fmt):
    (tmp_path / "plain").write_text("a file, not a folder")
    code, output = run(photo, "--out", tmp_path / "plain" / "r.out", "--format", fmt)
    assert code == 2 and "not a folder" in one_error_line(output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]   # no .partial / .tmp left


def test_out_under_proc_is_refused(photo):
    code, output = run(photo, "--out", "/proc/ferkit-no-such-place/r.jsonl")
    assert code == 2 and "/proc/ferkit-no-such-place" in one_error_line(output)


def test_read_only_places_are_refused_before_any_work(photo, tmp_path, mounted):
    ro = mounted(64, readonly=True)
    out = tmp_path / "r.jsonl"
    for flag in ("--annotate", "--save-crops"):
        code, output = run(photo, "--out", out, flag, ro / "pictures")
        assert code == 2 and "Read-only file system" in one_error_line(output), flag
        assert not out.exists()
    code, output = run(photo, "--out", ro / "r.jsonl")
    assert code == 2 and "Read-only file system" in one_error_line(output)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_disk_full_leaves_complete_lines_and_says_so(photos_dir, mounted, fmt):
    full = mounted(12)   # the 25 photos' results take about 40 kB
    out = full / f"r.{fmt}"
    code, output = run(photos_dir, "--out", out, "--format", fmt, "-q")
    assert code == 1
    assert "No space left on device" in one_error_line(output)
    if fmt == "json":   # the array is never written; the partial file keeps what was done
        assert not out.exists()
        out = full / "r.json.partial.jsonl"
    text = out.read_text()
    assert text and text.endswith("\n")
    lines = text.splitlines()
    if fmt in ("jsonl", "json"):
        assert all(json.loads(line)["file"] for line in lines)
    else:
        assert all(line.count(",") >= 15 for line in lines[1:])  # whole rows only


def test_annotating_into_a_full_disk_is_an_error_not_silence(photos_dir, tmp_path, mounted):
    full = mounted(64)
    code, output = run(photos_dir, "--out", tmp_path / "r.jsonl", "--annotate", full, "-q")
    assert code == 1 and "No space left on device" in one_error_line(output)
    assert not list(full.glob(".*.tmp"))   # no half-written picture


def test_a_file_being_written_by_another_run_is_refused(photo, tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text('{"kept": true}\n')
    with open(out, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, output = run(photo, "--out", out)
    assert code == 2 and "another ferkit run" in one_error_line(output)
    assert out.read_text() == '{"kept": true}\n'


def test_file_names_are_shown_and_processed_verbatim(tmp_path):
    folder = tmp_path / "a["
    folder.mkdir()
    good = [tmp_path / "IMG[copy].jpg", folder / "b].jpg", tmp_path / "[red]x.png"]
    for path in good:
        Image.fromarray(astronaut()).save(path)
    bad = tmp_path / "[bold]broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "r.jsonl"
    code, output = run(*good, bad, "--out", out)
    assert code == 1
    assert f"{bad}" in one_error_line(output)
    rows = {json.loads(line)["file"]: json.loads(line) for line in out.read_text().splitlines()}
    assert set(rows) == {str(p) for p in [*good, bad]}
    assert all(len(rows[str(p)]["faces"]) == 1 for p in good)


def test_error_lines_are_not_wrapped_when_stderr_is_not_a_terminal(tmp_path):
    missing = tmp_path / ("a-very-long-folder-name-" * 6) / "photo.jpg"
    proc = subprocess.run([sys.executable, "-c", "from ferkit.cli import main; main()", "analyze",
                           str(missing), "-q"], capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "60", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert f"error: file not found: {missing}" in proc.stderr.splitlines()


def test_unwritable_out_gives_no_traceback_through_the_console_script(photo, tmp_path):
    exe = shutil.which("ferkit") or pytest.skip("ferkit console script not on PATH")
    proc = subprocess.run([exe, "analyze", str(photo), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path} is a folder; give a file name for the results"]
