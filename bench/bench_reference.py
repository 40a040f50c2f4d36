"""Reference simulator vs snnTorch on the same network, CPU, T = 1000, in one process.

Networks: a 3-layer 256-wide LIF MLP (built in snnTorch, exported with our front-end) and the NIR
paper's cnn_sinabs.nir (rebuilt in torch/snnTorch from the file's weights, IF = Leaky(beta=1)).
Both sides run float32 on the same random sparse input; the script reports the fraction of output
spikes that differ next to the speed ratio (snnTorch time / ours; > 1 means we are faster).

The box is shared, so the two sides run interleaved (alternating which goes first) and each
repeat gives one paired ratio; the table reports median times and the median paired ratio, plus
the load average. Both sides get the same number of threads (`--threads`, default 1: torch's
intra-op pool and OpenBLAS, set before NumPy loads).

    .venv/bin/python bench/bench_reference.py [--steps 1000] [--repeat 5] [--threads 1]
        [--nets mlp cnn] [--batches 1 64] [--out bench/reference.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path


def _threads_from_argv() -> str:
    """--threads must act before NumPy/torch load their thread pools."""
    args = sys.argv[1:]
    return args[args.index("--threads") + 1] if "--threads" in args else "1"


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv()

import numpy as np  # noqa: E402
import snntorch as snn  # noqa: E402
import torch  # noqa: E402
from snntorch import utils  # noqa: E402
from torch import nn  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from neurodeploy import ir  # noqa: E402
from neurodeploy.frontends.snntorch import export, semantics_for  # noqa: E402
from neurodeploy.semantics import Semantics  # noqa: E402
from neurodeploy.sim.reference import simulate  # noqa: E402
from test_sim_paper_graphs import _peer_cnn  # noqa: E402

CNN = REPO.parent / "shared" / "realdata" / "nir-paper" / "cnn" / "cnn_sinabs.nir"
BEGIN, END = "<!-- results: written by bench_reference.py -->", "<!-- end of results -->"


def mlp():
    torch.manual_seed(0)
    layers = []
    for _ in range(3):
        lin = nn.Linear(256, 256)
        with torch.no_grad():
            lin.weight *= 3  # default init is too weak to make every layer spike
        layers += [lin, snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True)]
    net = nn.Sequential(*layers)
    return net, ir.normalize(export(net, torch.zeros(1, 256)).graph, semantics_for(net)), (256,)


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


def paired(peer, ours, repeat):
    """Interleaved runs: median time of each side, median of the per-repeat ratios, last results."""
    tp, to, ratios = [], [], []
    for r in range(repeat):
        order = (peer, ours) if r % 2 == 0 else (ours, peer)
        times = {}
        for fn in order:
            t0 = time.perf_counter()
            result = fn()
            times[fn] = time.perf_counter() - t0
            if fn is peer:
                s_peer = result
            else:
                s_ours = result
        tp.append(times[peer])
        to.append(times[ours])
        ratios.append(times[peer] / times[ours])
    return float(np.median(tp)), float(np.median(to)), float(np.median(ratios)), min(ratios), s_peer, s_ours


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nets", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    ap.add_argument("--out", default=str(REPO / "bench" / "reference.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows, load = [], [os.getloadavg()[0]]
    nets = {"mlp": ("LIF MLP 3x256", mlp), "cnn": ("cnn_sinabs.nir", cnn)}
    for name, build in (nets[k] for k in args.nets):
        net, graph, shape = build()
        for batch in args.batches:
            x = (rng.random((args.steps, batch) + shape) < 0.05).astype(np.float32)
            t_peer, t_ours, ratio, worst, s_peer, res = paired(
                lambda: run_snntorch(net, torch.from_numpy(x)), lambda: simulate(graph, x, dtype=np.float32),
                args.repeat)
            s_ours = res.spikes["output"]
            mismatch = float(np.mean(s_ours != s_peer))
            load.append(os.getloadavg()[0])
            rows.append((name, batch, t_peer, t_ours, ratio, worst, s_peer.sum(), mismatch, load[-1]))
            print(f"{name:16s} B={batch:3d}  snnTorch {t_peer:7.3f} s  ours {t_ours:7.3f} s  ratio {ratio:5.2f}x "
                  f"(worst {worst:.2f}x)  output spikes {int(s_peer.sum())}  mismatch {mismatch:.2e}  "
                  f"load {load[-1]:.1f}", flush=True)
    write_md(Path(args.out), rows, args, load)


def write_md(path: Path, rows, args, load):
    """Write the results between the file's result markers, keeping the prose around them."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        BEGIN,
        f"T = {args.steps} steps, float32 on both sides, random input events (5 % density), {args.threads} "
        f"thread(s) for torch and OpenBLAS, {args.repeat} interleaved repeats. Machine: {cpu}, "
        f"{os.cpu_count()} cores, shared with other jobs (1-min load average {min(load):.1f}-{max(load):.1f} "
        f"while measured); Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}, "
        f"snntorch {snn.__version__}.", "",
        f"Command: `.venv/bin/python bench/bench_reference.py --repeat {args.repeat} --threads {args.threads}`", "",
        "| network | batch | snnTorch s | ours s | ratio (median) | worst ratio | output spikes "
        "| spike mismatch | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, b, tp, to, r, worst, ns, mm, ld in rows:
        lines.append(f"| {name} | {b} | {tp:.3f} | {to:.3f} | {r:.2f}x | {worst:.2f}x | {int(ns)} | {mm:.1e} "
                     f"| {ld:.1f} |")
    block = "\n".join(lines + [END])
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        block = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        block = "# Reference simulator vs snnTorch (CPU)\n\n" + block + "\n"
    path.write_text(block)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
