"""NIR in and out: tolerant reading with repairs, the neurodeploy dialect, normalization.

- `read(path, report=False)` -> `nir.NIRGraph` (nested, repaired; with ``report`` also the repairs)
- `write(path, graph)`: lossless, atomic; stock-only graphs stay readable by stock ``nir.read``
- `normalize(nir_graph, semantics=None)` -> `Graph`; `load(path, semantics=None)` = both
- `describe(graph, repairs=None)`: the tables `neurodeploy inspect` prints
See docs/ir.md and docs/dialect.md.
"""
from . import dialect
from .graph import Graph
from .inspect import describe
from .normalize import load, normalize
from .reader import read
from .writer import write

__all__ = ["Graph", "describe", "dialect", "load", "normalize", "read", "write"]
