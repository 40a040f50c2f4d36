"""Loihi engines side by side: the bit-accurate NumPy simulator vs Lava 0.10 (Loihi2SimCfg fixed_pt).

One artifact (1,000 inputs -> 1,000 LIF neurons, dense, 1,000 steps, 5 % input spike rate), run by
both engines in this one process run; checks identical spikes and voltages, reports wall times and
the speed-up. Lava's time includes its process start-up and compile; a 1-step Lava run is timed too
so the per-step ratio can be told apart. Usage: .venv/bin/python bench/bench_loihi.py [--steps N]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nir
import numpy as np

from neurodeploy import backend as bk
from neurodeploy.backends.loihi import run_lava
from neurodeploy.ir import normalize
from neurodeploy.semantics import Semantics


def network(n: int = 1000, dt: float = 1e-4) -> nir.NIRGraph:
    rng = np.random.default_rng(0)
    tau = 20 * dt
    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([n])), "fc": nir.Affine(weight=rng.normal(0.004, 0.02, (n, n)),
                                                                   bias=np.zeros(n)),
               "lif": nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n),
                              v_threshold=np.ones(n)),
               "output": nir.Output(np.array([n]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    graph = normalize(network(), Semantics(integrator="euler"))
    x = (np.random.default_rng(1).random((args.steps, 1000)) < 0.05).astype(np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        art = bk.compile(graph, "loihi2", Path(tmp) / "art")
        t = time.perf_counter()
        sim = bk.run(art.path, x, record=["lif"])
        t_sim = time.perf_counter() - t
        t = time.perf_counter()
        (lava,) = run_lava([(art, x, ["lif"])])
        t_lava = time.perf_counter() - t
        t = time.perf_counter()
        run_lava([(art, x[:1], ["lif"])])
        t_lava1 = time.perf_counter() - t
    same_s = np.array_equal(sim.spikes["lif"], lava.spikes["lif"])
    same_v = np.array_equal(sim.v["lif"], lava.v["lif"])
    print(f"network: 1000 -> 1000 dense LIF, {args.steps} steps, {int(sim.spikes['lif'].sum())} output spikes")
    print(f"identical spikes: {same_s}, identical voltages: {same_v}")
    print(f"sim  {t_sim:8.3f} s")
    print(f"lava {t_lava:8.3f} s (1-step run: {t_lava1:.3f} s start-up and compile)")
    print(f"speed-up: {t_lava / t_sim:.0f}x overall, {(t_lava - t_lava1) / t_sim:.0f}x excluding Lava start-up")
    if not (same_s and same_v):
        raise SystemExit("engines disagree")


if __name__ == "__main__":
    main()
