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

import math

from neurodeploy.backend import Backend, Plan

from . import cores, cores_kernel, egru, egru_kernel, lower, plastic_kernel, plasticity, simulator
from .options import SCALINGS
from .quantized import quantized_graph
from .report import report as _report

ROLE = "backend"


class SpiNNaker2Backend(Backend):
    name = "spinnaker2"
    host_neurons = ("LI", "CubaLI", "I")  # non-spiking readouts: their membrane is computed on the host
    engines = {"sim": plastic_kernel.PlasticEngine(egru_kernel.EGRUEngine(simulator.ENGINE, cores_kernel.run))}
    spike_inputs_only = True  # spike_list sources carry 0/1 events (neurodeploy.host moves real-valued inputs)
    emulated_ops = ("EGRU", "LayerNorm", "RWKVTimeMix", "RWKVChannelMix", "STDP")  # on the Arm cores: egru.py /
    # egru_kernel.py, cores.py / cores_kernel.py (whole blocks), plasticity.py / plastic_kernel.py (STDP)

    precision_cost_unit = "weight scale factors"

    def precision_choices(self, graph, target) -> list[tuple[dict, int]]:
        """``weight_scaling`` for `neurodeploy.calibrate`, coarsest first: none, per_layer, per_neuron;
        the cost is how many scale factors the mapping keeps (0, one per layer, one per neuron)."""
        layers = graph.neurons()
        cost = {"none": 0, "per_layer": len(layers),
                "per_neuron": sum(math.prod(graph.out_shape[n]) for n in layers)}
        return [({"weight_scaling": s}, cost[s]) for s in reversed(SCALINGS)]

    def plan(self, graph, target, options) -> Plan:
        way = egru.plan if egru.handles(graph) else cores.plan if cores.handles(graph) else lower.map_network
        way = plasticity.plan if plasticity.handles(graph) else way  # PyNN networks with STDP
        m = way(graph, target, options)
        return Plan(graph, target, options, m.rules, m)

    def write(self, plan: Plan, out) -> dict:
        if isinstance(plan.decisions, plasticity.Mapping):
            return plasticity.write(plan.decisions, plan.target, out)
        if isinstance(plan.decisions, (egru.Mapping, cores.Mapping)):
            module = egru if isinstance(plan.decisions, egru.Mapping) else cores
            return module.write(plan.decisions, plan.target, out)
        return lower.write_artifact(plan.decisions, plan.graph, plan.target, out)

    def report(self, artifact):
        return _kind(artifact, egru.report, cores.report, _report)(artifact)

    def quantized_graph(self, artifact):
        return _kind(artifact, egru.quantized_graph, cores.quantized_graph, quantized_graph)(artifact)


def _kind(artifact, for_egru, for_cores, for_populations):
    """The function for this artifact's kind: EGRU layers, blocks on the cores, or populations."""
    info = artifact.manifest["spinnaker2"]
    if info.get("plastic"):
        return getattr(plasticity, for_egru.__name__)
    return for_egru if info.get("egru") else for_cores if info.get("cores") else for_populations


BACKEND = SpiNNaker2Backend()
