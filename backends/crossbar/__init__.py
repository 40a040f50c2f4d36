"""Memristive crossbar backend (RRAM, PCM): differential conductance pairs in tiles, a fixed-point
digital neuron periphery, and a device-physics simulator with Monte Carlo over device draws.

Compile (mapping.py, options in options.py) -> artifact (layout.py: target conductances and
periphery integers, never float weights) -> run on the ``sim`` engine (simulator.py with device.py,
irdrop.py, periphery.py, montecarlo.py), which reads only the artifact. By default a run uses ideal
devices, so it equals the reference simulator on `quantized_graph` (the conductances mapped back
to weights); device effects are opt-in (compile option ``effects=``, run option ``effects``), and
``samples=N`` (CLI ``--samples``) runs N seeded device draws. docs/crossbar.md has the models.
"""
from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from neurodeploy import artifact as art
from neurodeploy import ir
from neurodeploy.backend import Backend, Options, Plan
from neurodeploy.ir.graph import Graph, is_neuron
from neurodeploy.semantics import Semantics
from neurodeploy.targets import Target

from . import layout, mapping, options, simulator

ROLE = "backend"


class CrossbarBackend(Backend):
    name = "crossbar"
    engines = {"sim": simulator.ENGINE}

    precision_cost_unit = "conductance levels"

    def precision_choices(self, graph: Graph, target: Target) -> list[tuple[dict, int]]:
        """``levels`` for `neurodeploy.calibrate`, fewest first: 2, 4, 8 ... up to the device's own
        (fewer levels program faster and need a coarser ADC); the cost is the levels used."""
        top = int(target.v("device.levels"))
        levels = sorted({*(2 ** k for k in range(1, top.bit_length()) if 2 ** k < top), top})
        return [({"levels": str(n)}, n) for n in levels]

    def plan(self, graph: Graph, target: Target, opts: Options) -> Plan:
        o = options.parse(opts.backend)
        simulator.parse_effects(o.effects)
        layers, params, rules = mapping.plan_layers(graph, target, o, opts.common.seed)
        return Plan(graph, target, opts, rules, decisions=(o, layers, params))

    def write(self, plan: Plan, out: Path) -> dict:
        o, layers, params = plan.decisions
        spec, arrays = mapping.spec_and_arrays(layers, params, plan.graph, o, plan.options.common.seed)
        layout.write(out, spec, arrays)
        return {"layers": {lay.name: {"tiles": lay.tiles, "rows": lay.W.shape[1], "neurons": lay.W.shape[0],
                                      "reservoir": lay.reservoir, "weights": lay.stats, "adc_lsb_levels": lay.adc_lsb}
                           for lay in layers},
                "tiles": sum(lay.tiles for lay in layers), "tile": params["tile"], "effects": o.effects}

    def report(self, artifact: art.Artifact):
        from .report import render

        return render(artifact)

    def quantized_graph(self, artifact: art.Artifact) -> Graph:
        spec, arrays = layout.read(artifact)
        sem = Semantics.from_dict(artifact.manifest["semantics"])
        return weights_graph(ir.load(artifact.file(art.MODEL_FILE), sem), spec, arrays)


def layer_weights(spec: dict, arrays: dict, name: str) -> np.ndarray:
    """(neurons, rows) weights of the ideal devices: (G+ - G-)/dG * w_step (whole levels unless a
    reservoir layer, whose device draw is continuous)."""
    d = spec["device"]
    lay = next(lay for lay in spec["layers"] if lay["name"] == name)
    step = (d["g_max"] - d["g_min"]) / (d["levels"] - 1)
    q = (arrays[f"{name}.gp"].astype(np.float64) - arrays[f"{name}.gn"]) / step
    if not lay["reservoir"]:
        q = np.rint(q)
    return (q * arrays[f"{name}.w_step"]).T


def weights_graph(graph: Graph, spec: dict, arrays: dict) -> Graph:
    """`graph` with every synapse chain replaced by one Affine per (source, layer) holding the mapped
    weights (the chain's own name when it was one exclusive Affine/Linear node)."""
    nodes = {n: node for n, node in graph.nodes.items() if is_neuron(node) or isinstance(node, (nir.Input, nir.Output))}
    edges = [(s, d) for s, d in graph.edges if s in nodes and d in nodes]
    shapes_in = {n: graph.in_shape[n] for n in nodes if n in graph.in_shape}
    shapes_out = {n: graph.out_shape[n] for n in nodes}
    for lay in spec["layers"]:
        name = lay["name"]
        W = layer_weights(spec, arrays, name)
        bias = arrays[f"{name}.bias"]
        for k, src in enumerate(lay["sources"]):
            s, a = src["name"], src["offset"]
            preds = [p for p in graph.predecessors(name) if p not in nodes]
            own = [p for p in preds if graph.predecessors(p) == [s] and graph.successors(p) == [name]
                   and isinstance(graph.nodes[p], (nir.Affine, nir.Linear))]
            node_name = own[0] if len(own) == 1 else f"{s}->{name}"
            w = W[:, a:a + src["size"]].astype(np.float64)
            nodes[node_name] = nir.Affine(weight=w, bias=bias if k == 0 else np.zeros_like(bias))
            edges += [(s, node_name), (node_name, name)]
            shapes_in[node_name], shapes_out[node_name] = (src["size"],), (lay["size"],)
            shapes_in[name] = tuple(lay["shape"])
    return Graph(nodes, edges, shapes_in, shapes_out, semantics=graph.semantics, metadata=dict(graph.metadata))


BACKEND = CrossbarBackend()
