"""Per-class HTML contact sheets of a dataset folder, to look through offline.

``sheets/index.html`` lists the classes with their counts; ``sheets/<label>.html``
shows every crop of a class as a thumbnail with its decision and reasons (kept
first, then review, then rejected), and pictures without a usable face in a
table. The pages load nothing from the network.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

from .manifest import DECISIONS, reasons_of

SHEETS = "sheets"
UNLABELLED = "_unlabelled"

_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
.grid{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;width:128px;font-size:11px;border:2px solid #ccc;padding:3px;border-radius:4px}
figure.keep{border-color:#3a3}figure.review{border-color:#e90}figure.reject{border-color:#c33}
figure img{width:120px;height:120px;image-rendering:auto;display:block}
figcaption{overflow-wrap:anywhere}.why{color:#a22}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
"""


def write_contact_sheets(folder: str | Path, rows: list[dict]) -> Path:
    """Write the sheets of ``rows`` (manifest rows) under ``folder/sheets``; returns the index."""
    from ferkit.writers import write_text_atomic

    out = Path(folder) / SHEETS
    out.mkdir(parents=True, exist_ok=True)
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row.get("label") or UNLABELLED, []).append(row)
    items = []
    for label in sorted(by_label):
        group = by_label[label]
        counts = Counter(r["decision"] for r in group)
        write_text_atomic(out / f"{_slug(label)}.html", _class_page(label, group))
        items.append(f'<tr><td><a href="{_slug(label)}.html">{html.escape(label)}</a></td>'
                     + "".join(f"<td>{counts.get(d, 0)}</td>" for d in DECISIONS) + "</tr>")
    index = (_page("contact sheets", "<h1>Contact sheets</h1><table><tr><th>class</th>"
                   + "".join(f"<th>{d}</th>" for d in DECISIONS) + "</tr>" + "".join(items) + "</table>"))
    write_text_atomic(out / "index.html", index)
    return out / "index.html"


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label) or UNLABELLED


def _class_page(label: str, rows: list[dict]) -> str:
    parts = [f'<p><a href="index.html">all classes</a></p><h1>{html.escape(label)}</h1>']
    for decision in DECISIONS:
        faces = [r for r in rows if r["decision"] == decision and r.get("file")]
        if faces:
            parts.append(f"<h2>{decision} ({len(faces)})</h2><div class=grid>")
            parts += [_figure(r) for r in faces]
            parts.append("</div>")
    faceless = [r for r in rows if not r.get("file")]
    if faceless:
        parts.append(f"<h2>pictures without a usable face ({len(faceless)})</h2><table>"
                     "<tr><th>picture</th><th>reasons</th></tr>")
        parts += [f"<tr><td>{html.escape(r['source'])}</td><td>{html.escape(r['reasons'])}</td></tr>"
                  for r in faceless]
        parts.append("</table>")
    return _page(label, "".join(parts))


def _figure(row: dict) -> str:
    why = "".join(f'<div class=why>{html.escape(r)}</div>' for r in reasons_of(row))
    model = (f"<div>model: {html.escape(row['model_label'])} {html.escape(row.get('model_confidence', ''))}</div>"
             if row.get("model_label") else "")
    return (f'<figure class="{row["decision"]}" title="{html.escape(row["source"])}">'
            f'<img loading=lazy src="../{html.escape(row["file"])}" alt="{html.escape(row["id"])}">'
            f'<figcaption><div>{html.escape(row["id"])}</div><div>{html.escape(Path(row["source"]).name)}</div>'
            f"{why}{model}</figcaption></figure>")


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>{body}</body></html>\n")
