"""The Lava engine (``--engine lava``): runs artifacts in Lava itself, in the Python 3.10 environment
`.venv-lava`, through the shared external-process runner (`neurodeploy.runner`).

Lava 0.10 needs Python 3.10 and numpy < 2 while neurodeploy needs 3.11, so the runner
(`lava_runner.py`) is a separate process that sees only the artifact directory and an input .npy.
Several artifacts can share one runner process (`run_lava`): Lava's start-up dominates small runs.

Import boundary: reads the artifact through layout.py only; imports no compiler module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from neurodeploy.artifact import Artifact
from neurodeploy.errors import TargetError
from neurodeploy.result import Result
from neurodeploy.runner import interpreter, run_jobs

from .layout import padded, prepare_inputs, read, record_names

ROLE = "simulate"
RUNNER = Path(__file__).with_name("lava_runner.py")
REPO = Path(__file__).resolve().parents[2]


def lava_python() -> Path:
    """The Lava environment's interpreter: $NEURODEPLOY_LAVA_PYTHON or <repo>/.venv-lava."""
    return interpreter(REPO / ".venv-lava" / "bin" / "python", env_var="NEURODEPLOY_LAVA_PYTHON",
                       what="the Lava environment (python3.10 with lava-nc)",
                       install="run `make lava-env` (needs python3.10) or use --engine sim")


class LavaEngine:
    name = "lava"
    options: tuple[str, ...] = ()

    def run(self, artifact: Artifact, inputs, *, steps: int | None, record: list[str]) -> Result:
        return run_lava([(artifact, inputs, record)], steps=steps)[0]


def run_lava(runs: list[tuple[Artifact, object, list[str]]], *, steps: int | None = None,
             timeout_s: float | None = None) -> list[Result]:
    """Run several (artifact, inputs, record) triples in one Lava process."""
    jobs, shapes, step_times = [], [], []
    for art, inputs, record in runs:
        meta, _ = read(art.path)
        xs = prepare_inputs(meta, inputs)
        if len(xs) != 1:
            raise TargetError(f"the Lava runner drives exactly one graph input, this network has {len(xs)}",
                              where=str(art.path), hint="use --engine sim")
        x = padded(next(iter(xs.values())), steps)
        jobs.append({"artifact": str(art.path), "inputs": np.ascontiguousarray(x, dtype=np.int64),
                     "steps": int(x.shape[0]), "record": record_names(meta, record)})
        shapes.append({p["name"]: tuple(p["shape"]) for p in meta["populations"]})
        step_times.append(float(art.manifest["loihi"]["step_time_s"]))
    outs = run_jobs([lava_python(), RUNNER], jobs, name="Lava runner", timeout_s=timeout_s)
    results = []
    for job, shape, step_time, out in zip(jobs, shapes, step_times, outs):
        T, B = job["inputs"].shape[:2]
        res = Result(sim_time_s=T * step_time, counters={"ticks": T}, extra={"engine": "lava"})
        for k in job["record"]:
            res.spikes[k] = out[f"{k}.spikes"].reshape(T, B, *shape[k])
            res.v[k] = out[f"{k}.v"].reshape(T, B, *shape[k])
        results.append(res)
    return results


ENGINE = LavaEngine()
