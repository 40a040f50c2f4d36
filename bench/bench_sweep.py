"""`neurodeploy sweep` on the embedded Dask local cluster, 1 and 2 workers: points per second, scaling
efficiency, and the measured cost of one point (compile + validate + energy) beside the cluster's
start-up. The grid: the 4-5-3 LIF network of tests/test_energy_model.py on loihi1, crossbar-pcm
(all device effects, 4 Monte Carlo draws) and spinnaker2, 20 seeded replicates each (60 points).

    .venv/bin/python bench/bench_sweep.py [--replicates 20] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SPEC = """
[sweep]
model = "model.nir"
labels = "labels.npy"
samples = 4
replicates = {replicates}
[sweep.options.crossbar-pcm]
effects = "all"
[grid]
target = ["loihi1", "crossbar-pcm", "spinnaker2"]
input = "x.npy"
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=20)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from test_energy_model import _ff_graph

    from neurodeploy import ir
    from neurodeploy.sweep import load, sweep

    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        ir.write(d / "model.nir", _ff_graph())
        np.save(d / "x.npy", (np.random.default_rng(2).random((20, 3, 4)) < 0.5).astype(float))
        np.save(d / "labels.npy", np.array([0, 1, 2]))
        (d / "s.toml").write_text(SPEC.format(replicates=args.replicates))
        for w in args.workers:
            load_avg = os.getloadavg()[0]
            t = time.perf_counter()
            _, table = sweep(load(d / "s.toml", out=d / f"w{w}.parquet"), workers=w)
            wall = time.perf_counter() - t
            ok = sum(r["status"] == "ok" for r in table)
            rows.append({"workers": w, "load": load_avg, "points": len(table), "ok": ok, "wall": wall,
                         "per_point": float(np.mean([r["wall_s"] for r in table]))})
    base = rows[0]
    print("| workers | load avg | points (ok) | wall s (cluster start included) | points/s | speed-up | efficiency | "
          "mean s per point (in the worker) | worker busy (sum of point times / workers x wall) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = r["points"] / r["wall"]
        sp = rate / (base["points"] / base["wall"])
        print(f"| {r['workers']} | {r['load']:.1f} | {r['points']} ({r['ok']}) | {r['wall']:.1f} | {rate:.2f} | {sp:.2f} | "
              f"{sp / (r['workers'] / base['workers']):.2f} | {r['per_point']:.2f} | "
              f"{r['per_point'] * r['points'] / (r['workers'] * r['wall']):.2f} |")


if __name__ == "__main__":
    main()
