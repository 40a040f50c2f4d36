"""SpiNNaker 2 backend: NIR -> py-spinnaker2 populations/projections -> per-PE memory images,
routing tables and a run spec; run on the cycle-approximate chip model (`simulator.py`, engine ``sim``).

Options (``-O key=value``): `options.py` (weight_scale, weight_scaling, conn_delay, tick, clock,
max_atoms_per_core, activity, boards) plus the core's steps, seed, record. Targets: ``spinnaker2``
(one chip) and ``spinnaker2-48chip`` (48-chip boards, as many as needed); every hardware number comes
from them (`target_schema.toml` lists what is read).

Module roles (the import boundary, tests/contract/test_backend_sources.py): ``memimage`` is the
artifact format; ``simulator`` simulates and imports only the format and the core; every other
module compiles.
"""
from __future__ import annotations

from neurodeploy.backend import Backend, Plan

from . import egru, egru_kernel, lower, simulator
from .quantized import quantized_graph
from .report import report as _report

ROLE = "backend"


class SpiNNaker2Backend(Backend):
    name = "spinnaker2"
    engines = {"sim": egru_kernel.EGRUEngine(simulator.ENGINE)}
    spike_inputs_only = True  # spike_list sources carry 0/1 events (neurodeploy.host moves real-valued inputs)
    emulated_ops = ("EGRU",)  # on the Arm cores: egru.py (compile), egru_kernel.py (simulate)

    def plan(self, graph, target, options) -> Plan:
        m = (egru.plan if egru.handles(graph) else lower.map_network)(graph, target, options)
        return Plan(graph, target, options, m.rules, m)

    def write(self, plan: Plan, out) -> dict:
        if isinstance(plan.decisions, egru.Mapping):
            return egru.write(plan.decisions, plan.target, out)
        return lower.write_artifact(plan.decisions, plan.graph, plan.target, out)

    def report(self, artifact):
        return (egru.report if artifact.manifest["spinnaker2"].get("egru") else _report)(artifact)

    def quantized_graph(self, artifact):
        return (egru.quantized_graph if artifact.manifest["spinnaker2"].get("egru") else quantized_graph)(artifact)


BACKEND = SpiNNaker2Backend()
