"""``ferkit analyze`` end to end, and the output contract."""

import csv
import json
import shutil
import subprocess

import jsonschema
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferkit.cli import app
from imagefiles import astronaut, jpeg_bytes, write_bad_files, write_non_utf8_named_copy

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

# The documented JSON Lines contract (README, "Output format").
RESULT_SCHEMA = {
    "type": "object",
    "required": ["file", "width", "height", "faces", "error"],
    "additionalProperties": False,
    "properties": {
        "file": {"type": "string"},
        "width": {"type": ["integer", "null"], "minimum": 0},
        "height": {"type": ["integer", "null"], "minimum": 0},
        "error": {"type": ["string", "null"]},
        "faces": {"type": "array", "items": {
            "type": "object",
            "required": ["box", "score", "landmarks", "label", "probabilities"],
            "additionalProperties": False,
            "properties": {
                "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "landmarks": {"oneOf": [{"type": "null"}, {
                    "type": "array", "minItems": 5, "maxItems": 5,
                    "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}}]},
                "label": {"type": "string", "enum": LABELS},
                "probabilities": {"type": "object", "required": LABELS,
                                  "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}},
            }}},
    },
}

runner = CliRunner()


@pytest.fixture
def mixed_folder(tmp_path, photos_dir):
    folder = tmp_path / "in"
    write_bad_files(folder)
    shutil.copy(photos_dir / "facerec_two_people.jpg", folder / "two.jpg")
    shutil.copy(photos_dir / "pyfeat_no-face.jpg", folder / "noface.jpg")
    (folder / "sub").mkdir()
    Image.fromarray(astronaut()).save(folder / "sub" / "astronaut.png")
    write_non_utf8_named_copy(folder, jpeg_bytes(astronaut()))
    (folder / "readme.txt").write_text("not an image suffix: skipped when walking folders")
    return folder


def _run(args):
    result = runner.invoke(app, args)
    return result.exit_code, result.output


def test_mixed_folder_jsonl(mixed_folder, tmp_path):
    out = tmp_path / "out.jsonl"
    annotated = tmp_path / "annotated"
    code, output = _run(["analyze", str(mixed_folder), "--out", str(out), "--annotate", str(annotated),
                         "--threads", "1"])
    assert code == 1, output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        jsonschema.validate(row, RESULT_SCHEMA)
    by_name = {r["file"].rsplit("/", 1)[-1]: r for r in rows}
    assert set(by_name) == {"empty.jpg", "truncated.jpg", "notes.jpg", "bomb.png", "two.jpg",
                            "noface.jpg", "astronaut.png", "caf\\udce9_photo.jpg"}
    assert len(by_name["two.jpg"]["faces"]) == 2
    assert by_name["noface.jpg"]["faces"] == [] and by_name["noface.jpg"]["error"] is None
    assert by_name["astronaut.png"]["faces"][0]["label"] == "happy"
    assert len(by_name["caf\\udce9_photo.jpg"]["faces"]) == 1
    for bad in ("empty.jpg", "truncated.jpg", "notes.jpg", "bomb.png"):
        assert by_name[bad]["error"] and by_name[bad]["faces"] == []
        assert by_name[bad]["width"] is None and by_name[bad]["height"] is None
    assert by_name["noface.jpg"]["width"] > 0
    assert len(list(annotated.glob("*.jpg"))) == 4  # the four readable images


def test_csv_has_a_row_per_face_and_per_failed_image(mixed_folder, tmp_path):
    out = tmp_path / "out.csv"
    code, _ = _run(["analyze", str(mixed_folder), "--out", str(out), "--format", "csv", "-q"])
    assert code == 1
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "face", "x", "y", "w", "h", "score", "label",
                             *(f"p_{k}" for k in LABELS), "error"]
    two = [r for r in rows if r["file"].endswith("two.jpg")]
    assert [r["face"] for r in two] == ["0", "1"]
    assert abs(sum(float(two[0][f"p_{k}"]) for k in LABELS) - 1) < 1e-3
    noface = [r for r in rows if r["file"].endswith("noface.jpg")]
    # no faces: one row with no face index and no error; a failure: its error
    assert len(noface) == 1 and noface[0]["face"] == "" and noface[0]["error"] == ""
    failed = [r for r in rows if r["file"].endswith("truncated.jpg")]
    assert len(failed) == 1 and failed[0]["face"] == "" and "truncated" in failed[0]["error"]
    assert len(rows) == 2 + 1 + 1 + 1 + 4  # two faces, noface, astronaut, é-photo, four bad files


def test_json_format_is_one_array(tmp_path, photos_dir):
    out = tmp_path / "r.json"
    code, _ = _run(["analyze", str(photos_dir / "facerec_two_people.jpg"), "--out", str(out),
                    "--format", "json"])
    assert code == 0
    data = json.loads(out.read_text())
    assert isinstance(data, list) and len(data) == 1 and len(data[0]["faces"]) == 2
    assert not list(tmp_path.glob("*.partial.jsonl"))


def test_crops_mode_and_saved_crops(tmp_path):
    face = tmp_path / "face.png"
    Image.fromarray(astronaut()[40:200, 160:290]).save(face)
    out = tmp_path / "r.jsonl"
    code, _ = _run(["analyze", str(face), "--crops", "--out", str(out)])
    assert code == 0
    row = json.loads(out.read_text())
    assert row["faces"][0]["box"] == [0, 0, 130, 160] and row["faces"][0]["landmarks"] is None
    crops = tmp_path / "crops"
    code, _ = _run(["analyze", str(face.parent / "face.png"), "--save-crops", str(crops), "-q",
                    "--out", str(tmp_path / "x.jsonl")])
    assert code == 0 and len(list(crops.glob("*_happy.png"))) == 1


def test_usage_errors_exit_2(tmp_path):
    assert _run(["analyze", str(tmp_path), "--format", "xml"])[0] == 2
    assert _run(["analyze", str(tmp_path), "--model", str(tmp_path / "nope.onnx")])[0] == 2
    assert _run(["analyze", str(tmp_path), "--detector", "nope"])[0] == 2
    assert _run(["analyze"])[0] == 2


def test_missing_input_exits_1(tmp_path):
    code, output = _run(["analyze", str(tmp_path / "nope.jpg"), "-q"])
    assert code == 1 and "file not found" in output


def test_models_table_lists_every_packaged_model(monkeypatch):
    from ferkit.card import ModelCard, card_path_for
    from ferkit.models import MODELS_DIR, packaged_models

    monkeypatch.setenv("COLUMNS", "250")
    code, output = _run(["models"])
    assert code == 0, output
    for name, path in packaged_models().items():
        card = ModelCard.load(card_path_for(path))
        line = next(li for li in output.splitlines() if f" {name} " in li)
        assert f"{card.label_set} ({len(card.labels)})" in line
        assert f"{path.stat().st_size / 1e6:.1f} MB" in line
        acc = card.metric("accuracy")
        assert f"{acc.value:.4f}" in output
        shipped = (MODELS_DIR / f"{name}.weights.npz").is_file()
        assert line.rstrip(" │").endswith("yes" if shipped else "no")


def test_models_and_version():
    code, output = _run(["models", "--json"])
    assert code == 0
    cards = json.loads(output)
    assert "fer7-default" in cards and cards["fer7-default"]["labels"] == LABELS
    code, output = _run(["--version"])
    assert code == 0 and output.startswith("ferkit ")


def test_console_script_runs(tmp_path, photos_dir):
    exe = shutil.which("ferkit") or pytest.skip("ferkit console script not on PATH")
    proc = subprocess.run([exe, "analyze", str(photos_dir / "fer_justin.jpg")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    jsonschema.validate(row, RESULT_SCHEMA)
    assert len(row["faces"]) == 1
