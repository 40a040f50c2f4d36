"""Front-ends: a tool's model -> `Export(graph, semantics)`.

Every front-end returns the same pair, so the rest of the flow does not care which tool a model
came from:

    graph, sem = export(...)                  # or exp.graph, exp.semantics
    ir.write("model.nir", graph)              # the semantics are in graph.metadata: stored in the file
    g = ir.normalize(graph)                   # = ir.normalize(graph, sem)

`graph` is a nested `nir.NIRGraph` whose metadata carries `semantics` under
`neurodeploy.ir.meta.KEY` (docs/dialect.md, "Semantics metadata"), so a file written from it
compiles with no flags. Adding a front-end: docs/architecture.md, "Add a front-end".
"""
from __future__ import annotations

from typing import NamedTuple

import nir

from ..ir.meta import KEY
from ..semantics import Semantics


class Export(NamedTuple):
    graph: nir.NIRGraph
    semantics: Semantics


def exported(nodes: dict, edges: list, semantics: Semantics, tool: str) -> Export:
    """The `Export` of a front-end's nodes and edges, the semantics stored in the graph's metadata."""
    metadata = {"source": tool, KEY: semantics.to_dict()}
    return Export(nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False), semantics)
