"""EGRU layers on SpiNNaker 2's Arm cores: slicing, per-PE synapse storage, design rules, artifact.

The layout follows the EGRU-on-SpiNNaker-2 paper's scheme (Nazeer et al., AICAS 2024; reference
spinnaker2.md §5): each layer's units are cut into slices, one per PE; a PE stores, for its units'
gate rows [u, r, z], the non-zero weights of W and R as sparse rows keyed by the *source* (CSR of
Wᵀ: one row per input element or recurrent unit, entries (local gate row, float32 weight)), so an
incoming graded event touches exactly one row: the event-driven column update. Events are graded
packets (the value c as a 32-bit payload) multicast by the source PE to every QPE holding a slice
that reads it (its own layer for R, the next layer for W); inputs from the host arrive the same
way, one packet per non-zero value. The gate arithmetic runs in FP32 on the M4F with exp from the
exp/log accelerator in the target's fixed-point format (``cost.exp_frac_bits``), see egru_kernel.py.

A chip part holding EGRU layers must hold only EGRU layers, fed by graph inputs or by each other
(the embedding, norms and the readout are host parts: `neurodeploy.host`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy.artifact import dump_json, save_npz
from neurodeploy.backend import Rule
from neurodeploy.errors import UnsupportedNode
from neurodeploy.ir import dialect
from neurodeploy.ir.graph import Graph

from . import egru_format as fmt
from .options import parse
from .partition import budget_words
from .place import Geometry, place

ROLE = "compile"


def handles(graph: Graph) -> bool:
    return any(isinstance(n, dialect.EGRU) for n in graph.nodes.values())


@dataclass
class Layer:
    name: str
    source: str               # a graph input or the previous EGRU layer
    node: dialect.EGRU
    slices: list              # (lo, hi) unit ranges, one per PE


@dataclass
class Mapping:
    layers: list
    outputs: dict             # Output node -> layer
    inputs: list
    rules: list
    steps: int
    tick: float
    clock: float
    pe_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, fmt.PE_COORDS), np.int64))
    sram: list = field(default_factory=list)
    est_cycles: list = field(default_factory=list)
    router: tuple = ()        # QPE where host packets enter the chip


def _chain(graph: Graph) -> tuple[list, dict, list]:
    layers, outputs = [], {}
    for n in graph.order:
        node = graph.nodes[n]
        preds = graph.predecessors(n)
        if isinstance(node, nir.Input):
            continue
        if isinstance(node, nir.Output):
            if len(preds) != 1 or not isinstance(graph.nodes[preds[0]], dialect.EGRU):
                raise UnsupportedNode("an output of an EGRU chip part must be fed by one EGRU layer", where=n)
            outputs[n] = preds[0]
        elif isinstance(node, dialect.EGRU):
            if len(preds) != 1 or not isinstance(graph.nodes[preds[0]], (nir.Input, dialect.EGRU)):
                raise UnsupportedNode("an EGRU layer on SpiNNaker 2 takes one input: a graph input (graded values "
                                      "from the host) or another EGRU layer", where=n,
                                      hint="sum or transform inputs on the host (neurodeploy.host)")
            layers.append(Layer(n, preds[0], node, []))
        else:
            raise UnsupportedNode(f"{type(node).__name__} cannot share a chip part with EGRU layers on SpiNNaker 2",
                                  where=n, hint="keep it on the host or in another chip part")
    return layers, outputs, graph.inputs


def gate_rows(h: int, lo: int, hi: int) -> np.ndarray:
    """Rows of W/R (blocks [u, r, z], h each) belonging to units lo..hi-1, in block order."""
    return np.concatenate([np.arange(lo, hi) + g * h for g in range(fmt.GATES)])


def slice_bytes(node, lo: int, hi: int) -> int:
    h = node.threshold.shape[0]
    rows = gate_rows(h, lo, hi)
    nnz = int(np.count_nonzero(node.W[rows]) + np.count_nonzero(node.R[rows]))
    n_src = node.W.shape[1] + h
    return (fmt.INDPTR_BYTES * (n_src + fmt.MATRICES) + fmt.SYNAPSE_BYTES * nnz
            + fmt.WORD_BYTES * fmt.STATE_WORDS_PER_UNIT * (hi - lo))


def _slices(node, budget: int, cap: int | None) -> list:
    h = node.threshold.shape[0]
    for n_pes in range(max(1, -(-h // cap) if cap else 1), h + 1):
        k = -(-h // n_pes)
        cuts = [(lo, min(lo + k, h)) for lo in range(0, h, k)]
        if max(slice_bytes(node, lo, hi) for lo, hi in cuts) <= budget:
            return cuts
    return [(u, u + 1) for u in range(h)]


def plan(graph: Graph, target, options) -> Mapping:
    opts = parse(options.backend, target)
    layers, outputs, inputs = _chain(graph)
    budget = budget_words(target) * fmt.WORD_BYTES  # the DTCM window minus stack and heap
    for layer in layers:
        layer.slices = _slices(layer.node, budget, opts.atoms_cap(layer.name))
    steps = options.common.steps or target.v("defaults.steps")
    m = Mapping(layers, outputs, inputs, [], steps, opts.tick, opts.clock)
    m.sram = [slice_bytes(l.node, lo, hi) for l in layers for lo, hi in l.slices]
    n_pes = len(m.sram)
    c = {k: target.v(f"cost.{k}") for k in fmt.COST_KEYS}
    act = opts.activity
    for l in layers:
        h, n_in = l.node.threshold.shape[0], l.node.W.shape[1]
        for lo, hi in l.slices:
            rows = gate_rows(h, lo, hi)
            events_in = act * (n_in + h)
            syn = act * (np.count_nonzero(l.node.W[rows]) + np.count_nonzero(l.node.R[rows]))
            m.est_cycles.append(int(c["tick_overhead"] + events_in * c["packet_received"] + syn * c["egru_column_update"]
                                    + (hi - lo) * (c["egru_unit_update"] + fmt.GATES * c["exp_cycles"])
                                    + act * (hi - lo) * c["packet_sent"]))
    m.rules = [Rule("PEs", n_pes, target.v("limits.usable_pes"), hint="prune the EGRU weights or use fewer units"),
               Rule("DTCM bytes per PE", max(m.sram), budget, where=_worst(m, m.sram),
                    hint="an EGRU unit's synapses must fit one PE"),
               Rule("cycles per tick", max(m.est_cycles), opts.tick * opts.clock, where=_worst(m, m.est_cycles),
                    hint="raise -O tick or -O clock, or cap units per PE with -O max_atoms_per_core")]
    if all(r.ok for r in m.rules):
        geo = Geometry.from_target(target)
        pl = place(n_pes, geo)
        m.pe_xy = np.column_stack([pl.qpe, pl.pe]).astype(np.int64)
        m.router = geo.router_qpe
    return m


def _worst(m: Mapping, values: list) -> str:
    i = int(np.argmax(values))
    names = [f"{l.name}[{lo}:{hi}]" for l in m.layers for lo, hi in l.slices]
    return names[i]


def write(m: Mapping, target, out) -> dict:
    """egru.npz (per PE: source-keyed CSR of its gate rows, biases, thresholds) + egru.json."""
    arrays, pe_rows, k = {}, [], 0
    for li, l in enumerate(m.layers):
        node, h = l.node, l.node.threshold.shape[0]
        for lo, hi in l.slices:
            rows = gate_rows(h, lo, hi)
            for key, w in (("W", node.W), ("R", node.R)):
                rows_by_source = sp.csr_matrix(np.asarray(w[rows], np.float32).T)  # (sources, 3k)
                arrays[fmt.key(k, key, "indptr")] = rows_by_source.indptr.astype(np.uint32)
                arrays[fmt.key(k, key, "index")] = rows_by_source.indices.astype(np.uint16)
                arrays[fmt.key(k, key, "weight")] = rows_by_source.data.astype(np.float32)
            for key in ("b_W", "b_R"):
                arrays[fmt.key(k, key)] = np.asarray(getattr(node, key)[rows], np.float32)
            arrays[fmt.key(k, "threshold")] = np.asarray(node.threshold[lo:hi], np.float32)
            pe_rows.append({"layer": li, "lo": lo, "hi": hi, "qpe": [int(v) for v in m.pe_xy[k, :2]],
                            "pe": int(m.pe_xy[k, 2]), "sram_bytes": m.sram[k], "est_cycles": m.est_cycles[k]})
            k += 1
    save_npz(out / fmt.ARRAYS, **arrays)
    spec = {"layers": [{"name": l.name, "source": l.source, "units": int(l.node.threshold.shape[0]),
                        "inputs": int(l.node.W.shape[1])} for l in m.layers],
            "inputs": m.inputs, "outputs": m.outputs, "pes": pe_rows, "steps": m.steps, "tick": m.tick,
            "clock": m.clock, "router_qpe": [int(v) for v in m.router],
            "cost": {k_: target.v(f"cost.{k_}") for k_ in fmt.COST_KEYS}}
    (out / fmt.SPEC).write_bytes(dump_json(spec))
    return {"egru": True, "pes": len(pe_rows), "per_pe": pe_rows,
            "rules": [{"name": r.name, "needed": r.needed, "available": r.available, "where": r.where,
                       "ok": r.ok} for r in m.rules]}


def report(artifact):
    from rich.table import Table

    info = artifact.manifest["spinnaker2"]
    spec = artifact.json(fmt.SPEC)
    t = Table(title=f"SpiNNaker 2 EGRU layers on the Arm cores ({info['pes']} PEs)")
    for col in ("PE", "layer", "units", "SRAM bytes", "est. cycles/tick"):
        t.add_column(col)
    for p in info["per_pe"]:
        t.add_row(f"qpe({p['qpe'][0]},{p['qpe'][1]})/pe{p['pe']}", spec["layers"][p["layer"]]["name"],
                  f"{p['lo']}..{p['hi'] - 1}", str(p["sram_bytes"]), str(p["est_cycles"]))
    return t


def quantized_graph(artifact) -> Graph:
    """The EGRU chain with the weights as the PEs hold them (float32, reassembled from the slices)."""
    from neurodeploy import ir

    g = ir.load(artifact.file(artifact.manifest["model"]))
    spec = artifact.json(fmt.SPEC)
    z = np.load(artifact.file(fmt.ARRAYS))
    for li, layer in enumerate(spec["layers"]):
        node, h = g.nodes[layer["name"]], layer["units"]
        W, R = np.zeros_like(node.W), np.zeros_like(node.R)
        b_W, b_R, th = np.zeros_like(node.b_W), np.zeros_like(node.b_R), np.zeros_like(node.threshold)
        for k, p in enumerate(spec["pes"]):
            if p["layer"] != li:
                continue
            rows = gate_rows(h, p["lo"], p["hi"])
            for key, full in (("W", W), ("R", R)):
                csr = sp.csr_matrix((z[fmt.key(k, key, "weight")], z[fmt.key(k, key, "index")],
                                     z[fmt.key(k, key, "indptr")]), shape=(full.shape[1], len(rows)))
                full[rows] = csr.T.toarray()
            b_W[rows], b_R[rows] = z[fmt.key(k, "b_W")], z[fmt.key(k, "b_R")]
            th[p["lo"]:p["hi"]] = z[fmt.key(k, "threshold")]
        g.nodes[layer["name"]] = dialect.EGRU(W=W, R=R, b_W=b_W, b_R=b_R, threshold=th)
    return g
