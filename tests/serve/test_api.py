"""The REST API with real photos and the bad-input set: the same JSON as ``ferkit analyze``,
per-image errors, and 4xx JSON errors (never a 500, never a traceback) for bad input."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from servetools import GROUP, SINGLE, assert_json_error, serving, state_of

from ferkit.results import ImageResult
from ferkit.serve import ServeSettings
from ferkit.writers import ResultWriter
from imagefiles import astronaut, jpeg_bytes, write_bad_files


def test_health_ready_and_models(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["models"] == {"fer7-default": "retinaface"}
    models = client.get("/v1/models").json()
    assert models["default"] == "fer7-default" and models["detector"] == "retinaface"
    card = models["models"]["fer7-default"]
    assert card["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert set(models["colors"]) >= set(card["labels"])
    assert all(c.startswith("#") and len(c) == 7 for c in models["colors"].values())


def test_one_photo_is_the_ferkit_analyze_object(client, photos_dir, photo_face_counts):
    data = (photos_dir / SINGLE).read_bytes()
    r = client.post("/v1/analyze", params={"name": SINGLE}, content=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    body = r.json()
    [result] = body["results"]
    assert len(result["faces"]) == photo_face_counts[SINGLE] == 1
    reference = state_of(client).models.get().analyze(str(photos_dir / SINGLE), file=SINGLE)
    assert result == json.loads(json.dumps(reference.to_dict()))
    assert body["labels"] == reference.labels
    assert "annotated" not in body


def test_several_photos_in_one_multipart_body(client, photos_dir, photo_face_counts):
    files = [("images", (name, (photos_dir / name).read_bytes(), "image/jpeg")) for name in (GROUP, SINGLE)]
    r = client.post("/v1/analyze", files=files)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["file"] for x in results] == [GROUP, SINGLE]
    assert [len(x["faces"]) for x in results] == [photo_face_counts[GROUP], photo_face_counts[SINGLE]] == [2, 1]
    for x in results:
        assert x["error"] is None
        for face in x["faces"]:
            assert abs(sum(face["probabilities"].values()) - 1) < 1e-4
            assert face["label"] == max(face["probabilities"], key=face["probabilities"].get)


def test_annotated_image_comes_back_drawn(client, photos_dir):
    data = (photos_dir / GROUP).read_bytes()
    r = client.post("/v1/analyze?annotate=1", files=[("f", (GROUP, data))])
    assert r.status_code == 200
    [url] = r.json()["annotated"]
    assert url.startswith("data:image/jpeg;base64,")
    drawn = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
    original = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert drawn.shape == original.shape
    x, y, w, h = (int(v) for v in r.json()["results"][0]["faces"][0]["box"])
    # The box's outline is painted over the photo (its left edge, away from the tags).
    edge = np.abs(drawn[y + h // 3:y + 2 * h // 3, x - 1:x + 2].astype(int) - original[y + h // 3:y + 2 * h // 3, x - 1:x + 2])
    assert edge.mean() > 30


def test_crops_mode_classifies_the_whole_upload(client, photos_dir):
    analyzer = state_of(client).models.get()
    image = np.asarray(Image.open(photos_dir / SINGLE).convert("RGB"))
    x, y, w, h = (int(v) for v in analyzer.detect(image)[0].box)
    crop = image[y:y + h, x:x + w]
    r = client.post("/v1/analyze?crops=1", content=jpeg_bytes(crop))
    [result] = r.json()["results"]
    assert len(result["faces"]) == 1
    assert result["faces"][0]["box"] == [0.0, 0.0, float(crop.shape[1]), float(crop.shape[0])]
    assert result["faces"][0]["landmarks"] is None


def test_margin_changes_the_crop_and_is_checked(client, photos_dir):
    data = (photos_dir / SINGLE).read_bytes()
    plain = client.post("/v1/analyze", content=data).json()["results"][0]["faces"][0]["probabilities"]
    wide = client.post("/v1/analyze?margin=0.6", content=data).json()["results"][0]["faces"][0]["probabilities"]
    assert plain != wide
    assert_json_error(client.post("/v1/analyze?margin=5", content=data), 400, "bad_request")
    assert_json_error(client.post("/v1/analyze?margin=nan", content=data), 400, "bad_request")


def test_the_operator_sets_the_prior_correction(client, photos_dir, tmp_path):
    import shutil

    from ferkit.errors import UsageError
    from ferkit.models import resolve_model

    onnx, _ = resolve_model("default")
    model = tmp_path / "with-prior.onnx"
    shutil.copy(onnx, model)
    card = json.loads(onnx.with_suffix(".json").read_text())
    card["prior_correction"] = {"prior": [0.14, 0.015, 0.14, 0.25, 0.17, 0.11, 0.175], "tau": 0.0}
    model.with_suffix(".json").write_text(json.dumps(card))
    data = (photos_dir / SINGLE).read_bytes()
    plain = client.post("/v1/analyze", content=data).json()["results"][0]["faces"][0]["probabilities"]
    with serving(tmp_path, model=str(model), prior_correction=1.0) as c:
        corrected = c.post("/v1/analyze", content=data).json()["results"][0]["faces"][0]["probabilities"]
    assert corrected["disgust"] > plain["disgust"] and corrected["happy"] < plain["happy"]
    with pytest.raises(UsageError, match="prior_correction"):
        ServeSettings(prior_correction=3.0)


@pytest.mark.parametrize("params,code", [
    ({"model": "no-such-model"}, "unknown_name"),
    ({"model": "/etc/passwd"}, "unknown_name"),            # no server paths from clients
    ({"model": "../src/ferkit/models/fer7-default.onnx"}, "unknown_name"),
    ({"detector": "nosuch"}, "unknown_name"),
    ({"format": "xml"}, "bad_request"),
])
def test_bad_options_are_400_before_the_body_is_read(client, params, code):
    error = assert_json_error(client.post("/v1/analyze", params=params, content=b"x" * 10), 400, code)
    assert "passwd" not in error["message"] or "unknown model" in error["message"]


def test_named_packaged_model_and_detector(client, photos_dir):
    r = client.post("/v1/analyze?model=fer7-default&detector=retinaface", content=(photos_dir / SINGLE).read_bytes())
    assert r.status_code == 200 and len(r.json()["results"][0]["faces"]) == 1


def test_csv_is_the_ferkit_analyze_csv(client, photos_dir, tmp_path):
    names = (GROUP, "fer_no-faces.jpg")
    files = [("f", (name, (photos_dir / name).read_bytes())) for name in names]
    files.append(("f", ("notes, v2.jpg", b"not a picture at all")))
    r = client.post("/v1/analyze?format=csv", files=files)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    served = client.post("/v1/analyze", files=files).json()
    analyzer = state_of(client).models.get()
    out = tmp_path / "faces.csv"
    with ResultWriter(out, "csv", analyzer.labels) as writer:
        for name in names:
            writer.write(analyzer.analyze(str(photos_dir / name), file=name))
        writer.write(ImageResult("notes, v2.jpg", error=served["results"][2]["error"], labels=analyzer.labels))
    assert r.content == out.read_bytes()
    assert r.text.count("\r\n") == 1 + 2 + 1 + 1     # header, two faces, no-face photo, failed file


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return write_bad_files(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("kind,status,code", [
    ("zero_bytes", 400, "empty"),
    ("truncated", 422, "unreadable_input"),
    ("not_an_image", 415, "unsupported_type"),
    ("bomb", 413, "too_large"),
])
def test_bad_input_is_a_4xx_json_error(client, bad_files, kind, status, code):
    path = bad_files[kind]
    for request in ({"content": path.read_bytes(), "params": {"name": path.name}},
                    {"files": [("f", (path.name, path.read_bytes()))]}):
        r = client.post("/v1/analyze", **request)
        error = assert_json_error(r, status, code)
        [result] = r.json()["results"]
        assert result["file"] == path.name and result["error"] == error["message"]
        assert result["width"] is None and result["faces"] == []


def test_a_batch_completes_around_bad_files(client, bad_files, photos_dir):
    files = [("f", (SINGLE, (photos_dir / SINGLE).read_bytes()))]
    files += [("f", (p.name, p.read_bytes())) for p in bad_files.values()]
    r = client.post("/v1/analyze", files=files)
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["file"] for x in results] == [SINGLE, *(p.name for p in bad_files.values())]
    assert results[0]["error"] is None and len(results[0]["faces"]) == 1
    assert all(x["error"] for x in results[1:])
    assert "truncated" in results[2]["error"] and "too large" in results[4]["error"]


def test_type_is_sniffed_from_the_bytes_not_the_name(client, photos_dir, videos_dir):
    jpeg = (photos_dir / SINGLE).read_bytes()
    r = client.post("/v1/analyze", files=[("f", ("holiday.txt", jpeg, "text/plain"))])
    assert r.status_code == 200 and len(r.json()["results"][0]["faces"]) == 1
    r = client.post("/v1/analyze", files=[("f", ("photo.jpg", b"GIF-ish? no: plain text", "image/jpeg"))])
    assert_json_error(r, 415, "unsupported_type")
    clip = (videos_dir / "pyfeat_face_noface.mov").read_bytes()[:200_000]
    error = assert_json_error(client.post("/v1/analyze", content=clip), 415, "unsupported_type")
    assert "/v1/videos" in error["message"]


@pytest.mark.parametrize("body,content_type", [
    (b"--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.jpg\"\r\n\r\nabc", "multipart/form-data; boundary=XX"),
    (b"garbage that is not multipart at all", "multipart/form-data; boundary=XX"),
    (b"--XX\r\n\r\nno headers\r\n--XX--\r\n", "multipart/form-data; boundary=XX"),
    (b"anything", "multipart/form-data"),
    (b"--XX--\r\n", "multipart/form-data; boundary=XX"),
])
def test_malformed_multipart_is_400(client, body, content_type):
    r = client.post("/v1/analyze", content=body, headers={"Content-Type": content_type})
    assert_json_error(r, 400)
    assert not any(state_of(client).storage.root.iterdir()), "the upload folder was not cleaned"


def test_unknown_routes_and_methods_answer_json(client):
    assert_json_error(client.get("/nope"), 404, "not_found")
    assert_json_error(client.get("/v1/analyze"), 405, "method_not_allowed")
    assert_json_error(client.post("/v1/videos?every=0", content=b"x"), 400, "bad_request")


def test_an_internal_error_is_a_json_500_without_details(client, photos_dir, monkeypatch):
    analyzer = state_of(client).models.get()

    def broken(*args, **kwargs):
        raise ZeroDivisionError("secret internal detail")

    monkeypatch.setattr(analyzer, "classify", broken)
    r = client.post("/v1/analyze", content=(photos_dir / SINGLE).read_bytes())
    error = assert_json_error(r, 500, "analysis_failed")
    assert "secret internal detail" not in r.text and "ZeroDivisionError" in error["message"]
    monkeypatch.undo()
    assert client.post("/v1/analyze", content=(photos_dir / SINGLE).read_bytes()).status_code == 200


def test_openapi_and_reference_page(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/analyze", "/v1/videos", "/v1/videos/{job_id}", "/v1/models", "/healthz", "/readyz"} <= set(spec["paths"])
    page = client.get("/docs")
    assert page.status_code == 200 and "/static/docs.js" in page.text


def test_astronaut_raw_png(client):
    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, "PNG")
    r = client.post("/v1/analyze", content=buf.getvalue(), params={"name": "astronaut.png"})
    assert r.status_code == 200 and len(r.json()["results"][0]["faces"]) == 1
