"""``ferkit data review``: re-sort a dataset by hand in the browser.

A small FastAPI app over one dataset folder: the page shows the crops of a class
(kept, to review, rejected), and each change (move to another class, keep,
reject, review) is written to ``manifest.csv`` at once, marked ``reviewed``
(so a re-run of clean keeps it), and logged in ``review-log.jsonl`` for undo.
The manifest is read afresh for every change, so edits made to the CSV by hand
meanwhile are kept; a manifest that no longer reads is refused (409) and left
as it is.
"""

# No ``from __future__ import annotations``: FastAPI reads the route annotations at run time.
import json
import threading
from pathlib import Path

from .manifest import DECISIONS, read_manifest

STATIC = Path(__file__).with_name("static")
STATIC_FILES = {"review.html": "text/html; charset=utf-8", "review.js": "text/javascript; charset=utf-8",
                "review.css": "text/css; charset=utf-8"}
LOG = "review-log.jsonl"


class ReviewBook:
    """Changes to one dataset's manifest, with an undo log."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        read_manifest(self.folder)
        self.lock = threading.Lock()

    def rows(self) -> list[dict]:
        return [{"id": r["id"], "label": r["label"], "decision": r["decision"], "reasons": r["reasons"],
                 "source": r["source"], "reviewed": r["reviewed"]}
                for r in read_manifest(self.folder).rows if r["file"]]

    def crop(self, row_id: str) -> Path | None:
        row = read_manifest(self.folder).by_id().get(row_id)
        return None if row is None or not row["file"] else self.folder / row["file"]

    def change(self, row_id: str, label: str | None = None, decision: str | None = None) -> dict:
        """Set a row's label and/or decision; returns the row as it is now."""
        from ferkit.errors import DatasetError
        from ferkit.labels import canonical

        with self.lock:
            manifest = read_manifest(self.folder)
            row = manifest.by_id().get(row_id)
            if row is None:
                raise KeyError(row_id)
            before = {k: row[k] for k in ("label", "decision", "reviewed")}
            if label is not None:
                row["label"] = canonical(label)
            if decision is not None:
                if decision not in DECISIONS:
                    raise DatasetError(f"decision must be one of {', '.join(DECISIONS)}")
                row["decision"] = decision
            if row["decision"] == "keep" and not row["label"]:
                raise DatasetError("a kept face needs a label: move it to a class first")
            row["reviewed"] = "hand"
            self._log({"id": row_id, "before": before})
            manifest.save()
            return {k: row[k] for k in ("id", "label", "decision", "reviewed")}

    def undo(self) -> dict | None:
        """Revert the last change still in the log; ``None`` when there is none."""
        from ferkit.writers import write_text_atomic

        with self.lock:
            path = self.folder / LOG
            lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
            if not lines:
                return None
            entry = json.loads(lines[-1])
            manifest = read_manifest(self.folder)
            row = manifest.by_id().get(entry["id"])
            if row is not None:
                row.update(entry["before"])
                manifest.save()
            write_text_atomic(path, "".join(line + "\n" for line in lines[:-1]))
            return {"id": entry["id"], **entry["before"]}

    def _log(self, entry: dict) -> None:
        from ferkit.writers import LineFile

        log = LineFile(self.folder / LOG, append=True)
        try:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        finally:
            log.close()


def create_review_app(dataset: str | Path):
    """The review app (FastAPI) of a dataset folder."""
    from fastapi import Body, FastAPI, HTTPException
    from fastapi.responses import FileResponse, RedirectResponse, Response

    from ferkit.errors import DatasetError
    from ferkit.labels import UnknownLabelError

    book = ReviewBook(dataset)
    app = FastAPI(title="ferkit data review", docs_url=None, redoc_url=None)
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'"}

    def guarded(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KeyError:
            raise HTTPException(404, "no such face") from None
        except UnknownLabelError as e:
            raise HTTPException(422, str(e)) from None
        except DatasetError as e:
            raise HTTPException(409, str(e)) from None

    @app.get("/", include_in_schema=False)
    def index():
        return RedirectResponse("static/review.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in STATIC_FILES:
            raise HTTPException(404, "not found")
        return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name], headers=headers)

    @app.get("/api/rows")
    def rows() -> dict:
        from ferkit.labels import LABEL_SETS

        found = guarded(book.rows)
        known = sorted({c for s in LABEL_SETS.values() for c in s.labels} | {r["label"] for r in found if r["label"]})
        return {"rows": found, "labels": known, "decisions": list(DECISIONS)}

    @app.post("/api/rows/{row_id}")
    def change(row_id: str, label: str | None = Body(None, max_length=64),
               decision: str | None = Body(None, max_length=16)) -> dict:
        return guarded(book.change, row_id, label, decision)

    @app.post("/api/undo")
    def undo() -> dict:
        undone = guarded(book.undo)
        if undone is None:
            raise HTTPException(409, "nothing to undo")
        return undone

    @app.get("/crops/{row_id}", include_in_schema=False)
    def crop(row_id: str):
        path = guarded(book.crop, row_id)
        if path is None or not path.is_file():
            raise HTTPException(404, "no such crop")
        return FileResponse(path, headers=headers)

    return app
