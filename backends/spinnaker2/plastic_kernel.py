"""The plastic-network PE kernel as SpiNNaker 2 would run it, read from the artifact only
(plastic_format.py).

Per tick t, on the PEs of each population (float32 state, the M4F's FPU):
1. arrivals: spikes sent d ticks ago reach their synaptic rows (static and axonal plastic rows
   are processed at arrival); plastic rows with a dendritic delay were processed when the spike
   was sent and their words wait in a ring buffer slot for tick t;
2. plastic rows, pre side: traces decay (x *= e^(-dt/tau), constants in the image), the arriving
   spike's trace += 1, each of its synapses loses a_minus x post trace; the word is rewritten in
   place (rounded to nearest LSB, clipped to the rule's word range); the depressed word is what
   the spike delivers (Brian2's on_pre order);
3. neurons: v = a_m v + c + k I (I of the previous tick), then I = a_s I + sum of delivered
   word x LSB x sign; spike where v > threshold (not while refractory), v = v_reset and a
   refractory count of n ticks during which v holds;
4. plastic rows with a dendritic delay process this tick's pre spikes (pre side as in 2, the
   words going to ring slot t + d); then the post side of every plastic row: each post spike
   (d ticks old for a dendritic delay) adds 1 to its trace and a_plus x pre trace to every
   synapse of its row column, rewritten in place the same way;
5. one packet per spike and per PE of every population its projections reach.
Cycles per PE and tick (a population's work split evenly over its PEs): overhead + neuron updates + packets received + synaptic events +
plasticity (trace updates per spike, synapse updates per pre and post spike) + packets sent, from
the cost model in the artifact; a tick whose slowest PE needs more than tick x clock is an
overrun. Counters: synaptic_events (= s2_row_synaptic_events), neuron_updates, spikes,
weight_updates, packets, cycles (all work), s2_core_cycles (the plasticity work),
s2_overhead_cycles (tick overhead, packets received and sent), each priced by the target.
"""
from __future__ import annotations

import numpy as np

from neurodeploy.errors import UsageError
from neurodeploy.result import Result

from . import plastic_format as fmt

ROLE = "simulate"
F32 = np.float32


class _Plastic:
    def __init__(self, pr, words, dt):
        r = pr["rule"]
        self.w = words.astype(np.int64)  # (post, pre) words, rewritten in place
        self.lsb, self.lo, self.hi = pr["lsb"], r["lo"], r["hi"]
        self.d_pre, self.d_post = F32(np.exp(-dt / r["tau_plus"])), F32(np.exp(-dt / r["tau_minus"]))
        self.a_plus, self.a_minus = F32(r["a_plus"]), F32(r["a_minus"])
        self.x_pre = np.zeros(self.w.shape[1], F32)
        self.x_post = np.zeros(self.w.shape[0], F32)
        self.updates = 0

    def _write(self, dw, rows, cols):
        value = self.w[np.ix_(rows, cols)] * self.lsb + dw
        self.w[np.ix_(rows, cols)] = np.clip(np.rint(value / self.lsb), self.lo, self.hi)
        self.updates += len(rows) * len(cols)

    def arrive(self, s_pre):
        self.x_pre *= self.d_pre
        self.x_post *= self.d_post
        cols = np.nonzero(s_pre)[0]
        if len(cols):
            self.x_pre[cols] += F32(1)
            self._write(-(self.a_minus * self.x_post)[:, None], np.arange(self.w.shape[0]), cols)

    def depart(self, s_post):
        rows = np.nonzero(s_post)[0]
        if len(rows):
            self.x_post[rows] += F32(1)
            self._write((self.a_plus * self.x_pre)[None, :], rows, np.arange(self.w.shape[1]))


def run(artifact, inputs, *, steps, record) -> Result:
    spec, z = artifact.json(fmt.SPEC), artifact.npz(fmt.ARRAYS)
    c, pops, projs = spec["cost"], spec["populations"], spec["projections"]
    T = int(steps or spec["steps"])
    x = {p["name"]: _batch1(inputs, p["name"], T, p["size"]) for p in pops if p["kind"] == "spike_list"}
    neurons = {p["name"]: {k: np.asarray(p[k], F32) for k in ("a_s", "a_m", "k", "c", "threshold", "v_reset")}
               for p in pops if p["kind"] != "spike_list"}
    state = {n: {"v": np.zeros(len(q["a_m"]), F32), "i": np.zeros(len(q["a_m"]), F32),
                 "refr": np.zeros(len(q["a_m"]), np.int64)} for n, q in neurons.items()}
    refractory = {p["name"]: p.get("refractory", 0) for p in pops}
    plastic = {pr["name"]: _Plastic(pr, z[fmt.key(pr["name"])], spec["dt"]) for pr in projs if pr["rule"]}
    static = {pr["name"]: z[fmt.key(pr["name"])].astype(F32) * F32(pr["lsb"] * pr["sign"]) for pr in projs if not pr["rule"]}
    ring = {pr["name"]: np.zeros((pr["delay"] + 1, plastic[pr["name"]].w.shape[0]), F32)
            for pr in projs if pr["dendritic"]}
    pe_of = {p["name"]: len(p["slices"]) for p in pops}
    reached = {p["name"]: sum(pe_of[pr["post"]] for pr in projs if pr["pre"] == p["name"]) for p in pops}
    hist = {p["name"]: np.zeros((T, p["size"]), bool) for p in pops}
    vrec = {n: np.zeros((T, len(q["a_m"])), F32) for n, q in neurons.items()}
    traj = {pr["rule"]["name"]: np.zeros((T,) + plastic[pr["name"]].w.shape) for pr in projs if pr["rule"]}
    tot = dict.fromkeys(("events", "packets", "core", "over", "overhead"), 0.0)
    worst = np.zeros(T)
    for t in range(T):
        drive = {n: np.zeros(len(q["a_m"]), F32) for n, q in neurons.items()}
        work = {n: pe_of[n] * c["tick_overhead"] + len(q["a_m"]) * c["neuron_update_lif_curr_exp"]
                for n, q in neurons.items()}
        for n, s_in in x.items():
            hist[n][t] = s_in[t] != 0
        for pr in projs:
            if pr["dendritic"]:
                drive[pr["post"]] += ring[pr["name"]][t % len(ring[pr["name"]])]
                continue
            k = t - pr["delay"]
            s = hist[pr["pre"]][k] if k >= 0 else np.zeros(hist[pr["pre"]].shape[1], bool)
            n_spk = int(s.sum())
            if pr["rule"]:
                rule = plastic[pr["name"]]
                rule.arrive(s)
                w = rule.w.astype(F32) * F32(rule.lsb)
                events = n_spk * w.shape[0]
                work[pr["post"]] += rule.w.shape[1] * c["stdp_trace_update"] + events * c["stdp_synapse_update"]
                tot["core"] += rule.w.shape[1] * c["stdp_trace_update"] + events * c["stdp_synapse_update"]
            else:
                w = static[pr["name"]]
                events = int(np.count_nonzero(w[:, s]))
            drive[pr["post"]] += w[:, s].sum(axis=1, dtype=F32)
            work[pr["post"]] += n_spk * c["packet_received"] + events * c["synaptic_event"]
            tot["overhead"] += n_spk * c["packet_received"] * pe_of[pr["post"]]
            tot["events"] += events
        for n, q in neurons.items():
            st = state[n]
            held = st["refr"] > 0
            v = np.where(held, st["v"], q["a_m"] * st["v"] + q["c"] + q["k"] * st["i"]).astype(F32)
            st["i"] = (q["a_s"] * st["i"] + drive[n]).astype(F32)
            spk = (v > q["threshold"]) & ~held
            st["refr"] = np.where(spk, refractory[n], np.maximum(st["refr"] - 1, 0))
            st["v"] = np.where(spk, q["v_reset"], v).astype(F32)
            hist[n][t], vrec[n][t] = spk, st["v"]
        for pr in projs:
            if pr["dendritic"]:  # sent this tick: processed now, delivered d ticks later
                rule, buf = plastic[pr["name"]], ring[pr["name"]]
                s = hist[pr["pre"]][t]
                rule.arrive(s)
                buf[t % len(buf)] = 0
                buf[(t + pr["delay"]) % len(buf)] += (rule.w[:, s].astype(F32) * F32(rule.lsb)).sum(axis=1, dtype=F32)
                events = int(s.sum()) * rule.w.shape[0]
                cyc = rule.w.shape[1] * c["stdp_trace_update"] + events * c["stdp_synapse_update"]
                work[pr["post"]] += cyc + int(s.sum()) * c["packet_received"] + events * c["synaptic_event"]
                tot["core"] += cyc
                tot["events"] += events
                tot["overhead"] += int(s.sum()) * c["packet_received"] * pe_of[pr["post"]]
        for pr in projs:
            if pr["rule"]:
                rule = plastic[pr["name"]]
                before = rule.updates
                k = t - pr["delay"] if pr["dendritic"] else t  # dendritic: post spikes travel back d ticks
                rule.depart(hist[pr["post"]][k] if k >= 0 else np.zeros(rule.w.shape[0], bool))
                cyc = (rule.updates - before) * c["stdp_synapse_update"]
                work[pr["post"]] += cyc
                tot["core"] += cyc
                traj[pr["rule"]["name"]][t] = rule.w * rule.lsb
        for p in pops:
            sent = int(hist[p["name"]][t].sum()) * reached[p["name"]]
            tot["packets"] += sent
            tot["overhead"] += sent * c["packet_sent"]
            if p["name"] in work:
                work[p["name"]] += sent * c["packet_sent"]
        worst[t] = max([w / pe_of[n] for n, w in work.items()] + [0.0])  # a population's work split over its PEs
        tot["over"] += sum(work.values())
        tot["overhead"] += sum(pe_of[n] for n in work) * c["tick_overhead"]
    budget = spec["tick"] * spec["clock"]
    spikes = {n: h[:, None, :].astype(np.float64) for n, h in hist.items() if n in record or n in neurons}
    counters = {"synaptic_events": int(tot["events"]), "s2_row_synaptic_events": int(tot["events"]), "neuron_updates": T * sum(len(q["a_m"]) for q in neurons.values()),
                "spikes": int(sum(h.sum() for n, h in hist.items() if n in neurons)),
                "weight_updates": int(sum(r.updates for r in plastic.values())), "packets": int(tot["packets"]),
                "cycles": float(tot["over"]), "ticks": T, "s2_core_cycles": float(tot["core"]),
                "s2_overhead_cycles": float(tot["overhead"])}
    outputs = {o: spikes[src] for o, src in spec["outputs"].items() if src in spikes}
    return Result(spikes={**spikes, **outputs}, v={n: v[:, None, :].astype(np.float64) for n, v in vrec.items()},
                  counters=counters, sim_time_s=T * spec["tick"],
                  extra={"engine": "sim", "weights": {k: v[:, None] for k, v in traj.items()}, "steps": T,
                         "units_used": {"chip": 1, "pe": sum(pe_of.values())}, "cycle_budget": budget,
                         "worst_cycles_per_tick": float(worst.max(initial=0.0)),
                         "overruns": int((worst > budget).sum())})


def _batch1(inputs, name, T, n):
    a = np.asarray(inputs[name], float)
    a = a.reshape(a.shape[0], -1, n)
    if a.shape[1] != 1:
        raise UsageError("the plastic-network kernel runs batch 1: each run learns its own weights", where=name)
    out = np.zeros((T, n))
    out[: min(T, len(a))] = a[:T, 0]
    return out


class PlasticEngine:
    """The ``sim`` engine: plastic networks here, everything else by `base`."""

    name = "sim"
    options: tuple[str, ...] = ()

    def __init__(self, base):
        self.base = base

    def run(self, artifact, inputs, *, steps, record):
        if artifact.manifest["spinnaker2"].get("plastic"):
            return run(artifact, inputs, steps=steps, record=record)
        return self.base.run(artifact, inputs, steps=steps, record=record)
