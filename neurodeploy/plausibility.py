"""Signs that a run cannot mean what the user intended, said as warnings (stderr) rather than errors:
the run is valid, but silently returning zeros is worse than a line of explanation.

- **no output spikes at all** over every step and sample (the usual cause: a dt the model was not
  trained with, so each step adds dt*R of the input, e.g. Sinabs/Norse IF networks at dt = 1e-4);
- **a decay that rounds to no decay**: a leaky neuron whose per-step decay is exactly 1, in the float
  reference (τ/dt beyond float precision) or on a target whose decay register cannot hold it
  (`Backend.quantized_graph` holds the target's own decay);
- **τ far shorter than dt**: less than e^-FAR of the state survives a step, so the neuron only sees
  the current step's input (a τ in seconds read at dt in steps, or the reverse).
"""
from __future__ import annotations

import math

import numpy as np

from . import ops
from .ir.graph import Graph
from .result import Result
from .sim.neurons import discretise

FAR = 5.0  # dt/τ beyond which < e^-5 (0.7 %) of the state carries over a step
TAU_FIELDS = ("tau", "tau_mem", "tau_syn")
FAINT_INPUT = 1e-2  # per-step input gain (dt*R ...) below which a silent run is blamed on dt


def _decays(graph: Graph, leaky_only: bool = True) -> dict[str, np.ndarray]:
    """Membrane decay per step of each neuron node (only those with a τ field: leaky_only), flattened."""
    out = {}
    for n in graph.neurons():
        node = graph.nodes[n]
        if ops.get(node, n).discretise is None or \
                (leaky_only and all(getattr(node, f, None) is None for f in TAU_FIELDS)):
            continue
        out[n] = np.ravel(discretise(n, node, tuple(graph.out_shape[n]), graph.semantics).a_m)
    return out


def graph_warnings(graph: Graph) -> list[str]:
    """τ far shorter than dt, and decays that are exactly 1 in float64, per neuron node."""
    dt, msgs = graph.semantics.dt, []
    for n in graph.neurons():
        node = graph.nodes[n]
        for f in TAU_FIELDS:
            tau = getattr(node, f, None)
            if tau is not None and np.min(tau) * FAR < dt:
                msgs.append(f"{n}: {f} = {np.min(tau):.3g} s is far shorter than dt = {dt:g} s: the neuron "
                            f"keeps under {math.exp(-FAR):.1%} of its state per step (is {f} in steps, or dt wrong?)")
    for n, a in _decays(graph).items():
        if np.all(a == 1.0):
            msgs.append(f"{n}: its decay per step rounds to 1 (no decay) at dt = {dt:g} s: it runs as a "
                        "non-leaky integrator")
    return msgs


def target_warnings(model: Graph, quantized: Graph, target: str) -> list[str]:
    """Leaky neurons of the model whose decay the target holds as exactly 1 (no decay)."""
    q, msgs = _decays(quantized, leaky_only=False), []
    for n, a in _decays(model).items():
        if n in q and a.size == q[n].size and np.any((a < 1.0) & (q[n] == 1.0)):
            msgs.append(f"{n}: its decay per step ({a.min():.6g}) rounds to no decay on {target}: it runs as a "
                        "non-leaky integrator there (a τ this long needs a larger dt or a finer decay register)")
    return msgs


def silent_output(result: Result, names, graph: Graph | None = None) -> list[str]:
    """A warning when every recorded spike trace in `names` is all zeros (none: nothing recorded)."""
    traces = [result.spikes[n] for n in names if n in result.spikes]
    if not traces or any(np.any(t) for t in traces):
        return []
    T, B = traces[0].shape[:2]
    msg = f"no output spikes at all ({', '.join(n for n in names if n in result.spikes)}; {T} steps x {B} samples)"
    faint = _faint_inputs(graph) if graph is not None else []
    if faint:
        msg += (f": at dt = {graph.semantics.dt:g} s, {', '.join(faint)} add(s) under {FAINT_INPUT:g} of "
                "their input per step; check --dt (Sinabs and snnTorch exports assume dt = 1)")
    else:
        msg += "; check dt (--dt), the input's scale and the thresholds"
    return [msg]


def _faint_inputs(graph: Graph) -> list[str]:
    out = []
    for n in graph.neurons():
        if ops.get(graph.nodes[n], n).discretise is None:
            continue
        co = discretise(n, graph.nodes[n], tuple(graph.out_shape[n]), graph.semantics)
        gain = co.k_x if co.g_s is None else co.g_s * (co.k_i if co.k_i is not None else 1.0) + co.k_x
        if np.max(np.abs(gain)) < FAINT_INPUT:
            out.append(n)
    return out


def artifact_warnings(artifact, result: Result | None = None) -> list[str]:
    """Everything above for an artifact (its model, its target's decays) and, given, a run of it."""
    from . import backend as bk
    from .energy.compare import artifact_graph
    from .errors import NeuroDeployError

    model = artifact_graph(artifact)
    msgs = graph_warnings(model) if model is not None else []
    if model is not None:
        try:
            msgs += target_warnings(model, bk.get(artifact.backend).quantized_graph(artifact), artifact.target)
        except (NotImplementedError, NeuroDeployError):
            pass  # a backend without a float model of its artifact: nothing to compare
    if result is not None:
        msgs += silent_output(result, list(result.spikes), model)
    return msgs
