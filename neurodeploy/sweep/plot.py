"""`--plot`: the Pareto front of energy against fidelity per target, in a self-contained HTML report.

Fidelity is the decision agreement with the float reference (the spike agreement of the output layer
when no sample has a clear decision); energy is the point estimate per inference. A point is on the
front when no other point of its target has at least its fidelity at no more energy, one of the two
strictly better.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import safeio
from ..report import html
from ..report.figures import _png

SHOWN = ("status", "exit_code", "decision_agreement", "spike_agreement", "accuracy", "energy_point_j",
         "utilization", "wall_s")


def fidelity(row: dict) -> float | None:
    return row["decision_agreement"] if row.get("decision_agreement") is not None else row.get("spike_agreement")


def front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (fidelity, energy) pairs, by rising energy."""
    order = sorted(range(len(points)), key=lambda i: (points[i][1], -points[i][0]))
    best, keep = -np.inf, []
    for i in order:
        if points[i][0] > best:
            keep.append(i)
            best = points[i][0]
    return keep


def figure(rows: list[dict]) -> bytes | None:
    by_target: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        f = fidelity(r)
        if r.get("status") == "ok" and f is not None and r.get("energy_point_j"):
            by_target.setdefault(r["target"], []).append((f, r["energy_point_j"]))
    if not by_target:
        return None
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for i, (target, pts) in enumerate(sorted(by_target.items())):
        color = f"C{i}"
        f, e = np.array(pts).T
        ax.scatter(f, e, color=color, alpha=0.4, s=18)
        idx = front(pts)
        ax.step(f[idx], e[idx], where="post", color=color, label=f"{target} (front: {len(idx)} of {len(pts)})")
        ax.scatter(f[idx], e[idx], color=color, s=36)
    ax.set_yscale("log")
    ax.set_xlabel("fidelity (decision agreement with the float reference)")
    ax.set_ylabel("energy per inference [J]")
    ax.set_title("Energy against fidelity, Pareto front per target")
    ax.legend(fontsize="small")
    return _png(fig)


def report(path: Path, rows: list[dict], params: list[str], title: str) -> Path:
    cols = params + list(SHOWN)
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    failed = "".join(f'<p class="warn">{escape(r["key"][:12])}: {escape(str(r["error"]))}</p>'
                     for r in rows if r.get("status") != "ok")
    text = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{html.STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f"{html._img(figure(rows), 'Pareto front of energy against fidelity per target')}"
            f"<table><tr>{head}</tr>{body}</table>{failed}</body></html>\n")
    return safeio.write_file(path, text.encode())


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else "" if v is None else str(v)
