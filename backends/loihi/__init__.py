"""Intel Loihi 1/2 backend: Lava fixed point, a bit-accurate NumPy engine and the Lava engine.

Compile: quantize (quantize.py) -> allocate to neurocores (allocate.py) -> artifact files
(program.py: net.json + params.npz, plus a lava-dl netx ``model.net`` where the layers allow,
netx.py). Run with ``--engine sim`` (default, bitsim.py) or ``--engine lava`` (Lava itself in
.venv-lava, engine.py + lava_runner.py); both read only the artifact and agree bit for bit.

Backend options (``-O key=value``):
- ``mapping=auto|paper`` (auto): per-layer scale and weight exponent, round to nearest; or the NIR
  paper's nir_to_lava fixed point (scale 2**14, weight_exp 0, truncation), see quantize.py.
- ``headroom_bits=N`` (2): auto mapping keeps the threshold mantissa below 2**(17-N), leaving the
  24-bit voltage N bits of range above threshold and below zero.
- ``v_probe=chip|state`` (chip): recorded voltage at a spike step reads what the Loihi chip's probe
  reads (refractory count x 128, lava-nc/lava#282) or the model state (0 after reset, as Lava's
  CPU model reports). Spikes and all other steps are identical either way.
- ``input_bits=N`` (0): 0 = graph inputs are binary spikes; N > 0 = graded input events of N bits.
- ``steps=N``: the common option every backend takes (run length); accepted and checked, but nothing
  here is sized by it: both engines record into host memory.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from neurodeploy.artifact import Artifact
from neurodeploy.backend import Backend, Rule
from neurodeploy.errors import UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.result import Result
from neurodeploy.targets import Target

from . import bitsim, engine, netx, program
from .allocate import allocate
from .quantize import quantize

DEFAULTS = {"mapping": "auto", "headroom_bits": "2", "v_probe": "chip", "input_bits": "0", "steps": "0"}


def parse_options(options: dict) -> dict:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"unknown Loihi option(s) {', '.join(unknown)}", hint=f"known: {', '.join(DEFAULTS)}")
    o = {**DEFAULTS, **{k: str(v) for k, v in options.items()}}
    choices = {"mapping": ("auto", "paper"), "v_probe": ("chip", "state")}
    for key, allowed in choices.items():
        if o[key] not in allowed:
            raise UsageError(f"option {key}={o[key]!r} is not one of {', '.join(allowed)}")
    for key, hi in (("headroom_bits", 8), ("input_bits", 24), ("steps", 10**9)):
        if not o[key].isdigit() or int(o[key]) > hi:
            raise UsageError(f"option {key}={o[key]!r} must be an integer 0..{hi}")
        o[key] = int(o[key])
    return o


class LoihiBackend(Backend):
    name = "loihi"
    engines = ("sim", "lava")

    def _plan(self, graph: Graph, target: Target, options: dict):
        opts = parse_options(options)
        net = quantize(graph, target, opts)
        cores, rows, rules = allocate(net, target)
        return opts, net, cores, rows, rules

    def check(self, graph: Graph, target: Target, options: dict) -> list[Rule]:
        return self._plan(graph, target, options)[-1]

    def lower(self, graph: Graph, target: Target, options: dict, out: Path) -> dict:
        opts, net, cores, rows, rules = self._plan(graph, target, options)
        for rule in rules:
            rule.raise_if_violated()
        chips = -(-len(rows) // int(target.v("limits.cores_per_chip")))
        probe = {"v_at_spike": opts["v_probe"], "refractory_steps": 1,
                 "refractory_probe_unit": int(target.v("fixed_point.refractory_probe_unit"))}
        program.write(net, cores, chips, probe, out)
        netx_note = netx.export(net, out / "model.net", graph.semantics.dt)
        quant = {p.name: {**p.error, "du": p.du, "dv": p.dv, "vth": p.vth,
                          "weights": {s.src: {"rel_error": s.error, "weight_exp": s.weight_exp,
                                              "sign_mode": s.sign_mode}
                                      for s in net.synapses if s.dst == p.name}}
                 for p in net.populations}
        return {"resolved_options": opts, "quantization": quant, "cores": rows, "chips": chips, "netx": netx_note,
                "step_time_s": target.v("timing.step_time"), "generation": target.get("target.generation")}

    def run(self, artifact: Artifact, inputs, *, steps: int | None, record: list[str],
            engine: str | None = None) -> Result:
        step_time = float(artifact.manifest["step_time_s"])
        if (engine or "sim") == "sim":
            return bitsim.run(artifact, inputs, steps=steps, record=record, step_time_s=step_time)
        return run_lava([(artifact, inputs, record)], steps=steps, step_time_s=step_time)[0]

    def report(self, artifact: Artifact):
        from .report import render

        return render(artifact)


def run_lava(runs: list[tuple[Artifact, object, list[str]]], *, steps: int | None = None,
             step_time_s: float = 0.0) -> list[Result]:
    """Run several (artifact, inputs, record) triples in one Lava process (its start-up dominates)."""
    jobs, shapes = [], []
    for art, inputs, record in runs:
        meta, _ = program.read(art.path)
        xs = bitsim.prepare_inputs(meta, inputs)
        (x,) = xs.values()
        T = steps if steps is not None else x.shape[0]
        x = np.concatenate([x, np.zeros((max(0, T - x.shape[0]),) + x.shape[1:], x.dtype)])[:T]
        rec = bitsim.record_names(meta, record)
        jobs.append({"artifact": art.path, "inputs": x, "steps": T, "record": rec})
        shapes.append({p["name"]: tuple(p["shape"]) for p in meta["populations"]})
    results = []
    for job, shape, out in zip(jobs, shapes, engine.run_many(jobs)):
        T, B = job["inputs"].shape[:2]
        res = Result(sim_time_s=T * step_time_s, counters={"ticks": T}, extra={"engine": "lava"})
        for k in job["record"]:
            res.spikes[k] = out[f"{k}.spikes"].reshape(T, B, *shape[k])
            res.v[k] = out[f"{k}.v"].reshape(T, B, *shape[k])
        results.append(res)
    return results


BACKEND = LoihiBackend()
