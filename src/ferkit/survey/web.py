"""The participant pages of a survey, as a FastAPI router (``ferkit serve --survey``
mounts it at ``/survey``).

Participants see one image at a time with the survey's label choices, in its
language. Nothing they receive gives the label away: images are served by
their random id (the file was re-encoded under that id by ``survey create``),
the API returns no true label, source, file or folder name, and never the
model's answer. A participant id is random and unguessable; the page keeps it
in the browser's storage, so closing the tab and coming back resumes.

Routes (relative to the mount point)::

    GET  /                          the page (static/index.html; scripts and styles are files: no inline code)
    GET  /static/{name}             its script and style sheet
    POST /api/participants          start: {"participant": id, "answered": 0, "total": n, "next": {...}}
    GET  /api/participants/{id}     resume: the same shape
    POST /api/participants/{id}/answers   {"item": id, "answer": label, "ms": time taken} -> the same shape
    GET  /images/{item id}          the image
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route functions'
# annotations at run time, and Request is imported inside create_router.
from pathlib import Path

STATIC = Path(__file__).with_name("static")
STATIC_FILES = {"index.html": "text/html; charset=utf-8", "survey.js": "text/javascript; charset=utf-8",
                "survey.css": "text/css; charset=utf-8"}
# The page's own words in each survey language (the labels' come from ferkit.labels).
TEXTS = {
    "en": {"intro": "You will see faces, one at a time. For each, choose the expression you see. "
                    "You can stop and come back later in this browser.",
           "start": "Start", "done": "Thank you: every image is answered."},
    "ko": {"intro": "얼굴 사진이 한 장씩 나옵니다. 사진마다 보이는 표정을 고르세요. "
                    "이 브라우저에서 언제든 멈췄다가 이어서 할 수 있습니다.",
           "start": "시작", "done": "감사합니다. 모든 사진에 답했습니다."},
}


def create_router(survey_dir: Path):
    """A :class:`fastapi.APIRouter` serving the survey in ``survey_dir`` to participants."""
    from fastapi import APIRouter, Body, HTTPException, Request
    from fastapi.responses import FileResponse, RedirectResponse, Response

    from .store import AnswerError, Survey

    survey = Survey.open(survey_dir)
    router = APIRouter()
    no_store = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff"}

    def state(pid: str) -> dict:
        try:
            nxt, answered, total = survey.next_item(pid)
        except AnswerError:
            raise HTTPException(404, "unknown participant") from None
        return {"participant": pid, "answered": answered, "total": total,
                "next": None if nxt is None else {"item": nxt, "image": f"images/{nxt}"}}

    @router.get("", include_in_schema=False)
    def redirect(request: Request):
        return RedirectResponse(str(request.url.path) + "/", status_code=307)

    @router.get("/", include_in_schema=False)
    def page():
        return static("index.html")

    @router.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in STATIC_FILES:
            raise HTTPException(404, "not found")
        return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name], headers=no_store)

    @router.get("/api/survey")
    def about() -> dict:
        spec = survey.spec
        names = spec.get("names", {})
        language = spec.get("language", "en")
        return {"title": spec.get("title", ""), "language": language, "texts": TEXTS.get(language, TEXTS["en"]),
                "total": len(survey.items),
                "choices": [{"value": c, "name": names.get(c, c)} for c in survey.labels]}

    @router.post("/api/participants")
    def start() -> dict:
        return state(survey.new_participant())

    @router.get("/api/participants/{pid}")
    def resume(pid: str) -> dict:
        return state(pid)

    @router.post("/api/participants/{pid}/answers")
    def answer(pid: str, item: str = Body(..., max_length=64), answer: str = Body(..., max_length=64),
               ms: int | None = Body(None, ge=0, le=24 * 3600 * 1000)) -> dict:
        state(pid)   # 404 for an unknown participant
        try:
            survey.record(pid, item, answer, ms)
        except AnswerError as e:
            raise HTTPException(409 if "item" in str(e) else 422, str(e)) from None
        return state(pid)

    @router.get("/images/{item}", include_in_schema=False)
    def image(item: str):
        path = survey.image_path(item)
        if path is None or not path.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(path, media_type="image/jpeg", headers=no_store)

    return router
