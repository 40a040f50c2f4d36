"""How faithfully an artifact runs its model (`neurodeploy validate`), measured against two references.

- the **float reference**: the model the artifact carries (``model.nir`` under the manifest's
  semantics) on the exact float simulator; every difference from it is quantization plus mapping;
- the **quantized reference**: the same simulator on `Backend.quantized_graph(artifact)`, the float
  model with the target's own quantized parameters; a difference from it is a mapping error (the
  contract suite requires none), so the two comparisons together separate quantization from mapping.

Timelines: a chip may deliver a layer later than the reference does (Loihi: one step per synapse
layer). A node's lag is read from the quantized graph: the steps of `nir.Delay` on the shortest
path from an input, minus the same in the model (`lags`). The target runs that many extra steps
(zero input) and each layer is compared from its lag on, so every trace is on the reference's
timeline; an engine that realigns itself (SpiNNaker 2: ``Result.extra["lag_ticks"]``) has no
Delay in its quantized graph and lag 0. The raw chip timeline stays `run`'s output.

Measures, per recorded neuron layer, over (step, sample, neuron):
spike agreement (fraction of equal 0/1 entries), spike-count correlation (Pearson, over
(sample, neuron) counts; None when a side is constant), first diverging step (None: never).
Non-spiking layers (LI, CubaLI readouts) compare membranes: the correlation of their time means
and the largest difference. The decision of a sample is the argmax over output neurons of its spike
count, or of its time-mean membrane for a non-spiking readout; agreement counts the samples whose
reference has one clear winner (a tie has no decision to agree with); accuracy uses plain argmax.
"""
from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field

import nir
import numpy as np

from . import artifact as art
from . import backend as bk
from . import ops, plausibility
from .errors import UsageError
from .ir.graph import Graph
from .result import Result


@dataclass
class Layer:
    """One neuron layer compared over the same steps and samples."""

    name: str
    spiking: bool
    agreement: float | None  # spikes equal per (step, sample, neuron)
    count_correlation: float | None  # spiking: counts per (sample, neuron); else time-mean membranes
    first_divergence: int | None  # first step with any difference
    spikes_target: int = 0
    spikes_reference: int = 0
    max_v_difference: float | None = None  # non-spiking layers only


@dataclass
class Comparison:
    """The target against one reference."""

    reference: str  # "float" or "quantized"
    layers: list[Layer]
    decision_agreement: float | None  # over samples with a clear reference decision
    clear_samples: int
    accuracy_target: float | None = None
    accuracy_reference: float | None = None


@dataclass
class FidelityReport:
    artifact: str
    target: str
    engine: str
    steps: int
    batch: int
    output: str  # the layer whose decisions are compared
    lag: dict[str, int]
    against_float: Comparison
    against_quantized: Comparison | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # implausible run (`neurodeploy.plausibility`)
    monte_carlo: dict | None = None  # device draws (crossbar ``samples``): the engine's summary, with CIs

    def to_dict(self) -> dict:
        return asdict(self)


# --- measures (arrays shaped (T, B, ...), target first) ---------------------------------------------

def spike_agreement(target: np.ndarray, ref: np.ndarray) -> float:
    return float(np.mean((target != 0) == (ref != 0)))


def _flat(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).reshape(a.shape[0], a.shape[1], -1)


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of two equally shaped arrays; 1 when both are equal, None when a constant
    side makes it undefined."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if np.array_equal(a, b):
        return 1.0
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def first_divergence(target: np.ndarray, ref: np.ndarray) -> int | None:
    diff = np.flatnonzero(_flat(target != ref).any(axis=(1, 2)))
    return int(diff[0]) if diff.size else None


def decisions(trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(argmax per sample, whether that maximum is unique) of the time-summed trace (T, B, ...)."""
    total = _flat(trace).sum(axis=0)
    top = total.max(axis=1, keepdims=True)
    return total.argmax(axis=1), (total == top).sum(axis=1) == 1


def decision_agreement(target: np.ndarray, ref: np.ndarray) -> tuple[float | None, int]:
    """Fraction of samples whose target decision is the reference's, over the samples where the
    reference has one clear winner; and how many those are."""
    d_t, _ = decisions(target)
    d_r, clear = decisions(ref)
    n = int(clear.sum())
    return (float(np.mean(d_t[clear] == d_r[clear])) if n else None), n


def output_fidelity(target: np.ndarray, ref: np.ndarray) -> dict:
    """Output-layer summary: spikes equal per (step, sample, neuron), spike counts equal per
    (sample, neuron), decision agreement and the samples with a clear reference decision."""
    agree, clear = decision_agreement(target, ref)
    return {"spikes": spike_agreement(target, ref),
            "counts": float(np.mean(_flat(target).sum(0) == _flat(ref).sum(0))),
            "class": agree, "clear_samples": clear}


def accuracy(trace: np.ndarray, labels) -> float:
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != trace.shape[1]:
        raise UsageError(f"{labels.shape[0]} labels for {trace.shape[1]} samples")
    return float(np.mean(decisions(trace)[0] == labels))


def compare_layer(name: str, spiking: bool, target: np.ndarray, ref: np.ndarray) -> Layer:
    target = np.asarray(target).reshape(ref.shape)
    if spiking:
        return Layer(name, True, spike_agreement(target, ref),
                     correlation(_flat(target).sum(0), _flat(ref).sum(0)), first_divergence(target != 0, ref != 0),
                     int(np.count_nonzero(target)), int(np.count_nonzero(ref)))
    return Layer(name, False, None, correlation(target.mean(0), ref.mean(0)), first_divergence(target, ref),
                 max_v_difference=float(np.max(np.abs(target - ref))))


# --- timelines ----------------------------------------------------------------------------------------

def delay_steps(graph: Graph) -> dict[str, int]:
    """Per node, the fewest steps of `nir.Delay` on a path from an input (cycle-closing edges,
    delivered a step late by the reference anyway, are not paths)."""
    dt = graph.semantics.dt
    cost = {n: int(round(float(np.max(graph.nodes[n].delay)) / dt)) if isinstance(graph.nodes[n], nir.Delay) else 0
            for n in graph.nodes}
    best = {n: 0 for n in graph.inputs}
    heap = [(0, n) for n in graph.inputs]
    while heap:
        d, n = heapq.heappop(heap)
        if d > best.get(n, d):
            continue
        for m in graph.successors(n):
            if (n, m) in graph.delayed:
                continue
            dm = d + cost[m]
            if dm < best.get(m, dm + 1):
                best[m] = dm
                heapq.heappush(heap, (dm, m))
    return best


def lags(quantized: Graph, model: Graph, names) -> dict[str, int]:
    """Steps each named layer of the target runs behind the model (0 where unknown)."""
    q, m = delay_steps(quantized), delay_steps(model)
    return {n: max(0, q.get(n, 0) - m.get(n, 0)) for n in names}


# --- validate ------------------------------------------------------------------------------------------

def _neuron_layers(model: Graph, quantized: Graph | None) -> list[str]:
    return [n for n in model.neurons() if quantized is None or n in quantized.nodes]


def _output_layer(model: Graph) -> str:
    for o in model.outputs:
        for p in model.predecessors(o):
            if p in model.neurons():
                return p
    raise UsageError("the model's output is not fed by a neuron layer: no decision to compare")


def _trace(res: Result, name: str, spiking: bool) -> np.ndarray | None:
    return res.spikes.get(name) if spiking else res.v.get(name)


def _run_target(a: art.Artifact, model: Graph, x, layers, steps, engine, engine_options):
    """The target's run recording `layers`, or (when the artifact cannot record hidden layers) its
    outputs only, each the trace of the layer feeding it, with the note saying so."""
    try:
        return bk.run(a.path, x, steps=steps, record=layers, engine=engine, engine_options=engine_options), None
    except UsageError as e:
        why = str(e)
    res = bk.run(a.path, x, steps=steps, engine=engine, engine_options=engine_options)
    for o in model.outputs:
        for traces in (res.spikes, res.v):
            if o in traces:
                traces.setdefault(model.predecessors(o)[0], traces[o])
    return res, f"only the outputs compared: the artifact records no hidden layer ({why})"


def _padded(x: np.ndarray, steps: int) -> np.ndarray:
    return np.concatenate([x, np.zeros((steps - x.shape[0],) + x.shape[1:], x.dtype)]) if steps > x.shape[0] else x


def validate(artifact_dir, inputs, *, labels=None, engine: str | None = None, steps: int | None = None,
             engine_options: dict | None = None) -> FidelityReport:
    """Run the artifact and both references on `inputs` ((T, *in) or (T, B, *in)) and compare them
    layer by layer on the reference timeline (module docstring). `engine_options` go to the engine
    as in `backend.run` (e.g. ``{"port": ...}`` for ``hil``; ``samples``/``seed``/``drift_time`` for a
    crossbar Monte Carlo, whose summary becomes `FidelityReport.monte_carlo`)."""
    from .energy.compare import artifact_graph
    from .sim.inputs import as_batched
    from .sim.reference import simulate

    a = art.Artifact(artifact_dir)
    model = artifact_graph(a)
    if model is None:
        raise UsageError("the artifact carries no model (manifest key 'model'): nothing to validate against",
                         where=str(a.path), hint="recompile it with this version of neurodeploy")
    if len(model.inputs) != 1:
        raise UsageError(f"validate feeds one input; the model has {len(model.inputs)} ({', '.join(model.inputs)})")
    x = as_batched(inputs, model.out_shape[model.inputs[0]], where=model.inputs[0], dtype=np.float64)
    T = steps or x.shape[0]
    x = _padded(x[:T], T)
    backend = bk.get(a.backend)
    try:
        q = backend.quantized_graph(a)
    except NotImplementedError:
        q = None
    layers = _neuron_layers(model, q)
    out = _output_layer(model)
    spiking = {n: ops.get(model.nodes[n], n).spiking for n in layers}
    lag = lags(q, model, layers) if q is not None else dict.fromkeys(layers, 0)
    L = max(lag.values(), default=0)
    if labels is not None and "samples" in (engine_options or {}):  # accuracy per device draw too
        engine_options = {**engine_options, "labels": labels}
    res, note = _run_target(a, model, _padded(x, T + L), layers, T + L, engine, engine_options)
    notes = [note] if note else []
    if L:
        notes.append(f"the target delivers layers {L if len(set(lag.values())) == 1 else 'up to ' + str(L)} "
                     "step(s) late (the Delay steps of its quantized graph); compared on the reference timeline")
    ref = simulate(model, x, steps=T, record=layers)
    against_q = None
    if q is not None:
        x_q = _padded(x, T + L).reshape((T + L, x.shape[1]) + tuple(q.out_shape[q.inputs[0]]))
        ref_q = simulate(q, x_q, steps=T + L, record=layers)
        against_q = _compare("quantized", res, ref_q, layers, spiking, lag, T, out, labels, shapes=ref)
    report = FidelityReport(str(a.path), a.target, res.extra.get("engine", engine or "sim"), T, x.shape[1], out,
                            lag, _compare("float", res, ref, layers, spiking, lag, T, out, labels, shapes=ref),
                            against_q, notes)
    report.monte_carlo = res.extra.get("monte_carlo")
    report.warnings = plausibility.graph_warnings(model) + plausibility.silent_output(res, [out], model)
    if q is not None:
        report.warnings += plausibility.target_warnings(model, q, a.target)
    return report


def _aligned(trace, lag: int, T: int, like: np.ndarray) -> np.ndarray:
    return np.asarray(trace)[lag:lag + T].reshape(like.shape)


def _compare(kind, res, ref, layers, spiking, lag, T, out, labels, shapes) -> Comparison:
    rows, d_t, d_r = [], None, None
    for n in layers:
        t, r = _trace(res, n, spiking[n]), _trace(ref, n, spiking[n])
        like = _trace(shapes, n, spiking[n])
        if t is None or r is None:
            continue
        t = _aligned(t, lag[n], T, like)
        r = _aligned(r, lag[n] if kind == "quantized" else 0, T, like)
        rows.append(compare_layer(n, spiking[n], t, r))
        if n == out:
            d_t, d_r = t, r
    if d_t is None:
        raise UsageError(f"the target returned no trace of the output layer {out!r}")
    agree, clear = decision_agreement(d_t, d_r)
    comp = Comparison(kind, rows, agree, clear)
    if labels is not None:
        comp.accuracy_target, comp.accuracy_reference = accuracy(d_t, labels), accuracy(d_r, labels)
    return comp
