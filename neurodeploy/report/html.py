"""Self-contained HTML for people: no external asset, figures embedded as base64 PNG, so the file
opens in a browser with no network."""
from __future__ import annotations

import base64
from html import escape

from ..energy.model import EnergyReport
from . import figures, tables

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left;vertical-align:top}th{background:#eef}.warn{color:#a40}
.assume{background:#f6f6f0;padding:.5em 1em;border-left:4px solid #996}img{max-width:100%}"""


def _table(sec: tables.Section) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in sec.header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in sec.rows)
    note = f"<p><em>{escape(sec.note)}</em></p>" if sec.note else ""
    table = f"<table><tr>{head}</tr>{body}</table>" if sec.rows else ""
    return f"<h3>{escape(sec.title)}</h3>{table}{note}"


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode()
    return f'<figure><img class="figure" alt="{escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _one(rep: EnergyReport, level: int = 1) -> str:
    assume = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in rep.assumptions.items())
    warn = "".join(f'<p class="warn">warning: {escape(w)}</p>' for w in rep.warnings)
    secs = {s.title: _table(s) for s in tables.sections(rep)}
    figs = [_img(figures.breakdown(rep), "energy breakdown by event type"),
            _img(figures.layers(rep), "per-layer activity"),
            _img(figures.units(rep), "per-unit utilization heatmap")]
    return (f"<h{level}>Energy estimate: {escape(rep.target)}</h{level}><p>{escape(rep.description)}</p>"
            f'<div class="assume"><h3>Assumptions</h3><ul>{assume}</ul></div>{warn}'
            + "".join(secs.values()) + "".join(figs))


def render(report) -> str:
    if isinstance(report, EnergyReport):
        title, body = f"Energy estimate: {report.target}", _one(report)
    else:
        title = "Energy across targets"
        body = (f"<h1>{title}</h1>" + _table(tables.comparison(report))
                + _img(figures.targets(report), "energy per inference by target")
                + "".join(_one(r, 2) for _, r in report if not isinstance(r, str)))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")
