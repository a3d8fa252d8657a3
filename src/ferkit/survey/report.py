"""``ferkit survey report``: people against the model on the same images.

Figures come from the participants who answered every item (``complete``):
each one's score, their distribution and mean, the model's score, accuracy per
class and per source, confusion matrices for people (all their answers) and the
model, agreement among people (Fleiss' kappa, every complete participant rating
every item) and of the model with the people's majority (Cohen's kappa, over the
items with a single most-chosen answer), and the items where people and model
disagree most. Written as ``report.json``, ``report.md`` and ``report.html``
(with charts when matplotlib is installed).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np

from ferkit.errors import DatasetError

from .store import Survey

TOP_DISAGREEMENTS = 10


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an ``items x classes`` table of rating counts, the same number of
    raters per item."""
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum(1)
    if len(counts) == 0 or n.min() < 2 or not np.all(n == n[0]):
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings per item")
    raters = n[0]
    p_j = counts.sum(0) / counts.sum()
    p_i = ((counts ** 2).sum(1) - raters) / (raters * (raters - 1))
    p_bar, p_e = p_i.mean(), (p_j ** 2).sum()
    return float((p_bar - p_e) / (1 - p_e)) if p_e < 1 else 1.0


def cohen_kappa(a, b, classes) -> float:
    """Cohen's kappa of two raters' labels over the same items."""
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)))
    for x, y in zip(a, b):
        m[index[x], index[y]] += 1
    total = m.sum()
    if total == 0:
        raise ValueError("Cohen's kappa needs at least one item")
    p_o = np.trace(m) / total
    p_e = (m.sum(1) * m.sum(0)).sum() / total ** 2
    return float((p_o - p_e) / (1 - p_e)) if p_e < 1 else 1.0


def survey_report(folder: str | os.PathLike) -> dict:
    """The figures of a survey as a JSON-ready dict."""
    survey = Survey.open(folder)
    labels, items = survey.labels, survey.items
    ids = [it["id"] for it in items]
    answers = survey.all_answers()
    complete = {p: a for p, a in answers.items() if len(a) == len(items) and set(a) == set(ids)}
    partial = {p: len(a) for p, a in answers.items() if p not in complete}
    if not complete:
        raise DatasetError(f"{survey.folder}: no participant has answered every item yet "
                           f"({len(answers)} started, {sum(1 for a in answers.values() if a)} answered some)")
    truth = {it["id"]: it["label"] for it in items}
    model = {it["id"]: it["model"]["answer"] for it in items}
    index = {c: i for i, c in enumerate(labels)}
    k = len(labels)

    scores = {p: sum(a[i][0] == truth[i] for i in ids) for p, a in complete.items()}
    people_conf = np.zeros((k, k), dtype=np.int64)
    counts = np.zeros((len(ids), k), dtype=np.int64)
    for a in complete.values():
        for n, i in enumerate(ids):
            people_conf[index[truth[i]], index[a[i][0]]] += 1
            counts[n, index[a[i][0]]] += 1
    model_conf = np.zeros((k, k), dtype=np.int64)
    for i in ids:
        model_conf[index[truth[i]], index[model[i]]] += 1

    def accuracy_by(key) -> dict:
        out = {}
        for value in sorted({key(it) for it in items}):
            chosen = [it["id"] for it in items if key(it) == value]
            people = np.mean([complete[p][i][0] == truth[i] for p in complete for i in chosen])
            out[value] = {"items": len(chosen), "people": float(people),
                          "model": float(np.mean([model[i] == truth[i] for i in chosen]))}
        return out

    majority, ties = {}, []
    for n, i in enumerate(ids):
        top = counts[n].max()
        winners = [labels[j] for j in np.flatnonzero(counts[n] == top)]
        if len(winners) == 1:
            majority[i] = winners[0]
        else:
            ties.append(i)
    agreed = [i for i in ids if i in majority]
    disagreement = []
    for n, i in enumerate(ids):
        votes = {labels[j]: int(c) for j, c in enumerate(counts[n]) if c}
        disagreement.append({"id": i, "image": next(it["image"] for it in items if it["id"] == i),
                             "label": truth[i], "model": model[i],
                             "source": next(it["source"] for it in items if it["id"] == i),
                             "people_against_model": float(1 - counts[n, index[model[i]]] / len(complete)),
                             "votes": votes})
    disagreement.sort(key=lambda d: (-d["people_against_model"], d["id"]))
    score_values = np.array(list(scores.values()), dtype=np.float64)
    ms = [a[i][1] for a in complete.values() for i in ids if a[i][1] is not None]
    return {
        "survey": str(survey.folder), "items": len(ids), "labels": labels, "names": survey.spec.get("names", {}),
        "participants": {"complete": len(complete), "partial": partial},
        "people": {"scores": {p: int(s) for p, s in scores.items()},
                   "mean": float(score_values.mean()), "std": float(score_values.std()),
                   "min": int(score_values.min()), "max": int(score_values.max()),
                   "mean_accuracy": float(score_values.mean() / len(ids)),
                   "median_ms": float(np.median(ms)) if ms else None},
        "model": {"name": survey.spec.get("model", {}).get("name"), "score": int(sum(model[i] == truth[i] for i in ids)),
                  "accuracy": float(np.mean([model[i] == truth[i] for i in ids]))},
        "per_class": accuracy_by(lambda it: it["label"]),
        "per_source": accuracy_by(lambda it: it["source"]),
        "confusion": {"rows": "true label", "columns": "answer", "labels": labels,
                      "people": people_conf.tolist(), "model": model_conf.tolist()},
        "fleiss_kappa": fleiss_kappa(counts) if len(complete) >= 2 else None,
        "cohen_kappa_model_vs_majority": cohen_kappa([model[i] for i in agreed], [majority[i] for i in agreed], labels)
        if agreed else None,
        "majority_items": len(agreed), "majority_ties": len(ties),
        "majority_accuracy": float(np.mean([majority[i] == truth[i] for i in agreed])) if agreed else None,
        "disagreements": disagreement[:TOP_DISAGREEMENTS],
    }


def write_report(report: dict, out: str | os.PathLike) -> list[Path]:
    """``report.json``, ``report.md``, ``report.html`` and (with matplotlib) the charts."""
    from ferkit.writers import prepare_folder, write_text_atomic

    out = prepare_folder(out, "the report folder")
    survey = Path(report["survey"])
    charts = _charts(report, out)
    written = [out / "report.json", out / "report.md", out / "report.html"]
    write_text_atomic(written[0], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(written[1], _markdown(report, charts))
    write_text_atomic(written[2], _html(report, charts, os.path.relpath(survey, out)))
    return written + charts


def _fmt(v, digits=3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _markdown(r: dict, charts: list[Path]) -> str:
    n, people, model = r["items"], r["people"], r["model"]
    lines = [f"# Survey: people vs model ({r['items']} images)", "",
             f"- participants who answered every image: {r['participants']['complete']}"
             + (f" (and {len(r['participants']['partial'])} unfinished, left out)" if r["participants"]["partial"] else ""),
             f"- people: mean {people['mean']:.1f}/{n} (accuracy {people['mean_accuracy']:.3f}), "
             f"min {people['min']}, max {people['max']}, std {people['std']:.1f}",
             f"- model ({model['name']}): {model['score']}/{n} (accuracy {model['accuracy']:.3f})",
             f"- agreement among people, Fleiss' kappa: {_fmt(r['fleiss_kappa'])}",
             f"- model vs people's majority, Cohen's kappa: {_fmt(r['cohen_kappa_model_vs_majority'])} "
             f"over {r['majority_items']} images with one majority answer ({r['majority_ties']} ties left out)",
             "", "## Scores", "", "| participant | score |", "| --- | --- |"]
    lines += [f"| {p[:8]} | {s}/{n} |" for p, s in sorted(people["scores"].items(), key=lambda x: -x[1])]
    for title, key in (("Per class", "per_class"), ("Per source", "per_source")):
        lines += ["", f"## {title}", "", "| | images | people | model |", "| --- | --- | --- | --- |"]
        lines += [f"| {k} | {v['items']} | {v['people']:.3f} | {v['model']:.3f} |" for k, v in r[key].items()]
    for who in ("people", "model"):
        m = r["confusion"][who]
        lines += ["", f"## Confusion matrix, {who} (rows: true label, columns: answer)", "",
                  "| | " + " | ".join(r["labels"]) + " |", "| --- " * (len(r["labels"]) + 1) + "|"]
        lines += [f"| {c} | " + " | ".join(str(x) for x in row) + " |" for c, row in zip(r["labels"], m)]
    lines += ["", "## Where people and model disagree most", "",
              "| image | true | model | people's answers | people against model |", "| --- | --- | --- | --- | --- |"]
    for d in r["disagreements"]:
        votes = ", ".join(f"{k} {v}" for k, v in sorted(d["votes"].items(), key=lambda x: -x[1]))
        lines.append(f"| {d['id']} ({d['source']}) | {d['label']} | {d['model']} | {votes} | "
                     f"{d['people_against_model']:.0%} |")
    if charts:
        lines += [""] + [f"![{c.stem}]({c.name})" for c in charts]
    return "\n".join(lines) + "\n"


def _table(head: list[str], rows: list[list]) -> str:
    e = html.escape
    return ("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
            + "</table>")


def _html(r: dict, charts: list[Path], survey_rel: str) -> str:
    """The report as one offline page; images of the disagreements from the survey folder."""
    e = html.escape
    n, people, model = r["items"], r["people"], r["model"]
    parts = [f"<h1>Survey: people vs model ({n} images)</h1><ul>",
             f"<li>participants who answered every image: {r['participants']['complete']}</li>",
             f"<li>people: mean {people['mean']:.1f}/{n} (accuracy {people['mean_accuracy']:.3f}), "
             f"min {people['min']}, max {people['max']}</li>",
             f"<li>model ({e(str(model['name']))}): {model['score']}/{n} (accuracy {model['accuracy']:.3f})</li>",
             f"<li>Fleiss' kappa among people: {_fmt(r['fleiss_kappa'])}</li>",
             f"<li>Cohen's kappa, model vs people's majority: {_fmt(r['cohen_kappa_model_vs_majority'])} "
             f"({r['majority_items']} images, {r['majority_ties']} ties left out)</li></ul>"]
    parts += [f'<img src="{e(c.name)}" alt="{e(c.stem)}">' for c in charts]
    for title, key in (("Per class", "per_class"), ("Per source", "per_source")):
        parts.append(f"<h2>{title}</h2>" + _table(["", "images", "people", "model"], [
            [k, v["items"], f"{v['people']:.3f}", f"{v['model']:.3f}"] for k, v in r[key].items()]))
    for who in ("people", "model"):
        parts.append(f"<h2>Confusion matrix, {who}</h2>" + _table(
            ["true \\ answer", *r["labels"]], [[c, *row] for c, row in zip(r["labels"], r["confusion"][who])]))
    parts.append("<h2>Where people and model disagree most</h2><div class=grid>")
    for d in r["disagreements"]:
        votes = ", ".join(f"{k} {v}" for k, v in sorted(d["votes"].items(), key=lambda x: -x[1]))
        parts.append(f'<figure><img src="{e(survey_rel)}/{e(d["image"])}" alt="{e(d["id"])}"><figcaption>'
                     f"true {e(d['label'])}, model {e(d['model'])} ({e(d['source'])})<br>people: {e(votes)}"
                     f"<br>{d['people_against_model']:.0%} against the model</figcaption></figure>")
    parts.append("</div>")
    style = ("body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px}.grid{display:flex;flex-wrap:wrap;gap:10px}"
             "figure{margin:0;width:170px;font-size:12px}figure img{width:160px}")
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Survey report</title><style>{style}</style>'
            f"</head><body>{''.join(parts)}</body></html>\n")


def _charts(r: dict, out: Path) -> list[Path]:
    """``scores.png`` (people's scores, their mean and the model's) and the two confusion
    matrices (:func:`ferkit.train.plotting.plot_confusion`); none without matplotlib."""
    try:
        from ferkit.train.plotting import new_figure, plot_confusion
    except ImportError:
        return []
    try:
        fig = new_figure(figsize=(5, 3), dpi=110)
    except ImportError:
        return []
    ax = fig.subplots()
    ax.hist(list(r["people"]["scores"].values()), bins=range(0, r["items"] + 2), color="#4a7", label="participants")
    ax.axvline(r["people"]["mean"], color="#333", linestyle="--", label=f"people's mean {r['people']['mean']:.1f}")
    ax.axvline(r["model"]["score"], color="#c33", label=f"model {r['model']['score']}")
    ax.set_xlabel(f"score (of {r['items']})")
    ax.set_ylabel("participants")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "scores.png")
    written = [out / "scores.png"]
    for who in ("people", "model"):
        written.append(plot_confusion(np.array(r["confusion"][who]), r["labels"], out / f"confusion_{who}.png",
                                      f"{who} (rows: true label)"))
    return [Path(p) for p in written]


__all__ = ["cohen_kappa", "fleiss_kappa", "survey_report", "write_report"]
