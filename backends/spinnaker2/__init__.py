"""SpiNNaker 2 backend: NIR -> py-spinnaker2 populations/projections -> per-PE memory images,
routing tables and a run spec; run on the cycle-approximate chip model (`simulator.py`).

Options (``-O key=value``): see `options.py` (weight_scale, weight_scaling, conn_delay, tick, clock,
max_atoms_per_core, steps, record, activity, boards). Targets: ``spinnaker2`` (one chip) and
``spinnaker2-48chip`` (48-chip boards, as many as needed).
"""
from __future__ import annotations

from neurodeploy.backend import Backend

from . import lower, simulator
from .report import report as _report


class SpiNNaker2Backend(Backend):
    name = "spinnaker2"
    engines = ("sim",)

    def __init__(self):
        self._cache = None  # (key, Mapping) of the last check, reused by lower

    def _mapping(self, graph, target, options):
        key = (id(graph), str(target.path), tuple(sorted((k, str(v)) for k, v in options.items())))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, lower.map_network(graph, target, options))
        return self._cache[1]

    def check(self, graph, target, options):
        return self._mapping(graph, target, options).rules

    def lower(self, graph, target, options, out):
        m = self._mapping(graph, target, options)
        self._cache = None
        return lower.write_artifact(m, graph, target, out)

    def run(self, artifact, inputs, *, steps, record, engine=None):
        return simulator.run(artifact, inputs, steps=steps, record=record)

    def report(self, artifact):
        return _report(artifact)


BACKEND = SpiNNaker2Backend()
