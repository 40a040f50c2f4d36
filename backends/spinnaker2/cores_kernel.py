"""Whole blocks (LayerNorm, RWKV time-mix and channel-mix, LIF, residual adds) as SpiNNaker 2's Arm
cores would run them, read from the artifact only (cores_format.py).

The kernels compute the dialect's equations (docs/equations.md) in FP32, the M4F's single-precision
FPU, with exp from the exp/log accelerator in its FP32 mode (reference spinnaker2.md §1: s16.15,
s0.31 and FP32 formats) and divisions on the FPU; so the arithmetic is the reference's run in
float32 on the graph rebuilt from the artifact's float32 parameters. Cost per sample and token,
per node (`element_work`): weight products as FP32 MACs (event-driven: a zero operand is skipped),
exps, divisions and other FP operations, LIF updates; spread over the node's PEs. Nodes of one
token depend on each other in order, so a token takes the sum over nodes of (node cycles / its PEs)
plus one tick overhead; values passed between nodes are packets (one per non-zero value and
consuming PE). Counters are priced by the target's energy model.
"""
from __future__ import annotations

import nir
import numpy as np

from neurodeploy import ir
from neurodeploy.errors import UsageError
from neurodeploy.ir import dialect
from neurodeploy.result import Result
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

from . import cores_format as fmt

ROLE = "simulate"
# Operation counts of the kernels' equations (docs/equations.md), per element, not hardware numbers:
WKV_EXPS, WKV_DIVS = 4, 1  # format: exps and divisions of one WKV step per channel
TM_OPS_D, TM_OPS_A = 9, 12  # format: time-mix FP ops per input element (3 mixes) and per channel (WKV, gate)
CM_OPS_D = 8  # format: channel-mix FP ops per element (2 mixes, gate product, sigmoid add)
LN_OPS_D, LN_DIVS = 6, 2  # format: layer norm FP ops per element; sqrt + one reciprocal


def element_work(type_name: str, shape: int, hidden: int = 0) -> dict:
    """Non-MAC work of one node per sample and token: exp calls, divisions, other FP operations,
    neuron updates (`shape` = its width d; `hidden` = the time-mix/channel-mix inner width)."""
    d, a = shape, hidden
    if type_name == "RWKVTimeMix":  # token shift mixes (3 x 3d), WKV, sigma(r) = 1 exp + 1 div, gate
        return {"exp": (WKV_EXPS + 1) * a, "div": (WKV_DIVS + 1) * a, "op": TM_OPS_D * d + TM_OPS_A * a, "neuron": 0}
    if type_name == "RWKVChannelMix":  # two mixes, relu^2, sigmoid gate, product
        return {"exp": d, "div": d, "op": CM_OPS_D * d + 2 * a, "neuron": 0}
    if type_name == "LayerNorm":  # mean, centred squares, variance, 1/sqrt, scale and shift
        return {"exp": 0, "div": LN_DIVS, "op": LN_OPS_D * d, "neuron": 0}
    if type_name in ("LIF", "IF", "LI"):
        return {"exp": 0, "div": 0, "op": 0, "neuron": d}
    if type_name == "Scale":
        return {"exp": 0, "div": 0, "op": d, "neuron": 0}
    return {"exp": 0, "div": 0, "op": 0, "neuron": 0}


def rebuild(spec: dict, z) -> "ir.Graph":
    nodes = {}
    for n in spec["nodes"]:
        name, t, shape = n["name"], n["type"], np.array(n["shape"])
        if t == "Input":
            nodes[name] = nir.Input(input_type={"input": shape})
        elif t == "Output":
            nodes[name] = nir.Output(output_type={"output": shape})
        else:
            kw = {f: z[fmt.key(name, f)].astype(np.float64) for f in n["arrays"]}
            kw.update(n["floats"])
            cls = dialect.REGISTRY.get(t) or getattr(nir, t)
            nodes[name] = cls(**kw)
    g = nir.NIRGraph(nodes=nodes, edges=[tuple(e) for e in spec["edges"]], type_check=False)
    return ir.normalize(g, Semantics.from_dict(spec["semantics"]))


def run(art, inputs, *, steps: int | None, record: list[str]) -> Result:
    spec = art.json(fmt.SPEC)
    with np.load(art.file(fmt.ARRAYS)) as z:
        graph = rebuild(spec, z)
    if len(graph.inputs) != 1 and not isinstance(inputs, dict):
        raise UsageError(f"the chip part has {len(graph.inputs)} inputs; pass a dict input -> array")
    res = simulate(graph, inputs, steps=steps, record=graph.outputs + list(record), dtype=np.float32)
    T = int(res.counters.get("ticks", 0))
    B = next(iter(res.extra["outputs"].values()), next(iter(res.spikes.values()), np.zeros((0, 1)))).shape[1]
    c = spec["cost"]
    node_cycles, per_token, packets = {}, 0.0, 0
    for n in spec["nodes"]:
        if n["type"] in ("Input", "Output"):
            continue
        w = element_work(n["type"], n["width"], n["hidden"])
        macs = res.per_layer.get(n["name"], {}).get("synaptic_events", 0)
        cyc = (macs * c["fp32_mac"] + T * B * (w["exp"] * c["exp_cycles"] + w["div"] * c["fp32_div"]
                                               + w["op"] * c["fp32_op"] + w["neuron"] * c["neuron_update_lif"]))
        node_cycles[n["name"]] = cyc
        per_token += cyc / n["pes"] / max(1, T * B)
        packets += n["values_sent"] * T * B * n["dest_pes"]
    n_pes = sum(n["pes"] for n in spec["nodes"])
    overhead = T * B * (n_pes * c["tick_overhead"]) + packets * (c["packet_sent"] + c["packet_received"])
    work = float(sum(node_cycles.values()))
    outs = {**res.extra.get("outputs", {}), **{o: v.astype(np.float64) for o, v in res.spikes.items()}}
    counters = {k: res.counters[k] for k in ("synaptic_events", "macs", "neuron_updates", "spikes") if k in res.counters}
    counters.update({"cycles": work + overhead, "ticks": T, "packets": packets, "s2_core_cycles": work,
                     "s2_overhead_cycles": overhead})
    per_token += c["tick_overhead"] + packets / max(1, T * B) * (c["packet_sent"] + c["packet_received"]) / n_pes
    budget = spec["tick"] * spec["clock"]
    return Result(spikes=dict(res.spikes), counters=counters, per_layer={k: {"cycles": v} for k, v in node_cycles.items()},
                  sim_time_s=T * B * spec["tick"],
                  extra={"engine": "sim", "outputs": outs, "steps": T, "batch": B,
                         "units_used": {"chip": 1, "pe": n_pes}, "compute_time_per_token_s": per_token / spec["clock"],
                         "worst_cycles_per_tick": per_token, "cycle_budget": budget,
                         "overruns": int(per_token > budget) * T})
