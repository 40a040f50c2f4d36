"""Reference simulator vs snnTorch on the same network, CPU, T = 1000, in one process.

Networks: a 3-layer 256-wide LIF MLP (built in snnTorch, exported with our front-end) and the NIR
paper's cnn_sinabs.nir (rebuilt in torch/snnTorch from the file's weights, IF = Leaky(beta=1)).
Both sides run float32 on the same random sparse input; the script checks that the output spikes
agree before it reports the speed ratio (snnTorch time / ours; > 1 means we are faster).

    .venv/bin/python bench/bench_reference.py [--steps 1000] [--repeat 3] [--out bench/reference.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import snntorch as snn
import torch
from snntorch import utils
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from neurodeploy import ir  # noqa: E402
from neurodeploy.frontends.snntorch import export, semantics_for  # noqa: E402
from neurodeploy.semantics import Semantics  # noqa: E402
from neurodeploy.sim.reference import simulate  # noqa: E402
from test_sim_paper_graphs import _peer_cnn  # noqa: E402

CNN = REPO.parent / "shared" / "realdata" / "nir-paper" / "cnn" / "cnn_sinabs.nir"


def mlp():
    torch.manual_seed(0)
    layers = []
    for _ in range(3):
        lin = nn.Linear(256, 256)
        with torch.no_grad():
            lin.weight *= 3  # default init is too weak to make every layer spike
        layers += [lin, snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True)]
    net = nn.Sequential(*layers)
    return net, ir.normalize(export(net, torch.zeros(1, 256)), semantics_for(net)), (256,)


def cnn():
    graph = ir.load(CNN, semantics=Semantics(dt=1.0))
    return _peer_cnn(graph).float(), graph, (2, 34, 34)


def run_snntorch(net, x):
    utils.reset(net)
    out = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = x[t]
            for layer in net:
                h = layer(h)
            out.append(h)
    return torch.stack(out).numpy()


def best(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench" / "reference.md"))
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    rows = []
    for name, build in (("LIF MLP 3x256", mlp), ("cnn_sinabs.nir", cnn)):
        net, graph, shape = build()
        for batch in (1, 64):
            x = (rng.random((args.steps, batch) + shape) < 0.05).astype(np.float32)
            t_peer, s_peer = best(lambda: run_snntorch(net, torch.from_numpy(x)), args.repeat)
            t_ours, res = best(lambda: simulate(graph, x, dtype=np.float32), args.repeat)
            s_ours = res.spikes["output"]
            mismatch = float(np.mean(s_ours != s_peer))
            rows.append((name, batch, t_peer, t_ours, t_peer / t_ours, s_peer.sum(), mismatch))
            print(f"{name:16s} B={batch:3d}  snnTorch {t_peer:7.3f} s  ours {t_ours:7.3f} s  "
                  f"ratio {t_peer / t_ours:5.2f}x  output spikes {int(s_peer.sum())}  mismatch {mismatch:.2e}",
                  flush=True)
    write_md(Path(args.out), rows, args)


def write_md(path: Path, rows, args):
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        "# Reference simulator vs snnTorch (CPU)", "",
        f"T = {args.steps} steps, float32 on both sides, best of {args.repeat} runs, random input events "
        "(5 % density). Ratio = snnTorch time / our time (> 1: we are faster). Goal: >= 3x at batch 1, "
        ">= 1x at batch 64.", "",
        f"Machine: {cpu}, {os.cpu_count()} cores (shared with other jobs while measured); "
        f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}, "
        f"snntorch {snn.__version__}.", "",
        "Command: `.venv/bin/python bench/bench_reference.py`", "",
        "| network | batch | snnTorch s | ours s | ratio | output spikes | spike mismatch |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, b, tp, to, r, ns, mm in rows:
        lines.append(f"| {name} | {b} | {tp:.3f} | {to:.3f} | {r:.2f}x | {int(ns)} | {mm:.1e} |")
    path.write_text("\n".join(lines) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
