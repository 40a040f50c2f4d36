"""Intel Loihi 1/2 backend: Lava fixed point, a bit-accurate NumPy engine and the Lava engine.

Compile: `plan` quantizes (quantize.py, on the shared lowering) and allocates to neurocores
(allocate.py) once; `write` serialises that plan (program.py: net.json + params.npz in the format of
layout.py, plus a lava-dl netx ``model.net`` where the layers allow, netx.py). Every hardware number
comes from the target TOML (keys listed in target_schema.toml); what the engines need of it is
copied into the artifact's run spec. Engines (`engines`): ``sim`` (default, bitsim.py) and ``lava``
(Lava itself in .venv-lava, engine.py + lava_runner.py through `neurodeploy.runner`); both read only
the artifact and agree bit for bit.

Backend options (``-O key=value``; ``steps``, ``seed``, ``record`` are the core's common options):
- ``mapping=auto|paper`` (auto): per-layer scale and weight exponent, round to nearest; or the NIR
  paper's nir_to_lava fixed point (scale 2**14, weight_exp 0, truncation), see quantize.py.
- ``headroom_bits=N`` (2): auto mapping keeps the threshold mantissa below 2**(vth_bits-N), leaving
  the voltage register N bits of range above threshold and below zero.
- ``v_probe=chip|state`` (chip): recorded voltage at a spike step reads what the Loihi chip's probe
  reads (refractory count x 128, lava-nc/lava#282) or the model state (0 after reset, as Lava's
  CPU model reports). Spikes and all other steps are identical either way.
- ``input_bits=N`` (0): 0 = graph inputs are binary spikes; N > 0 = graded input events of N bits.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neurodeploy.artifact import Artifact
from neurodeploy.backend import Backend, Options, Plan
from neurodeploy.errors import UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.targets import Target

from . import bitsim, engine, netx, program, realised
from .allocate import allocate
from .engine import run_lava
from .layout import RUN_SPEC
from .quantize import Net, quantize

ROLE = "backend"
DEFAULTS = {"mapping": "auto", "headroom_bits": "2", "v_probe": "chip", "input_bits": "0"}
__all__ = ["BACKEND", "run_lava"]


def parse_options(options: dict, target: Target) -> dict:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"unknown Loihi option(s) {', '.join(unknown)}", hint=f"known: {', '.join(DEFAULTS)}")
    o = {**DEFAULTS, **{k: str(v) for k, v in options.items()}}
    choices = {"mapping": ("auto", "paper"), "v_probe": ("chip", "state")}
    for key, allowed in choices.items():
        if o[key] not in allowed:
            raise UsageError(f"option {key}={o[key]!r} is not one of {', '.join(allowed)}")
    limits = {"headroom_bits": int(target.v("fixed_point.vth_bits")) - 1,
              "input_bits": int(target.v("fixed_point.state_bits"))}
    for key, hi in limits.items():
        if not o[key].isdigit() or int(o[key]) > hi:
            raise UsageError(f"option {key}={o[key]!r} must be an integer 0..{hi}")
        o[key] = int(o[key])
    return o


@dataclass
class Decisions:
    """Loihi's mapping of one graph: the resolved options, the quantized network, its core placement."""

    options: dict
    net: Net
    cores: dict[str, list]  # population -> [[core, start, stop], ...]
    rows: list[dict]        # per-core report rows
    chips: int


class LoihiBackend(Backend):
    name = "loihi"
    host_neurons = ("LI", "CubaLI", "I")  # non-spiking readouts: their membrane is computed on the host
    engines = {"sim": bitsim.ENGINE, "lava": engine.ENGINE}
    graded_input_option = "input_bits"  # inputs are integer events: neurodeploy.host quantizes values crossing in

    precision_cost_unit = "threshold mantissa bits"

    def precision_choices(self, graph: Graph, target: Target) -> list[tuple[dict, int]]:
        """``headroom_bits`` for `neurodeploy.calibrate`, coarsest first: the auto mapping's threshold
        mantissa (the cost, vth_bits - headroom) sets how finely weights are resolved against it."""
        bits = int(target.v("fixed_point.vth_bits"))
        return [({"headroom_bits": str(h)}, bits - h) for h in range(bits - 1, -1, -1)]

    def plan(self, graph: Graph, target: Target, options: Options) -> Plan:
        opts = parse_options(options.backend, target)
        net = quantize(graph, target, opts)
        cores, rows, rules = allocate(net, target)
        chips = -(-len(rows) // int(target.v("limits.cores_per_chip")))
        return Plan(graph, target, options, rules, Decisions(opts, net, cores, rows, chips))

    def write(self, plan: Plan, out: Path) -> dict:
        d, target = plan.decisions, plan.target
        probe = {"v_at_spike": d.options["v_probe"], "refractory_steps": 1,
                 "refractory_probe_unit": int(target.v("fixed_point.refractory_probe_unit"))}
        run_spec = {k: int(target.v(f"fixed_point.{k}")) for k in RUN_SPEC}
        program.write(d.net, d.cores, d.chips, probe, run_spec, out)
        netx_note = netx.export(d.net, out / "model.net", plan.graph.semantics.dt)
        quant = {p.name: {**p.error, "du": p.du, "dv": p.dv, "vth": p.vth,
                          "weights": {s.src: {"rel_error": s.error, "weight_exp": s.weight_exp,
                                              "sign_mode": s.sign_mode, "via": list(s.via), **s.stats}
                                      for s in d.net.synapses if s.dst == p.name}}
                 for p in d.net.populations}
        return {"resolved_options": d.options, "quantization": quant, "cores": d.rows, "chips": d.chips,
                "netx": netx_note, "step_time_s": target.v("timing.step_time"),
                "generation": target.get("target.generation")}

    def quantized_graph(self, artifact: Artifact) -> Graph:
        return realised.quantized_graph(artifact)

    def report(self, artifact: Artifact):
        from .report import render

        return render(artifact)


BACKEND = LoihiBackend()
