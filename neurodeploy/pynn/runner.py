"""Run a PyNN network on its target: build the NIR export, feed the spike sources, read back
spikes, voltages and learnt weights as per-population arrays (`Run`).

- ``reference``: `neurodeploy.sim.reference.simulate` on `build.for_reference`.
- ``spinnaker2``: compile with the SpiNNaker 2 backend into the simulation's temporary directory
  (removed by ``end``) and run its ``sim`` engine (`neurodeploy.backend.compile`/`run`).
Spike sources become 0/1 input arrays (T, n): a spike at time s ms falls in step round(s/dt);
Poisson sources draw from the simulation's seeded generator.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ir
from . import build, model


@dataclass
class Run:
    steps: int
    spikes: dict = field(default_factory=dict)   # label -> (T, n) bool
    v: dict = field(default_factory=dict)        # label -> (T, n) mV
    weights: dict = field(default_factory=dict)  # projection label -> (post, pre) at the end
    trajectories: dict = field(default_factory=dict)  # projection label -> (T, post, pre)
    counters: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def run(sim, steps: int) -> Run:
    exp = build.export(sim)
    inputs = {p.label: source_spikes(p, sim, steps)[:, None, :] for p in sim.populations if p.celltype.is_source}
    graph, sem = build.for_reference(exp)
    g = ir.normalize(graph, sem)
    for name in g.inputs:  # a population nothing projects onto: normalization gave it an input
        inputs.setdefault(name, np.zeros((steps, 1) + tuple(g.out_shape[name])))
    neurons = [p for p in sim.populations if not p.celltype.is_source]
    rules = {proj.label: name for proj in sim.projections if proj.synapse_type.plastic
             for name in g.nodes if name.startswith(proj.label + ":") and name.endswith(".stdp")}
    record = [p.label for p in neurons] + list(rules.values())
    if sim.target == "spinnaker2":
        from . import spinnaker2
        artifact = sim.workdir() + "/artifact"
        res = spinnaker2.run(g, inputs, steps, record, artifact)
        res.extra["artifact"] = artifact
    else:
        from ..sim.reference import simulate
        res = simulate(g, inputs, steps=steps, record=record)
    out = Run(steps, counters=dict(res.counters), extra={"result": res, "graph": g})
    v_rest = exp.graph.metadata["pynn"]["v_rest"]
    for p in neurons:
        out.spikes[p.label] = np.asarray(res.spikes[p.label])[:, 0].astype(bool)
        if p.label in res.v:
            out.v[p.label] = np.asarray(res.v[p.label])[:, 0] + np.asarray(v_rest[p.label])
    for p in sim.populations:
        if p.celltype.is_source:
            out.spikes[p.label] = inputs[p.label][:, 0].astype(bool)
    for label, rule in rules.items():
        traj = np.asarray(res.extra["weights"][rule])[:, 0]
        out.trajectories[label], out.weights[label] = traj, traj[-1]
    return out


def source_spikes(p, sim, steps: int) -> np.ndarray:
    s = np.zeros((steps, p.size))
    if isinstance(p.celltype, model.SpikeSourceArray):
        for i, times in enumerate(p.spike_times):
            k = np.rint(np.asarray(times) / sim.dt).astype(np.int64)
            s[k[k < steps], i] = 1.0
        return s
    q = p.params  # SpikeSourcePoisson: rate Hz within [start, start + duration) ms
    t = np.arange(steps)[:, None] * sim.dt
    active = (t >= q["start"]) & (t < q["start"] + q["duration"])
    rng = np.random.default_rng([0 if sim.seed is None else sim.seed, p.serial])
    return (active & (rng.random((steps, p.size)) < q["rate"] * sim.dt * 1e-3)).astype(float)  # format: ms -> s
