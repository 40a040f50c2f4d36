"""MPI multi-chip simulation of the 1M-neuron LSM (bench_spinnaker2.lsm on spinnaker2-48chip) over 1, 2
and 4 ranks: time per tick (the tick loop, after loading; wall and CPU), load time, efficiency, spikes
exchanged per tick. CPU efficiency = CPU per tick on 1 rank / CPU per tick summed over the ranks: the
work added by splitting, whatever the machine's load (wall efficiency needs a core per rank). Each rank count runs under `mpirun` in its own process group; the machine is shared, so the
load average at the start of each run is reported beside it.

    .venv/bin/python bench/bench_mpi.py [--scale 1.0] [--ticks 10] [--ranks 1 2 4]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
       "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1"}
RANK = """
import json, sys, time, numpy as np
from mpi4py import MPI
from neurodeploy import backend as bk
t = time.perf_counter()
r = bk.run(sys.argv[1], np.load(sys.argv[2]))
wall = time.perf_counter() - t
if MPI.COMM_WORLD.Get_rank() == 0:
    m = r.extra["mpi"]
    json.dump({"wall_s": wall, "s_per_tick": m["seconds_per_tick"], "cpu_per_tick": m["cpu_seconds_per_tick"], "ticks": r.extra["ticks"],
               "chips_per_rank": m["chips_per_rank"], "exchanged_per_tick": float(np.mean(m["exchanged_spikes_per_tick"])),
               "bytes_per_tick": m["exchanged_bytes_per_tick_mean"], "link_hops_per_tick": float(np.mean(m["link_hops_per_tick"])),
               "spikes": float(r.counters["spikes"]), "synaptic_events": float(r.counters["synaptic_events"]),
               "counters": r.counters}, open(sys.argv[3], "w"))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--ticks", type=int, default=10)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    from bench_spinnaker2 import lsm

    from neurodeploy import backend as bk

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        g = lsm(args.scale, np.random.default_rng(0))
        n = g.out_shape["lsm"][0]
        g.nodes["lsm"].v_threshold = np.full(n, 0.02, np.float32)  # an active reservoir: one input spike adds dt/tau = 0.05
        t = time.perf_counter()
        a = bk.compile(g, "spinnaker2-48chip", d / "art", options={"steps": str(args.ticks), "activity": "0.02"})
        compile_s = time.perf_counter() - t
        info = a.manifest["spinnaker2"]
        x = (np.random.default_rng(1).random((args.ticks, 1, g.out_shape["in"][0])) < 0.3).astype(np.float32)
        np.save(d / "x.npy", x)
        rows = []
        for k in args.ranks:
            load = os.getloadavg()[0]
            subprocess.run(["mpirun", "-n", str(k), sys.executable, "-c", RANK, str(d / "art"), str(d / "x.npy"),
                            str(d / f"r{k}.json")], env=ENV, check=True)
            rows.append({"ranks": k, "load": load, **json.loads((d / f"r{k}.json").read_text())})
    base = rows[0]
    same = all(r["counters"] == base["counters"] for r in rows)
    print(f"LSM {n} neurons, {info['chips']} chips, {info['pes']} PEs, compiled in {compile_s:.1f} s; "
          f"{rows[0]['ticks']} ticks, batch 1; counters identical over rank counts: {same}")
    print("| ranks | load avg | wall s (load + run) | s/tick | speed-up | efficiency | CPU s/tick (all ranks) | CPU efficiency | "
          "chips/rank | spikes exchanged/tick | bytes/tick | chip-link hops/tick | spikes/tick |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        sp = base["s_per_tick"] / r["s_per_tick"]
        print(f"| {r['ranks']} | {r['load']:.1f} | {r['wall_s']:.1f} | {r['s_per_tick']:.3f} | {sp:.2f} | "
              f"{sp / (r['ranks'] / base['ranks']):.2f} | {r['cpu_per_tick']:.3f} | {base['cpu_per_tick'] / r['cpu_per_tick']:.2f} | "
              f"{r['chips_per_rank']} | {r['exchanged_per_tick']:.0f} | "
              f"{r['bytes_per_tick']:.0f} | {r['link_hops_per_tick']:.0f} | {r['spikes'] / r['ticks']:.0f} |")


if __name__ == "__main__":
    main()
