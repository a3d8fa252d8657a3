"""The web page in headless Chromium (Debian's ``chromium`` through Playwright's
``executable_path``; no browser download), against a real ``ferkit serve`` on a free
loopback port: photos with one labelled box per face, a clip's summary table and
annotated video, the webcam fed a real clip through Chromium's fake capture, a phone's
width and the keyboard. Screenshots go to each test's ``tmp_path``.

Skipped, with a message, where Playwright or a Chromium binary is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from servetools import GROUP, SHORTEST_CLIP, SINGLE, run_server

playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (ferkit[test])")

pytestmark = [pytest.mark.slow]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
LABELS = "angry|disgust|fear|happy|sad|surprise|neutral"


def chromium_path() -> str | None:
    given = os.environ.get("FERKIT_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory, videos_dir) -> Path:
    """The first 3 s of the shortest clip (a man smiling at the camera) as the Y4M file
    Chromium's fake capture device plays in a loop."""
    import av

    path = tmp_path_factory.mktemp("camera") / "camera.y4m"
    with av.open(str(videos_dir / SHORTEST_CLIP)) as source, av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=10)
        stream.width, stream.height, stream.pix_fmt = 480, 270, "yuv420p"
        for i, frame in enumerate(source.decode(video=0)):
            if frame.time > 3.0:
                break
            if i % 3 == 0:
                small = frame.reformat(width=480, height=270, format="yuv420p")
                small.pts = None
                out.mux(stream.encode(small))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def browser(fake_camera):
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium found (install Debian's chromium package, or set FERKIT_CHROMIUM "
                    "to a Chromium binary); Playwright's own browser download is not used")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_camera}"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with run_server(tmp_path_factory.mktemp("server"), "--workers", "2") as server:
        yield server


@pytest.fixture
def page(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    context.grant_permissions(["camera"], origin=server.url)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.problems = problems
    page.goto(server.url + "/")
    playwright_api.expect(page.locator("#server-status")).to_contain_text("Ready:", timeout=30_000)
    yield page
    context.close()
    assert not problems, problems   # no script error, no CSP violation, no failed load


def shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_photos_get_one_labelled_box_per_face(page, server, tmp_path, photos_dir, photo_face_counts):
    import httpx

    expect = playwright_api.expect
    names = [GROUP, SINGLE]
    page.set_input_files("#photo-input", [str(photos_dir / n) for n in names])
    figures = page.locator(".photo[data-faces]")
    expect(figures).to_have_count(2, timeout=60_000)
    served = httpx.post(f"{server.url}/v1/analyze", timeout=60,
                        files=[("f", (n, (photos_dir / n).read_bytes())) for n in names]).json()
    for figure, name, result in zip(figures.all(), names, served["results"]):
        expect(figure.locator("figcaption strong")).to_have_text(name)
        tags = figure.locator(".tag").all_inner_texts()
        assert len(tags) == photo_face_counts[name] == len(result["faces"])
        assert tags == [f"{i + 1}. {f['label']} {round(100 * f['probabilities'][f['label']])}%"
                        for i, f in enumerate(result["faces"])]
        assert all(re.fullmatch(rf"\d+\. ({LABELS}) \d+%", t) for t in tags)
        assert figure.locator(".faces .bar").count() == len(tags)
        for box in figure.locator(".box").all():      # every box lies on the picture, with a size
            b, img = box.bounding_box(), figure.locator("img").bounding_box()
            assert b["width"] > 20 and b["height"] > 20
            assert img["x"] - 4 <= b["x"] and b["x"] + b["width"] <= img["x"] + img["width"] + 4
    expect(page.locator("#faces-table tbody tr")).to_have_count(3)
    shot(page, tmp_path, "photos")

    with page.expect_download() as download:
        page.click("#download-csv")
    csv_text = Path(download.value.path()).read_bytes().decode("utf-8")
    served_csv = httpx.post(f"{server.url}/v1/analyze?format=csv", timeout=60,
                            files=[("f", (n, (photos_dir / n).read_bytes())) for n in names]).text
    assert csv_text == served_csv, "the page's CSV differs from ferkit analyze --format csv"
    with page.expect_download() as download:
        page.click("#download-json")
    assert json.loads(Path(download.value.path()).read_text()) == served["results"]


def test_a_bad_file_is_a_message_not_a_blank(page, tmp_path, photos_dir):
    bad = tmp_path / "holiday.jpg"
    bad.write_text("this is a text file, not a picture\n")
    page.set_input_files("#photo-input", [str(bad), str(photos_dir / SINGLE)])
    alert = page.locator("#messages [role=alert]")
    playwright_api.expect(alert).to_contain_text("holiday.jpg: not an image", timeout=30_000)
    playwright_api.expect(page.locator(".photo .error")).to_contain_text("not an image")
    playwright_api.expect(page.locator(".photo[data-faces='1']")).to_have_count(1, timeout=30_000)
    shot(page, tmp_path, "bad-file")
    expected = "Failed to load resource: the server responded with a status of 415"
    assert sum(expected in p for p in page.problems) == 1    # the refused upload, and nothing else
    page.problems[:] = [p for p in page.problems if expected not in p]


def test_video_summary_timeline_and_annotated_video(page, tmp_path, videos_dir):
    expect = playwright_api.expect
    page.click("#tab-video")
    page.select_option("#video-fps", "2")
    page.set_input_files("#video-input", str(videos_dir / SHORTEST_CLIP))
    expect(page.locator("#video-progress")).to_be_visible()
    rows = page.locator("#tracks-table tbody tr[data-track]")
    expect(rows.first).to_be_visible(timeout=240_000)
    first = rows.first.locator("td")
    assert re.fullmatch(r"#\d+", first.nth(0).inner_text())
    assert re.fullmatch(LABELS, first.nth(4).inner_text())
    assert re.fullmatch(r"\d+%", first.nth(5).inner_text())
    expect(page.locator("#video-summary")).to_contain_text(SHORTEST_CLIP)
    expect(page.locator("#charts img").first).to_be_visible()
    deadline = time.monotonic() + 30
    while page.evaluate("() => document.querySelector('#annotated').readyState") < 1:
        assert time.monotonic() < deadline, "the annotated video did not load in the page"
        time.sleep(0.2)
    duration = page.evaluate("() => document.querySelector('#annotated').duration")
    assert 6.0 < duration < 7.0
    widths = page.evaluate("() => Array.from(document.querySelectorAll('#charts img')).map(i => i.naturalWidth)")
    assert widths and all(w > 100 for w in widths), "a chart did not load"
    rows.first.locator("details summary").click()
    expect(rows.first.locator("details table")).to_be_visible()
    shot(page, tmp_path, "video")


def test_webcam_boxes_from_a_fake_camera(page, tmp_path):
    expect = playwright_api.expect
    page.click("#tab-webcam")
    page.click("#webcam-start")
    expect(page.locator("#webcam-stage")).to_have_attribute("data-faces", "1", timeout=60_000)
    expect(page.locator("#webcam-stats")).to_contain_text("frames/s analysed", timeout=30_000)
    expect(page.locator("#webcam-overlay .tag")).to_have_text(re.compile(rf"#\d+ ({LABELS}) \d+%"))
    time.sleep(3)                                   # a few seconds of live frames
    stats = page.locator("#webcam-stats").inner_text()
    rate = float(re.match(r"([\d.]+) frames/s", stats).group(1))
    assert rate > 0.5, stats
    expect(page.locator("#webcam-table tbody tr")).to_have_count(1)
    shot(page, tmp_path, "webcam")
    page.click("#webcam-stop")
    expect(page.locator("#webcam-stats")).to_contain_text("stopped after")
    analysed = int(re.search(r"stopped after (\d+)", page.locator("#webcam-stats").inner_text()).group(1))
    assert analysed >= 3


def test_phone_width_and_keyboard(browser, server, tmp_path, photos_dir):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server.url + "/")
    playwright_api.expect(page.locator("#server-status")).to_contain_text("Ready:", timeout=30_000)
    page.set_input_files("#photo-input", str(photos_dir / GROUP))
    playwright_api.expect(page.locator(".photo[data-faces='2']")).to_have_count(1, timeout=60_000)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360, "the page scrolls sideways at 360 px"
    tag = page.locator(".tag").first.bounding_box()
    assert tag["height"] >= 10, "labels too small to read"
    shot(page, tmp_path, "phone")
    # Keyboard: the tabs follow the arrow keys, and the file chooser is reachable with Tab.
    page.focus("#tab-photos")
    page.keyboard.press("ArrowRight")
    playwright_api.expect(page.locator("#tab-video")).to_have_attribute("aria-selected", "true")
    playwright_api.expect(page.locator("#panel-video")).to_be_visible()
    playwright_api.expect(page.locator("#panel-photos")).to_be_hidden()
    page.keyboard.press("End")
    playwright_api.expect(page.locator("#tab-webcam")).to_be_focused()
    page.keyboard.press("Home")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.id")
    for _ in range(4):
        if focused == "photo-input":
            break
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.id")
    assert focused == "photo-input", f"Tab did not reach the file chooser (at {focused!r})"
    shot(page, tmp_path, "phone-keyboard")
    context.close()
