"""Whole blocks on SpiNNaker 2's general-purpose cores: a chip part holding LayerNorm or RWKV
time/channel-mix nodes (with LIF neurons, residual Scale adds and weight layers between them) runs
as FP32 kernels on the Arm M4F cores (cores_kernel.py), not as py-spinnaker2 populations.

Each node gets the PEs its float32 parameters and state need (DTCM minus stack/heap per PE); the
design rules are the PE count and the cycles a token needs within one tick (a token's nodes run one
after another; each node's work is split over its PEs). The artifact: cores_format.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurodeploy.artifact import dump_json, save_npz
from neurodeploy.backend import Rule
from neurodeploy.errors import UnsupportedNode
from neurodeploy.ir import dialect
from neurodeploy.ir.graph import Graph

from . import cores_format as fmt
from .cores_kernel import element_work
from .options import parse
from .partition import budget_words

ROLE = "compile"


def handles(graph: Graph) -> bool:
    return any(type(n).__name__ in fmt.CORE_TYPES for n in graph.nodes.values())


@dataclass
class Mapping:
    nodes: list                  # per node: the cores.json entry
    arrays: dict                 # cores.npz
    semantics: dict
    edges: list
    tick: float
    clock: float
    rules: list = field(default_factory=list)


def _fields(name: str, node) -> tuple[dict, dict]:
    """(array fields, number fields) of a node, as the kernel rebuilds it."""
    t = type(node).__name__
    if dialect.is_dialect(node):
        kinds = type(node).FIELDS
        return ({f: getattr(node, f) for f, k in kinds.items() if k == "array"},
                {f: float(getattr(node, f)) for f, k in kinds.items() if k == "float"})
    if t not in fmt.NIR_FIELDS:
        raise UnsupportedNode(f"{t} has no kernel on SpiNNaker 2's cores", where=name,
                              hint=f"blocks on the cores take {', '.join(fmt.CORE_TYPES + fmt.PLAIN_TYPES)}")
    return {f: getattr(node, f) for f in fmt.NIR_FIELDS[t] if getattr(node, f, None) is not None}, {}


def _hidden(node) -> int:
    t = type(node).__name__
    return int(node.W_k.shape[0]) if t in ("RWKVTimeMix", "RWKVChannelMix") else 0


def plan(graph: Graph, target, options) -> Mapping:
    opts = parse(options.backend, target)
    budget = budget_words(target) * fmt.WORD_BYTES  # the DTCM window minus stack and heap
    c = {k: target.v(f"cost.{k}") for k in fmt.COST_KEYS}
    nodes, arrays, cycles = [], {}, 0.0
    for n in graph.order:
        node, t = graph.nodes[n], type(graph.nodes[n]).__name__
        width = int(graph.size(n))
        entry = {"name": n, "type": t, "shape": [int(s) for s in graph.out_shape[n]], "width": width,
                 "hidden": _hidden(node), "arrays": [], "floats": {}, "pes": 0, "values_sent": 0, "dest_pes": 0}
        if t not in ("Input", "Output"):
            arr, num = _fields(n, node)
            for f, a in arr.items():
                arrays[fmt.key(n, f)] = np.asarray(a, np.float32)
            entry.update(arrays=sorted(arr), floats=num)
            words = sum(np.asarray(a).size for a in arr.values()) + width * (1 + entry["hidden"])
            entry["pes"] = max(1, -(-words * fmt.WORD_BYTES // budget))
            w = element_work(t, width, entry["hidden"])
            macs = sum(np.asarray(a).size for f, a in arr.items() if np.ndim(a) == 2)
            cycles += (macs * c["fp32_mac"] + w["exp"] * c["exp_cycles"] + w["div"] * c["fp32_div"]
                       + w["op"] * c["fp32_op"] + w["neuron"] * c["neuron_update_lif"]) / entry["pes"]
        nodes.append(entry)
    by_name = {e["name"]: e for e in nodes}
    for e in nodes:
        consumers = [by_name[d] for d in graph.successors(e["name"]) if by_name[d]["type"] != "Output"]
        if e["type"] != "Input" and consumers:
            e["values_sent"], e["dest_pes"] = e["width"], sum(d["pes"] for d in consumers)
    n_pes = sum(e["pes"] for e in nodes)
    m = Mapping(nodes, arrays, graph.semantics.to_dict(), [list(e) for e in graph.edges], opts.tick, opts.clock)
    m.rules = [Rule("PEs", n_pes, target.v("limits.usable_pes"), hint="shrink the blocks or use a board target"),
               Rule("cycles per token", int(cycles + c["tick_overhead"]), opts.tick * opts.clock,
                    hint="raise -O tick or -O clock (a token's blocks run in one tick)")]
    return m


def write(m: Mapping, target, out) -> dict:
    save_npz(out / fmt.ARRAYS, **m.arrays)
    spec = {"semantics": m.semantics, "nodes": m.nodes, "edges": m.edges, "tick": m.tick, "clock": m.clock,
            "cost": {k: target.v(f"cost.{k}") for k in fmt.COST_KEYS}}
    (out / fmt.SPEC).write_bytes(dump_json(spec))
    return {"cores": True, "pes": sum(e["pes"] for e in m.nodes),
            "per_node": [{"name": e["name"], "type": e["type"], "pes": e["pes"]} for e in m.nodes if e["pes"]],
            "rules": [{"name": r.name, "needed": r.needed, "available": r.available, "where": r.where, "ok": r.ok}
                      for r in m.rules]}


def report(artifact):
    from rich.table import Table

    info = artifact.manifest["spinnaker2"]
    t = Table(title=f"SpiNNaker 2 blocks on the Arm cores ({info['pes']} PEs, FP32 kernels)")
    for col in ("node", "type", "PEs"):
        t.add_column(col)
    for e in info["per_node"]:
        t.add_row(e["name"], e["type"], str(e["pes"]))
    return t


def quantized_graph(artifact) -> Graph:
    """The graph with its parameters as the cores hold them (float32)."""
    from .cores_kernel import rebuild

    with np.load(artifact.file(fmt.ARRAYS)) as z:
        return rebuild(artifact.json(fmt.SPEC), z)

