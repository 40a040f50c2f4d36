"""SpiNNaker 2 backend: compile time / peak memory for two big graphs, the Sinabs CNN's fidelity, and
simulator throughput.

Graphs (built in memory, random weights):
- SpikeGPT-216M-sized: 18 blocks x 768 wide. Each block's linear maps become Affine + LIF layers of
  the right sizes, in a chain (RWKV time-mix R, K, V, O as four 768x768 layers; channel-mix 768->3072,
  3072->768 and a 768x768 receptance), then the 768 -> 50,277 head: 177 M synapses on chip. The
  50,277 x 768 embedding (38.6 M) is a table lookup and stays on the host (its one-hot fan-in of 50,277
  cannot fit a PE). Parallel branches and element-wise gates are approximated by the chain.
- LSM: 1,000,000 LIF neurons on a 100^3 grid, each with 10 random targets within +-2 grid steps
  (Maass-style local connectivity), plus 1,000 inputs with 10 targets each. The 1e6 x 1e6 weights are
  a scipy.sparse matrix inside nir.Affine (the backend accepts sparse Affine weights).
Each graph is built and compiled twice in a fresh process (so peak RSS is that graph's alone); the
first compile is timed, the second must give the same file checksums (byte-identical artifacts).

CNN fidelity: the NIR paper's `cnn_sinabs.nir` on the 300 synthetic event inputs of
tests/test_spinnaker2_cnn.py, chip model against the float reference, for both weight-scaling modes,
layer by layer; and how wide the weights would have to be for the float reference itself to keep 99 %.

Simulator throughput: the backend's simulator against neurodeploy's reference simulator (the peer)
on the same graph and input, in this process; synaptic events per second per core.

    python bench/bench_spinnaker2.py [--scale 1.0] [--out bench/spinnaker2.md]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy import backend as bk
from neurodeploy.fidelity import output_fidelity
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import test_spinnaker2_cnn as cnn_test  # noqa: E402  (the CNN test's inputs and rounding rule)
from conftest import REALDATA  # noqa: E402


def lif(n):
    return nir.LIF(tau=np.full(n, 2e-3, np.float32), r=np.ones(n, np.float32), v_leak=np.zeros(n, np.float32),
                   v_threshold=np.ones(n, np.float32))


def chain_graph(sizes, rng) -> Graph:
    nodes = {"in": nir.Input(input_type={"input": np.array([sizes[0]])})}
    edges, prev = [], "in"
    ins, outs = {"in": (sizes[0],)}, {"in": (sizes[0],)}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.standard_normal((b, a), dtype=np.float32) / np.float32(np.sqrt(a))  # stays float32
        nodes[f"w{i}"], nodes[f"n{i}"] = nir.Affine(weight=w, bias=np.zeros(b, np.float32)), lif(b)
        edges += [(prev, f"w{i}"), (f"w{i}", f"n{i}")]
        ins[f"w{i}"], outs[f"w{i}"], ins[f"n{i}"], outs[f"n{i}"] = (a,), (b,), (b,), (b,)
        prev = f"n{i}"
    nodes["out"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((prev, "out"))
    ins["out"] = outs["out"] = (sizes[-1],)
    return Graph(nodes, edges, ins, outs, semantics=Semantics(dt=1e-4))


def spikegpt(scale: float, rng) -> Graph:
    d, vocab, blocks = int(768 * scale), int(50277 * scale), max(1, int(round(18 * scale)))
    sizes = [d]
    for _ in range(blocks):
        sizes += [d, d, d, d, 4 * d, d, d]
    return chain_graph(sizes + [vocab], rng)


def lsm(scale: float, rng) -> Graph:
    side = int(round(100 * scale ** (1 / 3)))
    n, k, n_in = side ** 3, 10, max(10, int(1000 * scale))
    coords = np.stack(np.unravel_index(np.arange(n), (side,) * 3), 1)
    src = np.repeat(np.arange(n), k)
    tgt_xyz = np.clip(coords[src] + rng.integers(-2, 3, (src.size, 3)), 0, side - 1)
    tgt = np.ravel_multi_index(tgt_xyz.T, (side,) * 3)
    w_rec = sp.csr_matrix((rng.uniform(-1, 1, src.size).astype(np.float32), (tgt, src)), shape=(n, n))
    w_in = sp.csr_matrix((np.ones(n_in * k, np.float32), (rng.integers(0, n, n_in * k), np.repeat(np.arange(n_in), k))),
                         shape=(n, n_in))
    nodes = {"in": nir.Input(input_type={"input": np.array([n_in])}),
             "w_in": nir.Affine(weight=w_in, bias=np.zeros(n, np.float32)), "lsm": lif(n),
             "w_rec": nir.Affine(weight=w_rec, bias=np.zeros(n, np.float32)),
             "out": nir.Output(output_type={"output": np.array([n])})}
    edges = [("in", "w_in"), ("w_in", "lsm"), ("lsm", "w_rec"), ("w_rec", "lsm"), ("lsm", "out")]
    shp = {"in": (n_in,), "w_in": (n,), "lsm": (n,), "w_rec": (n,), "out": (n,)}
    ins = dict(shp, w_in=(n_in,))
    return Graph(nodes, edges, ins, shp, semantics=Semantics(dt=1e-4))


GRAPHS = {"LSM": lsm, "SpikeGPT": spikegpt}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def compile_once(graph, out: Path) -> tuple[dict, float, float]:
    """`neurodeploy.backend.compile`, the full path users take: design rules, lowering, the model's copy
    into the artifact (model.nir; the LSM's sparse weights are stored as CSR, docs/dialect.md) and the
    manifest with checksums."""
    wall, cpu = time.perf_counter(), time.process_time()
    a = bk.compile(graph, "spinnaker2-48chip", out, options={"steps": "10", "activity": "0.02"})
    return a.manifest, time.perf_counter() - wall, time.process_time() - cpu


def compile_row(name: str, scale: float) -> dict:
    """Run in a fresh process: build the graph, compile it twice, compare the checksums."""
    graph = GRAPHS[name](scale, np.random.default_rng(0))
    graph_gb = peak_rss_gb()
    with tempfile.TemporaryDirectory() as d:
        first, wall, cpu = compile_once(graph, Path(d) / "a")
        size = sum(p.stat().st_size for p in (Path(d) / "a").iterdir()) / 2 ** 30
        shutil.rmtree(Path(d) / "a")
        second, *_ = compile_once(graph, Path(d) / "b")
    info = first["spinnaker2"]
    return {"graph": name, "compile_s": wall, "cpu_s": cpu, "graph_rss_gb": graph_gb, "peak_rss_gb": peak_rss_gb(),
            "boards": info["boards"], "chips": info["chips"], "pes": info["pes"], "artifact_gb": size,
            "identical": first["files"] == second["files"], "load": os.getloadavg()[0],
            "max_router_entries": max(info["router_entries"].values(), default=0)}


def throughput(tmp: Path, rng) -> dict:
    g = chain_graph([1000, 2000, 2000, 1000], rng)
    for n in ("n0", "n1", "n2"):
        g.nodes[n].v_threshold = np.full(g.size(n), 0.05, np.float32)
    a = bk.compile(g, "spinnaker2-48chip", tmp / "tp", options={"steps": "50"})
    x = (rng.random((50, 4, 1000)) < 0.1).astype(np.float32)
    t = time.perf_counter()
    res = bk.run(a.path, x)
    sim_s = time.perf_counter() - t
    t = time.perf_counter()
    try:  # the peer is another module of this tree; a failure there is reported, not hidden
        simulate(g, x)
        ref_s = time.perf_counter() - t
        peer = f"{ref_s:.2f} s; ratio reference/sim time = {ref_s / sim_s:.2f}"
    except Exception as e:  # noqa: BLE001
        peer = f"failed in this tree ({type(e).__name__}: {e})"
    ev = res.counters["synaptic_events"]
    return {"synaptic_events": ev, "sim_s": sim_s, "events_per_s": ev / sim_s, "peer": peer}


def fidelity(tmp: Path) -> list[str]:
    """Markdown for the CNN: per-layer quantization error and spike agreement, both scaling modes."""
    g = cnn_test.load(REALDATA)
    x = cnn_test.events()
    layers = cnn_test.LAYERS
    ref = simulate(g, x, record=layers).spikes
    modes = ("per_layer", "per_neuron")
    quant, agree, exact, out, pes = {}, {}, {}, {}, {}
    for mode in modes:
        a = bk.compile(g, "spinnaker2", tmp / mode, options={"steps": str(cnn_test.STEPS), "weight_scaling": mode,
                                                              "record": "all"})
        quant[mode], pes[mode] = a.manifest["spinnaker2"]["quantization"], a.manifest["spinnaker2"]["pes"]
        chip = bk.run(a.path, x, record=layers).spikes
        ref_q = simulate(cnn_test.rounded(g, mode == "per_neuron"), x, record=layers).spikes
        agree[mode] = {n: float(np.mean(chip[n] == ref[n].reshape(chip[n].shape))) for n in layers}
        exact[mode] = all(np.array_equal(chip[n], ref_q[n].reshape(chip[n].shape)) for n in layers)
        out[mode] = output_fidelity(chip["12"], ref["12"].reshape(chip["12"].shape))
    lines = ["## CNN fidelity (`cnn_sinabs.nir`, issue #3 goal: >= 99 % output spike agreement)", "",
             f"Inputs: {x.shape[1]} random event frames (2, 34, 34), {x.shape[0]} steps, 100 each at "
             f"{', '.join(f'{r:.0%}' for r in cnn_test.DENSITIES)} density (tests/test_spinnaker2_cnn.py); "
             f"dt = 1. Compiled onto one chip: {pes['per_neuron']} PEs (per_layer: {pes['per_layer']}). "
             "Chip model vs the exact float reference.", "",
             "Weight quantization error per layer (relative RMS of w_int/s - w; per_layer is py-spinnaker2's "
             "127/max|w| rule, per_neuron the default):", "",
             "| weight layer | per_layer rel RMS | per_neuron rel RMS | per_neuron scales |", "|---|---|---|---|"]
    for w in sorted(quant["per_neuron"], key=int):
        qn, ql = quant["per_neuron"][w], quant["per_layer"][w]
        lines.append(f"| {w} | {ql['rel_rms_error']:.4f} | {qn['rel_rms_error']:.4f} | "
                     f"{qn['scale_min']:.0f}-{qn['scale_max']:.0f} |")
    lines += ["", "Spike agreement per neuron layer, per (sample, step, neuron):", "",
              "| neuron layer | " + " | ".join(modes) + " |", "|---|---|---|"]
    for n in layers:
        lines.append(f"| {n} | " + " | ".join(f"{agree[m][n]:.4f}" for m in modes) + " |")
    lines += ["", "Output layer (12):", "", "| measure | " + " | ".join(modes) + " |", "|---|---|---|"]
    for key, label in (("spikes", "spikes equal per (sample, step, neuron)"),
                       ("counts", "spike counts equal per (sample, neuron)"),
                       ("class", f"class (most-spiking output) equal, {out['per_neuron']['clear_samples']} "
                                 "samples with one clear reference winner")):
        lines.append(f"| {label} | " + " | ".join(f"{out[m][key]:.4f}" for m in modes) + " |")
    lines.append("| chip == float reference run with the same rounded weights, every layer | "
                 + " | ".join("yes" if exact[m] else "NO" for m in modes) + " |")
    lines += ["", "What the weights would need: the float reference with its own weights rounded per neuron to "
                  "b-bit integers (no chip involved), output spike agreement with the unrounded reference:", "",
              "| bits | 8 (int8) | 10 | 12 | 14 | 16 |", "|---|---|---|---|---|---|"]
    row = []
    for bits in (8, 10, 12, 14, 16):
        r = simulate(cnn_test.rounded(g, True, 2 ** (bits - 1) - 1), x, record=["12"]).spikes["12"]
        row.append(f"{np.mean(r == ref['12']):.4f}")
    lines += ["| agreement | " + " | ".join(row) + " |", ""]
    return lines


NOTES = """## Notes

- Compile = `neurodeploy.backend.compile`, the full path: design rules, lowering, the model's copy into
  the artifact (`model.nir`; the LSM's scipy.sparse weights are stored as CSR, docs/dialect.md "Sparse
  weights") and the manifest with checksums. Artifact size includes `model.nir`.
- What made compiling fast (SpikeGPT was 141 s, LSM 36 s before): partitioning counts each slice's
  synaptic-row words in one counting pass over a population's weights instead of building the rows for
  every candidate slice size (`partition.dense_entries`; tests/test_spinnaker2_artifact.py checks the
  count against the written images word for word); rows are built once, when the images are written,
  already in row order (no per-PE lexsort, no `ufunc.at`); images are written with `ndarray.tofile`;
  dense weights are converted to CSR directly; and `network_s2.npz` stores each projection as a dense
  int8 matrix or CSR, whichever is smaller (1 byte per weight for SpikeGPT instead of 9 per synapse),
  so the artifact shrank from 1.9 GB to about a third. Artifacts are unchanged otherwise (same
  images, tables and run spec as before, checked byte for byte during the change).
- SpikeGPT on chip: 177 M synapses (18 blocks + 768 -> 50,277 head); the embedding stays on the host.
- Simulator: event-driven (scipy sparse products), so its rate depends on fan-out per spike.
- CNN: the chip model equals the float reference run with the same int8-rounded weights in every
  layer, so every disagreement with the float reference comes from weight rounding. Per-neuron scaling
  (default) makes that rounding finer than py-spinnaker2's per-layer rule and agrees better on every
  measure, but the 99 % goal is not reached: this IF network (no leak, threshold 1) turns any weight
  change into moved spikes that propagate layer to layer; the float reference itself needs well over
  12-bit weights to stay above 99 % (last table), which int8 synapse words cannot give. Random event
  frames are not N-MNIST digits: most outputs spike once or twice in 30 steps, so class agreement on
  them says little about accuracy on the data set (the NIR paper measured 98.2 % N-MNIST accuracy on
  the chip vs 98.5 % in Sinabs, `realdata/nir-paper/cnn/*_accuracy.npy`).
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="shrink both graphs for a quick run")
    ap.add_argument("--out", default=str(Path(__file__).with_name("spinnaker2.md")))
    ap.add_argument("--one", choices=sorted(GRAPHS), help=argparse.SUPPRESS)  # child process: one compile row
    args = ap.parse_args()
    if args.one:
        print(json.dumps(compile_row(args.one, args.scale)))
        return
    load0 = os.getloadavg()[0]
    rows = []
    for name in GRAPHS:
        child = subprocess.run([sys.executable, __file__, "--one", name, "--scale", str(args.scale)],
                               capture_output=True, text=True, check=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    with tempfile.TemporaryDirectory() as d:
        tp = throughput(Path(d), np.random.default_rng(0))
        fid = fidelity(Path(d))
    lines = [f"# SpiNNaker 2 backend bench (scale {args.scale:g})", "",
             "Goal (issue #3): each graph compiles onto as many 48-chip boards as it needs in < 60 s and < 8 GB.", "",
             "| graph | compile s (wall) | CPU s | peak RSS GB (graph alone) | boards | chips | PEs | artifact GB | "
             "byte-identical 2nd compile | max router entries | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['graph']} | {r['compile_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_gb']:.2f} "
                     f"({r['graph_rss_gb']:.2f}) | {r['boards']} | {r['chips']} | {r['pes']} | {r['artifact_gb']:.2f} | "
                     f"{'yes' if r['identical'] else 'NO'} | {r['max_router_entries']} | {r['load']:.1f} |")
    lines += ["", f"2-core machine shared with other engineers' jobs; 1-minute load average {load0:.1f} at the start "
                  "and as given per row at the end of each compile. Peak RSS is the compile process's, including "
                  "the graph it built (in brackets: after building the graph, before compiling).", "",
              "Simulator throughput (1000-2000-2000-1000 LIF chain, 4 samples x 50 steps, one process):", "",
              f"- {tp['synaptic_events']:.3g} synaptic events in {tp['sim_s']:.2f} s = "
              f"{tp['events_per_s'] / 1e6:.1f} M events/s (single core; goal >= 20 M/s/core)",
              f"- reference simulator (peer) on the same graph and input: {tp['peer']}", ""] + fid + [NOTES]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
