// ferkit data review: pick faces, keep / review / reject them or move them to another
// class; every change is saved to manifest.csv at once, "u" undoes the last one.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let rows = [];
  const selected = new Set();

  async function call(method, url, body) {
    const options = { method: method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || response.statusText);
    return data;
  }

  function status(text) { $("status").textContent = text; }

  function render() {
    const cls = $("class").value;
    const show = $("show").value;
    const grid = $("grid");
    grid.replaceChildren();
    for (const row of rows) {
      if ((row.label || "(no label)") !== cls) continue;
      if (show !== "all" && row.decision !== show) continue;
      const fig = document.createElement("figure");
      fig.className = row.decision + (selected.has(row.id) ? " selected" : "");
      const img = document.createElement("img");
      img.loading = "lazy";
      img.src = "../crops/" + encodeURIComponent(row.id);
      img.alt = row.id;
      const cap = document.createElement("figcaption");
      cap.textContent = row.source + (row.reasons ? " — " + row.reasons : "") + (row.reviewed ? " ✓" : "");
      fig.append(img, cap);
      fig.addEventListener("click", () => {
        if (selected.has(row.id)) selected.delete(row.id); else selected.add(row.id);
        render();
      });
      grid.appendChild(fig);
    }
  }

  function fillClasses(labels) {
    const counts = {};
    for (const row of rows) {
      const key = row.label || "(no label)";
      counts[key] = (counts[key] || 0) + 1;
    }
    const current = $("class").value;
    $("class").replaceChildren();
    for (const key of Object.keys(counts).sort()) {
      const option = new Option(key + " (" + counts[key] + ")", key);
      $("class").add(option);
    }
    if (current && counts[current]) $("class").value = current;
    $("move").replaceChildren(new Option("—", ""));
    for (const label of labels) $("move").add(new Option(label, label));
  }

  async function load() {
    const data = await call("GET", "../api/rows");
    rows = data.rows;
    fillClasses(data.labels);
    render();
  }

  async function apply(change) {
    if (!selected.size) { status("select faces first"); return; }
    try {
      for (const id of Array.from(selected)) await call("POST", "../api/rows/" + encodeURIComponent(id), change);
      status("saved " + selected.size + " change(s)");
      selected.clear();
      await load();
    } catch (e) {
      status("not saved: " + e.message);
    }
  }

  async function undo() {
    try {
      const undone = await call("POST", "../api/undo");
      status("undone: " + undone.id);
      await load();
    } catch (e) {
      status(e.message);
    }
  }

  $("class").addEventListener("change", () => { selected.clear(); render(); });
  $("show").addEventListener("change", render);
  $("keep").addEventListener("click", () => apply({ decision: "keep" }));
  $("review").addEventListener("click", () => apply({ decision: "review" }));
  $("reject").addEventListener("click", () => apply({ decision: "reject" }));
  $("undo").addEventListener("click", undo);
  $("move").addEventListener("change", () => {
    if ($("move").value) apply({ label: $("move").value });
    $("move").value = "";
  });
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "SELECT") return;
    const keys = { k: "keep", v: "review", r: "reject" };
    if (keys[e.key]) apply({ decision: keys[e.key] });
    else if (e.key === "u") undo();
  });
  load().catch((e) => status("cannot load the dataset: " + e.message));
})();
