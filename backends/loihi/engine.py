"""The Lava engine: runs artifacts in Lava itself, in the Python 3.10 environment `.venv-lava`.

Lava 0.10 needs Python 3.10 and numpy < 2 while neurodeploy needs 3.11, so the runner
(`lava_runner.py`) is a separate process that sees only the artifact directory and an input .npy.
Several artifacts can share one runner process (`run_many`): Lava's start-up dominates small runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from neurodeploy.errors import LinkError, TargetError

RUNNER = Path(__file__).with_name("lava_runner.py")
REPO = Path(__file__).resolve().parents[2]


def lava_python() -> Path:
    """The Lava environment's interpreter: $NEURODEPLOY_LAVA_PYTHON or <repo>/.venv-lava."""
    path = Path(os.environ.get("NEURODEPLOY_LAVA_PYTHON", REPO / ".venv-lava" / "bin" / "python"))
    if not path.is_file():
        raise TargetError(f"the Lava environment is missing ({path})",
                          hint="run `make lava-env` (needs python3.10), or use --engine sim")
    return path


def run_many(jobs: list[dict], timeout_s: float | None = None) -> list[dict[str, np.ndarray]]:
    """Run jobs ``{"artifact": dir, "inputs": (T, B, n_in) int array, "steps": T, "record": [pop]}``
    in one Lava process; returns per job {"<pop>.spikes" | "<pop>.v": (T, B, n)}."""
    python = lava_python()
    with tempfile.TemporaryDirectory(prefix="nd-lava-") as tmp:
        spec = []
        for i, job in enumerate(jobs):
            x = os.path.join(tmp, f"in{i}.npy")
            np.save(x, np.ascontiguousarray(job["inputs"], dtype=np.int64))
            spec.append(dict(artifact=str(job["artifact"]), inputs=x, out=os.path.join(tmp, f"out{i}.npz"),
                             steps=int(job["steps"]), record=list(job["record"])))
        jobs_file = os.path.join(tmp, "jobs.json")
        Path(jobs_file).write_text(json.dumps(spec))
        try:
            proc = subprocess.run([str(python), str(RUNNER), jobs_file], capture_output=True, text=True,
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise LinkError(f"the Lava runner did not finish within {timeout_s} s") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise LinkError(f"the Lava runner failed (exit {proc.returncode}):\n{tail}")
        results = []
        for s in spec:
            with np.load(s["out"], allow_pickle=False) as z:
                results.append({k: z[k] for k in z.files})
    return results
