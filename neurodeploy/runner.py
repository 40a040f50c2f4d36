"""The one runner for engines that live in another process (Lava, a Verilog simulator, a HIL host).

Such an engine cannot import neurodeploy (other Python, other language) and must see only the
artifact, so the exchange is files in a fresh temporary directory:

    jobs.json   a list of job dicts, as given, except that every NumPy array value is saved as
                ``<key><i>.npy`` and replaced by its path, and ``"out"`` is set to ``out<i>.npz``
    command + [jobs.json]   run once for all jobs (start-up often dominates small runs)
    out<i>.npz  what the engine wrote for job i, returned as {name: array}

A non-zero exit, a timeout or a missing output file raises `LinkError` with the tail of the
process's stderr; a missing interpreter or tool raises `TargetError` naming what to install
(`interpreter`). Nothing here knows about any one engine.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import LinkError, TargetError

TAIL_LINES = 15  # stderr lines quoted in a LinkError


def interpreter(default: str | Path, *, env_var: str, what: str, install: str) -> Path:
    """The executable at ``$env_var`` (if set) or `default`; a `TargetError` saying how to get it
    (`install`, e.g. "run `make lava-env`") when it is not there."""
    path = Path(os.environ.get(env_var) or default)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise TargetError(f"{what} is missing ({path})", hint=f"{install}, or point ${env_var} at one")
    return path


def run_jobs(command: Sequence[str | Path], jobs: list[dict], *, name: str, timeout_s: float | None = None,
             cwd: str | Path | None = None) -> list[dict[str, np.ndarray]]:
    """Run `command` once on a job file holding `jobs`; returns each job's output arrays."""
    with tempfile.TemporaryDirectory(prefix="nd-runner-") as tmp:
        spec = []
        for i, job in enumerate(jobs):
            entry = {}
            for key, val in job.items():
                if isinstance(val, np.ndarray):
                    path = os.path.join(tmp, f"{key}{i}.npy")
                    np.save(path, val, allow_pickle=False)
                    val = path
                entry[key] = str(val) if isinstance(val, Path) else val
            entry["out"] = os.path.join(tmp, f"out{i}.npz")
            spec.append(entry)
        jobs_file = os.path.join(tmp, "jobs.json")
        Path(jobs_file).write_text(json.dumps(spec))
        argv = [str(c) for c in command] + [jobs_file]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, cwd=cwd)
        except subprocess.TimeoutExpired as e:
            raise LinkError(f"the {name} did not finish within {timeout_s} s{_tail(e.stderr)}") from None
        except OSError as e:
            raise LinkError(f"the {name} could not be started ({argv[0]}): {e.strerror}") from None
        if proc.returncode != 0:
            raise LinkError(f"the {name} failed (exit {proc.returncode}){_tail(proc.stderr or proc.stdout)}")
        results = []
        for entry in spec:
            if not os.path.isfile(entry["out"]):
                raise LinkError(f"the {name} exited without writing {os.path.basename(entry['out'])}"
                                f"{_tail(proc.stderr)}")
            with np.load(entry["out"], allow_pickle=False) as z:
                results.append({k: z[k] for k in z.files})
    return results


def _tail(text) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = (text or "").strip().splitlines()[-TAIL_LINES:]
    return ":\n" + "\n".join(lines) if lines else ""
