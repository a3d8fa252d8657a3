"""A survey end to end: created from two real sources, answered through the router
(mounted as ``ferkit serve --survey`` mounts it), and a report whose figures are
recomputed here from the raw answers."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ferkit.errors import DatasetError, UsageError

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

KOREAN = {"기쁨": "happy", "분노": "angry", "슬픔": "sad"}
PER_CLASS = 4


@pytest.fixture(scope="module")
def sources(shared_data, tmp_path_factory):
    """Public: the posed studio set's class folders. Private: Korean faces in class folders
    named in Korean (6 of each of three emotions, from the file names)."""
    public = shared_data / "bu3dfe_bosphorus_posed"
    korean = shared_data / "korean_aihub"
    if not public.is_dir() or not korean.is_dir():
        pytest.skip("bu3dfe_bosphorus_posed or korean_aihub not in the shared data")
    private = tmp_path_factory.mktemp("private") / "faces"
    for word in KOREAN:
        (private / word).mkdir(parents=True)
        for path in sorted(korean.glob(f"*_{word}_*.jpg"))[:6]:
            shutil.copy(path, private / word / path.name)
    return public, private


@pytest.fixture(scope="module")
def survey_dir(sources, tmp_path_factory):
    from ferkit.survey.create import create_survey

    out = tmp_path_factory.mktemp("survey") / "s"
    create_survey(sources[0], out, per_class=PER_CLASS, private=sources[1], language="ko", seed=4)
    return out


@pytest.fixture(scope="module")
def client(survey_dir):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ferkit.survey.web import create_router

    app = FastAPI()
    app.include_router(create_router(survey_dir), prefix="/survey")
    return TestClient(app)


def _spec(survey_dir: Path) -> dict:
    return json.loads((survey_dir / "survey.json").read_text())


def test_the_survey_holds_n_per_class_from_each_source_with_the_models_answers(survey_dir, sources):
    spec = _spec(survey_dir)
    assert spec["labels"] == ["angry", "happy", "sad"]          # the classes both sources have
    assert spec["names"] == {"angry": "분노", "happy": "기쁨", "sad": "슬픔"}
    counts = Counter((it["label"], it["source"]) for it in spec["items"])
    assert counts == {(c, s): PER_CLASS // 2 for c in spec["labels"] for s in ("public", "private")}
    for it in spec["items"]:
        assert re.fullmatch(r"[0-9a-f]{16}", it["id"]) and it["image"] == f"images/{it['id']}.jpg"
        assert (survey_dir / it["image"]).is_file()
        assert it["model"]["answer"] in spec["labels"]
        assert abs(sum(it["model"]["probabilities"].values()) - 1) < 1e-3
    origins = {Path(it["origin"]).parent.name for it in spec["items"]}
    assert origins == {"angry", "happy", "sad", *KOREAN}


def _play(client, answer_for, stop_after=None):
    """Start a participant and answer until done (or ``stop_after`` answers); returns
    the participant id and every response body the participant's browser received."""
    seen = []
    r = client.post("/survey/api/participants")
    assert r.status_code == 200
    state = r.json()
    seen.append(r.text)
    pid = state["participant"]
    while state["next"] and (stop_after is None or state["answered"] < stop_after):
        nxt = state["next"]
        assert set(nxt) == {"item", "image"} and nxt["image"] == f"images/{nxt['item']}"
        image = client.get(f"/survey/{nxt['image']}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert "content-disposition" not in image.headers
        seen.append(image.content)
        r = client.post(f"/survey/api/participants/{pid}/answers",
                        json={"item": nxt["item"], "answer": answer_for(nxt["item"]), "ms": 900 + state["answered"]})
        assert r.status_code == 200, r.text
        seen.append(r.text)
        state = r.json()
    return pid, seen, state


@pytest.fixture(scope="module")
def played(client, survey_dir):
    spec = _spec(survey_dir)
    truth = {it["id"]: it["label"] for it in spec["items"]}
    model = {it["id"]: it["model"]["answer"] for it in spec["items"]}
    rng = np.random.default_rng(7)
    guesses = {i: spec["labels"][rng.integers(3)] for i in truth}
    shuffled = {i: spec["labels"][(spec["labels"].index(truth[i]) + (n % 3 == 0)) % 3]
                for n, i in enumerate(sorted(truth))}
    players = {"expert": truth.get, "model-like": model.get, "guesser": guesses.get, "mixed": shuffled.get}
    out = {}
    for name, policy in players.items():
        out[name] = _play(client, policy)
    out["quitter"] = _play(client, truth.get, stop_after=5)
    return out


def test_participants_never_receive_anything_that_gives_the_label_away(client, survey_dir, played):
    spec = _spec(survey_dir)
    page = client.get("/survey/")
    assert page.status_code == 200
    html = page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)    # no inline script (the server's CSP)
    assert not re.search(r"\son[a-z]+=", html) and "style=" not in html
    for asset in ("static/survey.js", "static/survey.css"):
        assert asset in html and client.get(f"/survey/{asset}").status_code == 200
    received = [html.encode(), client.get("/survey/static/survey.js").content]
    for _, seen, _ in played.values():
        received += [s if isinstance(s, bytes) else s.encode() for s in seen]
    forbidden = {"public", "private", "origin", "model", "bu3dfe", "korean", "F2D"}
    for it in spec["items"]:
        forbidden |= {Path(it["origin"]).name, Path(it["origin"]).stem, Path(it["origin"]).parent.name}
    for body in received:
        text = body.decode("utf-8", "replace")
        for word in forbidden:
            assert word not in text, word
    for _, seen, _ in played.values():
        for body in seen:
            if isinstance(body, str):
                for label in spec["labels"]:
                    assert label not in body      # states carry ids only, never a label
    about = client.get("/survey/api/survey").json()
    assert about["choices"] == [{"value": c, "name": spec["names"][c]} for c in spec["labels"]]


def test_a_participant_can_stop_and_resume(client, played, survey_dir):
    pid, _, state = played["quitter"]
    assert state["answered"] == 5
    again = client.get(f"/survey/api/participants/{pid}").json()
    assert again["answered"] == 5 and again["next"] == state["next"]
    truth = {it["id"]: it["label"] for it in _spec(survey_dir)["items"]}
    wrong = next(i for i in truth if i != state["next"]["item"] and
                 client.get(f"/survey/api/participants/{pid}").json()["next"]["item"] != i)
    assert client.post(f"/survey/api/participants/{pid}/answers",
                       json={"item": wrong, "answer": "sad"}).status_code == 409
    assert client.post(f"/survey/api/participants/{pid}/answers",
                       json={"item": state["next"]["item"], "answer": "bored"}).status_code == 422
    assert client.post(f"/survey/api/participants/{pid}/answers",
                       json={"item": state["next"]["item"], "answer": "sad", "ms": -4}).status_code == 422
    assert client.get("/survey/api/participants/nobody").status_code == 404
    assert client.get("/survey/images/0123456789abcdef").status_code == 404
    assert client.get("/survey/static/../survey.json").status_code == 404
    assert client.get("/survey/static/store.py").status_code == 404
    assert client.get("/survey", follow_redirects=False).headers["location"].endswith("/survey/")


def _fleiss(table: list[list[int]]) -> float:
    """Fleiss' kappa written out item by item (the definition, not the library's code)."""
    n_items, raters = len(table), sum(table[0])
    agreement = 0.0
    for row in table:
        agreement += sum(c * (c - 1) for c in row) / (raters * (raters - 1))
    p_bar = agreement / n_items
    share = [sum(row[j] for row in table) / (n_items * raters) for j in range(len(table[0]))]
    p_e = sum(p * p for p in share)
    return (p_bar - p_e) / (1 - p_e)


def _cohen(a: list[str], b: list[str]) -> float:
    n = len(a)
    p_o = sum(x == y for x, y in zip(a, b)) / n
    p_e = sum((a.count(c) / n) * (b.count(c) / n) for c in set(a) | set(b))
    return (p_o - p_e) / (1 - p_e)


def test_the_report_figures_recomputed_from_the_raw_answers(survey_dir, played, tmp_path):
    import sqlite3

    from ferkit.survey.report import survey_report, write_report

    spec = _spec(survey_dir)
    items = [it["id"] for it in spec["items"]]
    truth = {it["id"]: it["label"] for it in spec["items"]}
    model = {it["id"]: it["model"]["answer"] for it in spec["items"]}
    with sqlite3.connect(survey_dir / "answers.sqlite") as db:
        raw = db.execute("SELECT participant, item, answer, ms FROM answers").fetchall()
    answers: dict[str, dict[str, str]] = {}
    for pid, item, answer, _ in raw:
        answers.setdefault(pid, {})[item] = answer
    complete = {p: a for p, a in answers.items() if len(a) == len(items)}
    assert len(complete) == 4 and len(answers) == 5

    report = survey_report(survey_dir)
    scores = {p: sum(a[i] == truth[i] for i in items) for p, a in complete.items()}
    assert report["people"]["scores"] == scores
    assert scores[played["expert"][0]] == len(items)
    assert report["people"]["mean"] == pytest.approx(np.mean(list(scores.values())))
    assert report["model"]["score"] == sum(model[i] == truth[i] for i in items)
    assert scores[played["model-like"][0]] == report["model"]["score"]
    assert report["participants"]["partial"] == {played["quitter"][0]: 5}

    table = [[sum(a[i] == c for a in complete.values()) for c in spec["labels"]] for i in items]
    assert report["fleiss_kappa"] == pytest.approx(_fleiss(table))
    majority = {}
    for i, row in zip(items, table):
        top = max(row)
        if row.count(top) == 1:
            majority[i] = spec["labels"][row.index(top)]
    agreed = sorted(majority)
    assert report["majority_items"] == len(agreed) and report["majority_ties"] == len(items) - len(agreed)
    assert report["cohen_kappa_model_vs_majority"] == pytest.approx(
        _cohen([model[i] for i in agreed], [majority[i] for i in agreed]))

    for label in spec["labels"]:
        chosen = [i for i in items if truth[i] == label]
        people = np.mean([complete[p][i] == truth[i] for p in complete for i in chosen])
        assert report["per_class"][label]["people"] == pytest.approx(people)
        assert report["per_class"][label]["model"] == pytest.approx(np.mean([model[i] == label for i in chosen]))
    for source in ("public", "private"):
        chosen = [it["id"] for it in spec["items"] if it["source"] == source]
        assert report["per_source"][source]["items"] == len(chosen) == 3 * PER_CLASS // 2
    people_conf = np.zeros((3, 3), dtype=int)
    for a in complete.values():
        for i in items:
            people_conf[spec["labels"].index(truth[i]), spec["labels"].index(a[i])] += 1
    assert report["confusion"]["people"] == people_conf.tolist()
    assert np.trace(np.array(report["confusion"]["model"])) == report["model"]["score"]
    worst = report["disagreements"][0]
    assert worst["people_against_model"] == pytest.approx(
        max(1 - sum(a[i] == model[i] for a in complete.values()) / len(complete) for i in items))

    written = write_report(report, tmp_path / "report")
    assert {p.name for p in written} == {"report.json", "report.md", "report.html", "scores.png", "confusion_people.png",
                                      "confusion_model.png"}
    md = (tmp_path / "report" / "report.md").read_text()
    assert f"{report['model']['score']}/{len(items)}" in md and "Fleiss' kappa" in md
    html = (tmp_path / "report" / "report.html").read_text()
    assert all(f"{d['image']}" in html for d in report["disagreements"])


def test_bad_input_is_refused_and_nothing_is_lost(survey_dir, sources, tmp_path):
    from ferkit.survey.create import create_survey
    from ferkit.survey.report import survey_report
    from ferkit.survey.store import Survey

    before = (survey_dir / "answers.sqlite").read_bytes()
    with pytest.raises(UsageError, match="holds a survey already"):
        create_survey(sources[0], survey_dir, per_class=2)
    assert (survey_dir / "answers.sqlite").read_bytes() == before
    with pytest.raises(DatasetError, match="class angry has 6 faces \\(class folders\\), 10 asked"):
        create_survey(sources[0], tmp_path / "big", per_class=20, private=sources[1])
    with pytest.raises(DatasetError, match="neither a dataset folder"):
        create_survey(tmp_path, tmp_path / "x", per_class=2)
    fresh = tmp_path / "fresh"
    create_survey(sources[0], fresh, per_class=1, order="fixed")
    with pytest.raises(DatasetError, match="no participant has answered every item yet"):
        survey_report(fresh)
    (fresh / "survey.json").write_text("{not json")
    with pytest.raises(DatasetError, match="cannot read the survey"):
        Survey.open(fresh)
    with pytest.raises(DatasetError, match="not a survey folder"):
        Survey.open(tmp_path)


def test_fixed_order_is_the_same_for_everyone(sources, tmp_path):
    from ferkit.survey.create import create_survey
    from ferkit.survey.store import Survey

    create_survey(sources[0], tmp_path / "f", per_class=1, order="fixed")
    survey = Survey.open(tmp_path / "f")
    a, b = survey.new_participant(), survey.new_participant()
    assert survey.progress(a)[0] == survey.progress(b)[0] == [it["id"] for it in survey.items]
