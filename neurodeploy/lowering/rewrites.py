"""Exact rewrites between reset conventions, chosen by the compiler when a target lacks one.

A graph asks for a reset convention per neuron node (`Semantics.reset`/``reset_timing``, possibly
per node); a target declares the ones it has (`support.Support`). Where the target refuses, the
compiler (`planned`) rewrites every node it can into an equivalent the target may have, built from
parts every target knows, and plans again. Rewrites (derived in docs/semantics.md):

- ``late_zero``: reset to zero (or v_reset) applied next step (snnTorch ``Leaky``) -> the same reset
  in the spiking step. Spikes identical; the recorded v of a spiking step is the reset value instead
  of the above-threshold v.
- ``late_subtract``: subtract applied next step (snnTorch's default) -> subtract in the spiking step
  plus a self-connection (a diagonal NIR ``Linear``, ``Scale`` for a layer of more than one
  dimension; delivered next step as every cycle-closing edge) of
  weight ``-(1 - a_m) * v_th / k_x`` (``a_m``, ``k_x`` the reference's coefficients; IF needs none).
  This is the same-step subtract of ``v_th / a_m`` (v_th/beta) written with native parts. Spikes
  identical; the recorded v of a spiking step is lower by ``v_th`` than snnTorch's (by ``v_th/beta``
  in the single-subtract form). LIF and IF only: a current-based neuron would filter the
  self-connection through its synaptic current.

No exact rewrite (refused, with the closest convention the target has and its measured cost):
``next_step_hold`` (equal to reset to zero plus one step of refractoriness, which no target and
not yet the reference models), ``same_step_double`` (its spike test depends on the stored v).

Each rewrite applied is recorded on the plan's graph (``Graph.metadata["rewrites"]``), copied by
`neurodeploy.backend.compile` into the manifest (``rewrites``) and printed by ``compile``.
"""
from __future__ import annotations

import itertools

import nir
import numpy as np

from ..errors import InvalidModel, UnsupportedNode, UnsupportedSemantics
from ..ir import meta
from ..ir.graph import Graph, is_neuron
from ..semantics import NODE_FIELDS, RESET_TIMINGS, RESETS, Semantics
from .neurons import coefficients
from .support import resetting

KEY = "rewrites"  # Graph.metadata / manifest: list of {rule, nodes, effect}
SPIKING = (nir.LIF, nir.IF, nir.CubaLIF)
AGREEMENT_STEPS, AGREEMENT_BATCH, AGREEMENT_RATE, AGREEMENT_SEED = 100, 4, 0.2, 0
EFFECT = {
    "late_zero": "reset applied in the spiking step: spikes identical; the recorded v of a spiking "
                 "step is the reset value instead of the above-threshold v",
    "late_subtract": "same-step subtract of v_th/beta as a same-step subtract of v_th plus a "
                     "self-connection of -(1-beta)*v_th/k_x: spikes identical; the recorded v of a "
                     "spiking step is lower by v_th",
}


def planned(backend, graph: Graph, target, options):
    """`backend.plan`, or the plan of the exactly rewritten graph when the target lacks a
    convention; `UnsupportedSemantics` naming what is missing and the closest option otherwise."""
    try:
        return backend.plan(graph, target, options)
    except UnsupportedSemantics as e:
        if getattr(e, "field", None) not in NODE_FIELDS:  # a neuron type, dt, ...: nothing to rewrite
            raise
        refused = e
    new, applied = rewrite(graph)
    why = ""
    if applied:
        try:
            plan = backend.plan(new, target, options)
        except UnsupportedSemantics as e:
            if getattr(e, "field", None) not in NODE_FIELDS:  # the conventions fit; something else does not
                raise
            refused = e
        except UnsupportedNode as e:  # e.g. a feed-forward-only target and the self-connection
            why = f"; the exact rewrite ({', '.join(a['rule'] for a in applied)}) is refused too: {e}"
        else:
            return plan
    raise _refusal(backend, graph, target, options, refused, why)


def rewrite(graph: Graph) -> tuple[Graph, list[dict]]:
    """`graph` with every exact rewrite applied (module docstring), and the list of them."""
    nodes, edges = dict(graph.nodes), list(graph.edges)
    in_shape, out_shape = dict(graph.in_shape), dict(graph.out_shape)
    done: dict[str, list[str]] = {}
    for name in graph.neurons():
        node, sem = graph.nodes[name], meta.node_semantics(graph, name)
        if not isinstance(node, SPIKING) or sem.reset_timing != "next_step":
            continue
        if sem.reset != "subtract":
            done.setdefault("late_zero", []).append(name)
        elif isinstance(node, (nir.LIF, nir.IF)):
            co = coefficients(graph, name)
            if np.any(co.k_x == 0):
                continue
            w = -(1.0 - co.a_m) * co.theta / co.k_x
            if np.any(w != 0):
                fb = _free(nodes, f"{name}.reset_feedback")
                nodes[fb] = _self_connection(np.asarray(w, dtype=np.float64))
                edges += [(name, fb), (fb, name)]
                in_shape[fb] = out_shape[fb] = tuple(out_shape[name])
            done.setdefault("late_subtract", []).append(name)
        else:
            continue
        nodes[name] = meta.with_node_fields(node, {"reset": sem.reset, "reset_timing": "same_step"})
    if not done:
        return graph, []
    applied = [{"rule": r, "nodes": ns, "effect": EFFECT[r]} for r, ns in done.items()]
    new = Graph(nodes, edges, in_shape, out_shape, semantics=graph.semantics,
                metadata={**graph.metadata, KEY: [*graph.metadata.get(KEY, []), *applied]}, ports=dict(graph.ports))
    return lifted(new), applied


def lifted(graph: Graph) -> Graph:
    """Per-node reset fields moved to the graph's semantics when every neuron node has the same
    ones (most backends hold one convention per graph), else `graph` unchanged."""
    neurons = resetting(graph)
    if not neurons:
        return graph
    conv = {(s.reset, s.reset_timing) for s in (meta.node_semantics(graph, n) for n in neurons)}
    if len(conv) != 1:
        return graph
    reset, timing = conv.pop()
    nodes = {n: meta.with_node_fields(v, {}) if n in neurons and meta.node_fields(v) else v
             for n, v in graph.nodes.items()}
    return Graph(nodes, list(graph.edges), dict(graph.in_shape), dict(graph.out_shape),
                 semantics=graph.semantics.with_(reset=reset, reset_timing=timing),
                 metadata=dict(graph.metadata), ports=dict(graph.ports))


def agreement(graph: Graph, other: Graph) -> tuple[float, int]:
    """Fraction of (step, sample, neuron) spike values of every spiking node that agree between
    the two graphs in the reference, on seeded random spike input; and the reference's spike count."""
    from ..sim.reference import simulate

    rng = np.random.default_rng(AGREEMENT_SEED)
    xs = {n: (rng.random((AGREEMENT_STEPS, AGREEMENT_BATCH, *graph.out_shape[n])) < AGREEMENT_RATE).astype(float)
          for n in graph.inputs}
    names = resetting(graph)
    if not names:
        return 1.0, 0
    a, b = simulate(graph, xs, record=names), simulate(other, xs, record=names)
    same = sum(int(np.sum(a.spikes[n] == b.spikes[n])) for n in names)
    total = sum(a.spikes[n].size for n in names)
    return same / total, int(sum(a.spikes[n].sum() for n in names))


def _refusal(backend, graph: Graph, target, options, refused: UnsupportedSemantics, why: str) -> UnsupportedSemantics:
    """The backend's own refusal, completed: no exact rewrite exists; the closest convention the
    target has, with its measured agreement (or none)."""
    wanted = sorted({(s.reset, s.reset_timing) for s in (meta.node_semantics(graph, n) for n in resetting(graph))})
    best = None
    for reset, timing in itertools.product(RESETS, RESET_TIMINGS):
        if timing == "same_step_double" and reset != "subtract":
            continue
        try:
            other = _uniform(graph, reset, timing)
            backend.plan(other, target, options)
        except InvalidModel:  # UnsupportedSemantics, UnsupportedNode, a bad parameter: not an option
            continue
        score, spikes = agreement(graph, other)
        if best is None or score > best[0]:
            best = (score, spikes, reset, timing)
    asked = "; ".join(f"reset={r}, reset_timing={t}" for r, t in wanted)
    msg = f"{refused} -- and no exact rewrite of {asked} into a convention {backend.name} has{why}"
    if best is None:
        hint = "no reset convention of this target runs the graph"
    else:
        score, spikes, reset, timing = best
        hint = (f"closest option: --reset {reset} --reset-timing {timing}, which agrees with the graph's own "
                f"convention on {100 * score:.2f} % of spikes (every spiking node, reference, "
                f"{AGREEMENT_STEPS} steps x {AGREEMENT_BATCH} samples of random input at rate "
                f"{AGREEMENT_RATE}; {spikes} reference spikes)")
    err = UnsupportedSemantics(msg, hint=hint)
    err.closest = best
    return err


def _uniform(graph: Graph, reset: str, timing: str) -> Graph:
    """`graph` with one convention for every node (a candidate for the closest option)."""
    nodes = {n: meta.with_node_fields(v, {}) if meta.node_fields(v) else v for n, v in graph.nodes.items()}
    return Graph(nodes, list(graph.edges), dict(graph.in_shape), dict(graph.out_shape),
                 semantics=Semantics.from_dict({**graph.semantics.to_dict(), "reset": reset, "reset_timing": timing}),
                 metadata=dict(graph.metadata), ports=dict(graph.ports))


def _self_connection(w: np.ndarray):
    """Weights `w` from each neuron to itself: a diagonal Linear for a 1-D layer (what every
    backend maps as a synapse), an elementwise Scale otherwise."""
    return nir.Linear(weight=np.diag(w)) if w.ndim == 1 else nir.Scale(scale=w)


def _free(nodes: dict, name: str) -> str:
    k, out = 1, name
    while out in nodes:
        k, out = k + 1, f"{name}{k}"
    return out


__all__ = ["KEY", "agreement", "lifted", "planned", "rewrite"]
