"""Helpers shared by the Loihi tests: the Lava environment rule and small random NIR networks.

Lava tests skip only where no Python 3.10 exists (Lava cannot be installed there), and never under
CI (conftest.unavailable); with Python 3.10 present, a missing .venv-lava is a failure that says how
to create it.
"""
from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import nir
import numpy as np
import pytest

from neurodeploy.ir import normalize
from neurodeploy.semantics import Semantics

from conftest import LAVA_PYTHON, unavailable



def _python310() -> str | None:
    cands = [shutil.which("python3.10"), "/usr/bin/python3.10", *glob.glob(str(Path.home() / ".pyenv/versions/3.10*/bin/python3.10"))]
    for c in cands:
        if c and Path(c).is_file() and subprocess.run([c, "-c", "import sys"], capture_output=True).returncode == 0:
            return c
    return None


def require_lava() -> Path:
    if LAVA_PYTHON.is_file():
        return LAVA_PYTHON
    if _python310() is None:
        unavailable("no python3.10 on this machine: lava-nc 0.10 needs Python 3.10, the Lava engine cannot be built")
    pytest.fail("python3.10 is available but .venv-lava is missing: run `make lava-env`")


def random_graph(rng: np.random.Generator, *, recurrent: bool, cuba: bool, n_in: int, sizes: list[int],
                 w_scale: float, bias: bool, w_max: float | None = None, dt: float = 1e-4) -> tuple:
    """Input -> [Affine -> LIF/CubaLIF/IF]* (-> optional recurrent Affine on the first layer) -> Output."""
    nodes = {"input": nir.Input(np.array([n_in]))}
    edges, prev, prev_n = [], "input", n_in
    clip = (lambda w: np.clip(w, -w_max, w_max)) if w_max else (lambda w: w)  # noqa: E731
    for k, n in enumerate(sizes):
        w = clip(rng.normal(0, w_scale, (n, prev_n)))
        b = rng.normal(0, w_scale / 4, n) if bias else np.zeros(n)
        nodes[f"fc{k}"] = nir.Affine(weight=w, bias=b)
        kind = ("cuba", "if", "lif")[k % 3] if cuba else ("lif", "if")[k % 2]
        th = np.full(n, 1.0)
        if kind == "cuba":
            tm, ts = rng.uniform(5, 20) * dt, rng.uniform(2, 6) * dt
            nodes[f"n{k}"] = nir.CubaLIF(tau_syn=np.full(n, ts), tau_mem=np.full(n, tm), r=np.full(n, tm / dt),
                                         v_leak=np.zeros(n), v_threshold=th, w_in=np.full(n, ts / dt))
        elif kind == "lif":
            tau = rng.uniform(3, 30) * dt
            nodes[f"n{k}"] = nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n), v_threshold=th)
        else:
            nodes[f"n{k}"] = nir.IF(r=np.full(n, 1 / dt), v_threshold=th)
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"n{k}")]
        if recurrent and k == 0:
            nodes["rec"] = nir.Affine(weight=clip(rng.normal(0, w_scale, (n, n))), bias=np.zeros(n))
            edges += [("n0", "rec"), ("rec", "n0")]
        prev, prev_n = f"n{k}", n
    nodes["output"] = nir.Output(np.array([prev_n]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges), [f"n{k}" for k in range(len(sizes))]


def build(nir_graph, **sem):
    return normalize(nir_graph, Semantics(**{"integrator": "euler", **sem}))
