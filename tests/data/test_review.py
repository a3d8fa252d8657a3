"""``ferkit data review``: changes through the app land in manifest.csv, undo restores
them, hand edits made meanwhile are kept, a broken manifest is refused and left alone."""

from __future__ import annotations

import shutil

import pytest

from ferkit.data.manifest import read_manifest, write_manifest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


@pytest.fixture
def client(tmp_path, photos_dir):
    from fastapi.testclient import TestClient

    from ferkit.data.review import create_review_app

    (tmp_path / "crops").mkdir()
    rows = []
    for i, (name, label) in enumerate([("fer_justin.jpg", "happy"), ("wujie_images_1.jpg", "angry"),
                                       ("pyfeat_angry_black.jpg", "angry")]):
        shutil.copy(photos_dir / name, tmp_path / "crops" / f"f{i}.jpg")
        rows.append({"id": f"f{i}", "file": f"crops/f{i}.jpg", "source": name, "label": label, "decision": "keep"})
    rows.append({"id": "n0", "file": "", "source": "none.jpg", "label": "", "decision": "reject", "reasons": "no face"})
    write_manifest(tmp_path, rows)
    return TestClient(create_review_app(tmp_path)), tmp_path


def _row(folder, row_id):
    return read_manifest(folder).by_id()[row_id]


def test_move_reject_and_undo(client):
    c, folder = client
    page = c.get("/", follow_redirects=True)
    assert page.status_code == 200 and 'src="review.js"' in page.text and "<script>" not in page.text
    listed = c.get("/api/rows").json()
    assert [r["id"] for r in listed["rows"]] == ["f0", "f1", "f2"] and "neutral" in listed["labels"]
    assert c.get("/crops/f1").content == (folder / "crops" / "f1.jpg").read_bytes()

    assert c.post("/api/rows/f1", json={"label": "sad"}).json() == {"id": "f1", "label": "sad", "decision": "keep",
                                                                     "reviewed": "hand"}
    assert c.post("/api/rows/f2", json={"decision": "reject"}).status_code == 200
    assert (_row(folder, "f1")["label"], _row(folder, "f2")["decision"]) == ("sad", "reject")
    assert c.post("/api/undo").json()["id"] == "f2"
    assert (_row(folder, "f2")["decision"], _row(folder, "f2")["reviewed"]) == ("keep", "")
    assert c.post("/api/undo").json()["id"] == "f1"
    assert _row(folder, "f1")["label"] == "angry"
    assert c.post("/api/undo").status_code == 409


def test_hand_edits_meanwhile_are_kept_and_bad_changes_refused(client):
    c, folder = client
    manifest = read_manifest(folder)
    manifest.by_id()["f0"]["label"] = "surprise"      # someone edits the CSV while the page is open
    manifest.save()
    c.post("/api/rows/f1", json={"decision": "review"})
    assert _row(folder, "f0")["label"] == "surprise" and _row(folder, "f1")["decision"] == "review"
    assert c.post("/api/rows/f1", json={"label": "bored"}).status_code == 422
    assert c.post("/api/rows/f1", json={"decision": "maybe"}).status_code == 409
    assert c.post("/api/rows/nope", json={"decision": "keep"}).status_code == 404
    text = (folder / "manifest.csv").read_text().replace(",review,", ",perhaps,")
    (folder / "manifest.csv").write_text(text)
    r = c.post("/api/rows/f0", json={"decision": "reject"})
    assert r.status_code == 409 and "decision 'perhaps'" in r.json()["detail"]
    assert (folder / "manifest.csv").read_text() == text
