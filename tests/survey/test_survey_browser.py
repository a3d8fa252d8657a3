"""The participant pages and the review page in headless Chromium (Debian's ``chromium``
through Playwright's ``executable_path``), served by the real ``ferkit serve`` app with
its Content-Security-Policy: no script error, no CSP violation, answers saved, resume
after a reload. Skipped where Playwright or Chromium is missing."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (ferkit[test])")
pytest.importorskip("uvicorn")
pytestmark = [pytest.mark.slow]


def _chromium() -> str | None:
    given = os.environ.get("FERKIT_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@contextmanager
def _serve(app):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium found (Debian's chromium package, or FERKIT_CHROMIUM)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


def _page(browser):
    page = browser.new_context(viewport={"width": 900, "height": 900}).new_page()
    problems = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.problems = problems
    return page


def test_a_participant_answers_stops_and_resumes(browser, shared_data, tmp_path):
    from ferkit.serve import create_app
    from ferkit.survey.create import create_survey

    create_survey(shared_data / "bu3dfe_bosphorus_posed", tmp_path / "s", per_class=1, language="ko",
                  order="fixed", title="표정 설문")
    expect = playwright_api.expect
    with _serve(create_app(survey=tmp_path / "s")) as url:
        page = _page(browser)
        page.goto(url + "/survey/")
        expect(page.locator("#title")).to_have_text("표정 설문")
        page.click("#start")
        for n in range(3):
            expect(page.locator("#progress")).to_have_text(f"{n + 1} / 7")
            page.locator("#choices button", has_text="기쁨").click()
        expect(page.locator("#progress")).to_have_text("4 / 7")
        page.reload()                                    # stop and come back
        expect(page.locator("#progress")).to_have_text("4 / 7")
        assert page.locator("#choices button").all_inner_texts() == ["분노", "혐오", "공포", "기쁨", "슬픔", "놀람", "중립"]
        for _ in range(4):
            page.locator("#choices button", has_text="슬픔").click()
        expect(page.locator("#done")).to_be_visible()
        expect(page.locator("#done-text")).to_have_text("감사합니다. 모든 사진에 답했습니다.")
        page.screenshot(path=str(tmp_path / "done.png"))
        assert not page.problems, page.problems          # no script error, no CSP violation
    with sqlite3.connect(tmp_path / "s" / "answers.sqlite") as db:
        rows = db.execute("SELECT answer, ms FROM answers").fetchall()
    assert sorted(a for a, _ in rows) == ["happy"] * 3 + ["sad"] * 4
    assert all(ms is not None and ms >= 0 for _, ms in rows)


def test_review_page_rejects_and_undoes(browser, photos_dir, tmp_path):
    from ferkit.data.manifest import read_manifest, write_manifest
    from ferkit.data.review import create_review_app

    (tmp_path / "crops").mkdir()
    rows = []
    for i, name in enumerate(("fer_justin.jpg", "rmn_test_image.png")):
        shutil.copy(photos_dir / name, tmp_path / "crops" / f"{i}{Path(name).suffix}")
        rows.append({"id": f"f{i}", "file": f"crops/{i}{Path(name).suffix}", "source": name, "label": "happy",
                     "decision": "keep"})
    write_manifest(tmp_path, rows)
    expect = playwright_api.expect
    with _serve(create_review_app(tmp_path)) as url:
        page = _page(browser)
        page.goto(url + "/")
        figures = page.locator("figure")
        expect(figures).to_have_count(2)
        figures.nth(1).click()
        page.keyboard.press("r")
        expect(page.locator("#status")).to_have_text("saved 1 change(s)")
        assert read_manifest(tmp_path).by_id()["f1"]["decision"] == "reject"
        page.locator("figure").nth(0).click()
        page.select_option("#move", "sad")
        expect(page.locator("#status")).to_have_text("saved 1 change(s)")
        assert read_manifest(tmp_path).by_id()["f0"]["label"] == "sad"
        page.click("#undo")
        expect(page.locator("#status")).to_have_text("undone: f0")
        assert read_manifest(tmp_path).by_id()["f0"]["label"] == "happy"
        assert not page.problems, page.problems
