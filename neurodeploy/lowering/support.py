"""What semantics a target supports, declared by its backend and checked here, once.

A backend builds a `Support` (it may depend on its options) and calls `check(graph, support)`
before mapping. The rule for every field of `neurodeploy.semantics.Semantics`:

- a field the backend lists in ``values`` must take one of the listed values (``None``: any value);
- a field the backend does not list must keep its default: a field added to `Semantics` later (a
  refractory period, say) is refused by every backend until that backend declares it;
- ``per_type`` narrows a field for one neuron type (e.g. a chip whose current-based neuron realises
  only one integrator);
- every neuron node must be one of ``neurons``;
- a neuron node's own reset fields (refused unless ``per_node``) (`neurodeploy.ir.meta.node_semantics`) are checked like the
  graph's, naming the node; the graph's own reset fields then count only for the nodes that use them.

Where the check fails, `neurodeploy.lowering.rewrites` looks for an exact rewrite the target does
support before the compiler refuses.

Every refusal is an `UnsupportedSemantics` naming the backend, the field or node and what to do.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from .. import ops
from ..errors import UnsupportedSemantics
from ..ir import meta
from ..ir.graph import Graph, is_neuron
from ..semantics import NODE_FIELDS, Semantics

FLAG = {"dt": "--dt", "reset": "--reset", "integrator": "--integrator", "reset_timing": "--reset-timing"}


@dataclass(frozen=True)
class Support:
    backend: str
    values: Mapping[str, tuple | None]
    neurons: tuple[type, ...]
    per_type: Mapping[type, Mapping[str, tuple]] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)  # field or neuron type name -> what to do
    per_node: bool = False  # runs different reset conventions on different nodes of one graph


def _flag(name: str) -> str:
    return FLAG.get(name, "--" + name.replace("_", "-"))


def check(graph: Graph, support: Support) -> None:
    sem, default = graph.semantics, Semantics()
    neurons = resetting(graph)
    own = {n: meta.node_fields(graph.nodes[n]) for n in neurons}
    mixed = sorted(n for n, o in own.items() if o and meta.node_semantics(graph, n) != sem)
    if mixed and not support.per_node:
        raise _about("reset_timing", f"{support.backend} runs one reset convention per graph; node(s) "
                                   f"{', '.join(mixed)} store their own", where=mixed[0],
                                   hint="give every layer the same reset_mechanism and reset_delay")
    # the graph's reset fields matter unless every spiking neuron node sets its own
    graph_wide = [f for f in fields(Semantics)
                  if f.name not in NODE_FIELDS or not neurons or any(f.name not in o for o in own.values())]
    for f in graph_wide:
        _field(support, f.name, getattr(sem, f.name), getattr(default, f.name), "semantics", "it ")
    for name in graph.order:
        node = graph.nodes[name]
        kind = type(node).__name__
        if is_neuron(node) and not isinstance(node, support.neurons):
            raise UnsupportedSemantics(f"{kind} neurons have no {support.backend} model", where=name,
                                       hint=support.hints.get(kind) or "supported: " + ", ".join(
                                           t.__name__ for t in support.neurons))
        node_sem = meta.node_semantics(graph, name) if name in own else sem
        for fname, value in own.get(name, {}).items():
            _field(support, fname, value, getattr(default, fname), name, f"{kind} {name!r} ")
        for typ, narrowed in support.per_type.items():
            if not isinstance(node, typ):
                continue
            for fname, allowed in narrowed.items():
                if getattr(node_sem, fname) not in allowed:
                    raise _about(
                        fname, f"{kind} on {support.backend} supports {fname} {' or '.join(map(repr, allowed))}, "
                        f"not {getattr(node_sem, fname)!r}", where=name,
                        hint=support.hints.get(f"{kind}.{fname}") or f"compile with {_flag(fname)} {allowed[0]}")


def _about(name: str, message: str, **kw) -> UnsupportedSemantics:
    """A refusal of semantics field `name` (``err.field``: `neurodeploy.lowering.rewrites` rewrites
    only refusals of a reset field)."""
    err = UnsupportedSemantics(message, **kw)
    err.field = name
    return err


def resetting(graph: Graph) -> list[str]:
    """The neuron nodes a reset convention applies to (spiking ones), in evaluation order."""
    return [n for n in graph.neurons() if ops.get(graph.nodes[n], n).spiking]


def _field(support: Support, name: str, value, default, where: str, who: str) -> None:
    allowed = support.values.get(name, ())
    if name not in support.values:
        if value != default:
            raise _about(name, f"{support.backend} does not model {name}; {who}must keep its "
                                       f"default {default!r}, got {value!r}", where=where,
                                       hint=support.hints.get(name))
    elif allowed is not None and value not in allowed:
        raise _about(name, f"{support.backend} supports {name} {' or '.join(map(repr, allowed))}, "
                                   f"not {value!r}" + ("" if who == "it " else f" ({who.strip()})"), where=where,
                                   hint=support.hints.get(name) or f"compile with {_flag(name)} {allowed[0]}")
