"""Where each node runs on a target: natively, emulated on the chip's general-purpose cores, or on
the host; and the graph cut into segments that alternate between host and chip.

A backend declares what it can take with three optional class attributes (absent = the default):
- ``emulated_ops``: dialect type names it runs on its general-purpose cores (SpiNNaker 2's Arm
  cores with their exp/log accelerator, for example);
- ``native_ops``: dialect type names it runs in its neuron hardware;
- ``spike_inputs_only``: True when its input populations carry 0/1 spikes only (SpiNNaker 2's
  ``spike_list``, Loihi's spike generators);
- ``host_neurons``: NIR neuron type names it has no model for that the host computes instead (the
  non-spiking readouts LI, CubaLI, I: a snnTorch ``reset_mechanism="none"`` layer read as a membrane).
Every other NIR type is native (the backend refuses the ones it cannot map, naming the node); every
dialect type not declared goes to the host. With spike-only inputs, a real-valued stream into the
chip (a real-valued graph input, or values from a host node) moves its consumer to the host, and
then the next consumer, until a spiking node is moved: what crosses is spikes (the first synapse
layer and its neuron layer run on the host). On such a target, and on any target once the model
is split anyway, a non-neuron NIR node whose values leave the chip (a readout into the outputs or
a host node, a residual add read by the host) runs on the host too: the chip emits from neurons.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from .. import ops
from ..ir import dialect
from ..ir.graph import Graph

NATIVE, EMULATED, HOST = "native", "emulated", "host"
CHIP = (NATIVE, EMULATED)


@dataclass(frozen=True)
class Placement:
    where: str  # NATIVE, EMULATED or HOST
    why: str


@dataclass(frozen=True)
class Segment:
    """A maximal run of nodes (in evaluation order) on one side. ``inputs``: nodes outside it whose
    values it reads (this step's, or the previous step's for a delayed edge); ``outputs``: its nodes
    read outside it or graph outputs."""

    index: int
    side: str  # "host" or "chip"
    nodes: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class Crossing:
    """One edge crossing the host/chip boundary and what it carries per step."""

    src: str
    dst: str
    kind: str  # "spikes" (0/1 events) or "values" (real numbers)
    width: int


@dataclass
class Split:
    target: str
    placement: dict[str, Placement]
    segments: list[Segment]
    crossings: list[Crossing] = field(default_factory=list)

    @property
    def chip_segments(self) -> list[Segment]:
        return [s for s in self.segments if s.side == "chip"]

    @property
    def needs_host(self) -> bool:
        return any(p.where == HOST for p in self.placement.values())

    def counts(self) -> dict[str, int]:
        out = {NATIVE: 0, EMULATED: 0, HOST: 0}
        for p in self.placement.values():
            out[p.where] += 1
        return out


def capabilities(backend) -> tuple[frozenset, frozenset, bool]:
    return (frozenset(getattr(backend, "native_ops", ())), frozenset(getattr(backend, "emulated_ops", ())),
            bool(getattr(backend, "spike_inputs_only", False)))


def host_neurons(backend) -> frozenset:
    return frozenset(getattr(backend, "host_neurons", ()))


def _binary(graph: Graph, name: str, real_input: bool, seen=None) -> bool:
    """Does `name` emit only 0/1 values? (spiking neurons, Threshold, a binary embedding,
    pass-through of those)."""
    node = graph.nodes[name]
    if isinstance(node, nir.Input):
        return not real_input
    op = ops.get(node, name)
    if op.binary or (isinstance(node, dialect.Embedding) and np.isin(node.weight, (0, 1)).all()):
        return True  # a binarized embedding (SpikeGPT) emits 0/1 rows
    if op.pass_through:
        seen = (seen or set()) | {name}
        preds = [p for p in graph.predecessors(name) if p not in seen]
        return bool(preds) and all(_binary(graph, p, real_input, seen) for p in preds)
    return False


def _initial(graph: Graph, native: frozenset, emulated: frozenset, host: frozenset = frozenset()) -> dict[str, Placement]:
    place = {}
    for n in graph.order:
        node = graph.nodes[n]
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        t = type(node).__name__
        if t in host and not dialect.is_dialect(node) and not _synaptic_current(graph, n):
            place[n] = Placement(HOST, f"{t}: no model on this target; its membrane is computed on the host")
        elif not dialect.is_dialect(node):
            place[n] = Placement(NATIVE, "NIR type")
        elif t in native:
            place[n] = Placement(NATIVE, f"{t} in the target's neuron hardware")
        elif t in emulated:
            place[n] = Placement(EMULATED, f"{t} emulated on the target's general-purpose cores")
        else:
            place[n] = Placement(HOST, f"{t}: no model on this target" if not ops.get(node, n).host
                                 else f"{t}: a host op (real-valued, not on this target's cores)")
    return place


def _synaptic_current(graph: Graph, n: str) -> bool:
    """A non-spiking node that only feeds spiking neurons (through Delays) is a synaptic current
    (neurodeploy.pynn's ``<p>.isyn``), not a readout: it stays with its neurons."""
    succ = graph.successors(n)
    while len(succ) == 1 and isinstance(graph.nodes[succ[0]], nir.Delay):
        succ = graph.successors(succ[0])
    return len(succ) == 1 and ops.get(graph.nodes[succ[0]], succ[0]).spiking


def _is_chip(place, n):
    return n in place and place[n].where in CHIP


def _spike_only_fix(graph: Graph, place: dict, real_input: bool) -> None:
    """Move consumers of real-valued streams into the chip to the host until spikes cross."""
    changed = True
    while changed:
        changed = False
        for n in graph.order:
            if not _is_chip(place, n) or place[n].where == EMULATED or dialect.is_dialect(graph.nodes[n]):
                continue
            for s in graph.predecessors(n):
                from_host = isinstance(graph.nodes[s], nir.Input) or place.get(s, Placement(HOST, "")).where == HOST
                if from_host and not _binary(graph, s, real_input):
                    what = "real-valued graph input" if isinstance(graph.nodes[s], nir.Input) else f"values from host node {s!r}"
                    place[n] = Placement(HOST, f"{type(graph.nodes[n]).__name__} fed by {what}; "
                                               "the target takes spikes only, so it runs on the host")
                    changed = True
                    break


def _readout_fix(graph: Graph, place: dict) -> None:
    """A non-neuron node whose values leave the chip (feeding only outputs or host nodes) runs on
    the host: the chip emits only from its neurons."""
    changed = True
    while changed:
        changed = False
        for n in reversed(graph.order):
            if not _is_chip(place, n) or dialect.is_dialect(graph.nodes[n]) or ops.get(graph.nodes[n], n).is_neuron:
                continue
            succ = graph.successors(n)
            if succ and all(isinstance(graph.nodes[d], nir.Output) or place[d].where == HOST for d in succ):
                place[n] = Placement(HOST, f"{type(graph.nodes[n]).__name__}: its values leave the chip, "
                                           "which emits only from neurons")
                changed = True


def _sides(graph: Graph, place: dict) -> dict[str, str]:
    """Side of every node; Input/Output nodes join their neighbours' side (host if mixed)."""
    side = {n: ("chip" if p.where in CHIP else "host") for n, p in place.items()}
    for n in graph.order:
        node = graph.nodes[n]
        if isinstance(node, nir.Input):
            succ = graph.successors(n)
            side[n] = "chip" if succ and all(side.get(s) == "chip" for s in succ) else "host"
        elif isinstance(node, nir.Output):
            preds = graph.predecessors(n)
            side[n] = "chip" if preds and all(side.get(p) == "chip" for p in preds) else "host"
    return side


def segments(graph: Graph, side: dict[str, str]) -> list[Segment]:
    runs: list[list[str]] = []
    for n in graph.order:
        if runs and side[runs[-1][0]] == side[n]:
            runs[-1].append(n)
        else:
            runs.append([n])
    out = []
    for i, run in enumerate(runs):
        inside = set(run)
        ins = sorted({s for s, d in graph.edges if d in inside and s not in inside}, key=graph.order.index)
        outs = [n for n in run if isinstance(graph.nodes[n], nir.Output)
                or any(d not in inside for d in graph.successors(n))]
        out.append(Segment(i, side[run[0]], tuple(run), tuple(ins), tuple(outs)))
    return out


def partition(graph: Graph, backend, target_name: str = "", *, real_input: bool = False) -> Split:
    """The placement of every node of `graph` on `backend` and the segments it cuts the graph into.

    `real_input`: the graph's inputs carry real values (not 0/1 spikes). Inputs read by a host op
    (an Embedding) are values in any case."""
    native, emulated, spike_only = capabilities(backend)
    for n in graph.inputs:
        if any(ops.get(graph.nodes[s], s).host for s in graph.successors(n)):
            real_input = True
    place = _initial(graph, native, emulated, host_neurons(backend))
    if spike_only:
        _spike_only_fix(graph, place, real_input)
    if spike_only or any(p.where == HOST for p in place.values()):
        _readout_fix(graph, place)  # a split model: values that leave the chip are computed on the host
    side = _sides(graph, place)
    for n in graph.order:
        if n not in place:
            place[n] = Placement(NATIVE if side[n] == "chip" else HOST, "graph input/output")
    segs = segments(graph, side)
    crossings = [Crossing(s, d, "spikes" if _binary(graph, s, real_input) else "values", graph.size(s))
                 for s, d in graph.edges if side[s] != side[d]]
    return Split(target_name, place, segs, crossings)
