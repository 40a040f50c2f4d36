"""The hippocampal CA3 content-addressable memory (sPyMem's `Memory`, unchanged) and its protocols.

Model and protocols: ../shared/reference/models.md §5 (Casanueva-Morato et al., Neural Networks
178:106474, 2024; PyPI ``sPyMem`` 0.0.9). `run` takes any PyNN-like module as ``sim``:
``neurodeploy.pynn`` (reference or SpiNNaker 2) or PyNN's Brian2 backend through the dialect shim
in tests/peers/pynn_brian2.py. An operation is (kind, t0 ms, cue index, content bits):
- ``learn``: the cue neuron and the content bits spike together on 3 consecutive ms;
- ``cue``: one spike of the cue neuron;  ``content``: one spike of the given content bits;
- overwriting = ``learn`` on a cue already used (the old synapses depress).
The recalled bits of an operation are the output neurons that spiked in [t0, next t0).
The paper's exact stress sequence and grid-map stimuli are not published in models.md: `stress`
and `grid` rebuild them from the description (60 ops in 851 ms; 4x4 grid, 16 cues x 6 flags).
"""
from __future__ import annotations

import numpy as np
from sPyMem.CA3_content_addressable.CA3_content_addressable import Memory

OUTPUT = {"cm": 0.27, "i_offset": 0.0, "tau_m": 3.0, "tau_refrac": 1.0, "tau_syn_E": 0.3, "tau_syn_I": 0.3,
          "v_reset": -60.0, "v_rest": -60.0, "v_thresh": -57.5}
LAYERS = ("CA3cueCueRecallLayer", "CA3cueContRecallLayer", "CA3contCueRecallLayer", "CA3contContRecallLayer",
          "CA3contCondLayer", "CA3contCondIntLayer", "CA3mergeCueLayer", "CA3mergeContLayer")
LEARN_SPIKES = 3  # consecutive ms of a learning operation
# ms from an input spike to the first output spike it causes: Input->CueCue (delay 1 + the step the
# current needs), CueCue->MergeCue (3 + 1), Merge->Output (1 + 1); the runs last this much longer
LATENCY = 8


def basic(cont=10):
    """Experiment 1 (cue 5, cont 10, 90 ms, 10 ms per op)."""
    a, b, c, d = (_bits(cont, s) for s in ((0, 2, 4, 6), (1, 3, 5, 7, 9), (0, 1, 8, 9), (2, 3, 6, 7)))
    ops = [("learn", 0, 0, a), ("learn", 10, 1, b), ("learn", 20, 2, c), ("cue", 30, 1, None),
           ("content", 40, None, _bits(cont, (0, 2))), ("content", 50, None, _bits(cont, (1, 8))),
           ("learn", 60, 2, d), ("cue", 70, 2, None), ("content", 80, None, _bits(cont, (3, 6)))]
    return dict(cue=5, cont=cont, ops=ops, duration=90.0)


def stress(cue=5, cont=10, n_ops=60, duration=851.0, seed=3):
    """A "pyramidal" stress run: learn 1, recall 1; learn 2, recall 1..2; ... (overwriting once the
    cues are used), each op in its own window, `n_ops` ops over `duration` ms."""
    rng = np.random.default_rng(seed)
    spacing = int(duration // n_ops)
    stored, ops, level = {}, [], 1
    while len(ops) < n_ops:
        c = (level - 1) % cue
        stored[c] = _bits(cont, rng.choice(cont, size=cont // 2, replace=False))
        ops.append(("learn", len(ops) * spacing, c, stored[c]))
        for k in sorted(stored)[:level]:
            if len(ops) < n_ops:
                ops.append(("cue", len(ops) * spacing, k, None))
        level += 1
    return dict(cue=cue, cont=cont, ops=ops, duration=duration)


def grid(duration=140.0):
    """4x4 grid map: 16 cells (cues) x 6 state flags (wall N/E/S/W, goal, visited); store all
    cells, then one content recall (the goal flag) per query."""
    flags = np.zeros((16, 6), int)
    for cell in range(16):
        r, c = divmod(cell, 4)
        flags[cell, :4] = (r == 0, c == 3, r == 3, c == 0)
    flags[10, 4] = 1
    ops = [("learn", 5 * k, k, flags[k]) for k in range(16)]
    ops += [("content", 85, None, _bits(6, (4,))), ("cue", 100, 10, None), ("cue", 120, 5, None)]
    return dict(cue=16, cont=6, ops=ops, duration=duration)


def stimulus(cue, cont, ops):
    """Spike times (ms) per input neuron (cue one-hot first, then content bits)."""
    times = [[] for _ in range(cue + cont)]
    for kind, t0, c, bits in ops:
        reps = LEARN_SPIKES if kind == "learn" else 1
        active = ([c] if c is not None and kind != "content" else []) + \
                 ([cue + k for k in np.nonzero(bits)[0]] if bits is not None else [])
        for n in active:
            times[n] += [float(t0 + r) for r in range(reps)]
    return [sorted(t) for t in times]


def run(sim, protocol, setup=None, **memory_kw):
    """Build the memory with sPyMem, run the protocol; returns output spikes (T, n) and the learnt
    weights of both plastic projections (pre x post arrays), plus the network objects' sizes."""
    cue, cont = protocol["cue"], protocol["cont"]
    sim.setup(**(setup or {"timestep": 1.0}))
    inp = sim.Population(cue + cont, sim.SpikeSourceArray(spike_times=stimulus(cue, cont, protocol["ops"])),
                         label="Input")
    out = sim.Population(cue + cont, sim.IF_curr_exp(**OUTPUT), label="Output")
    out.set(v=-60.0)
    mem = Memory(cue, cont, sim, **memory_kw)
    mem.connect_in(inp)
    mem.connect_out(out)
    layers = {name: getattr(mem, name) for name in LAYERS}
    for pop in [out, *layers.values()]:
        pop.record("spikes")
    sim.run(protocol["duration"] + LATENCY)
    steps = int(round(protocol["duration"])) + LATENCY
    spikes = _raster(out, steps)
    w = {**{name: _raster(pop, steps) for name, pop in layers.items()},"cue_cont": np.nan_to_num(mem.CA3cueCueRecallL_CA3contCueRecallL_conn.get("weight", format="array")),
         "cont_cue": np.nan_to_num(mem.CA3contContRecallL_CA3cueContRecallL_conn.get("weight", format="array"))}
    if hasattr(sim, "last_result"):  # neurodeploy.pynn: the target's counters for the report
        w["result"] = sim.last_result()
    sim.end()
    return dict(spikes=spikes, **w)


def recalled(spikes, protocol):
    """Per operation, the output bits that spiked in its window [t0 + LATENCY, next t0 + LATENCY),
    as a (n_ops, n) 0/1 array."""
    t0 = [op[1] + LATENCY for op in protocol["ops"]] + [int(protocol["duration"]) + LATENCY]
    return np.array([spikes[a:b].any(axis=0) for a, b in zip(t0[:-1], t0[1:])], int)


def _raster(pop, steps):
    """A population's recorded spikes as a (steps, size) bool array, from its Neo block."""
    spikes = np.zeros((steps, pop.size), bool)
    for st in pop.get_data("spikes").segments[0].spiketrains:
        k = np.rint(np.asarray(st.rescale("ms").magnitude)).astype(int)
        spikes[k[k < steps], int(st.annotations["source_index"])] = True
    return spikes


def _bits(n, on):
    b = np.zeros(n, int)
    b[list(on)] = 1
    return b


def run_named(sim, protocol="basic", setup=None):
    """`run` on a protocol given by name (what the Brian2 peer calls): returns the arrays."""
    p = PROTOCOLS[protocol]()
    r = run(sim, p, setup)
    return dict(r, recalled=recalled(r["spikes"], p))


PROTOCOLS = {"basic": basic, "stress": stress, "grid": grid}
