"""The stream socket: frames of a real clip in, tracked faces with smoothed probabilities
out; bad frames answered without ending the stream; frames dropped, never queued."""

from __future__ import annotations

import av
import numpy as np
import pytest
from servetools import SHORTEST_CLIP, serving
from starlette.websockets import WebSocketDisconnect

from imagefiles import jpeg_bytes


@pytest.fixture(scope="module")
def clip_frames(videos_dir) -> list[bytes]:
    """Eight frames of the shortest clip (one man smiling to the camera), 0.2 s apart, as JPEG."""
    frames = []
    with av.open(str(videos_dir / SHORTEST_CLIP)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 6 == 0:
                frames.append(jpeg_bytes(frame.to_ndarray(format="rgb24")[::2, ::2]))
            if len(frames) == 8:
                break
    return frames


def test_tracks_and_smoothed_probabilities(client, clip_frames):
    with client.websocket_connect("/v1/stream?smoothing=ema:0.5") as ws:
        ready = ws.receive_json()
        assert ready["type"] == "ready" and "happy" in ready["labels"]
        results = []
        for data in clip_frames:
            ws.send_bytes(data)
            message = ws.receive_json()
            assert message["type"] == "result" and message["dropped"] == 0 and message["ms"] > 0
            results.append(message["result"])
    assert [r["frame"] for r in results] == list(range(len(clip_frames)))
    assert all(r["width"] == 480 and r["height"] == 270 and r["detected"] for r in results)
    assert all(len(r["faces"]) == 1 for r in results), [len(r["faces"]) for r in results]
    tracks = {f["track"] for r in results for f in r["faces"]}
    assert tracks == {1}, "one person, one track through the frames"
    times = [r["time"] for r in results]
    assert times == sorted(times)
    labels = ready["labels"]
    raw = [np.array([f["probabilities"][k] for k in labels]) for r in results for f in r["faces"]]
    assert all(abs(p.sum() - 1) < 1e-4 for p in raw)
    for r in results:
        face = r["faces"][0]
        assert face["label"] == max(face["probabilities"], key=face["probabilities"].get)
    # EMA with alpha 0.5: consecutive smoothed values move at most half-way towards any new frame.
    steps = [np.abs(b - a).max() for a, b in zip(raw, raw[1:])]
    assert max(steps) <= 0.5 + 1e-6


def test_bad_frames_are_answered_and_the_stream_goes_on(client, clip_frames, tmp_path):
    from imagefiles import bomb_png, write_bad_files

    bad = write_bad_files(tmp_path)
    with client.websocket_connect("/v1/stream") as ws:
        assert ws.receive_json()["type"] == "ready"
        for kind, code in (("truncated", "unreadable_input"), ("not_an_image", "unsupported_type")):
            ws.send_bytes(bad[kind].read_bytes())
            message = ws.receive_json()
            assert message["type"] == "error" and message["error"]["code"] == code, message
        ws.send_bytes(bomb_png(5000, 5000))
        assert ws.receive_json()["error"]["code"] == "too_large"
        ws.send_text("hello")
        assert ws.receive_json()["error"]["code"] == "not_a_frame"
        ws.send_bytes(clip_frames[0])
        message = ws.receive_json()
        assert message["type"] == "result" and len(message["result"]["faces"]) == 1


def test_frames_sent_faster_than_analysed_are_dropped(client, clip_frames):
    sent = 24
    with client.websocket_connect("/v1/stream") as ws:
        assert ws.receive_json()["type"] == "ready"
        for i in range(sent):
            ws.send_bytes(clip_frames[i % len(clip_frames)])
        answered = dropped = 0
        last = None
        while answered + dropped < sent:
            message = ws.receive_json()
            assert message["type"] == "result", message
            answered += 1
            dropped += message["dropped"]
            last = message["result"]["frame"]
    assert answered + dropped == sent
    assert dropped > 0 and answered < sent, "every frame was queued instead of the newest kept"
    assert last == sent - 1, "the newest frame is the one analysed last"


def test_limits_and_bad_options(tmp_path, clip_frames):
    with serving(tmp_path, max_streams=1, max_frame_kb=20) as c:
        with c.websocket_connect("/v1/stream") as ws:
            assert ws.receive_json()["type"] == "ready"
            ws.send_bytes(clip_frames[0] + b"\0" * 30_000)
            message = ws.receive_json()
            assert message["error"]["code"] == "too_large"
            with pytest.raises(WebSocketDisconnect) as closed:     # a second stream: too many
                with c.websocket_connect("/v1/stream") as other:
                    other.receive_json()
            assert closed.value.code == 1013
        for query in ("model=/etc/passwd", "detector=nosuch", "smoothing=median", "max_gap=-1"):
            with c.websocket_connect(f"/v1/stream?{query}") as ws:
                message = ws.receive_json()
                assert message["type"] == "error" and message["error"]["status"] == 400, (query, message)
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == 1008
