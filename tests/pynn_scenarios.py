"""PyNN scripts run both by neurodeploy.pynn (in tests) and by PyNN's Brian2 backend (the peer,
tests/peers/pynn_brian2.py, in .venv-brian2): only numpy and the `sim` module they are given."""
from __future__ import annotations

import numpy as np

CELL = dict(cm=0.27, tau_m=3.0, tau_syn_E=0.3, tau_syn_I=0.3, tau_refrac=1.0, v_rest=-60.0, v_reset=-60.0,
            v_thresh=-57.0, i_offset=0.0)


def stdp_trajectory(sim, pre_times, post_times, steps=30, delay=1.0, tau=3.0, a_plus=0.05, a_minus=0.06,
                    w_max=0.5, w0=0.25, dendritic=0):
    """Pre sources -> (plastic, all-to-all, axonal or dendritic delay) -> post cells that a second
    source drives to spike at `post_times` (+ 2 steps: delay 1 + the current acting next step);
    weights read every ms."""
    sim.setup(timestep=1.0)
    pre = sim.Population(len(pre_times), sim.SpikeSourceArray(spike_times=pre_times), label="pre")
    drive = sim.Population(len(post_times), sim.SpikeSourceArray(spike_times=post_times), label="drive")
    post = sim.Population(len(post_times), sim.IF_curr_exp(**CELL), label="post")
    post.set(v=-60.0)
    sim.Projection(drive, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=20.0, delay=1.0))
    rule = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(tau_plus=tau, tau_minus=tau, A_plus=a_plus,
                                                                A_minus=a_minus),
                             weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=w_max),
                             weight=w0, delay=delay, dendritic_delay_fraction=dendritic)
    proj = sim.Projection(pre, post, sim.AllToAllConnector(), rule)
    post.record("spikes")
    w = []
    for _ in range(steps):
        sim.run(1.0)
        w.append(np.array(proj.get("weight", format="array")))
    spikes = np.zeros((steps, len(post_times)), bool)
    for st in post.get_data("spikes").segments[0].spiketrains:
        k = np.rint(np.asarray(st.rescale("ms").magnitude)).astype(int)
        spikes[k[k < steps], int(st.annotations["source_index"])] = True
    sim.end()
    return {"w": np.array(w), "post_spikes": spikes}


def responses(sim, weights=(2.0, 6.0, 9.0, -6.0), steps=20, cm=0.27, tau_m=3.0, times=(2.0, 3.0, 9.0)):
    """One source spiking at `times` drives one cell per weight (negative = inhibitory magnitude
    through receptor 'inhibitory'); returns the cells' spikes and v."""
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=list(times)), label="src")
    cells = sim.Population(len(weights), sim.IF_curr_exp(**dict(CELL, cm=cm, tau_m=tau_m)), label="cells")
    cells.set(v=-60.0)
    for k, w in enumerate(weights):
        sim.Projection(src, sim.PopulationView(cells, [k]), sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=abs(w), delay=1.0),
                       receptor_type="inhibitory" if w < 0 else "excitatory")
    cells.record(["spikes", "v"])
    sim.run(float(steps))
    seg = cells.get_data().segments[0]
    spikes = np.zeros((steps, len(weights)), bool)
    for st in seg.spiketrains:
        k = np.rint(np.asarray(st.rescale("ms").magnitude)).astype(int)
        spikes[k[k < steps], int(st.annotations["source_index"])] = True
    v = np.asarray(seg.filter(name="v")[0].rescale("mV").magnitude)
    sim.end()
    return {"spikes": spikes, "v": v}
