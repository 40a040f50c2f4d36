"""Counters implied by the recorded spikes, to check what a target simulator counted.

A simulator's counters are only as good as their agreement with the spikes it produced: a
``synaptic_events`` count that differs from Σ (non-zero input) × (non-zero-weight fan-out) means
events were lost or double-counted, and every energy figure built on it is wrong.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import SPIKING_TYPES, Graph
from ..result import Counters, Result
from .neurobench import activity, dense_ops_per_step, synaptic_operations


def implied_counters(graph: Graph, result: Result, inputs=None) -> Counters:
    """Totals over the whole run (all batch samples) that the recorded activity implies."""
    ops = synaptic_operations(graph, result, inputs, at_delivery=False)
    traces = [activity(graph, result, n) for n in graph.neurons()]
    steps, batch = traces[0].shape[:2] if traces else (0, 0)
    return {
        "synaptic_events": sum(l["effective_acs"] + l["effective_macs"] for l in ops["per_layer"].values()),
        "macs": sum(l["effective_macs"] for l in ops["per_layer"].values()),
        "dense_synaptic_ops": dense_ops_per_step(graph) * steps * batch,
        "neuron_updates": float(sum(t[0, 0].size for t in traces) * steps * batch),
        "spikes": float(sum(np.count_nonzero(activity(graph, result, n)) for n in graph.neurons()
                            if isinstance(graph.nodes[n], SPIKING_TYPES))),
    }


def check_counters(result: Result, graph: Graph, inputs=None, *, keys=None,
                   rtol: float = 0.0) -> dict[str, tuple[float, float]]:
    """Mismatches between counted and implied counters, as {name: (counted, implied)}.

    Compares `keys` (default: every implied counter the result has; an event-driven target whose
    neurons update only on input should leave out ``neuron_updates``). Empty means agreement."""
    implied = implied_counters(graph, result, inputs)
    keys = [k for k in implied if k in result.counters] if keys is None else keys
    return {k: (float(result.counters.get(k, np.nan)), implied[k]) for k in keys
            if not np.isclose(result.counters.get(k, np.nan), implied[k], rtol=rtol, atol=0)}
