"""Loihi energy: our estimate vs SANA-FE (PyPI sanafe 2.2.9, its shipped arch/loihi.yaml).

The same networks (weights, thresholds, input spikes) run in SANA-FE and in neurodeploy; per
network it prints event counts from both sides, SANA-FE's energy per component, ours from the
loihi1 target file (float reference counters, and the Loihi backend's bit-accurate engine where it
compiles), and the ratio ours / SANA-FE. bench/sanafe.md explains the differences.

Alignment: SANA-FE delivers every spike one step later (inputs too), so layer k fires k steps
after ours does; both run T + depth steps with the input followed by zeros, so every event of the
run is counted on both sides. IF networks (no leak) use weights and thresholds on SANA-FE's 1/64
potential grid, so both simulators produce identical spikes; the LIF network's leak is truncated
to that grid by SANA-FE's soma model and its spike counts may differ slightly (printed).

Run: .venv/bin/python bench/bench_sanafe.py [--steps 200]
"""
from __future__ import annotations

import argparse
import tempfile
from importlib.resources import files
from pathlib import Path

import nir
import numpy as np
import sanafe

from neurodeploy import backend as bk
from neurodeploy.energy import estimate
from neurodeploy.errors import NeuroDeployError
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

DT = 1e-4
ARCH = files("sanafe.examples").joinpath("loihi.yaml")


def network(name: str, sizes: list[int], *, recurrent: bool = False, beta: float = 1.0, seed: int = 0):
    """Random weights on the 1/64 grid, threshold 1; returns (spec for both simulators)."""
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        w = np.round(rng.normal(0.0, 2.2 / np.sqrt(n_in), (n_out, n_in)) * 64) / 64
        layers.append({"w": w, "n": n_out})
    if recurrent:
        n = sizes[1]
        w = np.round(rng.normal(0.0, 1.0 / np.sqrt(n), (n, n)) * 64) / 64
        w[rng.random((n, n)) < 0.7] = 0
        layers[0]["w_rec"] = w
    return {"name": name, "sizes": sizes, "layers": layers, "beta": beta}


def to_graph(spec) -> Graph:
    """The spec as a normalized graph: v' = beta*v + W s (forward Euler), reset to zero."""
    nodes = {"input": nir.Input(input_type={"input": np.array([spec["sizes"][0]])})}
    edges, shape = [], {"input": (spec["sizes"][0],)}
    in_shape = dict(shape)
    prev = "input"
    for k, layer in enumerate(spec["layers"]):
        n, fc, lif = layer["n"], f"fc{k}", f"lif{k}"
        nodes[fc] = nir.Linear(weight=layer["w"])
        if spec["beta"] == 1.0:
            nodes[lif] = nir.IF(r=np.full(n, 1 / DT), v_threshold=np.ones(n), v_reset=np.zeros(n))
        else:
            tau = DT / (1 - spec["beta"])
            nodes[lif] = nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / DT), v_leak=np.zeros(n),
                                 v_threshold=np.ones(n), v_reset=np.zeros(n))
        edges += [(prev, fc), (fc, lif)]
        shape.update({fc: (n,), lif: (n,)})
        in_shape.update({fc: shape[prev], lif: (n,)})
        if "w_rec" in layer:
            nodes[f"rec{k}"] = nir.Linear(weight=layer["w_rec"])
            edges += [(lif, f"rec{k}"), (f"rec{k}", lif)]
            shape[f"rec{k}"] = in_shape[f"rec{k}"] = (n,)
        prev = lif
    nodes["output"] = nir.Output(output_type={"output": np.array([spec["layers"][-1]["n"]])})
    edges.append((prev, "output"))
    shape["output"] = in_shape["output"] = shape[prev]
    return Graph(nodes, edges, in_shape, shape, semantics=Semantics(dt=DT, reset="zero", integrator="euler"))


def _connect(src_group, dst_group, w: np.ndarray) -> None:
    """Only the non-zero weights become synapses, as our counters (and Loihi's compiler) skip
    zero weights; a dense SANA-FE connection would also charge the zero ones."""
    dst, src = np.nonzero(w)
    src_group.connect_neurons_sparse(dst_group, {"weight": w[dst, src].tolist()},
                                     list(zip(src.tolist(), dst.tolist())))


def run_sanafe(spec, x: np.ndarray, steps: int) -> dict:
    """Input group on core 0, layer k on core k+1 (4 cores per tile, as Loihi's compiler packs
    small layers one per core)."""
    arch = sanafe.load_arch(str(ARCH))
    cores = [c for tile in arch.tiles for c in tile.cores]
    net = sanafe.Network()
    groups = [net.create_neuron_group("in", spec["sizes"][0], {})]
    for i in range(spec["sizes"][0]):
        groups[0][i].set_attributes(soma_hw_name=f"loihi_inputs[{i}]",
                                    model_attributes={"spikes": [bool(v) for v in x[:, i]]})
    for k, layer in enumerate(spec["layers"]):
        g = net.create_neuron_group(f"l{k}", layer["n"], {"threshold": 1.0, "leak_decay": spec["beta"],
                                                          "reset_mode": "hard", "reset": 0.0}, log_spikes=True)
        _connect(groups[-1], g, layer["w"])
        if "w_rec" in layer:
            _connect(g, g, layer["w_rec"])
        groups.append(g)
    for k, g in enumerate(groups):
        g.map_to_core(cores[k])
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    res = chip.sim(steps, spike_trace=True, perf_trace=True)
    per_layer = {f"l{k}": 0 for k in range(len(spec["layers"]))}
    for step in res["spike_trace"]:
        for neuron in step:
            group = str(neuron).split(".")[0]
            if group in per_layer:
                per_layer[group] += 1
    perf = res["perf_trace"]
    return {"energy": res["energy"], "sim_time": res["sim_time"], "spikes_per_layer": per_layer,
            "synaptic_events": int(sum(perf["spikes"])), "updated": int(sum(perf["updated"])),
            "fired": int(sum(perf["fired"])), "hops": int(sum(perf["hops"])),
            "packets": int(res["packets_sent"])}


def run_ours(spec, x: np.ndarray, steps: int):
    graph = to_graph(spec)
    x_ours = np.zeros((steps, spec["sizes"][0]))
    x_ours[1:len(x) + 1] = x  # SANA-FE's input neurons deliver one step late
    lifs = [f"lif{k}" for k in range(len(spec["layers"]))]
    ref = simulate(graph, x_ours, record=lifs)
    ref.extra["units_used"] = {"chip": 1}
    ref_rep = estimate(ref, "loihi1")
    spikes = {f"l{k}": int(ref.spikes[n].sum()) for k, n in enumerate(lifs)}
    backend_rep, note = None, ""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            art = bk.compile(graph, "loihi1", Path(tmp) / "a")
            backend_rep = estimate(bk.run(art.path, x_ours, record=lifs), "loihi1")
    except NeuroDeployError as e:
        note = f"Loihi backend: {e}"
    return ref, ref_rep, spikes, backend_rep, note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    specs = [network("ff_if 64-128-10", [64, 128, 10], seed=1),
             network("ff_if_deep 128-256-256-10", [128, 256, 256, 10], seed=2),
             network("rec_if 32-100r-10", [32, 100, 10], recurrent=True, seed=3),
             network("ff_lif 64-128-10 (beta 0.875)", [64, 128, 10], beta=0.875, seed=4)]
    rng = np.random.default_rng(0)
    rows = []
    for spec in specs:
        x = (rng.random((args.steps, spec["sizes"][0])) < 0.1).astype(float)
        steps = args.steps + len(spec["layers"]) + 1
        sf = run_sanafe(spec, x, steps)
        ref, rep, spikes, brep, note = run_ours(spec, x, steps)
        sf_dyn = sf["energy"]["total"]
        print(f"\n## {spec['name']}  ({steps} steps, input rate 0.1)")
        print(f"spikes per layer  SANA-FE {sf['spikes_per_layer']}  ours {spikes}")
        print(f"synaptic events   SANA-FE {sf['synaptic_events']} (incl. input)  ours {int(ref.counters['synaptic_events'])}")
        print(f"neuron updates    SANA-FE updated {sf['updated']} (active only)  ours {int(ref.counters['neuron_updates'])} (all, every step)")
        print(f"packets / hops    SANA-FE {sf['packets']} / {sf['hops']}  ours: not counted by the reference")
        print("SANA-FE energy    " + ", ".join(f"{k} {v * 1e9:.2f} nJ" for k, v in sf["energy"].items()))
        print(f"SANA-FE sim time  {sf['sim_time'] * 1e6:.1f} us ({sf['sim_time'] / steps * 1e6:.2f} us/step); "
              "SANA-FE models no static power")
        print(f"ours (reference counters x loihi1.toml) dynamic {rep.dynamic.point * 1e9:.2f} nJ "
              f"[{rep.dynamic.low * 1e9:.2f} - {rep.dynamic.high * 1e9:.2f}]: " +
              ", ".join(f"{k} {l.energy.point * 1e9:.2f}" for k, l in rep.by_event.items()))
        line = [spec["name"], sf_dyn, rep.dynamic.low, rep.dynamic.point, rep.dynamic.high]
        syn = rep.by_event["synaptic_events"].energy.point
        print(f"by part, ours/SANA-FE: synapses {syn / sf['energy']['synapse']:.3f}; neurons+spikes+network "
              f"{(rep.dynamic.point - syn) / (sf['energy']['soma'] + sf['energy']['network']):.3f}")
        if brep is not None:
            print(f"ours (Loihi backend bit-accurate engine) dynamic {brep.dynamic.point * 1e9:.2f} nJ, "
                  f"events {int(brep.by_event['synaptic_events'].count)}; its run time {brep.sim_time_s * 1e6:.0f} us "
                  f"-> static {brep.static.point * 1e9:.0f} nJ (104 mW/chip)")
            line.append(brep.dynamic.point)
        else:
            print(note)
            line.append(float("nan"))
        rows.append(line)
    print("\n| network | SANA-FE dynamic (nJ) | ours dynamic, reference counters (nJ, low–high) | ratio ours/SANA-FE (point, low–high) | ours via Loihi backend / SANA-FE |")
    print("|---|---|---|---|---|")
    for name, sf_dyn, lo, pt, hi, be in rows:
        print(f"| {name} | {sf_dyn * 1e9:.2f} | {pt * 1e9:.2f} ({lo * 1e9:.2f} – {hi * 1e9:.2f}) | "
              f"{pt / sf_dyn:.2f} ({lo / sf_dyn:.2f} – {hi / sf_dyn:.2f}) | {be / sf_dyn:.2f} |")


if __name__ == "__main__":
    main()
