"""``ferkit data clean``: every face of a raw scrape becomes an aligned crop with a
decision (keep, review, reject) and the reasons for it, in ``manifest.csv``.

Faces are found and aligned the way inference does it (the analyzer's detector,
:func:`ferkit.align.align_face` with the model card's template and margin).
Reasons that reject a face: the picture is not decodable, has no face, the face
is too small, blurred, in profile, its eyes are covered, the picture carries
text, or the face is a near-duplicate of a better copy. Reasons that send it to
review: several faces in a picture labelled as a whole, no label (or keywords of
several), the same picture under two labels, and with ``model_check`` the
default model's confident disagreement.

The run is resumable and idempotent: each finished picture is appended to
``.clean/progress.jsonl`` (crops written first), a re-run skips pictures already
done (same path, size and modification time), and the manifest is rewritten
whole at the end. Rows whose decision was set by hand (``reviewed``) keep their
label and decision; every row keeps its ``split`` and ``copies``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferkit.errors import DatasetError, InputError, UsageError
from ferkit.imageio import display_name

from .config import CleanConfig
from .labelling import Labeller
from .manifest import (
    COLUMNS,
    CROPS,
    DATASET_INFO,
    KEEP,
    MANIFEST,
    REJECT,
    REVIEW,
    join_reasons,
    read_manifest,
    reasons_of,
    write_manifest,
)

log = logging.getLogger(__name__)

PROGRESS = ".clean/progress.jsonl"
SHARPNESS_SIZE = 96   # crops are measured at this size, whatever size they are saved at

# Reason codes (the text before a reason's first ':') and the decision each forces.
REJECT_CODES = ("not decodable", "no face", "too small", "blurred", "profile", "eyes covered", "text",
                "duplicate")
REVIEW_CODES = ("several faces", "no label", "same picture, other label", "model disagrees")


def reason_code(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


def decide(reasons: list[str]) -> str:
    """``reject`` if any reason rejects, else ``review`` if any asks for it, else ``keep``."""
    codes = {reason_code(r) for r in reasons}
    if codes & set(REJECT_CODES):
        return REJECT
    if codes:
        return REVIEW
    return KEEP


@dataclass
class CleanSummary:
    out: Path
    pictures: int = 0
    resumed: int = 0
    faces: int = 0
    decisions: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    ocr: bool = True
    problems: list[str] = field(default_factory=list)


def clean(src: str | os.PathLike, out: str | os.PathLike, *, config: CleanConfig | None = None,
          labeller: Labeller | None = None, detector: str = "retinaface", model: str = "default",
          model_check: bool = False, ocr: bool = True, progress: bool = True,
          on_notice: Callable[[str], None] | None = None) -> CleanSummary:
    """Clean the pictures under ``src`` into the dataset folder ``out`` (see the module doc)."""
    from ferkit.inputs import expand_inputs
    from ferkit.writers import prepare_folder

    config = config or CleanConfig()
    notice = on_notice or log.warning
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DatasetError(f"not a folder: {display_name(src)} (give the folder of the raw pictures)")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise UsageError(f"--out {display_name(out)} is inside the source folder; choose a folder "
                         "outside it (the crops would be read as pictures next time)")
    scan = expand_inputs([src])
    if not scan.files:
        why = "; ".join(p.message for p in scan.problems) or f"no images in {display_name(src)}"
        raise DatasetError(why)
    info_path = out / DATASET_INFO
    if info_path.is_file():
        recorded = _read_info(info_path).get("source")
        if recorded and Path(recorded) != src.resolve():
            raise UsageError(f"{display_name(out)} holds a dataset cleaned from {recorded}, not "
                             f"{src.resolve()}; choose another --out")
    old = read_manifest(out) if (out / MANIFEST).is_file() else None   # refuse nonsense before work
    labeller = labeller or Labeller.for_folder(src)
    prepare_folder(out / CROPS, "the dataset folder")
    (out / ".clean").mkdir(exist_ok=True)

    summary = CleanSummary(out)
    for problem in scan.problems:
        summary.problems.append(problem.message)
    for skipped in scan.skipped:
        notice(skipped)
    done = _read_progress(out / PROGRESS)
    worker = _Worker(src, out, config, labeller, detector, model, ocr)
    summary.ocr = worker.text.available or not ocr
    if ocr and not worker.text.available:
        notice(f"text check skipped: OCR is not installed ({_ocr_hint()})")

    from ferkit.progress import progress_bar
    from ferkit.writers import LineFile

    results: dict[str, list[dict]] = {}
    log_file = LineFile(out / PROGRESS, append=True)
    try:
        with progress_bar(progress and len(scan.files) > 1) as bar:
            task = bar.add_task("cleaning", total=len(scan.files))
            for path in scan.files:
                rel = path.relative_to(src).as_posix()
                key = _file_key(path, rel)
                if key in done:
                    results[rel] = done[key]
                    summary.resumed += 1
                else:
                    rows = worker.picture(path, rel)
                    log_file.write(json.dumps({"key": key, "rows": rows}, ensure_ascii=False) + "\n")
                    results[rel] = rows
                bar.advance(task)
    finally:
        log_file.close()
    rows = [row for rel in sorted(results) for row in results[rel]]
    mark_duplicates(rows, config.duplicate_distance)
    for row in rows:
        if model_check and row.get("model_label") and row["label"] and row["model_label"] != row["label"] \
                and float(row["model_confidence"] or 0) >= config.model_disagree:
            row["_reasons"].append(f"model disagrees: {row['model_label']} {float(row['model_confidence']):.2f}")
        row["reasons"] = join_reasons(row.pop("_reasons"))
        row["decision"] = decide(reasons_of(row))
    if old is not None:
        _carry_over(rows, old)
    write_manifest(out, rows, COLUMNS if old is None else old.columns)
    _write_info(info_path, src, config, labeller, worker, model_check)
    from .sheets import write_contact_sheets

    rows = read_manifest(out).rows   # as the file says it (strings), for the sheets and the summary
    write_contact_sheets(out, rows)
    summary.pictures = len(results)
    summary.faces = sum(1 for r in rows if r["file"])
    summary.decisions = Counter(r["decision"] for r in rows)
    summary.reasons = Counter(reason_code(x) for r in rows for x in reasons_of(r))
    return summary


def _ocr_hint() -> str:
    from .checks import OCR_INSTALL_HINT

    return OCR_INSTALL_HINT


class _Worker:
    """Detects, aligns, measures and labels the faces of one picture at a time."""

    def __init__(self, src: Path, out: Path, config: CleanConfig, labeller: Labeller,
                 detector: str, model: str, ocr: bool) -> None:
        from ferkit.align import template_points
        from ferkit.analyzer import Analyzer

        from .checks import TextFinder

        self.src, self.out, self.config, self.labeller = src, out, config, labeller
        self.analyzer = Analyzer(detector, model)
        self.template = self.analyzer.card.align.template
        self.margin = self.analyzer.margin if config.margin is None else config.margin
        self.eye_points = template_points(config.crop_size, self.template, self.margin)[:2]
        self.text = TextFinder()
        if not ocr:
            self.text.available = False

    def picture(self, path: Path, rel: str) -> list[dict]:
        from ferkit.align import align_face
        from ferkit.imageio import load_image
        from ferkit.writers import write_image

        from .checks import estimate_yaw, eye_darkness, hash_hex, perceptual_hash, sharpness, text_lines

        cfg = self.config
        named = self.labeller.label(path, rel)
        label_reasons = [] if named.label else [f"no label: {named.reason}"]
        base = {"source": rel, "label": named.label or "", "group": "", "split": "", "copies": "",
                "reviewed": ""}
        try:
            rgb = load_image(path)
        except (InputError, OSError) as e:
            return [self._row(base, rel, -1, 0, [f"not decodable: {e}"])]
        height, width = rgb.shape[:2]
        base.update(width=width, height=height)
        try:
            detections = self.analyzer.detect(rgb)
        except Exception as e:  # one picture must not end the run
            return [self._row(base, rel, -1, 0, [f"not decodable: detection failed: {type(e).__name__}: {e}"])]
        base["phash"] = hash_hex(perceptual_hash(rgb))
        found = self.text.find(rgb)
        lines = text_lines(found, cfg.text_confidence, cfg.text_min_chars) if found is not None else []
        base["text"] = " | ".join(lines)[:200]
        picture_reasons = [f"text: {', '.join(lines)[:80]}"] if lines else []
        if not detections:
            return [self._row(base, rel, -1, 0, ["no face"] + picture_reasons)]
        usable = sum(min(d.box[2], d.box[3]) >= cfg.min_face_size for d in detections)
        if usable > 1:
            picture_reasons.append(f"several faces: {usable} in the picture (a name labels the "
                                   "picture, not each face)")
        faces = self.analyzer.classify(rgb, detections)
        rows = []
        for k, (det, face) in enumerate(zip(detections, faces)):
            crop = align_face(rgb, det.landmarks, cfg.crop_size, box=det.box, template=self.template,
                              margin=self.margin)
            measure = crop if cfg.crop_size == SHARPNESS_SIZE else _resize(crop, SHARPNESS_SIZE)
            side = min(det.box[2], det.box[3])
            sharp = sharpness(measure)
            yaw = estimate_yaw(det.landmarks)
            eyes = eye_darkness(crop, self.eye_points) if det.landmarks is not None else None
            reasons = []
            if side < cfg.min_face_size:
                reasons.append(f"too small: {side:.0f} px < {cfg.min_face_size}")
            if sharp < cfg.min_sharpness:
                reasons.append(f"blurred: sharpness {sharp:.1f} < {cfg.min_sharpness:g}")
            if yaw is not None and abs(yaw) > cfg.max_yaw:
                reasons.append(f"profile: yaw {abs(yaw):.0f} degrees > {cfg.max_yaw:g}")
            if eyes is not None and eyes < cfg.min_eye_brightness:
                reasons.append(f"eyes covered: eye brightness {eyes:.2f} < {cfg.min_eye_brightness:g}")
            row = self._row(base, rel, k, len(detections), reasons + picture_reasons + label_reasons)
            row["file"] = f"{CROPS}/{row['id']}.jpg"
            write_image(self.out / row["file"], crop, quality=95)
            row.update(box=" ".join(f"{v:.0f}" for v in det.box), face_size=round(side), score=round(det.score, 3),
                       yaw=None if yaw is None else round(yaw, 1), sharpness=round(sharp, 1),
                       eyes=None if eyes is None else round(eyes, 3),
                       model_label=face.label, model_confidence=round(face.confidence, 3))
            rows.append(row)
        return rows

    def _row(self, base: dict, rel: str, k: int, n: int, reasons: list[str]) -> dict:
        digest = hashlib.sha1(rel.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        row = {c: "" for c in COLUMNS}
        row.update(base)
        row.update(id=f"{digest}-{max(k, 0)}", file="", face=k, faces=n, _reasons=list(reasons))
        return row


def _resize(crop: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def mark_duplicates(rows: list[dict], max_distance: int) -> None:
    """Group pictures whose perceptual hashes are within ``max_distance`` and keep one
    of each group (the one whose faces have fewest other problems, then the largest
    picture); the faces of the others get a ``duplicate`` reason. A group whose
    pictures carry different labels is sent to review whole: its label is not known.

    The hash is the whole picture's: resized and re-compressed copies of a photo
    stay within 2 bits of it, while the aligned crops of its faces move with the
    detector's landmarks (up to 26 bits; measured in docs/data.md).
    """
    from .checks import parse_hash

    pictures: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("phash"):
            pictures.setdefault(r["source"], []).append(r)
    names = sorted(pictures)
    if len(names) < 2:
        return
    hashes = np.array([parse_hash(pictures[n][0]["phash"]) for n in names], dtype=np.uint64)
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    closest: dict[int, int] = {}
    for i, j, d in near_pairs(hashes, max_distance):
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
        closest[i] = min(closest.get(i, 64), d)
        closest[j] = min(closest.get(j, 64), d)
    groups: dict[int, list[int]] = {}
    for i in range(len(names)):
        groups.setdefault(root(i), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        labels = sorted({r["label"] for i in members for r in pictures[names[i]] if r["label"]})
        if len(labels) > 1:
            for i in members:
                for r in pictures[names[i]]:
                    r["_reasons"].append(f"same picture, other label: copies labelled {', '.join(labels)}")
            continue

        def rank(i: int):
            faces = pictures[names[i]]
            first = faces[0]
            return (min(decide(r["_reasons"]) == REJECT for r in faces),
                    -int(first["width"] or 0) * int(first["height"] or 0), names[i])

        keeper = min(members, key=rank)
        for i in members:
            if i != keeper:
                for r in pictures[names[i]]:
                    r["_reasons"].append(f"duplicate: of {names[keeper]} (hash distance {closest.get(i, 0)})")


def near_pairs(hashes: np.ndarray, max_distance: int, chunk: int = 256):
    """``(i, j, distance)`` for every pair ``i < j`` of 64-bit hashes within ``max_distance``."""
    n = len(hashes)
    for start in range(0, n, chunk):
        block = hashes[start:start + chunk, None] ^ hashes[None, :]
        dist = _popcount(block)
        ii, jj = np.nonzero(dist <= max_distance)
        for i, j in zip(ii + start, jj):
            if i < j:
                yield int(i), int(j), int(dist[i - start, j])


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return _BYTE_BITS[x.view(np.uint8)].reshape(*x.shape, 8).sum(-1)


def _file_key(path: Path, rel: str) -> str:
    try:
        st = path.stat()
        return f"{rel}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return f"{rel}|?|{time.time_ns()}"   # never matches: the picture is tried again


def _read_progress(path: Path) -> dict[str, list[dict]]:
    done: dict[str, list[dict]] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            rows = entry["rows"]
            key = entry["key"]
        except (ValueError, KeyError, TypeError):
            continue   # a line cut by a crash: that picture is done again
        if all(not r.get("file") or (path.parent.parent / r["file"]).is_file() for r in rows):
            done[key] = rows
    return done


def _carry_over(rows: list[dict], old) -> None:
    """Keep what later steps and hand review set on rows that exist already."""
    previous = old.by_id()
    for row in rows:
        before = previous.get(row["id"])
        if before is None:
            continue
        for column in old.columns:
            if column not in COLUMNS:
                row[column] = before.get(column, "")
        row["split"], row["copies"], row["group"] = before["split"], before["copies"], before["group"]
        if before.get("reviewed"):
            row["label"], row["decision"], row["reviewed"] = before["label"], before["decision"], before["reviewed"]


def _read_info(path: Path) -> dict:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_info(path: Path, src: Path, config: CleanConfig, labeller: Labeller, worker: _Worker,
                model_check: bool) -> None:
    from ferkit import __version__
    from ferkit.writers import write_text_atomic

    info = _read_info(path)
    info.update(source=str(src.resolve()), labels=labeller.describe(), config=config.to_dict(),
                detector=worker.analyzer.detector.name, model=worker.analyzer.card.name,
                align={"template": worker.template, "margin": worker.margin, "size": config.crop_size},
                ocr=worker.text.available, model_check=model_check,
                cleaned=time.strftime("%Y-%m-%dT%H:%M:%S%z"), ferkit_version=__version__)
    write_text_atomic(path, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
