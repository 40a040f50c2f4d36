"""NIR in and out: tolerant reading with repairs, the neurodeploy dialect, normalization.

- `read(path, report=False)` -> `nir.NIRGraph` (nested, repaired; with ``report`` also the repairs)
- `write(path, graph)`: lossless, atomic; stock-only graphs stay readable by stock ``nir.read``
- `normalize(nir_graph, semantics=None)` -> `Graph`; `load(path, semantics=None)` = both
- `describe(graph)`: the tables `neurodeploy inspect` prints
See docs/ir.md and docs/dialect.md.
"""
from .graph import Graph
from .normalize import load, normalize
from .reader import read

__all__ = ["Graph", "load", "normalize", "read"]
