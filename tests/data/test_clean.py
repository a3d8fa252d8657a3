"""``ferkit data clean`` on a raw scrape built from the shared photos: every decision
and reason, the crops, the contact sheets, resuming, hand decisions kept, bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from scrape import EXPECTED, copy_dataset

from ferkit.data.clean import clean, reason_code
from ferkit.data.manifest import read_manifest, reasons_of
from ferkit.errors import DatasetError

pytestmark = pytest.mark.slow   # the session's one clean of the scrape: ~10 s of CPU, OCR included


def _rows(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_picture_gets_the_expected_decision_and_reasons(cleaned):
    summary, out = cleaned
    rows = _rows(out)
    by_picture: dict[str, list[dict]] = {}
    for row in rows:
        by_picture.setdefault(row["source"], []).append(row)
    assert set(by_picture) == set(EXPECTED)
    for picture, expected in EXPECTED.items():
        got = sorted((r["decision"], {reason_code(x) for x in reasons_of(r)}) for r in by_picture[picture])
        assert got == sorted(expected, key=lambda e: (e[0], sorted(e[1]))), picture
    assert summary.pictures == len(EXPECTED)
    assert summary.decisions == {"keep": 2, "review": 4, "reject": 9}
    assert any("notes.txt" in n for n in summary.notices)


def test_reasons_say_what_was_measured(cleaned):
    _, out = cleaned
    rows = {r["source"]: r for r in _rows(out)}
    stubborn = rows["stubborn-sad-upset-little-asian-260nw-554860681.jpg"]
    assert stubborn["reasons"] == "no label: keywords of several labels: sad (sad), angry (upset)"
    assert stubborn["label"] == ""
    assert rows["cheerful-smile-guy-1200px.jpg"]["reasons"].startswith(
        "duplicate: of happy-smiling-man-portrait-shutterstock_99812.jpg")
    assert "SALE" in rows["laughing-woman-text-banner.jpg"]["text"]
    assert "123RF" in rows["sad-asian-woman-stock.jpg"]["text"]
    assert float(rows["shocked-man-profile.jpg"]["yaw"]) < -55
    assert float(rows["happy-woman-blurred.jpg"]["sharpness"]) < 25
    assert float(rows["tiny-happy-face.jpg"]["face_size"]) < 40
    assert float(rows["disgusted-woman-dark-glasses.jpg"]["eyes"]) < 0.33
    assert rows["crying-child.jpg"]["file"] == "" and "truncated" in rows["crying-child.jpg"]["reasons"]
    kept = rows["happy-smiling-man-portrait-shutterstock_99812.jpg"]
    assert kept["label"] == "happy" and kept["decision"] == "keep" and kept["reasons"] == ""
    # the duplicate's own measurements are fine: only the copy is dropped
    assert float(rows["cheerful-smile-guy-1200px.jpg"]["sharpness"]) > 25


def test_crops_are_aligned_faces_at_the_configured_size(cleaned):
    from ferkit.imageio import load_image

    _, out = cleaned
    with_crops = [r for r in _rows(out) if r["file"]]
    assert len(with_crops) == 13
    for row in with_crops:
        crop = load_image(out / row["file"])
        assert crop.shape == (112, 112, 3)
    info = json.loads((out / "dataset.json").read_text())
    assert info["align"] == {"template": "fer2013", "margin": 0.0, "size": 112}
    assert info["config"]["min_face_size"] == 40


def test_contact_sheets_show_every_face_and_its_reasons(cleaned):
    _, out = cleaned
    index = (out / "sheets" / "index.html").read_text()
    for label in ("happy", "angry", "surprise", "disgust", "_unlabelled"):
        assert f'href="{label}.html"' in index
    happy = (out / "sheets" / "happy.html").read_text()
    assert "blurred: sharpness" in happy and "several faces" in happy and "no face" in happy
    for row in _rows(out):
        if row["file"] and row["label"] == "happy":
            assert f'src="../{row["file"]}"' in happy
            assert (out / row["file"]).is_file()
    assert "http" not in happy   # offline: nothing loaded from the network


def test_a_second_run_resumes_and_writes_the_same_manifest(cleaned, tmp_path, raw_scrape):
    _, out = cleaned
    copy = copy_dataset(out, tmp_path / "again")
    before = (copy / "manifest.csv").read_bytes()
    summary = clean(raw_scrape, copy, progress=False, on_notice=lambda m: None)
    assert summary.resumed == summary.pictures == len(EXPECTED)
    assert (copy / "manifest.csv").read_bytes() == before


def test_a_run_cut_short_goes_on_where_it_stopped(cleaned, tmp_path, raw_scrape):
    _, out = cleaned
    copy = copy_dataset(out, tmp_path / "cut")
    progress = copy / ".clean" / "progress.jsonl"
    lines = progress.read_text().splitlines()
    progress.write_text("\n".join(lines[:5]) + "\n" + lines[5][:40])   # killed mid-line
    (copy / "manifest.csv").unlink()
    summary = clean(raw_scrape, copy, progress=False, on_notice=lambda m: None, ocr=False)
    assert summary.resumed == 5
    assert len(_rows(copy)) == len(_rows(out))


def test_hand_decisions_survive_a_new_clean(cleaned, tmp_path, raw_scrape):
    _, out = cleaned
    copy = copy_dataset(out, tmp_path / "reviewed")
    manifest = read_manifest(copy)
    row = next(r for r in manifest.rows if r["source"] == "portrait-of-a-businessman.jpg")
    row.update(label="neutral", decision="keep", reviewed="hand", split="test")
    manifest.save()
    clean(raw_scrape, copy, progress=False, on_notice=lambda m: None)
    again = next(r for r in read_manifest(copy).rows if r["source"] == "portrait-of-a-businessman.jpg")
    assert (again["label"], again["decision"], again["reviewed"], again["split"]) == ("neutral", "keep", "hand", "test")


def test_a_manifest_edited_into_nonsense_is_refused_and_kept(cleaned, tmp_path, raw_scrape):
    _, out = cleaned
    copy = copy_dataset(out, tmp_path / "broken")
    text = (copy / "manifest.csv").read_text().replace(",keep,", ",maybe,", 1)
    (copy / "manifest.csv").write_text(text)
    with pytest.raises(DatasetError, match=r"manifest.csv:\d+: decision 'maybe' is not one of keep, review, reject"):
        clean(raw_scrape, copy, progress=False)
    assert (copy / "manifest.csv").read_text() == text


def test_the_model_check_sends_confident_disagreements_to_review(cleaned, tmp_path, raw_scrape):
    from ferkit.data.config import CleanConfig

    _, out = cleaned
    copy = copy_dataset(out, tmp_path / "model")
    clean(raw_scrape, copy, config=CleanConfig(model_disagree=0.0), model_check=True, progress=False, ocr=False)
    rows = {r["source"]: r for r in _rows(copy)}
    angry = rows["angry-man-shouting.jpg"]
    if angry["model_label"] != "angry":
        assert angry["decision"] == "review" and f"model disagrees: {angry['model_label']}" in angry["reasons"]
    happy = rows["happy-smiling-man-portrait-shutterstock_99812.jpg"]
    assert happy["model_label"] == "happy" and happy["decision"] == "keep"


def test_the_manifest_dataset_trains(cleaned):
    from ferkit.train.config import DataConfig
    from ferkit.train.datasets import load_dataset

    _, out = cleaned
    for kind in ("manifest", "folder"):
        ds = load_dataset(DataConfig(kind=kind, path=str(out)), progress=False)
        assert len(ds) == 2 and ds.images.shape == (2, 48, 48)
        assert sorted(ds.label_set.labels[t] for t in ds.targets) == ["angry", "happy"]


def test_without_ocr_installed_the_text_check_is_skipped_with_a_notice(raw_scrape, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rapidocr_onnxruntime" else real(name, *a))
    src = tmp_path / "raw"
    src.mkdir()
    shutil.copy(raw_scrape / "laughing-woman-text-banner.jpg", src)
    notices = []
    summary = clean(src, tmp_path / "ds", progress=False, on_notice=notices.append)
    assert any("OCR is not installed" in n and "ferkit[ocr]" in n for n in notices)
    assert summary.decisions == {"keep": 1}
