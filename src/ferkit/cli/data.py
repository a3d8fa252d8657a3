"""``ferkit data``: from a raw scrape to a clean, balanced, split dataset folder
that ``ferkit train`` reads (data kind ``manifest``).

label → clean → review → split → balance → stats. Every step reads and rewrites
the dataset's ``manifest.csv`` (hand edits honoured); nothing heavy is imported
before the options are checked.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from . import app
from ._common import DETECTOR, MODEL, QUIET, check_names, err_console, print_error, print_warning

data_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="Build a training dataset from raw pictures: label, clean, review, split, balance, stats.")
app.add_typer(data_app, name="data")

DATASET = typer.Argument(..., help="Dataset folder (made by ferkit data clean, holds manifest.csv).")
KEYWORDS = typer.Option(None, "--keywords", help="Keyword map: 'default' or a YAML/JSON file mapping each label to its words; labels from the words of the file names.")
PATTERN = typer.Option(None, "--pattern", help="Regex with a named group 'label' matched on whole file names (without extension), instead of keywords.")


class Strategy(str, Enum):
    """``balance --strategy``: :data:`ferkit.data.organise.STRATEGIES`."""

    cap = "cap"
    oversample = "oversample"


def _labeller(src: Path, keywords: str | None, pattern: str | None, labels: Path | None = None):
    from ferkit.data.keywords import load_keywords
    from ferkit.data.labelling import Labeller
    from ferkit.errors import UsageError

    if sum(x is not None for x in (keywords, pattern, labels)) > 1:
        raise UsageError("give one of --labels, --keywords and --pattern")
    return Labeller.for_folder(src, load_keywords(keywords) if keywords else None, pattern, labels)


@data_app.command("label")
def label_command(
    src: Path = typer.Argument(..., help="Folder of raw pictures (searched recursively)."),
    out: Path = typer.Option(Path("labels.csv"), "--out", "-o", help="Labels file to write (file, label, status, reason, keywords, faces)."),
    keywords: Optional[str] = KEYWORDS, pattern: Optional[str] = PATTERN,
    detect: bool = typer.Option(True, "--detect/--no-detect", help="Count the faces of each labelled picture: none or several go to review."),
    detector: Optional[str] = DETECTOR, quiet: bool = QUIET,
) -> None:
    """Label pictures from the keywords in their file names; the rest go to a review list with the reason."""
    check_names(detector, None)
    from ferkit.data.labelling import label_pictures, write_labels_file
    from ferkit.writers import check_output_file

    check_output_file(out)
    labeller = _labeller(src, keywords, pattern)
    summary = label_pictures(src, labeller, detect=detect, detector=detector or "retinaface",
                             progress=not quiet)
    write_labels_file(out, summary)
    for problem in summary.problems:
        print_warning(problem)
    if not quiet:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
        err_console().print(f"{sum(summary.counts.values())} labelled ({counts or 'none'}), "
                            f"{len(summary.review)} to review; written to {out}")


@data_app.command("clean")
def clean_command(
    src: Path = typer.Argument(..., help="Folder of raw pictures (class folders, labelled names, or any)."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (crops/, manifest.csv, sheets/); a re-run resumes."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels file from ferkit data label (default: class folders, else the keywords of the names)."),
    keywords: Optional[str] = KEYWORDS, pattern: Optional[str] = PATTERN,
    config: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file overriding thresholds (min_face_size, min_sharpness, max_yaw, ...; see docs/data.md)."),
    ocr: bool = typer.Option(True, "--ocr/--no-ocr", help="Look for text in the pictures (needs the ocr extra)."),
    model_check: bool = typer.Option(False, "--model-check", help="Send faces the default model confidently labels otherwise to review."),
    detector: Optional[str] = DETECTOR, model: Optional[str] = MODEL, quiet: bool = QUIET,
) -> None:
    """Crop every face of every picture and decide keep, review or reject, with reasons, in manifest.csv."""
    check_names(detector, model)
    from ferkit.data.clean import clean
    from ferkit.data.config import CleanConfig

    cfg = CleanConfig.load(config)
    labeller = _labeller(src, keywords, pattern, labels)
    summary = clean(src, out, config=cfg, labeller=labeller, detector=detector or "retinaface",
                    model=model or "default", model_check=model_check, ocr=ocr, progress=not quiet,
                    on_notice=print_warning)
    for problem in summary.problems:
        print_error(problem)
    if not quiet:
        d = summary.decisions
        reasons = ", ".join(f"{k} {v}" for k, v in summary.reasons.most_common())
        err_console().print(
            f"{summary.pictures} pictures ({summary.resumed} done before), {summary.faces} faces: "
            f"{d.get('keep', 0)} keep, {d.get('review', 0)} review, {d.get('reject', 0)} reject"
            + (f" ({reasons})" if reasons else "")
            + f"; manifest {out / 'manifest.csv'}, contact sheets {out / 'sheets' / 'index.html'}")
    raise typer.Exit(1 if summary.problems else 0)


@data_app.command("review")
def review_command(
    dataset: Path = DATASET,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port to listen on."),
) -> None:
    """Re-sort faces by hand in the browser (move between classes, reject, undo); decisions go to manifest.csv."""
    from ferkit.data.manifest import read_manifest

    read_manifest(dataset)   # refuse a missing or broken manifest before the server starts
    from importlib.util import find_spec

    from ferkit.errors import UsageError

    if find_spec("fastapi") is None or find_spec("uvicorn") is None:
        raise UsageError("ferkit data review needs the server extra: pip install 'ferkit[serve]' "
                         "(or edit the decision and label columns of manifest.csv by hand)")
    import uvicorn

    from ferkit.data.review import create_review_app

    err_console().print(f"reviewing {dataset}: open http://{host}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(create_review_app(dataset), host=host, port=port, log_level="warning")


@data_app.command("split")
def split_command(
    dataset: Path = DATASET,
    val: float = typer.Option(0.1, "--val", min=0.0, max=0.99, help="Fraction for validation."),
    test: float = typer.Option(0.1, "--test", min=0.0, max=0.99, help="Fraction for test."),
    group_by: Optional[str] = typer.Option(None, "--group-by", help="Keep each group in one split: a manifest column (e.g. group) or a regex on the source path (named group 'group', else its first group, else the match)."),
    join: Optional[list[str]] = typer.Option(None, "--join", help="A=B: groups A and B are one (one person under two ids); repeat for several."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
) -> None:
    """Split the dataset into train, val and test; with --group-by no group (person) is in two splits."""
    from ferkit.data.organise import split_dataset
    from ferkit.errors import UsageError

    joins = []
    for item in join or []:
        a, sep, b = item.partition("=")
        if not sep or not a.strip() or not b.strip():
            raise UsageError(f"--join {item!r}: write A=B")
        joins.append((a.strip(), b.strip()))
    summary = split_dataset(dataset, val, test, group_by, joins, seed)
    console = err_console()
    for split, counts in summary.counts.items():
        line = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        console.print(f"{split}: {sum(counts.values())} kept faces"
                      + (f" in {summary.groups[split]} groups" if group_by else "") + (f" ({line})" if line else ""))


@data_app.command("balance")
def balance_command(
    dataset: Path = DATASET,
    per_class: int = typer.Option(..., "--per-class", min=1, help="Training samples per class."),
    strategy: Strategy = typer.Option(Strategy.cap, "--strategy", help="cap: at most N per class; oversample: repeat smaller classes up to N too."),
    seed: int = typer.Option(0, "--seed", help="Seed of the rows drawn."),
) -> None:
    """Even out the classes: cap each at N training samples, or oversample the smaller ones up to N."""
    from ferkit.data.organise import balance_dataset

    summary = balance_dataset(dataset, per_class, strategy.value, seed)
    console = err_console()
    for label in sorted(summary.before):
        console.print(f"{label}: {summary.before[label]} -> {summary.after[label]}")
    console.print("balanced the training rows; validation and test keep their counts" if summary.scope == "train"
                  else "balanced all kept rows (the dataset is not split yet)")


@data_app.command("stats")
def stats_command(
    dataset: Path = DATASET,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write stats.json and stats.png here (default: the dataset folder)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Counts per class and split, decisions, reasons, picture and face sizes, and a chart."""
    import json

    from ferkit.data.stats import dataset_stats, write_stats

    stats = dataset_stats(dataset)
    written = write_stats(stats, out or dataset)
    if as_json:
        typer.echo(json.dumps(stats, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{dataset}: {stats['kept']} kept of {stats['faces']} faces in {stats['pictures']} pictures")
    splits = list(stats["kept_per_split"])
    for col in ["class", *splits, "training samples", "review", "reject"]:
        table.add_column(col)
    for label, samples in stats["training_samples"].items():
        d = stats["decisions"].get(label, {})
        table.add_row(label, *[str(stats["kept_per_split"][s].get(label, 0)) for s in splits], str(samples),
                      str(d.get("review", 0)), str(d.get("reject", 0)))
    console = Console(highlight=False)
    console.print(table)
    if stats["reasons"]:
        console.print("reasons: " + ", ".join(f"{k} {v}" for k, v in stats["reasons"].items()))
    for what in ("picture_size", "face_size"):
        s = stats[what]
        if s:
            console.print(f"{what.replace('_', ' ')} (px): min {s['min']:.0f}, median {s['median']:.0f}, max {s['max']:.0f}")
    console.print("written: " + ", ".join(str(p) for p in written))
