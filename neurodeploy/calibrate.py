"""`compile --fidelity F --calibration X.npy`: the cheapest precision setting that reaches a fidelity target.

A backend that offers precision choices declares them (`Backend.precision_choices(graph, target)`:
``[(options, cost), ...]`` ordered cheapest first, with ``precision_cost_unit`` naming the cost).
The search compiles each setting into a scratch directory, runs it on the calibration input and
measures output-decision agreement with the float reference (`fidelity.validate`, the measure of
`neurodeploy validate`). The first setting that reaches F is compiled into the output directory,
and the whole search is recorded under ``manifest["calibration"]``. When none reaches F, compile
refuses with `ResourceExceeded` rule ``fidelity`` (exit 4): F needed, the best agreement reachable.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from . import artifact as art
from . import backend as bk
from . import fidelity
from .errors import ResourceExceeded, UsageError
from .ir.graph import Graph
from .sim.inputs import as_batched

RULE = "fidelity"


def choices(backend: bk.Backend, graph: Graph, target) -> list[tuple[dict, float]]:
    """The backend's precision settings, cheapest first; a clear error for a target without any."""
    declare = getattr(backend, "precision_choices", None)
    found = declare(graph, target) if declare else []
    if not found:
        raise UsageError(f"target {target.name} offers no precision choices to search",
                         hint="compile without --fidelity, then check the result with `neurodeploy validate`")
    return found


def _try(graph, target, options: dict, x: np.ndarray, where: Path) -> dict:
    """Compile one setting into `where` and measure it: agreement, or the design rule that refused it."""
    try:
        bk.compile(graph, target, where, options=options)
    except ResourceExceeded as e:
        return {"agreement": None, "refused": f"{e.rule}: needs {e.needed}, has {e.available}"}
    rep = fidelity.validate(where, x)
    if rep.against_float.decision_agreement is None:
        raise UsageError("the calibration input gives no sample a clear decision in the float reference",
                         hint="use inputs on which the model's output has one winning neuron")
    return {"agreement": rep.against_float.decision_agreement}


def search(graph: Graph, target, target_fidelity: float, calibration: np.ndarray,
           options: dict | None = None) -> dict:
    """Try the backend's settings cheapest first and stop at the first reaching `target_fidelity`;
    the record of the search (``chosen`` is None when nothing reached it)."""
    if not 0 < target_fidelity <= 1:
        raise UsageError(f"--fidelity {target_fidelity} is not in (0, 1]")
    t, backend = bk.resolve(target)
    settings = choices(backend, graph, t)
    options = dict(options or {})
    searched = sorted({k for opts, _ in settings for k in opts})
    given = sorted(set(searched) & set(options))
    if given:
        raise UsageError(f"--fidelity searches {', '.join(searched)}; -O {', '.join(given)} fixes it",
                         hint="give either --fidelity or the option")
    tried, chosen = [], None
    with tempfile.TemporaryDirectory(prefix="neurodeploy-calibrate-") as scratch:
        for i, (opts, cost) in enumerate(settings):
            row = {"options": {k: str(v) for k, v in opts.items()}, "cost": cost,
                   **_try(graph, t, {**options, **opts}, calibration, Path(scratch) / str(i))}
            tried.append(row)
            if row["agreement"] is not None and row["agreement"] >= target_fidelity:
                chosen = row
                break
    samples = as_batched(calibration, graph.out_shape[graph.inputs[0]], where="calibration input").shape[1]
    return {"target": target_fidelity, "samples": int(samples),
            "unit": getattr(backend, "precision_cost_unit", ""), "chosen": chosen, "tried": tried}


def best(record: dict) -> float:
    """The highest agreement any setting reached (0 when every setting was refused)."""
    return max((r["agreement"] for r in record["tried"] if r["agreement"] is not None), default=0.0)


def compile(graph: Graph, target, out_dir, target_fidelity: float, calibration: np.ndarray, *,
            options: dict | None = None, overwrite: bool = False) -> art.Artifact:
    """Compile with the cheapest setting reaching `target_fidelity` on `calibration`, or refuse
    (rule ``fidelity``: the target needed, the best agreement reachable)."""
    record = search(graph, target, target_fidelity, calibration, options)
    if record["chosen"] is None:
        t, _ = bk.resolve(target)
        raise ResourceExceeded(RULE, target_fidelity, best(record), where=t.name,
                               hint=f"best output-decision agreement over {len(record['tried'])} precision "
                                    "setting(s) on the calibration input; lower --fidelity or retrain")
    return bk.compile(graph, target, out_dir, options={**(options or {}), **record["chosen"]["options"]},
                      overwrite=overwrite, calibration=record)


def lines(record: dict) -> list[str]:
    """The search as the CLI prints it: one line per setting tried, then the choice."""
    unit = f" {record['unit']}" if record["unit"] else ""
    rows = [f"  {', '.join(f'{k}={v}' for k, v in r['options'].items())}: cost {r['cost']:g}{unit}, "
            + (f"agreement {r['agreement']:.4f}" if r["agreement"] is not None else f"refused ({r['refused']})")
            for r in record["tried"]]
    c = record["chosen"]
    return [f"precision search for fidelity {record['target']:g} on {record['samples']} calibration sample(s):",
            *rows, f"chose {', '.join(f'{k}={v}' for k, v in c['options'].items())} "
                   f"(cost {c['cost']:g}{unit}, agreement {c['agreement']:.4f})"]
