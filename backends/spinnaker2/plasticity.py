"""PyNN networks with pair STDP on SpiNNaker 2: populations, delayed projections, weight words
and the plasticity the PEs compute (compile side; the kernel: plastic_kernel.py).

Input: a graph from `neurodeploy.pynn` (graph metadata ``pynn``): per population an ``LI``
current ``<p>.isyn``, a one-step ``<p>.lag`` and the ``LIF`` ``<p>``; spike sources as inputs;
per projection ``Delay`` -> ``Linear`` -> ``<post>.isyn``; ``STDP`` nodes on plastic Linears.
Each population becomes a ``lif_curr_exp`` population (sources ``spike_list``) cut into slices
of at most the model's atoms per PE. Synaptic rows sit on the post population's PEs; a plastic
row is updated in place by the PE that holds it: on a pre spike's arrival (depression with the
post traces) and on each post spike of its neurons (potentiation with the pre traces), words
rounded to nearest and clipped to [w_min, w_max] in LSB units (plastic_format.py names the
words). A plastic projection's delay is dendritic (PyNN's default: the rule sees post spikes d
ticks late, the row is processed when the spike is sent) or axonal (processed at arrival). Delays: d ticks from the spike to its arrival at the row, 1 <= d <= delay_max + 1 (the
3-bit field, the hardware adding one); the current then acts on v from the next tick (the lag).
Design rules: delay range, plastic weight range (an initial plastic weight whose word exceeds
``limits.weight_max_plastic`` at the LSB that holds the rule's w_max), PEs, tick deadline (estimated
at the ``activity`` option with the plasticity work included).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import nir
import numpy as np

from neurodeploy.artifact import dump_json, save_npz
from neurodeploy.backend import Rule
from neurodeploy.errors import UnsupportedNode, UnsupportedSemantics
from neurodeploy.ir import dialect
from neurodeploy.ir.graph import Graph

from . import plastic_format as fmt
from .options import parse

ROLE = "compile"


def handles(graph: Graph) -> bool:
    return "pynn" in graph.metadata


@dataclass
class Mapping:
    spec: dict
    arrays: dict
    rules: list = field(default_factory=list)


def plan(graph: Graph, target, options) -> Mapping:
    opts = parse(options.backend, target)
    sem = graph.semantics
    refractory = _refractory(sem)
    cap = {"lif_curr_exp": target.v("limits.max_atoms_lif_curr_exp"), "spike_list": target.v("limits.max_atoms_spike_list")}
    pops, index = [], {}
    for n in graph.order:
        node = graph.nodes[n]
        if isinstance(node, nir.Input) or isinstance(node, nir.LIF):
            kind = "spike_list" if isinstance(node, nir.Input) else "lif_curr_exp"
            size = int(np.prod(graph.out_shape[n]))
            per_pe = opts.atoms_fixed(n) or opts.atoms_cap(n) or cap[kind]  # as asked: the rule below checks it
            p = {"name": n, "size": size, "kind": kind, "slices": [[lo, min(lo + per_pe, size)] for lo in range(0, size, per_pe)]}
            if kind == "lif_curr_exp":
                p.update(_neuron(graph, n, sem.dt), refractory=refractory)
            index[n] = len(pops)
            pops.append(p)
    for u, v in graph.delayed:
        if not (isinstance(graph.nodes[u], nir.Linear) and v.endswith(".isyn")):
            raise UnsupportedNode(f"the loop closed by {u} -> {v}: the plastic-network kernel delays only a "
                                  "projection's Linear -> <post>.isyn edge", where=u)
    rules_of = {node.weight: (n, node) for n, node in graph.nodes.items() if isinstance(node, dialect.STDP)}
    projs, arrays, raw = [], {}, []
    for n in graph.order:
        if isinstance(graph.nodes[n], nir.Linear):
            raw.append(_projection(graph, n, rules_of.get(n), index))
    lsb = _lsbs(raw, target)
    rules = [Rule("PEs", sum(len(p["slices"]) for p in pops), target.v("limits.usable_pes"), "network")]
    for p in pops:
        rules.append(Rule(f"neurons per PE ({p['kind']})", max(hi - lo for lo, hi in p["slices"]), cap[p["kind"]],
                          p["name"], hint="lower -O max_atoms_per_core / -O atoms_per_core"))
    for pr in raw:
        ticks = pr["delay"]
        rules.append(Rule("delay range (ticks)", ticks, target.v("limits.delay_max") + 1, pr["name"],
                          hint="PyNN delays of 1..8 timesteps fit the 3-bit delay field"))
        rules.append(Rule("delay range (ticks, minimum)", 1, ticks, pr["name"]))
        top = target.v("limits.weight_max_plastic" if pr["rule"] else "limits.weight_max_4bit")
        step = lsb[(pr["post"], pr["sign"], bool(pr["rule"]))]
        words = np.rint(np.abs(pr.pop("w")) / step)
        if pr["rule"]:  # the LSB holds the rule's w_max; an initial weight above it may not fit the word
            rules.append(Rule("plastic weight range", int(words.max(initial=0)), top, pr["name"],
                              hint=f"initial weights up to about the STDP rule's w_max ({pr['rule']['w_max']:g})"))
        arrays[fmt.key(pr["name"])] = np.clip(words, 0, top).astype(np.uint16 if pr["rule"] else np.uint8)
        pr.update(lsb=step, word_max=int(top))
        if pr["rule"]:
            rule = pr["rule"]
            rule["lo"], rule["hi"] = math.ceil(rule["w_min"] / step), math.floor(rule["w_max"] / step)  # step: a power of two
        projs.append(pr)
    spec = {"populations": pops, "projections": projs, "dt": sem.dt, "tick": opts.tick, "clock": opts.clock,
            "outputs": {o: graph.predecessors(o)[0] for o in graph.outputs},
            "steps": options.common.steps or target.v("defaults.steps"),
            "cost": {k: target.v(f"cost.{k}") for k in fmt.COST_KEYS}}
    rules.append(_deadline(spec, arrays, opts.activity, target))
    for r in rules:
        r.raise_if_violated()
    return Mapping(spec, arrays, rules)


def _refractory(sem) -> int:
    if sem.reset != "v_reset":
        raise UnsupportedSemantics(f"reset {sem.reset!r}: the plastic-network kernel resets to v_reset")
    if sem.reset_timing == "next_step_hold":
        return max(1, sem.refractory_steps)
    if sem.reset_timing != "same_step":
        raise UnsupportedSemantics(f"reset_timing {sem.reset_timing!r} on the plastic-network kernel",
                                   hint="same_step (with a refractory period) or next_step_hold")
    return sem.refractory_steps


def _neuron(graph, n, dt) -> dict:
    """Float32 coefficients: I' = a_s I + in; v' = a_m v + c + k I_prev (I of the previous tick)."""
    lif, isyn = graph.nodes[n], graph.nodes.get(n + ".isyn")
    lag = graph.nodes.get(n + ".lag")
    if not isinstance(isyn, nir.LI) or not isinstance(lag, nir.Delay):
        raise UnsupportedNode("a population on the plastic-network kernel needs its synaptic current "
                              f"{n}.isyn (LI) and one-step {n}.lag (Delay), as neurodeploy.pynn exports it", where=n)
    if not np.allclose(isyn.v_leak, 0) or not np.allclose(lag.delay, dt):
        raise UnsupportedNode("the synaptic current must have no leak potential and the lag one step", where=n)
    a_s, a_m = np.exp(-dt / np.asarray(isyn.tau)), np.exp(-dt / np.asarray(lif.tau))
    gain = (1 - a_s) * np.asarray(isyn.r)
    if not np.allclose(gain, 1.0):
        raise UnsupportedNode("the synaptic current must add each weight once (r = 1/(1 - e^(-dt/tau)))", where=n)
    size = int(np.prod(graph.out_shape[n]))
    f = lambda a: np.broadcast_to(np.asarray(a, np.float32), (size,)).tolist()  # noqa: E731
    return {"a_s": f(a_s), "a_m": f(a_m), "k": f((1 - a_m) * np.asarray(lif.r)), "c": f((1 - a_m) * np.asarray(lif.v_leak)),
            "threshold": f(lif.v_threshold), "v_reset": f(lif.v_reset if lif.v_reset is not None else 0.0)}


def _projection(graph, n, rule, index) -> dict:
    preds, succ = graph.predecessors(n), graph.successors(n)
    dendritic = len(succ) == 1 and isinstance(graph.nodes[succ[0]], nir.Delay)
    delay = succ[0] if dendritic else preds[0] if len(preds) == 1 else None
    target = graph.successors(delay) if dendritic else succ
    if delay is None or not isinstance(graph.nodes[delay], nir.Delay) or len(preds) != 1 or len(target) != 1 \
            or not target[0].endswith(".isyn") or (dendritic and rule is None):
        raise UnsupportedNode("a projection on the plastic-network kernel is Delay -> Linear -> <post>.isyn "
                              "(or, plastic with a dendritic delay, Linear -> Delay -> <post>.isyn)", where=n)
    d = np.rint(np.asarray(graph.nodes[delay].delay) / graph.semantics.dt).astype(int)
    pre = preds[0] if dendritic else graph.predecessors(delay)[0]
    post = target[0][: -len(".isyn")]
    d = d + int((n, target[0]) in graph.delayed)  # a loop-closing edge waits one step more (NIR)
    w = np.asarray(graph.nodes[n].weight, float)
    signs = set(np.sign(w[w != 0]).tolist())
    if len(signs) > 1:
        raise UnsupportedNode("a projection's weights must share one sign (one receptor type per row word)", where=n)
    out = {"name": n, "pre": pre, "post": post, "pre_index": index[pre], "post_index": index[post],
           "delay": int(d.max()), "dendritic": dendritic, "sign": -1 if signs == {-1.0} else 1, "w": w,
           "rule": None}
    if d.min() != d.max():
        raise UnsupportedNode("one delay per projection and pre population", where=n)
    if rule is not None:
        name, node = rule
        if out["sign"] < 0 or node.w_min < 0:
            raise UnsupportedNode(f"STDP {name!r} on an inhibitory projection or with w_min < 0: the PEs "
                                  "update unsigned excitatory plastic words only", where=n)
        out["rule"] = {"name": name, "tau_plus": node.tau_plus, "tau_minus": node.tau_minus, "a_plus": node.a_plus,
                       "a_minus": node.a_minus, "w_min": node.w_min, "w_max": node.w_max}
    return out


def _lsbs(raw, target) -> dict:
    """(post, sign, plastic) -> power-of-two LSB holding that type's largest weight."""
    peak: dict = {}
    for pr in raw:
        top = pr["rule"]["w_max"] if pr["rule"] else float(np.abs(pr["w"]).max(initial=0.0))
        k = (pr["post"], pr["sign"], bool(pr["rule"]))
        peak[k] = max(peak.get(k, 0.0), top)
    out = {}
    for (post, sign, plastic), top in peak.items():
        words = target.v("limits.weight_max_plastic" if plastic else "limits.weight_max_4bit")
        out[(post, sign, plastic)] = 2.0 ** math.ceil(math.log2(top / words)) if top > 0 else 1.0
    return out


def _deadline(spec, arrays, activity, target) -> Rule:
    """Worst PE's estimated cycles per tick at `activity` spikes per source neuron and tick."""
    c, pops = spec["cost"], spec["populations"]
    worst = 0.0
    for i, p in enumerate(pops):
        n = max(hi - lo for lo, hi in p["slices"])
        cyc = c["tick_overhead"] + n * c["neuron_update_" + p["kind"]]
        for pr in spec["projections"]:
            if pr["post_index"] != i:
                continue
            w = arrays[fmt.key(pr["name"])]
            fan = np.count_nonzero(w, axis=0).max(initial=0) if not pr["rule"] else w.shape[0]
            spikes = activity * w.shape[1]
            cyc += spikes * (c["packet_received"] + min(fan, n) * c["synaptic_event"])
            if pr["rule"]:
                cyc += spikes * min(fan, n) * c["stdp_synapse_update"] + activity * n * w.shape[1] * c["stdp_synapse_update"]
                cyc += (w.shape[1] + n) * c["stdp_trace_update"]
        worst = max(worst, cyc)
    return Rule("tick deadline (cycles, estimated)", round(worst), spec["tick"] * spec["clock"], "worst PE",
                hint="a longer tick (-O tick=...) or fewer neurons per PE (-O max_atoms_per_core=...)")


def write(m: Mapping, target, out) -> dict:
    save_npz(out / fmt.ARRAYS, **m.arrays)
    (out / fmt.SPEC).write_bytes(dump_json(m.spec))
    return {"plastic": True, "pes": sum(len(p["slices"]) for p in m.spec["populations"]),
            "neurons": sum(p["size"] for p in m.spec["populations"] if p["kind"] != "spike_list"),
            "rules": [{"name": r.name, "needed": r.needed, "available": r.available, "where": r.where, "ok": r.ok}
                      for r in m.rules]}


def report(artifact):
    from rich.table import Table

    spec = artifact.json(fmt.SPEC)
    t = Table(title=f"SpiNNaker 2 plastic network ({artifact.manifest['spinnaker2']['pes']} PEs)")
    for col in ("projection", "delay ticks", "word", "LSB", "rule"):
        t.add_column(col)
    for pr in spec["projections"]:
        t.add_row(pr["name"], str(pr["delay"]), f"{'16' if pr['rule'] else '4'}-bit", f"{pr['lsb']:g}",
                  pr["rule"]["name"] if pr["rule"] else "static")
    return t


def quantized_graph(artifact) -> Graph:
    """The graph with every Linear holding word x LSB (signed) as the PEs do; STDP unchanged."""
    from neurodeploy import ir

    g = ir.load(artifact.file(artifact.manifest["model"]))
    spec, z = artifact.json(fmt.SPEC), artifact.npz(fmt.ARRAYS)
    for pr in spec["projections"]:
        g.nodes[pr["name"]] = nir.Linear(weight=pr["sign"] * pr["lsb"] * z[fmt.key(pr["name"])].astype(float))
    return g
