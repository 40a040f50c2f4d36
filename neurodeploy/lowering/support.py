"""What semantics a target supports, declared by its backend and checked here, once.

A backend builds a `Support` (it may depend on its options) and calls `check(graph, support)`
before mapping. The rule for every field of `neurodeploy.semantics.Semantics`:

- a field the backend lists in ``values`` must take one of the listed values (``None``: any value);
- a field the backend does not list must keep its default: a field added to `Semantics` later (a
  refractory period, say) is refused by every backend until that backend declares it;
- ``per_type`` narrows a field for one neuron type (e.g. a chip whose current-based neuron realises
  only one integrator);
- every neuron node must be one of ``neurons``.

Every refusal is an `UnsupportedSemantics` naming the backend, the field or node and what to do.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from ..errors import UnsupportedSemantics
from ..ir.graph import Graph, is_neuron
from ..semantics import Semantics

FLAG = {"dt": "--dt", "reset": "--reset", "integrator": "--integrator", "reset_timing": "--reset-timing"}


@dataclass(frozen=True)
class Support:
    backend: str
    values: Mapping[str, tuple | None]
    neurons: tuple[type, ...]
    per_type: Mapping[type, Mapping[str, tuple]] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)  # field or neuron type name -> what to do


def _flag(name: str) -> str:
    return FLAG.get(name, "--" + name.replace("_", "-"))


def check(graph: Graph, support: Support) -> None:
    sem, default = graph.semantics, Semantics()
    for f in fields(Semantics):
        value, allowed = getattr(sem, f.name), support.values.get(f.name, ())
        if f.name not in support.values:
            if value != getattr(default, f.name):
                raise UnsupportedSemantics(f"{support.backend} does not model {f.name}; it must keep its "
                                           f"default {getattr(default, f.name)!r}, got {value!r}",
                                           where="semantics", hint=support.hints.get(f.name))
        elif allowed is not None and value not in allowed:
            raise UnsupportedSemantics(f"{support.backend} supports {f.name} {' or '.join(map(repr, allowed))}, "
                                       f"not {value!r}", where="semantics",
                                       hint=support.hints.get(f.name) or f"compile with {_flag(f.name)} {allowed[0]}")
    for name in graph.order:
        node = graph.nodes[name]
        kind = type(node).__name__
        if is_neuron(node) and not isinstance(node, support.neurons):
            raise UnsupportedSemantics(f"{kind} neurons have no {support.backend} model", where=name,
                                       hint=support.hints.get(kind) or "supported: " + ", ".join(
                                           t.__name__ for t in support.neurons))
        for typ, narrowed in support.per_type.items():
            if not isinstance(node, typ):
                continue
            for fname, allowed in narrowed.items():
                if getattr(sem, fname) not in allowed:
                    raise UnsupportedSemantics(
                        f"{kind} on {support.backend} supports {fname} {' or '.join(map(repr, allowed))}, "
                        f"not {getattr(sem, fname)!r}", where=name,
                        hint=support.hints.get(f"{kind}.{fname}") or f"compile with {_flag(fname)} {allowed[0]}")
