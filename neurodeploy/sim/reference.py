"""The exact float reference simulator: a NIR graph run step by step in NumPy, batch-vectorized.

Every backend's fidelity is measured against this, so it is NumPy only (independent of the
torch-based peers it is checked against) and follows `graph.semantics` to the letter:

- every node runs through its op definition (`neurodeploy.ops`): a stateless function or a state
  object with ``step`` (NIR neurons: `.neurons`; dialect nodes: `neurodeploy.ops.dialect`);
- per step, nodes are evaluated in ``graph.order``; a node's input on each port is the sum over
  that port's incoming edges of the sources' outputs (one array for a single-port op, a dict
  port -> array otherwise; a port without edges reads zeros), this step's for normal edges and the
  previous step's for the recurrent edges in ``graph.delayed`` (zeros at t=0);
- a learning rule (STDP) updates per-sample weights of its weight node after each step
  (`.plastic`, which defines its pre and post signals);
- stateless nodes fed only by graph inputs (the usual first weight layer) are evaluated once for
  all steps as (T*B)-row operations in chunks (when the result fits in memory); that is the same
  arithmetic, just not repeated T times;
- neuron equations per integrator: `neurodeploy.sim.neurons`; convolution/pooling: `.ops`.

Speed (bench/reference.md): at batch 1 a step is a few dozen small NumPy calls, so per-call
overhead is what costs. Each loop node is resolved once into a `_Step` (its function, where its
inputs come from, its counters and records); neurons update in place; convolutions pick per call
between im2col and an event-driven scatter by input density (`.scatter`); non-zero counts are
buffered as bytes (`_NonzeroCount`). Only the convolution's summation order depends on the
path (the scatter sums in float64, then rounds once); the neuron arithmetic is unchanged.

Recording (arrays shaped (T, B, *shape)): ``Result.spikes[n]`` for binary ops (spiking neurons,
Threshold) and Output nodes; ``Result.v[n]`` for a state's ``v`` (membrane, EGRU's c);
``Result.extra["i"][n]`` for the synaptic current of CubaLI/CubaLIF; ``Result.extra["outputs"][n]``
for any other output (graded, real-valued) unless it is the recorded v itself (LI, CubaLI, I);
``Result.extra["weights"][rule]`` for a recorded learning rule, (T, B, out, in). Default: the
Output nodes.

Counters (totals over batch and steps; per node in ``Result.per_layer``):
``synaptic_events`` = non-zero inputs x synapses they drive, per weight layer (Affine, Linear,
Conv, SumPool/AvgPool; conv counts the exact kernel footprint); ``macs`` = the part of those whose
input is real-valued rather than 0/1 spikes; ``dense_synaptic_ops`` = every synapse (zero weights
included) every step;
``neuron_updates`` = neurons x steps; ``spikes``; ``ticks`` = steps. A state with ``counters()``
(the dialect nodes, learning rules) reports its own events instead.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import nir
import numpy as np

from .. import budget
from ..errors import UsageError
from ..ir import meta
from ..ir.graph import Graph
from ..lowering import support
from ..result import Result
from .. import ops
from . import plastic
from .inputs import as_batched

MODELLED = ("dt", "reset", "integrator", "reset_timing")  # Semantics fields the step functions follow
BATCHED_MAX = 1 << 25  # largest (T*B*size) output evaluated for all steps at once (memory bound)
CHUNK = 1 << 20  # elements per row chunk in that evaluation


def simulate(graph: Graph, inputs, *, steps: int | None = None, record: list[str] | None = None,
             dtype=np.float64) -> Result:
    """Run `graph` on `inputs`: an array (T, *in) / (T, B, *in) for a one-input graph, or a dict
    input-name -> array. `steps` beyond T feed zeros; fewer truncate. float64 by default."""
    dtype = np.dtype(dtype).type
    xs, T, B = _inputs(graph, inputs, steps, dtype)
    record = list(graph.outputs if record is None else record)
    for n in record:
        if n not in graph.nodes:
            raise UsageError(f"cannot record node {n!r}: not in the graph",
                             hint=f"nodes: {', '.join(graph.order)}")
    sem, nodes = graph.semantics, graph.nodes
    # refractory and synaptic_delay are not modelled yet: refused by the check every backend uses
    support.check(graph, support.Support("the reference simulator", dict.fromkeys(MODELLED), ops.types(is_neuron=True),
                                          per_node=True))
    defs = {n: ops.get(node, n) for n, node in nodes.items()}
    rules = plastic.rules(graph, defs, B, dtype)  # weight node -> its learning rule
    rule_nodes = {r.name for r in rules.values()}

    # Stateless single-port nodes reachable from the inputs without passing a stateful node, a
    # plastic weight or a delayed edge.
    batched: dict[str, np.ndarray] = dict(xs)
    fns, fan = {}, {}
    for n in graph.order:
        if n in rules:
            fns[n], fan[n] = rules[n].fn, rules[n].fan
        elif defs[n].stateless is not None:
            fns[n], fan[n] = defs[n].stateless(n, nodes[n], graph.in_shape.get(n, ()), graph.out_shape[n], dtype)
    for n in graph.order:
        preds = graph.predecessors(n)
        if n in fns and n not in xs and n not in rules and len(defs[n].ports) == 1 and preds and \
                all(p in batched for p in preds) and not any((p, n) in graph.delayed for p in preds) and \
                T * B * graph.size(n) <= BATCHED_MAX:
            x = _sum([batched[p] for p in preds]).reshape((T * B,) + tuple(graph.in_shape[n]))
            rows = max(1, CHUNK // max(x[0].size, graph.size(n)))  # bounds im2col temporaries
            y = [fns[n](x[i:i + rows]) for i in range(0, T * B, rows)]
            batched[n] = np.concatenate(y).reshape((T, B) + tuple(graph.out_shape[n]))

    # Per-step state for everything else.
    loop = [n for n in graph.order if n not in batched and n not in rule_nodes]
    state = {n: defs[n].state(n, nodes[n], graph.port_shapes(n), tuple(graph.out_shape[n]),
                                 meta.node_semantics(graph, n), B, dtype)
             for n in loop if n not in fns}
    delayed_src = {s for s, _ in graph.delayed}
    prev = {s: np.zeros((B,) + tuple(graph.out_shape[s]), dtype) for s in delayed_src}
    rec = {n: np.zeros((T, B) + tuple(graph.out_shape[n]), dtype) for n in record if n in loop}
    rec_v = {n: np.zeros((T, B) + np.shape(state[n].v)[1:], dtype)
             for n in record if n in state and getattr(state[n], "v", None) is not None}
    rec_i = {n: np.zeros_like(rec_v[n]) for n in rec_v if getattr(state[n], "i", None) is not None}
    nonzero = {n: _NonzeroCount(B, len(fan[n].events)) for n in loop if fan.get(n) is not None}
    own = {n for n in state if hasattr(state[n], "counters")}  # states that count their own events
    spikes = {n: 0 for n in state if defs[n].spiking and n not in own}

    def source(p, n):
        return p, "late" if (p, n) in graph.delayed else "batched" if p in batched else "now"

    plan = []
    for n in loop:
        ports = None
        if len(defs[n].ports) > 1:
            shapes = graph.port_shapes(n)
            ports = [(port, [source(p, n) for p in srcs], np.zeros((B,) + shapes[port], dtype))
                     for port, srcs in graph.inputs_by_port(n).items()]
        plan.append(_Step(n, fns[n] if n in fns else state[n].step, [source(p, n) for p in graph.predecessors(n)],
                          ports, nonzero.get(n), rec.get(n), rec_v.get(n) is not None, rec_i.get(n) is not None))
    learning = [(rules[w], plastic.post_node(graph, w)) for w in rules]
    weights = {rules[w].name: np.zeros((T,) + rules[w].shape, dtype) for w in rules if rules[w].name in record}

    for t in range(T):
        out = {}
        for step in plan:  # each node's input, update, counters and records for this step
            if step.ports is None:
                xs = [prev[p] if when == "late" else batched[p][t] if when == "batched" else out[p]
                      for p, when in step.srcs]
                x = xs[0] if len(xs) == 1 else _sum(xs)
                if step.nonzero is not None:
                    step.nonzero.add(x)
            else:
                x = {port: _sum([prev[p] if when == "late" else batched[p][t] if when == "batched" else out[p]
                                 for p, when in srcs]) if srcs else zeros for port, srcs, zeros in step.ports}
            y = out[step.name] = step.fn(x)
            if step.rec is not None:
                step.rec[t] = y
            if step.rec_v:
                rec_v[step.name][t] = state[step.name].v
                if step.rec_i:
                    rec_i[step.name][t] = state[step.name].i
            if step.name in spikes:
                spikes[step.name] += int(np.count_nonzero(state[step.name].s))  # bool: faster than y
        for rule, post in learning:  # weights after this step act from the next one
            w = rule.update(out[post])
            if rule.name in weights:
                weights[rule.name][t] = w
        for s in delayed_src:  # copied: neurons reuse their output arrays next step
            np.copyto(prev[s], out[s] if s in out else batched[s][t])

    res = Result(sim_time_s=T * sem.dt)
    res.extra.update(batch=B, steps=T, dtype=np.dtype(dtype).name, semantics=sem.to_dict(),
                     i=rec_i, outputs={}, weights=weights)
    binary = _binary_outputs(graph, defs)
    for n in record:
        if n in rule_nodes:
            continue
        trace = rec.get(n, batched.get(n))
        if n in rec_v:
            res.v[n] = rec_v[n]
        if defs[n].binary or isinstance(nodes[n], nir.Output):
            res.spikes[n] = trace
        elif not (n in rec_v and defs[n].out_is_v):
            res.extra["outputs"][n] = trace
    for n, f in fan.items():
        if f is None:
            continue
        if n in nonzero:
            nz, real = nonzero[n].per_input(), not all(p in binary for p in graph.predecessors(n))
        else:
            x = _sum([batched[p] for p in graph.predecessors(n)]).reshape(T * B, -1)
            nz, real = _NonzeroCount.of_rows(x), bool(np.any((x != 0) & (x != 1)))
        events = int(nz @ f.events)
        res.per_layer[n] = {"synaptic_events": events, "macs": events if real else 0,
                            "dense_synaptic_ops": f.dense * T * B}
    for n in state:
        c = res.per_layer.setdefault(n, {})
        if n in own:
            c.update(state[n].counters())
            continue
        c["neuron_updates"] = graph.size(n) * T * B if defs[n].is_neuron else 0
        if n in spikes:
            c["spikes"] = spikes[n]
    for rule in rules.values():
        res.per_layer.setdefault(rule.name, {}).update(rule.counters())
    for c in res.per_layer.values():
        for k, v in c.items():
            res.counters[k] = res.counters.get(k, 0) + v
    res.counters["ticks"] = T
    return res


class _NonzeroCount:
    """How often each input element of a weight layer was non-zero, over all steps and samples.

    Adding a 0/1 array to an int64 total every step costs more than a small layer's whole step
    (NumPy casts element by element), so steps are kept as bytes and summed a block at a time
    in uint8, which cannot overflow in 255 steps."""

    BLOCK_BYTES = 1 << 22

    def __init__(self, batch: int, size: int):
        self.buf = np.zeros((max(1, min(255, self.BLOCK_BYTES // max(1, batch * size))), batch * size), bool)
        self.total = np.zeros(batch * size, np.int64)
        self.size, self.k = size, 0

    def add(self, x: np.ndarray):
        np.not_equal(x.reshape(-1), 0, out=self.buf[self.k])
        self.k += 1
        if self.k == len(self.buf):
            self._flush()

    def per_input(self) -> np.ndarray:
        self._flush()
        return self.total.reshape(-1, self.size).sum(axis=0)

    @staticmethod
    def of_rows(x: np.ndarray) -> np.ndarray:
        """Per-column non-zero count of a (rows, size) array, e.g. all steps of a batched input."""
        total = np.zeros(x.shape[1], np.int64)
        for i in range(0, len(x), 255):
            total += (x[i:i + 255] != 0).view(np.uint8).sum(axis=0, dtype=np.uint8)
        return total

    def _flush(self):
        self.total += self.buf[:self.k].view(np.uint8).sum(axis=0, dtype=np.uint8)
        self.k = 0


class _Step(NamedTuple):
    """One node of the per-step loop, resolved once: where its inputs come from, what to keep."""
    name: str
    fn: Callable  # stateless op or the node's `step`
    srcs: list  # (source, "now" | "batched" | "late")
    ports: list | None  # multi-port ops: (port, srcs, zeros for a port without edges)
    nonzero: _NonzeroCount | None  # for weight layers
    rec: np.ndarray | None  # (T, B, *shape) output record
    rec_v: bool
    rec_i: bool


def _sum(arrays: list[np.ndarray]) -> np.ndarray:
    if len(arrays) == 1:
        return arrays[0]
    total = arrays[0] + arrays[1]
    for a in arrays[2:]:
        total += a
    return total


def _inputs(graph: Graph, inputs, steps, dtype):
    names = graph.inputs
    if not names:
        raise UsageError("the graph has no Input node to feed")
    if not isinstance(inputs, dict):
        if len(names) != 1:
            raise UsageError(f"the graph has {len(names)} inputs ({', '.join(names)}); pass a dict name -> array")
        inputs = {names[0]: inputs}
    if set(inputs) != set(names):
        raise UsageError(f"inputs given for {sorted(inputs)}, the graph's inputs are {names}")
    xs = {n: as_batched(a, graph.out_shape[n], where=n, dtype=dtype) for n, a in inputs.items()}
    lengths = {a.shape[0] for a in xs.values()}
    batches = {a.shape[1] for a in xs.values()}
    if len(lengths) > 1 or len(batches) > 1:
        raise UsageError(f"inputs differ in length {sorted(lengths)} or batch {sorted(batches)}")
    T, B = lengths.pop(), batches.pop()
    if steps is not None:
        if steps < 1:
            raise UsageError(f"steps must be >= 1, got {steps}")
        budget.charge(sum(budget.array_bytes((steps,) + a.shape[1:], np.dtype(dtype).itemsize) for a in xs.values()),
                      f"{steps} steps of input")
        pad = max(0, steps - T)
        xs = {n: np.concatenate([a[:steps], np.zeros((pad,) + a.shape[1:], dtype)]) if pad else a[:steps]
              for n, a in xs.items()}
        T = steps
    return xs, T, B


def _binary_outputs(graph: Graph, defs: dict) -> set[str]:
    """Nodes whose output is statically 0/1: binary ops, and pass-through ops fed only by them."""
    binary: set[str] = set()
    for n in graph.order:
        op, preds = defs[n], graph.predecessors(n)
        if op.binary or (op.pass_through and preds and all(p in binary for p in preds)):
            binary.add(n)
    return binary
