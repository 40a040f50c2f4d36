"""A PyNN network -> NIR nodes and edges plus `Semantics` (`frontends.Export`), and the rewrite the
reference simulator runs.

Mapping (PyNN units ms, mV, nA, nF -> NIR seconds; voltages stay mV, currents nA, R in MΩ):
- ``IF_curr_exp`` -> three nodes, the exact discrete form of PyNN's model (pyNN.brian2, NEST):
  ``<label>.isyn`` an ``LI`` with tau = tau_syn, r = 1/(1 - e^(-dt/tau_syn)) (so I' = e^(-dt/tau_syn) I
  + sum of w·s: an arriving spike adds its weight to the current, as PyNN does); ``<label>.lag`` a
  one-step ``Delay`` (the current added at the end of step t acts on v from step t+1); ``<label>``
  an ``LIF`` with tau = tau_m, r = R·q/(1 - e^(-dt/tau_m)), R = tau_m/cm, q the charge a unit
  current step leaves on v in one step (``neurodeploy.sim.neurons``: the exact CubaLIF's q).
  Voltages are relative to v_rest (NIR state starts at 0): v_leak = R·i_offset and the initial
  voltage must be v_rest (graph metadata ``pynn.v_rest`` gives the offset back). A ``CubaLIF``
  holds its input over the step instead, which delivers the same charge on a different time course.
- spike sources -> ``Input`` nodes; every neuron population also gets an ``Output``.
- a projection -> per (pre population, post population, delay): ``Delay`` (the PyNN delay in s,
  shared per pre population and delay) -> ``Linear`` (post x pre; inhibitory weights negative,
  whatever sign the script gave: the sPyNNaker dialect uses magnitudes) -> ``<post>.isyn``.
- ``STDPMechanism(SpikePairRule, AdditiveWeightDependence)`` -> the dialect ``STDP`` node on that
  ``Linear``, a± = A± (the sPyNNaker dialect: A± in weight units) or w_max·A± (``dialect="pynn"``,
  PyNN's additive rule). STDP delays are dendritic by default (PyNN's dendritic_delay_fraction = 1,
  sPyNNaker, NEST): ``Linear`` -> ``<name>.dendrite`` Delay -> ``<post>.isyn``, so the rule sees
  the pre spike when sent and the post spike d later (`neurodeploy.sim.plastic`); with
  dendritic_delay_fraction = 0 (axonal, pyNN.brian2's only mode) the Delay precedes the Linear.
A projection that closes a loop carries one step less in its own ``<name>.axon`` Delay: NIR
delays the loop-closing edge by a step (`_loops`).
Semantics: dt = timestep, reset to v_reset at once, exact integrator, refractory = tau_refrac
(one value for the network; NEST's and sPyNNaker's meaning: n = tau_refrac/dt steps after the
spike step), synaptic_delay 0 (every delay is a node).
"""
from __future__ import annotations

import numpy as np
import nir

from ..errors import InvalidModel, UnsupportedNode, UnsupportedSemantics
from ..frontends import Export, exported
from ..ir import dialect as nir_dialect
from ..ir.graph import evaluation_order
from ..semantics import Semantics, to_steps
from . import model

MS = 1e-3  # format: PyNN times are ms, NIR's seconds


def export(sim) -> Export:
    nodes, edges, meta = {}, [], {}
    for p in sim.populations:
        if p.celltype.is_source:
            nodes[p.label] = nir.Input(input_type={"input": np.array([p.size])})
            continue
        (nodes[p.label + ".isyn"], nodes[p.label]), meta[p.label] = _neuron(p, sim.dt)
        nodes[p.label + ".lag"] = nir.Delay(delay=np.full(p.size, sim.dt * MS))
        nodes[p.label + ".out"] = nir.Output(output_type={"output": np.array([p.size])})
        edges += [(p.label + ".isyn", p.label + ".lag"), (p.label + ".lag", p.label), (p.label, p.label + ".out")]
    for proj in sim.projections:
        for (a, b, d), w in _blocks(proj, sim.dt).items():
            name = f"{proj.label}:{a.label}->{b.label}@{d:g}ms"
            nodes[name] = nir.Linear(weight=w)
            if proj.synapse_type.plastic and proj.synapse_type.dendritic:
                nodes[name + ".dendrite"] = nir.Delay(delay=np.full(b.size, d * MS))
                edges += [(a.label, name), (name, name + ".dendrite"), (name + ".dendrite", b.label + ".isyn")]
            else:
                delay = f"{a.label}.delay{d:g}ms"
                if delay not in nodes:
                    nodes[delay] = nir.Delay(delay=np.full(a.size, d * MS))
                    edges.append((a.label, delay))
                edges += [(delay, name), (name, b.label + ".isyn")]
            if proj.synapse_type.plastic:
                nodes[name + ".stdp"] = _rule(proj, name, sim.dialect)
    _loops(nodes, edges, sim.dt)
    sem = Semantics(dt=sim.dt * MS, reset="v_reset", integrator="exact", reset_timing="same_step",
                    refractory=_refractory(sim) * MS)
    exp = exported(nodes, edges, sem, "neurodeploy.pynn")
    exp.graph.metadata["pynn"] = {"v_rest": meta, "timestep_ms": sim.dt}
    return exp


def _loops(nodes, edges, dt) -> None:
    """NIR delays a cycle-closing edge by one step (docs/semantics: recurrent edges deliver the
    previous step's value), so the projection whose Linear -> <post>.isyn edge closes a loop gets
    a Delay of its own one step shorter: the loop keeps PyNN's total delay."""
    roots = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    _, delayed = evaluation_order(list(nodes), edges, roots)
    for u, v in sorted(delayed):
        (pre_delay,) = [a for a, b in edges if b == u] if isinstance(nodes[u], nir.Linear) else [None]
        if pre_delay is None or not isinstance(nodes[pre_delay], nir.Delay) or not v.endswith(".isyn"):
            raise UnsupportedNode("a loop closed by a plastic projection with a dendritic delay: its "
                                  "delay cannot give NIR's loop step back", where=u,
                                  hint="dendritic_delay_fraction=0 for that projection")
        own, (source,) = u + ".axon", [a for a, b in edges if b == pre_delay]
        nodes[own] = nir.Delay(delay=np.asarray(nodes[pre_delay].delay) - dt * MS)
        edges[edges.index((pre_delay, u))] = (own, u)
        edges.append((source, own))
        if not any(a == pre_delay for a, _ in edges):  # the shared Delay served only this projection
            del nodes[pre_delay]
            edges.remove((source, pre_delay))
    if evaluation_order(list(nodes), edges, roots)[1] != delayed:
        raise InvalidModel("the network's loops could not be given NIR's one-step loop delay back",
                           where=", ".join(sorted(u for u, _ in delayed)))


def for_reference(exp: Export) -> tuple[nir.NIRGraph, Semantics]:
    """The export under the semantics the reference models: a one-step refractory period as
    ``next_step_hold`` (the v after the spike's next update is replaced by v_reset, below
    threshold: the same spikes as holding v for that step)."""
    sem = exp.semantics
    n_ref = sem.refractory_steps
    if n_ref > 1:
        raise UnsupportedSemantics(f"refractory period of {n_ref} steps: the reference models 0 or 1",
                                   hint="use tau_refrac <= timestep")
    timing = "next_step_hold" if n_ref == 1 else sem.reset_timing
    return exp.graph, sem.with_(refractory=0.0, reset_timing=timing)


def _neuron(p, dt):
    if not isinstance(p.celltype, model.IF_curr_exp):
        raise UnsupportedNode(f"{p.celltype.name} has no neurodeploy model", where=p.label,
                              hint="supported cells: IF_curr_exp, SpikeSourceArray, SpikeSourcePoisson")
    q = p.params
    if not np.allclose(q["tau_syn_E"], q["tau_syn_I"]):
        raise UnsupportedNode("IF_curr_exp with tau_syn_E != tau_syn_I: every target has one synaptic "
                              "current per neuron", where=p.label)
    if not np.allclose(p.initial["v"], q["v_rest"]):
        raise UnsupportedNode("an initial v other than v_rest: NIR neuron state starts at rest",
                              where=p.label, hint="set v to v_rest (Population.set(v=...))")
    ts, tm, big_r = q["tau_syn_E"] * MS, q["tau_m"] * MS, q["tau_m"] / q["cm"]
    dt_s = dt * MS
    a_s, a_m = np.exp(-dt_s / ts), np.exp(-dt_s / tm)
    same = np.isclose(ts, tm)
    charge = np.where(same, dt_s / tm * a_m, ts / np.where(same, 1.0, ts - tm) * (a_s - a_m))
    isyn = nir.LI(tau=ts, r=1.0 / (1.0 - a_s), v_leak=np.zeros(p.size))
    lif = nir.LIF(tau=tm, r=big_r * charge / (1.0 - a_m), v_leak=big_r * q["i_offset"],
                  v_threshold=q["v_thresh"] - q["v_rest"], v_reset=q["v_reset"] - q["v_rest"])
    return (isyn, lif), q["v_rest"].tolist()


def _refractory(sim) -> float:
    values = {float(v) for p in sim.populations if not p.celltype.is_source for v in p.params["tau_refrac"]}
    if len(values) > 1:
        raise UnsupportedSemantics(f"tau_refrac differs between cells ({sorted(values)} ms): the refractory "
                                   f"period is one value per network", where=", ".join(
                                       p.label for p in sim.populations if not p.celltype.is_source))
    return values.pop() if values else 0.0


def _blocks(proj, dt) -> dict:
    """(pre population, post population, delay ms) -> weight matrix (post.size, pre.size)."""
    pre_ids, post_ids = proj.pre.ids, proj.post.ids
    pops = {p.serial: p for c in (proj.pre, proj.post) for p, _ in c.pieces}
    out: dict = {}
    for (i, j), w, d in zip(proj.rows, proj.weights, proj.delays):
        (sa, ia), (sb, jb) = pre_ids[i], post_ids[j]
        a, b = pops[sa], pops[sb]
        to_steps(d * MS, dt * MS, "delay", where=proj.label)
        key = (a, b, float(d))
        if key not in out:
            out[key] = np.zeros((b.size, a.size))
        out[key][jb, ia] += proj.sign * abs(w)
    return out


def _rule(proj, name, dialect):
    st = proj.synapse_type
    timing, dep = st.timing_dependence, st.weight_dependence
    rule = f"{type(timing).__name__} with {type(dep).__name__}"
    if not isinstance(timing, model.SpikePairRule) or type(dep) is not model.AdditiveWeightDependence:
        raise UnsupportedNode(f"STDP rule {rule}: supported is SpikePairRule with AdditiveWeightDependence",
                              where=proj.label)
    (a, ia), = proj.pre.pieces if len(proj.pre.pieces) == 1 else [(None, None)]
    (b, jb), = proj.post.pieces if len(proj.post.pieces) == 1 else [(None, None)]
    full = a is not None and b is not None and len(ia) == a.size and len(jb) == b.size
    if not full or len(proj.rows) != a.size * b.size or len(set(proj.delays)) != 1:
        raise UnsupportedNode(f"STDP ({rule}) needs an all-to-all projection between whole populations with "
                              f"one delay: the learning rule updates every synapse of the weight matrix",
                              where=proj.label)
    if proj.receptor_type != "excitatory":
        raise UnsupportedNode(f"STDP ({rule}) on an inhibitory projection", where=proj.label)
    if not dep.w_min <= dep.w_max:
        raise InvalidModel(f"STDP ({rule}): w_min {dep.w_min} exceeds w_max {dep.w_max}", where=proj.label)
    scale = dep.w_max if dialect == "pynn" else 1.0
    return nir_dialect.STDP(weight=name, tau_plus=timing.tau_plus * MS, tau_minus=timing.tau_minus * MS,
                            a_plus=scale * timing.A_plus, a_minus=scale * timing.A_minus,
                            w_min=dep.w_min, w_max=dep.w_max)
