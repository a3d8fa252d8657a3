/* ferkit serve: the web page. Plain JavaScript, no framework, no build step.
 * Every text from the server or from a file name goes into the page as text (never as HTML). */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const state = {
    labels: [], colors: {}, ready: false,
    photos: [],            // ferkit analyze objects, in the order the photos were dropped
    photoQueue: [], photoActive: 0,
    job: null, xhr: null, poll: null,
    cam: null,
  };
  const PHOTO_CONCURRENCY = 2;
  const MAX_RETRIES = 3;

  // --- small helpers ----------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function percent(p) { return `${Math.round(p * 100)}%`; }
  function seconds(s) { return s === null || s === undefined ? "–" : `${s.toFixed(1)} s`; }

  function showMessage(text, kind = "error") {
    const close = el("button", { type: "button", text: "Dismiss", "aria-label": "Dismiss this message" });
    const box = el("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" },
      el("span", { text }), close);
    close.addEventListener("click", () => box.remove());
    $("messages").append(box);
    return box;
  }

  function colorOf(label) { return state.colors[label] || "#888888"; }
  function inkFor(hex) {   // black on light fills, white on dark ones (as ferkit.annotate)
    const n = parseInt(hex.slice(1), 16);
    const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
    return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#000000" : "#ffffff";
  }

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  function errorMessage(status, body) {
    if (body && body.error && body.error.message) {
      if (status === 401) return "This server needs its token: reload the page and enter it.";
      return body.error.message;
    }
    return `the server answered ${status}`;
  }

  async function api(path, options) {
    let response;
    try {
      response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
    } catch (e) {
      throw new ApiError(0, "the server cannot be reached (is ferkit serve still running?)");
    }
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      const retry = parseInt(response.headers.get("retry-after") || "0", 10);
      const error = new ApiError(response.status, errorMessage(response.status, body), retry);
      error.body = body;
      throw error;
    }
    return body;
  }

  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // --- the server's state ---------------------------------------------------------------------

  async function checkServer() {
    const status = $("server-status");
    try {
      const ready = await fetch("/readyz", { credentials: "same-origin" });
      const body = await ready.json().catch(() => ({}));
      if (ready.status === 401) {
        status.textContent = "This server needs its token: reload the page to sign in.";
        status.classList.add("bad");
        return;
      }
      if (!ready.ok) {
        status.textContent = body.error ? `The models failed to load: ${body.error}` : "Loading the models…";
        status.classList.toggle("bad", Boolean(body.error));
        if (!body.error) setTimeout(checkServer, 1500);
        return;
      }
      const models = await api("/v1/models");
      state.labels = models.models[models.default].labels;
      state.colors = models.colors || {};
      state.ready = true;
      status.classList.remove("bad");
      status.textContent = `Ready: model ${models.default} (${state.labels.join(", ")}), detector ${models.detector}.`;
    } catch (e) {
      status.textContent = "The server cannot be reached; retrying…";
      status.classList.add("bad");
      setTimeout(checkServer, 3000);
    }
  }

  // --- tabs ------------------------------------------------------------------------------------

  function setupTabs() {
    const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
    function select(tab, focus) {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        $(t.getAttribute("aria-controls")).hidden = !on;
      }
      if (focus) tab.focus();
      if (tab.id !== "tab-webcam") stopWebcam();
    }
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (event) => {
        const keys = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
        if (event.key in keys) {
          event.preventDefault();
          select(tabs[(keys[event.key] + tabs.length) % tabs.length], true);
        }
      });
    });
  }

  function setupDrop(zone, input, onFiles) {
    input.addEventListener("change", () => {
      if (input.files.length) onFiles(Array.from(input.files));
      input.value = "";
    });
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const files = Array.from(event.dataTransfer.files || []);
      if (files.length) onFiles(files);
    });
  }

  // --- faces drawn over an image or a video ---------------------------------------------------

  function drawBoxes(overlay, result, numbered) {
    overlay.replaceChildren();
    const W = result.width, H = result.height;
    if (!W || !H) return;
    result.faces.forEach((face, i) => {
      const [x, y, w, h] = face.box;
      const color = colorOf(face.label);
      const box = el("div", { class: "box" });
      box.style.left = `${(100 * x) / W}%`;
      box.style.top = `${(100 * y) / H}%`;
      box.style.width = `${(100 * w) / W}%`;
      box.style.height = `${(100 * h) / H}%`;
      box.style.borderColor = color;
      if (y < H * 0.08) box.classList.add("tag-below");
      if (x + w > W * 0.7) box.classList.add("tag-right");
      const who = face.track !== undefined ? `#${face.track} ` : (numbered ? `${i + 1}. ` : "");
      const tag = el("span", { class: "tag", text: `${who}${face.label} ${percent(face.probabilities[face.label])}` });
      tag.style.background = color;
      tag.style.color = inkFor(color);
      box.append(tag);
      overlay.append(box);
    });
  }

  function probabilityBar(face) {
    const bar = el("div", { class: "bar", role: "img" });
    const ranked = Object.entries(face.probabilities).sort((a, b) => b[1] - a[1]);
    bar.setAttribute("aria-label", ranked.map(([k, p]) => `${k} ${percent(p)}`).join(", "));
    for (const [label, p] of Object.entries(face.probabilities)) {
      const part = el("span", { title: `${label} ${percent(p)}` });
      part.style.width = `${100 * p}%`;
      part.style.background = colorOf(label);
      bar.append(part);
    }
    const legend = el("div", { class: "legend", text: ranked.slice(0, 3).map(([k, p]) => `${k} ${percent(p)}`).join(" · ") });
    return [bar, legend];
  }

  // --- photos ------------------------------------------------------------------------------------

  const NOT_SHOWN = /\.(heic|heif|tiff?)$/i;   // formats browsers do not display: show the server's drawing

  function addPhotos(files) {
    for (const file of files) {
      const index = state.photos.length;
      state.photos.push(null);
      const figure = el("figure", { class: "photo", "aria-busy": "true" });
      const stage = el("div", { class: "stage" });
      const caption = el("figcaption", {}, el("strong", { text: file.name }), el("div", { class: "summary", text: "analysing…" }));
      figure.append(stage, caption);
      $("photo-results").append(figure);
      state.photoQueue.push({ file, index, figure, stage, caption, tries: 0 });
    }
    $("clear-photos").disabled = false;
    pumpPhotos();
  }

  function pumpPhotos() {
    while (state.photoActive < PHOTO_CONCURRENCY && state.photoQueue.length) {
      const item = state.photoQueue.shift();
      state.photoActive += 1;
      analysePhoto(item).finally(() => {
        state.photoActive -= 1;
        pumpPhotos();
      });
    }
  }

  async function analysePhoto(item) {
    const { file } = item;
    const annotate = NOT_SHOWN.test(file.name) || /hei[cf]|tiff/.test(file.type);
    const query = new URLSearchParams({ name: file.name });
    if (annotate) query.set("annotate", "1");
    let body;
    try {
      body = await api(`/v1/analyze?${query}`, { method: "POST", body: file,
        headers: { "Content-Type": "application/octet-stream" } });
    } catch (e) {
      if (e.status === 503 && item.tries < MAX_RETRIES) {   // busy: wait as told, then try again
        item.tries += 1;
        item.caption.lastChild.textContent = `the server is busy; retrying in ${e.retryAfter || 1} s…`;
        await new Promise((r) => setTimeout(r, 1000 * (e.retryAfter || 1)));
        return analysePhoto(item);
      }
      body = e.body && e.body.results ? e.body : null;
      if (!body) {
        showPhotoError(item, e.message);
        return;
      }
    }
    const result = body.results[0];
    state.photos[item.index] = result;
    if (!state.labels.length && body.labels) state.labels = body.labels;
    renderPhoto(item, result, annotate && body.annotated ? body.annotated[0] : null);
    renderPhotoTable();
  }

  function showPhotoError(item, message) {
    state.photos[item.index] = { file: item.file.name, width: null, height: null, faces: [], error: message };
    item.figure.removeAttribute("aria-busy");
    item.caption.lastChild.replaceWith(el("div", { class: "error", text: message }));
    showMessage(`${item.file.name}: ${message}`);
    renderPhotoTable();
  }

  function renderPhoto(item, result, drawn) {
    const { figure, stage, caption } = item;
    figure.removeAttribute("aria-busy");
    if (result.error) {
      caption.lastChild.replaceWith(el("div", { class: "error", text: result.error }));
      showMessage(`${result.file}: ${result.error}`);
      return;
    }
    const img = el("img", { alt: `${result.file}: ${result.faces.length} face(s)` });
    img.src = drawn || URL.createObjectURL(item.file);
    const overlay = el("div", { class: "overlay" });
    stage.append(img, overlay);
    if (!drawn) drawBoxes(overlay, result, true);
    figure.dataset.faces = String(result.faces.length);
    const text = result.faces.length === 0 ? "no face found"
      : `${result.faces.length} face${result.faces.length === 1 ? "" : "s"}`;
    caption.lastChild.replaceWith(el("div", { class: "summary", text: `${result.width}×${result.height}, ${text}` }));
    const list = el("ol", { class: "faces" });
    result.faces.forEach((face) => {
      list.append(el("li", {}, el("strong", { text: `${face.label} ${percent(face.probabilities[face.label])}` }),
        ...probabilityBar(face)));
    });
    if (result.faces.length) figure.append(list);
  }

  function renderPhotoTable() {
    const done = state.photos.filter(Boolean);
    const labels = state.labels;
    const faces = done.reduce((n, r) => n + r.faces.length, 0);
    const failed = done.filter((r) => r.error).length;
    $("photo-summary").textContent = `${done.length} of ${state.photos.length} photos analysed, ${faces} faces` +
      (failed ? `, ${failed} failed` : "");
    $("download-json").disabled = $("download-csv").disabled = done.length === 0;
    const table = $("faces-table");
    table.tHead.replaceChildren(el("tr", {}, ...["file", "face", "label", "confidence", ...labels].map((t) => el("th", { scope: "col", text: t }))));
    const rows = [];
    for (const r of done) {
      if (r.error || !r.faces.length) {
        rows.push(el("tr", {}, el("td", { text: r.file }), el("td", { colspan: String(3 + labels.length), text: r.error || "no face" })));
        continue;
      }
      r.faces.forEach((f, i) => rows.push(el("tr", {}, el("td", { text: r.file }), el("td", { class: "num", text: String(i + 1) }),
        el("td", { text: f.label }), el("td", { class: "num", text: percent(f.probabilities[f.label]) }),
        ...labels.map((k) => el("td", { class: "num", text: (f.probabilities[k] || 0).toFixed(3) })))));
    }
    table.tBodies[0].replaceChildren(...rows);
    $("faces-wrap").hidden = done.length === 0;
  }

  // The CSV of `ferkit analyze --format csv` (ferkit.results.FACES_CSV): Python's float
  // formatting and csv quoting, so the file is the server's byte for byte.
  function pyFloat(v) {
    if (v === null || v === undefined) return "";
    if (Number.isInteger(v)) return v.toFixed(1);
    if (Math.abs(v) < 1e-4) {
      const [mantissa, exponent] = v.toExponential().split("e");
      const sign = exponent[0] === "-" ? "-" : "+";
      return `${mantissa}e${sign}${exponent.replace(/^[+-]/, "").padStart(2, "0")}`;
    }
    return String(v);
  }

  function csvField(value) {
    const s = value === null || value === undefined ? "" : String(value);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }

  function facesCsv(results, labels) {
    const lines = [["file", "face", "x", "y", "w", "h", "score", "label", ...labels.map((k) => `p_${k}`), "error"]];
    for (const r of results) {
      if (!r.faces.length) {
        lines.push([r.file, "", "", "", "", "", "", "", ...labels.map(() => ""), r.error || ""]);
        continue;
      }
      r.faces.forEach((f, i) => lines.push([r.file, String(i), ...f.box.map(pyFloat), pyFloat(f.score), f.label,
        ...labels.map((k) => pyFloat(f.probabilities[k] || 0)), r.error || ""]));
    }
    return lines.map((row) => row.map(csvField).join(",") + "\r\n").join("");
  }

  function setupPhotos() {
    setupDrop($("photo-drop"), $("photo-input"), addPhotos);
    $("download-json").addEventListener("click", () =>
      download("ferkit-results.json", JSON.stringify(state.photos.filter(Boolean), null, 1) + "\n", "application/json"));
    $("download-csv").addEventListener("click", () =>
      download("ferkit-results.csv", facesCsv(state.photos.filter(Boolean), state.labels), "text/csv"));
    $("clear-photos").addEventListener("click", () => {
      state.photos = [];
      state.photoQueue = [];
      $("photo-results").replaceChildren();
      $("clear-photos").disabled = true;
      renderPhotoTable();
      $("photo-summary").textContent = "";
    });
  }

  // --- video -------------------------------------------------------------------------------------

  function setupVideo() {
    setupDrop($("video-drop"), $("video-input"), (files) => uploadVideo(files[0]));
    $("video-cancel").addEventListener("click", cancelVideo);
  }

  function resetVideo() {
    clearTimeout(state.poll);
    state.job = null;
    state.xhr = null;
    $("video-results").hidden = true;
    $("annotated").removeAttribute("src");
    $("charts").replaceChildren();
  }

  function uploadVideo(file) {
    if (state.xhr || (state.job && !["done", "failed", "cancelled"].includes(state.job.state))) {
      showMessage("A video is already being analysed: cancel it first.", "info");
      return;
    }
    resetVideo();
    const query = new URLSearchParams({ name: file.name });
    const fps = $("video-fps").value;
    if (fps) query.set("fps", fps);
    $("video-progress").hidden = false;
    $("upload-bar").value = 0;
    $("analysis-bar").value = 0;
    $("upload-text").textContent = `uploading ${file.name}…`;
    $("analysis-text").textContent = "";
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    xhr.open("POST", `/v1/videos?${query}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        $("upload-bar").value = event.loaded / event.total;
        $("upload-text").textContent = `${(event.loaded / 1e6).toFixed(1)} of ${(event.total / 1e6).toFixed(1)} MB`;
      }
    });
    xhr.addEventListener("load", () => {
      state.xhr = null;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status !== 202) {
        $("video-progress").hidden = true;
        showMessage(`${file.name}: ${errorMessage(xhr.status, body)}`);
        return;
      }
      $("upload-bar").value = 1;
      $("upload-text").textContent = "uploaded";
      state.job = body;
      showJob(body);
      state.poll = setTimeout(pollJob, 400);
    });
    xhr.addEventListener("error", () => {
      state.xhr = null;
      $("video-progress").hidden = true;
      showMessage(`${file.name}: the upload failed (connection lost, or the file exceeds the server's limit)`);
    });
    xhr.addEventListener("abort", () => { state.xhr = null; $("video-progress").hidden = true; });
    xhr.send(file);
  }

  async function pollJob() {
    if (!state.job) return;
    try {
      const job = await api(`/v1/videos/${state.job.id}`);
      state.job = job;
      showJob(job);
      if (["done", "failed", "cancelled"].includes(job.state)) {
        finishJob(job);
        return;
      }
    } catch (e) {
      if (e.status === 404) { showMessage("The video job is gone (deleted or expired)."); return; }
      showMessage(`Checking the video job failed: ${e.message}; retrying`, "info");
    }
    state.poll = setTimeout(pollJob, 500);
  }

  function showJob(job) {
    const p = job.progress;
    if (p.fraction !== null && p.fraction !== undefined) $("analysis-bar").value = p.fraction;
    else $("analysis-bar").removeAttribute("value");
    const parts = [job.state === "finishing" ? "writing the results and charts…" : job.state];
    if (p.frames) parts.push(`frame ${p.frames}${p.total ? ` of ${p.total}` : ""}`);
    if (p.fps) parts.push(`${p.fps.toFixed(1)} frames/s`);
    if (p.eta !== null && p.eta !== undefined) parts.push(`about ${Math.ceil(p.eta)} s left`);
    $("analysis-text").textContent = parts.join(" · ");
  }

  async function cancelVideo() {
    if (state.xhr) { state.xhr.abort(); return; }
    if (!state.job) return;
    const id = state.job.id;
    resetVideo();
    $("video-progress").hidden = true;
    try {
      await api(`/v1/videos/${id}`, { method: "DELETE" });
      showMessage("The video job was cancelled and its files deleted.", "info");
    } catch (e) {
      showMessage(`Cancelling failed: ${e.message}`);
    }
  }

  function finishJob(job) {
    $("video-progress").hidden = true;
    if (job.state === "cancelled") return;
    if (job.error) showMessage(`${job.name}: ${job.error}`);
    const result = job.result;
    if (!result) return;
    const files = Object.fromEntries(job.files.map((f) => [f.name, f.url]));
    const tracks = result.tracks;
    $("video-summary").textContent = `${job.name}: ${result.frames_analysed} of ${result.frames_decoded} frames analysed; ` +
      `${tracks.length} ${tracks.length === 1 ? "person" : "people"} followed` +
      (result.short_tracks ? ` (${result.short_tracks} brief appearance${result.short_tracks === 1 ? "" : "s"} left out)` : "") + ".";
    renderTracks(result);
    const charts = $("charts");
    charts.replaceChildren();
    for (const summary of tracks) {
      const url = files[`timeline_${summary.track}.png`];
      if (url) charts.append(el("figure", {}, el("img", { src: url, alt: `Expression timeline of person #${summary.track}`, loading: "lazy" }),
        el("figcaption", { text: `Person #${summary.track}` })));
    }
    if (files["overview.png"]) charts.append(el("figure", {}, el("img", { src: files["overview.png"], alt: "Overview: each person's expression over the whole video" }),
      el("figcaption", { text: "Overview" })));
    if (!charts.children.length) charts.append(el("p", { class: "summary", text: "No chart: no person was followed long enough." }));
    const video = $("annotated");
    if (files["annotated.mp4"]) video.src = files["annotated.mp4"];
    video.hidden = !files["annotated.mp4"];
    const links = $("video-downloads");
    links.replaceChildren("Download: ");
    for (const name of ["frames.csv", "tracks.csv", "tracks.json", "annotated.mp4"]) {
      if (files[name]) links.append(el("a", { href: files[name], download: name, text: name }));
    }
    $("video-results").hidden = false;
  }

  function renderTracks(result) {
    const table = $("tracks-table");
    const labels = result.labels;
    table.tHead.replaceChildren(el("tr", {}, ...["person", "from", "to", "frames", "dominant", "share of time", "statistics"]
      .map((t) => el("th", { scope: "col", text: t }))));
    const rows = result.tracks.map((t) => {
      const stats = el("table", {}, el("thead", {}, el("tr", {}, ...["class", "mean", "std", "min", "max", "share"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...labels.map((k) => el("tr", {}, el("th", { scope: "row", text: k }),
          ...["mean", "std", "min", "max", "share"].map((s) => el("td", { class: "num", text: t[s][k].toFixed(3) }))))));
      return el("tr", { "data-track": String(t.track) },
        el("td", { text: `#${t.track}` }), el("td", { class: "num", text: seconds(t.start_time) }),
        el("td", { class: "num", text: seconds(t.end_time) }), el("td", { class: "num", text: String(t.frames) }),
        el("td", { class: "dominant", text: t.dominant }), el("td", { class: "num", text: percent(t.share[t.dominant]) }),
        el("td", {}, el("details", {}, el("summary", { text: "mean, std, min, max" }), stats)));
    });
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "7", text: "No person was followed long enough to summarise." })));
    table.tBodies[0].replaceChildren(...rows);
  }

  // --- webcam ------------------------------------------------------------------------------------

  function setupWebcam() {
    $("webcam-start").addEventListener("click", startWebcam);
    $("webcam-stop").addEventListener("click", stopWebcam);
  }

  async function startWebcam() {
    if (state.cam) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMessage("This browser gives no camera to this page (the page must be opened as http://localhost or over https).");
      return;
    }
    let media;
    try {
      media = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (e) {
      showMessage(e.name === "NotAllowedError" ? "The camera was not allowed: allow it in the browser and try again."
        : `No camera could be opened (${e.name}).`);
      return;
    }
    const video = $("webcam-video");
    video.srcObject = media;
    await video.play().catch(() => {});
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/v1/stream`);
    socket.binaryType = "arraybuffer";
    const cam = { media, socket, canvas: document.createElement("canvas"), waiting: false, sent: 0, results: 0,
      dropped: 0, started: performance.now(), lastMs: 0, rate: 0, lastAt: 0, running: true };
    state.cam = cam;
    $("webcam-start").disabled = true;
    $("webcam-stop").disabled = false;
    $("webcam-stats").textContent = "connecting…";
    socket.addEventListener("message", (event) => onStreamMessage(cam, JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      if (cam.running) {
        const why = { 1008: "the server refused the stream (token or origin)", 1013: "the server has too many streams open; try again later" }[event.code];
        showMessage(`The stream ended: ${why || `connection closed (${event.code})`}.`);
        stopWebcam();
      }
    });
  }

  function sendFrame(cam) {
    if (!cam.running || cam.waiting || cam.socket.readyState !== WebSocket.OPEN) return;
    const video = $("webcam-video");
    if (!video.videoWidth) { requestAnimationFrame(() => sendFrame(cam)); return; }
    const scale = Math.min(1, 640 / video.videoWidth);
    cam.canvas.width = Math.round(video.videoWidth * scale);
    cam.canvas.height = Math.round(video.videoHeight * scale);
    cam.canvas.getContext("2d").drawImage(video, 0, 0, cam.canvas.width, cam.canvas.height);
    cam.waiting = true;
    cam.canvas.toBlob((blob) => {
      if (!cam.running || !blob) { cam.waiting = false; return; }
      cam.socket.send(blob);
      cam.sent += 1;
    }, "image/jpeg", 0.8);
  }

  function onStreamMessage(cam, message) {
    if (message.type === "ready") { sendFrame(cam); return; }
    cam.waiting = false;
    if (message.dropped) cam.dropped += message.dropped;
    if (message.type === "result") {
      const now = performance.now();
      if (cam.lastAt) cam.rate = cam.rate ? 0.8 * cam.rate + 0.2 * (1000 / (now - cam.lastAt)) : 1000 / (now - cam.lastAt);
      cam.lastAt = now;
      cam.results += 1;
      cam.lastMs = message.ms;
      const result = message.result;
      drawBoxes($("webcam-overlay"), result, false);
      $("webcam-stage").dataset.faces = String(result.faces.length);
      renderWebcamTable(result);
      $("webcam-stats").textContent = `${cam.rate.toFixed(1)} frames/s analysed · ${cam.lastMs} ms per frame on the server · ` +
        `${result.faces.length} face${result.faces.length === 1 ? "" : "s"}` + (cam.dropped ? ` · ${cam.dropped} frames skipped` : "");
      requestAnimationFrame(() => sendFrame(cam));
    } else if (message.type === "busy") {
      setTimeout(() => sendFrame(cam), 200);
    } else if (message.type === "error") {
      if (message.frame === undefined) showMessage(`Stream: ${message.error.message}`);
      setTimeout(() => sendFrame(cam), 100);
    }
  }

  function renderWebcamTable(result) {
    const table = $("webcam-table");
    const labels = state.labels.length ? state.labels : Object.keys((result.faces[0] || { probabilities: {} }).probabilities);
    table.tHead.replaceChildren(el("tr", {}, ...["person", "label", ...labels].map((t) => el("th", { scope: "col", text: t }))));
    table.tBodies[0].replaceChildren(...result.faces.map((f) => el("tr", {}, el("td", { text: `#${f.track}` }), el("td", { text: f.label }),
      ...labels.map((k) => el("td", { class: "num", text: (f.probabilities[k] || 0).toFixed(2) })))));
  }

  function stopWebcam() {
    const cam = state.cam;
    if (!cam) return;
    cam.running = false;
    state.cam = null;
    try { cam.socket.close(); } catch (e) { /* already closed */ }
    for (const track of cam.media.getTracks()) track.stop();
    $("webcam-video").srcObject = null;
    $("webcam-overlay").replaceChildren();
    $("webcam-start").disabled = false;
    $("webcam-stop").disabled = true;
    $("webcam-stats").textContent = `stopped after ${cam.results} analysed frames`;
  }

  // --- start ---------------------------------------------------------------------------------------

  window.ferkit = { facesCsv, pyFloat };   // for tests and the console
  setupTabs();
  setupPhotos();
  setupVideo();
  setupWebcam();
  checkServer();
})();
