import os
import shutil
import socket
from pathlib import Path

import pytest

from ferkit.inputs import MAX_EXAMPLES, InputProblem, InputScan, expand_inputs
from imagefiles import run_unprivileged, world_readable_tmpdir


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def _names(scan: InputScan, root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in scan.files]


def _messages(scan: InputScan) -> list[str]:
    return [p.message for p in scan.problems]


def test_folders_globs_and_missing_paths(tmp_path):
    _touch(tmp_path, "a/1.jpg", "a/b/2.PNG", "a/notes.txt")
    (tmp_path / "empty").mkdir()
    scan = expand_inputs([tmp_path / "a", str(tmp_path / "a" / "*.jpg"), tmp_path / "empty",
                          tmp_path / "nothing.jpg", str(tmp_path / "*.gif")])
    assert _names(scan, tmp_path) == ["a/1.jpg", "a/b/2.PNG"]  # 1.jpg once, though named twice
    assert sorted(m.split(":")[0] for m in _messages(scan)) == [
        "file not found", "no files match", "no images found in folder"]
    empty = str(tmp_path / "empty")
    assert InputProblem(empty, f"no images found in folder: {empty}") in scan.problems
    assert f"{tmp_path / 'a'}/: skipped 1 file with an unknown extension (notes.txt)" in scan.skipped
    assert any("skipped 1 file listed already" in s and "*.jpg" in s for s in scan.skipped)


def test_one_input_or_a_single_path(tmp_path):
    _touch(tmp_path, "x.jpg")
    assert expand_inputs(tmp_path / "x.jpg").files == [tmp_path / "x.jpg"]
    assert expand_inputs(str(tmp_path)).files == [tmp_path / "x.jpg"]
    assert expand_inputs(os.fsencode(tmp_path)).files == [tmp_path / "x.jpg"]


def test_unknown_extensions_are_counted_with_examples(tmp_path):
    others = [f"doc{i:02d}.txt" for i in range(10)] + ["sub/a.zip", "sub/b.doc"]
    _touch(tmp_path, "p/face.jpg", *(f"p/{n}" for n in others))
    scan = expand_inputs([tmp_path / "p"])
    assert _names(scan, tmp_path) == ["p/face.jpg"]
    assert scan.problems == []
    (notice,) = scan.skipped
    shown = ", ".join(others[:MAX_EXAMPLES])
    assert notice == f"{tmp_path / 'p'}/: skipped 12 files with unknown extensions ({shown}, ...)"


def test_folder_with_only_other_files_is_a_problem(tmp_path):
    _touch(tmp_path, "docs/a.txt", "docs/b.pdf")
    scan = expand_inputs([tmp_path / "docs"])
    assert scan.files == []
    assert _messages(scan) == [(f"no images found in folder: {tmp_path / 'docs'} "
                               "(2 files with other extensions skipped)")]


@pytest.mark.parametrize("suffix", [".avif", ".AVIF", ".heic", ".HEIC", ".heif", ".jpeg", ".webp"])
def test_avif_and_heif_are_image_types(tmp_path, suffix):
    _touch(tmp_path, f"p/photo{suffix}")
    scan = expand_inputs([tmp_path / "p", str(tmp_path / "p" / "*")])
    assert _names(scan, tmp_path) == [f"p/photo{suffix}"]
    assert scan.problems == []
    assert all("unknown extension" not in s for s in scan.skipped)


def test_files_named_explicitly_are_always_taken(tmp_path):
    _touch(tmp_path, "notes.txt", "IMG[copy].jpg", "raw.cr2")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    names = [tmp_path / "notes.txt", tmp_path / "IMG[copy].jpg", tmp_path / "raw.cr2", fifo,
             Path("/dev/zero")]
    scan = expand_inputs(names)
    assert scan.files == names  # reading them says what each is
    assert scan.problems == [] and scan.skipped == []


def test_symlink_to_an_ancestor_neither_loops_nor_duplicates(tmp_path):
    _touch(tmp_path, "p/a.jpg", "p/sub/b.jpg", "p/sub/deeper/c.jpg")
    (tmp_path / "p/sub/deeper/up").symlink_to("../..")         # -> p
    (tmp_path / "p/sub/self").symlink_to(".")                  # -> p/sub
    (tmp_path / "p/alias").symlink_to("sub")                   # -> p/sub, scanned under its own name
    scan = expand_inputs([tmp_path / "p"])
    assert _names(scan, tmp_path) == ["p/a.jpg", "p/sub/b.jpg", "p/sub/deeper/c.jpg"]
    assert scan.problems == []
    (notice,) = scan.skipped
    assert notice == (f"{tmp_path / 'p'}/: skipped 3 linked folders scanned already "
                      "(alias, sub/self, sub/deeper/up)")


def test_symlinked_folders_are_followed(tmp_path):
    _touch(tmp_path, "p/a.jpg", "elsewhere/x.jpg", "elsewhere/deep/y.png")
    (tmp_path / "p/more").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere/back").symlink_to(tmp_path / "p")  # a loop through two links
    scan = expand_inputs([tmp_path / "p"])
    assert _names(scan, tmp_path) == ["p/a.jpg", "p/more/deep/y.png", "p/more/x.jpg"]
    assert scan.skipped == [f"{tmp_path / 'p'}/: skipped 1 linked folder scanned already (more/back)"]
    # The link itself named on the command line is followed too, and p through its link back.
    scan = expand_inputs([tmp_path / "p/more"])
    assert _names(scan, tmp_path) == ["p/more/back/a.jpg", "p/more/deep/y.png", "p/more/x.jpg"]
    assert scan.skipped == [(f"{tmp_path / 'p/more'}/: skipped 1 linked folder scanned already "
                            "(back/more)")]


def test_a_file_reached_through_two_names_is_listed_once(tmp_path):
    _touch(tmp_path, "p/a.jpg")
    (tmp_path / "p/b.jpg").symlink_to("a.jpg")
    os.link(tmp_path / "p/a.jpg", tmp_path / "p/hard.jpg")  # a hard link is a file of its own
    scan = expand_inputs([tmp_path / "p", tmp_path / "p/a.jpg"])
    assert _names(scan, tmp_path) == ["p/a.jpg", "p/hard.jpg"]
    assert scan.skipped == [f"{tmp_path / 'p'}/: skipped 1 file listed already (b.jpg)",
                            f"{tmp_path / 'p/a.jpg'}: skipped 1 file listed already ({tmp_path / 'p/a.jpg'})"]


def test_broken_links_and_special_files_are_reported(tmp_path):
    _touch(tmp_path, "p/a.jpg")
    (tmp_path / "p/gone.jpg").symlink_to("missing.jpg")
    (tmp_path / "p/loop.jpg").symlink_to("loop.jpg")
    os.mkfifo(tmp_path / "p/pipe.jpg")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "p/sock.png"))
        scan = expand_inputs([tmp_path / "p", tmp_path / "p/gone.jpg", tmp_path / "p/loop.jpg"])
    finally:
        sock.close()
    assert _names(scan, tmp_path) == ["p/a.jpg"]
    assert scan.skipped == [
        (f"{tmp_path / 'p'}/: skipped 2 files that are not regular files "
        "(pipe.jpg is a pipe (FIFO), sock.png is a socket)"),
        f"{tmp_path / 'p'}/: skipped 2 broken symbolic links (gone.jpg, loop.jpg)",
    ]
    assert _messages(scan) == [f"broken symbolic link: {tmp_path / 'p/gone.jpg'}",
                               f"symbolic link loop: {tmp_path / 'p/loop.jpg'}"]


def test_globs_take_images_and_scan_the_folders_they_match(tmp_path):
    _touch(tmp_path, "p/a.jpg", "p/a.xmp", "p/2024/b.jpg", "p/2024/c.txt")
    scan = expand_inputs([str(tmp_path / "p" / "*"), str(tmp_path / "p" / "*.xmp")])
    assert _names(scan, tmp_path) == ["p/2024/b.jpg", "p/a.jpg"]
    pattern = str(tmp_path / "p" / "*")
    assert scan.skipped == [(f"{pattern}: skipped 2 files with unknown extensions "
                            f"({tmp_path / 'p/2024/c.txt'}, {tmp_path / 'p/a.xmp'})"),
                            (f"{pattern}.xmp: skipped 1 file with an unknown extension "
                            f"({tmp_path / 'p/a.xmp'})")]
    assert _messages(scan) == [f"no images among the 1 match of: {pattern}.xmp"]
    # A recursive pattern meets every folder more than once; each file is still listed once.
    deep = expand_inputs([str(tmp_path / "**")])
    assert _names(deep, tmp_path) == ["p/2024/b.jpg", "p/a.jpg"]


@pytest.fixture
def shared_tree():
    """A tree under the system temp dir that user ``nobody`` can enter (for the root case)."""
    root = world_readable_tmpdir()
    yield root
    for path in [root, *root.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(root)


def _scan_as_json(inputs: list[str]) -> dict:
    scan = expand_inputs(inputs)
    return {"files": [str(p) for p in scan.files], "skipped": scan.skipped,
            "problems": [[p.name, p.message] for p in scan.problems]}


def test_unreadable_folders_are_problems_not_crashes(shared_tree):
    root = shared_tree
    _touch(root, "p/a.jpg", "p/locked/b.jpg", "p/z/c.jpg", "closed/d.jpg", "q/e.jpg")
    (root / "p/locked").chmod(0o000)
    (root / "closed").chmod(0o000)
    inputs = [str(root / "p"), str(root / "closed"), str(root / "closed/d.jpg"), str(root / "q")]
    # As root, chmod 000 blocks nothing: the scan runs in a child switched to user nobody.
    out = run_unprivileged(_scan_as_json, inputs)
    assert out["files"] == [str(root / "p/a.jpg"), str(root / "p/z/c.jpg"), str(root / "q/e.jpg")]
    locked, closed, inside = str(root / "p/locked"), str(root / "closed"), str(root / "closed/d.jpg")
    assert out["problems"] == [
        [locked, f"cannot read folder: {locked}: Permission denied"],
        [closed, f"cannot read folder: {closed}: Permission denied"],
        [closed, f"no images found in folder: {closed}"],
        [inside, f"permission denied: {inside}"],
    ]


def test_non_utf8_names_are_shown_printably(tmp_path):
    raw = os.fsencode(tmp_path) + b"/p"
    os.mkdir(raw)
    for name in (b"caf\xe9.jpg", b"caf\xe9.txt"):
        with open(raw + b"/" + name, "wb") as f:
            f.write(b"x")
    scan = expand_inputs([raw])
    assert [p.name for p in scan.files] == [os.fsdecode(b"caf\xe9.jpg")]
    (notice,) = scan.skipped
    notice.encode("utf-8")  # printable
    assert notice.endswith("skipped 1 file with an unknown extension (caf\\udce9.txt)")


def test_the_shared_photos_folder(photos_dir, photo_face_counts):
    scan = expand_inputs([photos_dir])
    assert sorted(p.name for p in scan.files) == sorted(photo_face_counts)
    assert scan.problems == []
    assert scan.skipped == [(f"{photos_dir}/: skipped 2 files with unknown extensions "
                            "(README.md, faces.csv)")]
