"""``ferkit survey``: people against the model. ``create`` builds a survey folder,
``ferkit serve --survey FOLDER`` shows it to participants, ``report`` compares."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from . import app
from ._common import MODEL, check_names, err_console

survey_app = typer.Typer(no_args_is_help=True, add_completion=False,
                         help="Survey people against the model: create a survey, then report on the answers.")
app.add_typer(survey_app, name="survey")


class Order(str, Enum):
    """``--order``: :data:`ferkit.survey.store.ORDERS`."""

    shuffled = "shuffled"
    fixed = "fixed"


class Language(str, Enum):
    """``--language``: :data:`ferkit.labels.LABEL_LANGUAGES`."""

    en = "en"
    ko = "ko"


@survey_app.command("create")
def create_command(
    dataset: Path = typer.Option(..., "--from", help="Public source: a dataset folder (its test split if it has one) or class folders of face crops."),
    out: Path = typer.Option(..., "--out", "-o", help="Survey folder to create (refused if it holds a survey)."),
    per_class: int = typer.Option(20, "--per-class", min=1, help="Images per class (half from --private when given)."),
    private: Optional[Path] = typer.Option(None, "--private", help="Second source (e.g. private photos), same forms as --from."),
    order: Order = typer.Option(Order.shuffled, "--order", help="shuffled: each participant their own order; fixed: the same order for all."),
    language: Language = typer.Option(Language.en, "--language", help="Language of the label choices: en or ko."),
    label_set: Optional[str] = typer.Option(None, "--label-set", help="Classes to ask about, e.g. korean5 (default: those both sources have)."),
    title: str = typer.Option("", "--title", help="Title shown to participants."),
    seed: int = typer.Option(0, "--seed", help="Seed of the images drawn and of the orders."),
    model: Optional[str] = MODEL,
) -> None:
    """Build a survey of N images per class from one or two sources, with the model's answers stored beside it."""
    check_names(None, model)
    from ferkit.survey.create import create_survey

    spec = create_survey(dataset, out, per_class, private, order.value, seed, language.value, label_set,
                         model or "default", title)
    counts: dict[str, int] = {}
    for item in spec["items"]:
        counts[item["source"]] = counts.get(item["source"], 0) + 1
    err_console().print(f"{len(spec['items'])} images ({', '.join(f'{k} {v}' for k, v in counts.items())}) "
                        f"over {', '.join(spec['labels'])}; serve it with: ferkit serve --survey {out}")


@survey_app.command("report")
def report_command(
    survey: Path = typer.Argument(..., help="Survey folder."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: SURVEY/report)."),
) -> None:
    """People vs model: scores, per class and source, confusion matrices, Fleiss' and Cohen's kappa."""
    from ferkit.survey.report import survey_report, write_report

    report = survey_report(survey)
    written = write_report(report, out or survey / "report")
    n, people, model = report["items"], report["people"], report["model"]
    console = err_console()
    console.print(f"{report['participants']['complete']} participants: mean {people['mean']:.1f}/{n}, "
                  f"model {model['score']}/{n}; Fleiss' kappa {report['fleiss_kappa'] if report['fleiss_kappa'] is None else round(report['fleiss_kappa'], 3)}, "
                  f"Cohen's kappa (model vs majority) "
                  f"{report['cohen_kappa_model_vs_majority'] if report['cohen_kappa_model_vs_majority'] is None else round(report['cohen_kappa_model_vs_majority'], 3)}")
    console.print("written: " + ", ".join(str(p) for p in written))
