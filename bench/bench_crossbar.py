"""Crossbar Monte Carlo: 100 device draws of a 1,000 x 1,000 layer over 100 steps, IR drop on.

Goal (issue #11): under 5 s on this machine. The floor is a plain NumPy matmul of the same work:
per draw, the 100 input vectors times a 1,000 x 1,000 float32 weight matrix (no device model, no
conversion, no neurons). Effects: programming noise, stuck-at faults, drift and read noise at 1 h,
DAC/ADC and the fast IR drop (all of them). Usage: .venv/bin/python bench/bench_crossbar.py
[--draws N] [--steps T] [--effects LIST]
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import nir
import numpy as np

from neurodeploy import backend as bk
from neurodeploy.ir import normalize


def network(n: int = 1000) -> nir.NIRGraph:
    rng = np.random.default_rng(0)
    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([n])),
               "fc": nir.Affine(weight=rng.normal(0.0, 0.05, (n, n)), bias=np.zeros(n)),
               "lif": nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, 0.1)),
               "output": nir.Output(np.array([n]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


def floor(x: np.ndarray, draws: int, n: int) -> float:
    w = np.random.default_rng(2).normal(size=(n, n)).astype(np.float32)
    xf = x.reshape(x.shape[0], -1).astype(np.float32)
    t = time.perf_counter()
    for _ in range(draws):
        xf @ w
    return time.perf_counter() - t


def cpu_time() -> float:
    """CPU seconds of this process and of its finished children (the Monte Carlo's worker processes)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                resource.getrusage(resource.RUSAGE_CHILDREN)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--effects", default="all")
    args = ap.parse_args()
    x = (np.random.default_rng(1).random((args.steps, 1000)) < 0.1).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        art = bk.compile(normalize(network()), "crossbar-pcm", Path(tmp) / "art", options={"effects": args.effects})
        t, cpu = time.perf_counter(), cpu_time()
        res = bk.run(art.path, x, engine_options={"samples": args.draws, "seed": 0, "drift_time": 3600.0})
        t_mc, cpu_mc = time.perf_counter() - t, cpu_time() - cpu
    t_floor = floor(x, args.draws, 1000)
    mc = res.extra["monte_carlo"]
    print(f"crossbar-pcm, 1000 x 1000 LIF layer ({res.counters['ticks']} steps), {args.draws} draws, "
          f"effects {args.effects}, drift 1 h")
    print(f"spike agreement with ideal devices: {mc['spike_agreement']['mean']:.4f} "
          f"(95% CI {mc['spike_agreement']['ci95'][0]:.4f}..{mc['spike_agreement']['ci95'][1]:.4f})")
    print(f"Monte Carlo {t_mc:.2f} s (goal < 5 s); NumPy matmul floor {t_floor:.3f} s; ratio {t_mc / t_floor:.0f}x; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"CPU time of the Monte Carlo {cpu_mc:.2f} s (all threads and worker processes; what one idle core would take)")


if __name__ == "__main__":
    main()
