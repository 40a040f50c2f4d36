"""Report figures as PNG bytes, drawn with matplotlib's object API (no pyplot state, no display)."""
from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure

from ..energy.model import EnergyReport


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def _bars_with_range(labels, point, low, high, title, xlabel) -> bytes:
    fig = Figure(figsize=(7, 0.45 * len(labels) + 1.4))
    ax = fig.subplots()
    point, low, high = (np.asarray(a, float) for a in (point, low, high))
    y = np.arange(len(labels))
    ax.barh(y, point, color="#4477aa")
    ax.errorbar(point, y, xerr=[point - low, high - point], fmt="none", ecolor="black", capsize=4)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    if np.all(low > 0):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _png(fig)


def breakdown(rep: EnergyReport) -> bytes | None:
    """Energy per event type (and static part) with the low–high range as error bars."""
    lines = [l for l in list(rep.by_event.values()) + list(rep.static_lines.values()) if l.energy.high > 0]
    if not lines:
        return None
    return _bars_with_range([l.name for l in lines], [l.energy.point for l in lines],
                            [l.energy.low for l in lines], [l.energy.high for l in lines],
                            f"{rep.target}: energy by event type (bars: point, whiskers: low–high)",
                            "energy over the run [J]")


def layers(rep: EnergyReport) -> bytes | None:
    """Counted events per layer and event type (log scale): where the activity is."""
    counts = rep.layer_counters
    if not counts and rep.neurobench and rep.neurobench.get("SynapticOperations"):
        counts = {k: {"effective synaptic ops": v["effective_acs"] + v["effective_macs"], "dense synaptic ops": v["dense"]}
                  for k, v in rep.neurobench["SynapticOperations"]["per_layer"].items()}
    if not counts:
        return None
    names = list(counts)
    kinds = sorted({k for c in counts.values() for k in c})
    fig = Figure(figsize=(max(6, 1.2 * len(names) + 2), 4))
    ax = fig.subplots()
    width = 0.8 / len(kinds)
    x = np.arange(len(names))
    for i, kind in enumerate(kinds):
        ax.bar(x + i * width, [counts[n].get(kind, 0) for n in names], width, label=kind)
    ax.set_xticks(x + 0.4 - width / 2, names, rotation=30, ha="right")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylabel("events over the run")
    ax.set_title(f"{rep.target}: per-layer activity")
    ax.legend(fontsize="small")
    return _png(fig)


def units(rep: EnergyReport) -> bytes | None:
    """Heatmap of dynamic energy per core/PE/tile: at the unit's (x, y) when the result gives one
    (Result.extra['unit_xy']), else in a near-square grid in reporting order."""
    if not rep.per_unit:
        return None
    names = list(rep.per_unit)
    if rep.unit_xy and all(n in rep.unit_xy for n in names):
        xy = [tuple(rep.unit_xy[n]) for n in names]
    else:
        cols = math.ceil(math.sqrt(len(names)))
        xy = [(i % cols, i // cols) for i in range(len(names))]
    grid = np.full((max(y for _, y in xy) + 1, max(x for x, _ in xy) + 1), np.nan)
    for n, (x, y) in zip(names, xy):
        grid[y, x] = rep.per_unit[n].point
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    im = ax.imshow(grid, cmap="viridis", origin="lower")
    fig.colorbar(im, ax=ax, label="dynamic energy [J]")
    if len(names) <= 64:
        for n, (x, y) in zip(names, xy):
            ax.text(x, y, n, ha="center", va="center", fontsize=6, color="white")
    ax.set_xticks(range(grid.shape[1]))
    ax.set_yticks(range(grid.shape[0]))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"{rep.target}: per-unit utilization (dynamic energy)")
    return _png(fig)


def targets(rows) -> bytes | None:
    """Energy per inference per target that fits, with low–high whiskers."""
    fit = [(n, r) for n, r in rows if not isinstance(r, str) and r.per_inference is not None]
    if not fit:
        return None
    return _bars_with_range([n for n, _ in fit], [r.per_inference.point for _, r in fit],
                            [r.per_inference.low for _, r in fit], [r.per_inference.high for _, r in fit],
                            "energy per inference by target", "J per inference")
