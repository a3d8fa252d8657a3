/* The API reference, rendered from the app's OpenAPI document (no CDN, no inline script). */
"use strict";

(async () => {
  const main = document.getElementById("reference");
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  let spec;
  try {
    const response = await fetch("/openapi.json", { credentials: "same-origin" });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    spec = await response.json();
  } catch (e) {
    main.replaceChildren(el("p", `The API description could not be loaded: ${e.message}`, "message"));
    return;
  }
  main.replaceChildren(el("p", `${spec.info.title} ${spec.info.version}: ${spec.info.summary || ""}`, "summary"));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const section = el("section");
      section.append(el("h2", `${method.toUpperCase()} ${path}`));
      if (op.summary) section.append(el("p", op.summary));
      if (op.description) section.append(el("p", op.description, "summary"));
      const params = op.parameters || [];
      if (params.length) {
        const wrap = el("div", undefined, "table-wrap");
        const table = el("table");
        const head = el("tr");
        for (const h of ["parameter", "in", "type", "default", "description"]) head.append(el("th", h));
        table.append(head);
        for (const p of params) {
          const schema = p.schema || {};
          const types = schema.anyOf ? schema.anyOf.map((s) => s.type || (s.enum || []).join("|")).join(" or ")
            : (schema.enum ? schema.enum.join(" | ") : schema.type || "");
          const row = el("tr");
          for (const v of [p.name, p.in, types, schema.default === undefined ? "" : JSON.stringify(schema.default), p.description || ""]) row.append(el("td", String(v)));
          table.append(row);
        }
        wrap.append(table);
        section.append(wrap);
      }
      const codes = Object.keys(op.responses || {});
      if (codes.length) section.append(el("p", `Answers: ${codes.join(", ")}; errors as {"error": {"status", "code", "message"}}.`, "summary"));
      main.append(section);
    }
  }
  const ws = el("section");
  ws.append(el("h2", "WebSocket /v1/stream"));
  ws.append(el("p", "Send frames as binary messages (JPEG, PNG or WebP); each analysed frame comes back as JSON " +
    "{type: \"result\", result: <a ferkit analyze object with frame, time and each face's track>, dropped, ms}. " +
    "Frames sent while one is analysed replace each other. Query: model, detector, smoothing (ema[:alpha], window[:n], none), max_gap."));
  main.append(ws);
})();
