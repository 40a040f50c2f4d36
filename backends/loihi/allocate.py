"""Place neuron populations on neurocores under the per-core limits of the target TOML.

Each population gets its own consecutive cores (Lava maps one process per core group); it is cut
into contiguous neuron ranges, each as long as the core's neuron slots, synaptic memory (one
``weight_mant_bits`` word per non-zero synapse; index and compression overheads are not modelled)
and input-axon slots (distinct source neurons with a synapse into the range) allow. Output axons
are counted afterwards: one per (source neuron, destination core) pair.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from neurodeploy.backend import Rule
from neurodeploy.targets import Target

from .quantize import Net

ROLE = "compile"
BITS_PER_BYTE = 8  # format: unit conversion


def allocate(net: Net, target: Target) -> tuple[dict[str, list], list[dict], list[Rule]]:
    """Returns ({population: [[core, start, stop], ...]}, per-core report rows, design rules)."""
    lim = lambda k: int(target.v(f"limits.{k}"))  # noqa: E731
    n_max, axons_max, out_max = lim("neurons_per_core"), lim("input_axons_per_core"), lim("output_axons_per_core")
    syn_bytes = target.v("fixed_point.weight_mant_bits") / BITS_PER_BYTE
    mem = lim("synapse_memory_per_core")
    incoming = {p.name: [sp.csr_matrix(s.weights != 0) for s in net.synapses if s.dst == p.name]
                for p in net.populations}
    rules: list[Rule] = []
    cores: dict[str, list] = {}
    rows: list[dict] = []
    next_core = 0
    for p in net.populations:
        masks = incoming[p.name]
        fan_in = sum((m.getnnz(axis=1) for m in masks), np.zeros(p.size, dtype=np.int64))
        worst = int(np.argmax(fan_in)) if p.size else 0
        per_neuron = [Rule("loihi.fan_in_per_neuron", int(fan_in[worst]), axons_max, where=p.name,
                           hint=f"neuron {worst} has more input sources than a core has input axons"),
                      Rule("loihi.synapse_memory_per_neuron", float(fan_in[worst] * syn_bytes), mem, where=p.name,
                           hint=f"neuron {worst}'s synapses do not fit one core's synaptic memory")]
        rules += per_neuron
        if not all(r.ok for r in per_neuron):
            return {}, [], rules
        cum = np.concatenate([[0], np.cumsum(fan_in * syn_bytes)])
        cores[p.name], start = [], 0
        while start < p.size:
            k = min(n_max, p.size - start, int(np.searchsorted(cum, cum[start] + mem, side="right")) - 1 - start)
            axons = lambda k: sum(int(m[start:start + k].getnnz(axis=0).astype(bool).sum()) for m in masks)  # noqa
            lo, hi = 1, k  # largest k whose input-axon union fits (monotone in k)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if axons(mid) <= axons_max else (lo, mid - 1)
            k = lo
            cores[p.name].append([next_core, start, start + k])
            rows.append(dict(core=next_core, population=p.name, neurons=k,
                             synapses=int(fan_in[start:start + k].sum()),
                             synapse_bytes=int(fan_in[start:start + k].sum() * syn_bytes),
                             input_axons=axons(k), output_axons=0))
            next_core, start = next_core + 1, start + k
    per_chip = lim("cores_per_chip")
    rules.append(Rule("loihi.cores", next_core, per_chip * lim("chips"),
                      hint="shrink the network or target a multi-chip board"))
    _output_axons(net, cores, rows)
    if rows:
        worst = max(rows, key=lambda r: r["output_axons"])
        rules.append(Rule("loihi.output_axons_per_core", worst["output_axons"], out_max,
                          where=f"core{worst['core']}", hint="source neurons reach too many target cores"))
    return cores, rows, rules


def _output_axons(net: Net, cores: dict, rows: list[dict]) -> None:
    """One output axon per (source neuron, destination core) that it has a synapse into."""
    by_core = {r["core"]: r for r in rows}
    for s in net.synapses:
        if s.src not in cores:  # graph inputs are injected by the host, not sent from a core
            continue
        mask = sp.csr_matrix(s.weights != 0)
        reach = np.zeros(mask.shape[1], dtype=np.int64)
        for _, start, stop in cores[s.dst]:
            reach += mask[start:stop].getnnz(axis=0) > 0
        for core, start, stop in cores[s.src]:
            by_core[core]["output_axons"] += int(reach[start:stop].sum())
