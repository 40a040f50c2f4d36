"""NeuroBench metrics computed on our Graph and recorded activity, with NeuroBench's definitions.

Definitions follow `neurobench` 2.3.0 (metrics/workload/synaptic_operations.py, metrics/utils/
layers/, metrics/static/): a "connection layer" is a weight node (Affine, Linear, Conv1d,
Conv2d: the op definitions with a `fanout`); per layer and time step its input is binarised, Effective ops = Σ non-zero input ×
non-zero weight, Dense = the same with every input and weight set to one (bias excluded, conv
zero-padding excluded); a step whose layer input (whole batch) holds only -1/0/1 counts as ACs,
otherwise MACs; everything is averaged per sample. Activation sparsity = zero outputs / all
outputs of every neuron node over time, batch and neurons. Connection sparsity = zero weights /
all weights. Footprint = bytes of every parameter array (dtype-aware, zeros included).

A sparse (scipy) Affine/Linear weight (docs/dialect.md, "Sparse weights") is the matrix it
stands for: its implicit zeros are zero weights (they count in Dense and in connection sparsity,
not in Effective ops). Its footprint is what it occupies as stored, the CSR arrays (values,
column indices, row pointers), since a sparse model is never held dense.
"""
from __future__ import annotations

import dataclasses
import math

import nir
import numpy as np
import scipy.sparse as sp

from .. import ops
from ..errors import UsageError
from ..ir.graph import Graph
from ..result import Result


def _pairs(x, n: int) -> tuple[int, ...]:
    a = np.asarray(x).ravel()
    return tuple(int(v) for v in (np.repeat(a, n) if a.size == 1 else a))


def _conv_padding(node, k: np.ndarray, dil, n: int) -> tuple[int, ...]:
    if isinstance(node.padding, str):
        if node.padding == "valid":
            return (0,) * n
        if node.padding == "same":  # symmetric part of PyTorch's "same" (odd kernels: exact)
            return tuple((d * (kk - 1)) // 2 for d, kk in zip(dil, k))
        raise UsageError(f"conv padding {node.padding!r} is not 'same', 'valid' or a number")
    return _pairs(node.padding, n)


def _valid_taps(size: int, k: int, stride: int, pad: int, dil: int) -> np.ndarray:
    """(k, size) 0/1: input position `pos` meets kernel tap `j` for some in-range output."""
    out = (size + 2 * pad - dil * (k - 1) - 1) // stride + 1
    rel = np.arange(size)[None, :] + pad - dil * np.arange(k)[:, None]
    return ((rel % stride == 0) & (rel >= 0) & (rel // stride < out)).astype(np.int64)


def fanout(node, in_shape: tuple[int, ...], *, dense: bool) -> np.ndarray:
    """Synaptic operations each input element causes per step (shape `in_shape`), by the node's
    op definition (`neurodeploy.ops`).

    `dense` counts every weight (NeuroBench's all-ones copy); otherwise only non-zero weights.
    """
    return ops.get(node).fanout(node, in_shape, dense)


def matrix_fanout(node, in_shape: tuple[int, ...], dense: bool) -> np.ndarray:
    """Affine / Linear, dense or sparse weight."""
    if sp.issparse(node.weight):
        w = sp.csr_array(node.weight)
        per_in = np.full(w.shape[1], w.shape[0]) if dense else np.bincount(w.indices[w.data != 0],
                                                                              minlength=w.shape[1])
        return per_in.astype(np.int64).reshape(in_shape)
    w = np.asarray(node.weight)
    nz = np.ones(w.shape, np.int64) if dense else (w != 0).astype(np.int64)
    return nz.sum(axis=0).reshape(in_shape)


def conv_fanout(node, in_shape: tuple[int, ...], dense: bool) -> np.ndarray:
    """Conv1d / Conv2d: per input element, the weights of every (output, tap) that reads it."""
    w = np.asarray(node.weight)
    nz = np.ones(w.shape, np.int64) if dense else (w != 0).astype(np.int64)
    n = w.ndim - 2
    groups = int(node.groups)
    cout, cin_g = w.shape[:2]
    k = w.shape[2:]
    per_in = nz.reshape(groups, cout // groups, cin_g, *k).sum(axis=1).reshape(groups * cin_g, *k)
    stride, dil = _pairs(node.stride, n), _pairs(node.dilation, n)
    pad = _conv_padding(node, k, dil, n)
    taps = [_valid_taps(s, kk, st, p, d) for s, kk, st, p, d in zip(in_shape[1:], k, stride, pad, dil)]
    if n == 1:
        return np.einsum("ci,iy->cy", per_in, taps[0])
    return np.einsum("cij,iy,jx->cyx", per_in, taps[0], taps[1])


def weight_nodes(graph: Graph) -> list[str]:
    """NeuroBench's connection layers: nodes whose op definition has a `fanout`."""
    return [n for n in graph.order if ops.get(graph.nodes[n], n).fanout is not None]


def activity(graph: Graph, result: Result, name: str, inputs=None) -> np.ndarray:
    """Output of node `name` over the run, (T, B, *shape): its recorded trace (spikes; v where the
    output is v; else the recorded output, e.g. EGRU's graded events rather than its state c),
    the input array for an Input node, or (through Flatten/Output) its predecessor's, reshaped."""
    node = graph.nodes[name]
    op = ops.get(node, name)
    if op.spiking:
        trace = result.spikes.get(name)
    elif op.out_is_v:
        trace = result.v.get(name, result.spikes.get(name))
    else:
        trace = result.extra.get("outputs", {}).get(name, result.spikes.get(name))
    if trace is not None:
        return trace
    if isinstance(node, nir.Input) and inputs is not None:
        from ..sim.inputs import as_batched

        return as_batched(np.asarray(inputs), graph.out_shape[name])
    preds = graph.predecessors(name)
    if op.identity and len(preds) == 1:
        x = activity(graph, result, preds[0], inputs)
        return x.reshape(x.shape[:2] + tuple(graph.out_shape[name]))
    raise UsageError(f"the activity of node {name!r} was not recorded",
                     hint="record it (record=[...]) or, for the input, pass inputs=")


def layer_input(graph: Graph, result: Result, name: str, inputs=None, *, at_delivery: bool = False) -> np.ndarray:
    """What weight node `name` receives per step: the sum of its predecessors' outputs, a delayed
    (recurrent) edge shifted by one step with zeros at t=0.

    at_delivery: a weight node whose outputs all go through delayed edges (the recurrent weights
    of an RNN) is then counted at the step its result is delivered, one step later, as snnTorch's
    RLeaky (and so NeuroBench) evaluates it; a chip counts it when the spike is sent (default)."""
    total = None
    for p in graph.predecessors(name):
        x = np.asarray(activity(graph, result, p, inputs), dtype=np.float64)
        if (p, name) in graph.delayed:
            x = _shift(x)
        total = x if total is None else total + x
    if total is None:
        raise UsageError(f"weight node {name!r} has no input edge", where=name)
    succ = graph.successors(name)
    if at_delivery and succ and all((name, d) in graph.delayed for d in succ):
        total = _shift(total)
    return total.reshape(total.shape[:2] + tuple(graph.in_shape[name]))


def _shift(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros_like(x[:1]), x[:-1]])


def synaptic_operations(graph: Graph, result: Result, inputs=None, *, at_delivery: bool = True) -> dict:
    """NeuroBench SynapticOperations per sample, plus the per-layer split (totals over batch)."""
    mac = ac = dense = 0.0
    layers = {}
    batch = None
    for name in weight_nodes(graph):
        x = layer_input(graph, result, name, inputs, at_delivery=at_delivery)
        steps, batch = x.shape[:2]
        node, shape = graph.nodes[name], tuple(graph.in_shape[name])
        eff_t = (x != 0).reshape(steps, batch, -1).sum(axis=1) @ fanout(node, shape, dense=False).ravel()
        spiking_t = np.isin(x.reshape(steps, -1), (-1.0, 0.0, 1.0)).all(axis=1)
        d = float(fanout(node, shape, dense=True).sum()) * steps * batch
        layers[name] = {"effective_acs": float(eff_t[spiking_t].sum()),
                        "effective_macs": float(eff_t[~spiking_t].sum()), "dense": d}
        ac += layers[name]["effective_acs"]
        mac += layers[name]["effective_macs"]
        dense += d
    b = batch or 1
    return {"Effective_MACs": mac / b, "Effective_ACs": ac / b, "Dense": dense / b, "per_layer": layers}


def dense_ops_per_step(graph: Graph) -> float:
    """Dense synaptic operations of one sample in one time step (the conventional MAC count)."""
    return float(sum(fanout(graph.nodes[n], tuple(graph.in_shape[n]), dense=True).sum()
                     for n in weight_nodes(graph)))


def connection_sparsity(graph: Graph) -> float:
    ws = [graph.nodes[n].weight for n in weight_nodes(graph)]
    count = sum(math.prod(w.shape) for w in ws)  # a sparse matrix's implicit zeros included
    zeros = sum(math.prod(w.shape) - w.count_nonzero() if sp.issparse(w)
                else np.count_nonzero(np.asarray(w) == 0) for w in ws)
    return float(zeros / count) if count else 0.0


def _arrays(node) -> list[np.ndarray]:
    """Float parameter arrays of a node (shape/stride fields are ints and are not parameters); a
    sparse weight gives its stored CSR arrays, index arrays included."""
    out = []
    for v in (getattr(node, f.name) for f in dataclasses.fields(node)) if dataclasses.is_dataclass(node) else ():
        if sp.issparse(v):
            v = sp.csr_array(v)
            out += [v.data, v.indices, v.indptr]
        elif isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating):
            out.append(v)
    return out


def footprint(graph: Graph) -> dict[str, int]:
    synapses = sum(a.nbytes for n in weight_nodes(graph) for a in _arrays(graph.nodes[n]))
    neurons = sum(a.nbytes for n in graph.neurons() for a in _arrays(graph.nodes[n]))
    return {"Footprint": synapses + neurons, "synapses": synapses, "neurons": neurons}


def activation_sparsity(graph: Graph, result: Result) -> float:
    traces = [activity(graph, result, n) for n in graph.neurons()]
    count = sum(t.size for t in traces)
    return float(sum(t.size - np.count_nonzero(t) for t in traces) / count) if count else 0.0


def neurobench_metrics(graph: Graph, result: Result, inputs=None) -> dict:
    """Static metrics always; workload metrics (activity-based) when the activity was recorded,
    otherwise None with the reason in ``notes``."""
    fp = footprint(graph)
    out = {"Footprint": fp["Footprint"], "footprint_synapses": fp["synapses"],
           "footprint_neurons": fp["neurons"], "ConnectionSparsity": connection_sparsity(graph),
           "dense_ops_per_step": dense_ops_per_step(graph), "notes": []}
    try:
        out["ActivationSparsity"] = activation_sparsity(graph, result)
    except UsageError as e:
        out["ActivationSparsity"] = None
        out["notes"].append(f"ActivationSparsity: {e}")
    try:
        out["SynapticOperations"] = synaptic_operations(graph, result, inputs)
    except UsageError as e:
        out["SynapticOperations"] = None
        out["notes"].append(f"SynapticOperations: {e}")
    return out


def accuracy(graph: Graph, result: Result, labels) -> float:
    """Fraction of samples whose most active output neuron (spike count, else summed value)
    matches the label."""
    outs = graph.outputs
    if len(outs) != 1:
        raise UsageError(f"accuracy needs a single output node, graph has {outs}")
    y = activity(graph, result, outs[0]).sum(axis=0).reshape(-1, graph.size(outs[0]))
    labels = np.asarray(labels).ravel()
    if labels.shape[0] != y.shape[0]:
        raise UsageError(f"{labels.shape[0]} labels for {y.shape[0]} samples", where="--labels")
    return float(np.mean(y.argmax(axis=1) == labels))
