"""A survey folder: ``survey.json`` (the items, their true labels and the model's
answers) and ``answers.sqlite`` (participants and their answers).

Participants are random, unguessable ids; each has an order of the items (the
survey's, or shuffled for them) and answers them one at a time. Answers are
written at once (SQLite, WAL), so a participant can stop and resume, and a
crash loses nothing already answered.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.errors import DatasetError, UsageError

SURVEY_FILE = "survey.json"
ANSWERS_FILE = "answers.sqlite"
ORDERS = ("shuffled", "fixed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (id TEXT PRIMARY KEY, created REAL NOT NULL, items TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (participant TEXT NOT NULL REFERENCES participants(id), item TEXT NOT NULL,
    answer TEXT NOT NULL, ms INTEGER, at REAL NOT NULL, PRIMARY KEY (participant, item));
"""


class AnswerError(UsageError):
    """An answer the survey cannot take (unknown participant or item, not the next item, bad label)."""


@dataclass
class Survey:
    """A survey folder, loaded."""

    folder: Path
    spec: dict

    @classmethod
    def open(cls, folder: str | os.PathLike) -> Survey:
        folder = Path(folder)
        path = folder / SURVEY_FILE
        if not path.is_file():
            raise DatasetError(f"not a survey folder: {path} not found "
                               "(make one with: ferkit survey create --from DATASET --out FOLDER)")
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DatasetError(f"{path}: cannot read the survey: {e}") from None
        if not isinstance(spec, dict) or not isinstance(spec.get("items"), list) or not spec.get("labels"):
            raise DatasetError(f"{path}: not a ferkit survey (needs labels and items)")
        for i, item in enumerate(spec["items"]):
            if not isinstance(item, dict) or not {"id", "image", "label", "source"} <= set(item):
                raise DatasetError(f"{path}: item {i} lacks id, image, label or source")
        survey = cls(folder, spec)
        survey._init_db()
        return survey

    @property
    def labels(self) -> list[str]:
        return list(self.spec["labels"])

    @property
    def items(self) -> list[dict]:
        return self.spec["items"]

    def item(self, item_id: str) -> dict | None:
        if not hasattr(self, "_by_id"):
            self._by_id = {it["id"]: it for it in self.items}
        return self._by_id.get(item_id)

    def image_path(self, item_id: str) -> Path | None:
        item = self.item(item_id)
        return None if item is None else self.folder / item["image"]

    # -- answers -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.folder / ANSWERS_FILE, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _init_db(self) -> None:
        try:
            with closing(self._connect()) as db, db:
                db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise DatasetError(f"{self.folder / ANSWERS_FILE}: cannot open the answers: {e}") from None

    def order_for(self, participant: str) -> list[str]:
        ids = [it["id"] for it in self.items]
        if self.spec.get("order", "shuffled") == "fixed":
            return ids
        seed = int(hashlib.sha256(f"{self.spec.get('seed', 0)}:{participant}".encode()).hexdigest()[:16], 16)
        return [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]

    def new_participant(self) -> str:
        pid = secrets.token_urlsafe(16)
        with closing(self._connect()) as db, db:
            db.execute("INSERT INTO participants VALUES (?, ?, ?)",
                       (pid, time.time(), json.dumps(self.order_for(pid))))
        return pid

    def progress(self, participant: str) -> tuple[list[str], dict[str, str]]:
        """The participant's item order and their answers so far (item -> answer)."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT items FROM participants WHERE id = ?", (participant,)).fetchone()
            if row is None:
                raise AnswerError("unknown participant")
            answers = dict(db.execute("SELECT item, answer FROM answers WHERE participant = ?", (participant,)))
        return json.loads(row[0]), answers

    def next_item(self, participant: str) -> tuple[str | None, int, int]:
        """``(next item id or None, answered, total)``."""
        order, answers = self.progress(participant)
        nxt = next((i for i in order if i not in answers), None)
        return nxt, len(answers), len(order)

    def record(self, participant: str, item: str, answer: str, ms: int | None) -> None:
        """Store one answer; only the participant's next item is taken (answering the
        same item again with the same answer is a no-op)."""
        if answer not in self.labels:
            raise AnswerError(f"answer must be one of {', '.join(self.labels)}")
        order, answers = self.progress(participant)
        if item in answers:
            if answers[item] == answer:
                return
            raise AnswerError("this item was answered already")
        nxt = next((i for i in order if i not in answers), None)
        if item != nxt:
            raise AnswerError("not the participant's next item")
        if ms is not None and (not isinstance(ms, int) or isinstance(ms, bool) or ms < 0):
            raise AnswerError("ms must be an integer >= 0")
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?)",
                       (participant, item, answer, ms, time.time()))

    def all_answers(self) -> dict[str, dict[str, tuple[str, int | None]]]:
        """participant -> item -> (answer, ms), every participant (none answered: empty)."""
        out: dict[str, dict] = {}
        with closing(self._connect()) as db:
            for (pid,) in db.execute("SELECT id FROM participants ORDER BY created"):
                out[pid] = {}
            for pid, item, answer, ms in db.execute("SELECT participant, item, answer, ms FROM answers"):
                out.setdefault(pid, {})[item] = (answer, ms)
        return out
