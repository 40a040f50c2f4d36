"""One sweep point on a worker: compile -> validate -> energy, as one table row.

Runs anywhere a worker runs (another machine included): it gets the model and arrays as values,
not paths, and writes only into its own temporary directory. A point that fails returns its error
and exit code (the CLI's codes: `neurodeploy.errors`) in the row instead of raising, so one bad
point never stops a sweep.
"""
from __future__ import annotations

import json
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from ..errors import NeuroDeployError, TargetError, UsageError

RESULTS = {  # column -> Arrow type name, after the parameter columns
    "key": "string", "seed": "int64", "status": "string", "exit_code": "int64", "error": "string",
    "engine": "string", "steps": "int64", "batch": "int64",
    "spike_agreement": "float64", "decision_agreement": "float64", "decision_agreement_quantized": "float64",
    "accuracy": "float64", "accuracy_reference": "float64", "device_agreement": "float64",
    "energy_low_j": "float64", "energy_point_j": "float64", "energy_high_j": "float64",
    "utilization": "float64", "resources": "string", "wall_s": "float64",
}
SEM_PREFIX, OPT_PREFIX = "semantics.", "O."


def evaluate(model: bytes, x: np.ndarray, labels, params: dict, seed: int, run: dict) -> dict:
    """The row of one point: its results, or its error and exit code."""
    row = dict.fromkeys(RESULTS)
    start = time.perf_counter()
    try:
        row.update(_measure(model, x, labels, params, seed, run))
        row.update(status="ok", exit_code=0)
    except NeuroDeployError as e:
        row.update(status="error", exit_code=e.exit_code, error=f"{type(e).__name__}: {e}")
    except Exception as e:  # a bug in some backend: recorded like the CLI's "internal error" (exit 1)
        row.update(status="error", exit_code=1,
                   error=f"internal error: {type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}")
    row["wall_s"] = time.perf_counter() - start
    return row


def _measure(model: bytes, x, labels, params: dict, seed: int, run: dict) -> dict:
    import multiprocessing

    from .. import backend as bk
    from .. import ir
    from ..energy import estimate
    from ..fidelity import validate

    if multiprocessing.current_process().daemon:
        raise TargetError("this Dask worker is a daemon process, which cannot fork the model reader's probe",
                          hint="start workers with DASK_DISTRIBUTED__WORKER__DAEMON=False")
    semantics = {k[len(SEM_PREFIX):]: v for k, v in params.items() if k.startswith(SEM_PREFIX)}
    options = {**run.get("options", {}), **{k[len(OPT_PREFIX):]: v for k, v in params.items() if k.startswith(OPT_PREFIX)}}
    steps = run.get("steps") or int(np.shape(x)[0])
    options.update(steps=str(steps), seed=str(seed))
    with tempfile.TemporaryDirectory(prefix="nd-sweep-") as tmp:
        (Path(tmp) / "model.nir").write_bytes(model)
        graph = ir.load(Path(tmp) / "model.nir", overrides=semantics)
        plan = bk.plan(graph, params["target"], options)
        artifact = bk.compile(graph, params["target"], Path(tmp) / "artifact", options=options)
        eng = bk.get(artifact.backend).engine(run.get("engine"))
        device = {"seed": seed, "drift_time": params.get("drift_time"), "samples": run.get("samples")}
        eopts = {k: v for k, v in device.items() if v is not None and k in getattr(eng, "options", ())}
        if params.get("drift_time") and "drift_time" not in eopts:  # 0: no drift, true of every device
            raise UsageError(f"engine {eng.name!r} of target {params['target']} takes no drift_time")
        rep = validate(artifact.path, x, labels=labels, engine=run.get("engine"), steps=steps,
                       engine_options=eopts or None)
        result = bk.run(artifact.path, x, steps=steps, engine=run.get("engine"), engine_options=eopts or None)
        energy = estimate(result, artifact.target)
    per = energy.per_inference or energy.total
    out = next((lay for lay in rep.against_float.layers if lay.name == rep.output), None)
    mc = result.extra.get("monte_carlo") or {}
    used = [r for r in plan.rules if r.available]
    return {
        "engine": rep.engine, "steps": rep.steps, "batch": rep.batch,
        "spike_agreement": out.agreement if out else None,
        "decision_agreement": rep.against_float.decision_agreement,
        "decision_agreement_quantized": rep.against_quantized.decision_agreement if rep.against_quantized else None,
        "accuracy": rep.against_float.accuracy_target, "accuracy_reference": rep.against_float.accuracy_reference,
        "device_agreement": (mc.get("spike_agreement") or {}).get("mean"),
        "energy_low_j": per.low, "energy_point_j": per.point, "energy_high_j": per.high,
        "utilization": max((r.needed / r.available for r in used), default=None),
        "resources": json.dumps({"rules": {r.name: [r.needed, r.available] for r in plan.rules},
                                 "units_used": result.extra.get("units_used", {})}, sort_keys=True, default=float),
    }
