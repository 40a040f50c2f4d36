"""The EGRU PE kernel as SpiNNaker 2 would run it, read from the artifact only (egru_format.py).

Per tick (one token) and per PE, for the PE's slice of units:
1. receive graded packets: each non-zero input value (from the host, or an event of the layer
   below this tick) reads its source row of the PE's W storage and adds weight x value into the
   gate accumulators; each event of this layer's previous tick does the same with R (the
   event-driven column update: cost = stored synapses of the rows touched);
2. update every unit in FP32 (the M4F's single-precision FPU), with exp from the exp/log
   accelerator in fixed point (``exp_int_bits``.``exp_frac_bits``, round to nearest, saturating):
   σ(x) = 1/(1 + e) or e/(1 + e) with e = exp(-|x|) (never overflows), tanh(x) = 2σ(2x) - 1;
   then c = u c + (1 - u) z̃, an event where c > ϑ, y = c on events, c -= ϑ (subtractive reset);
3. send one packet per event and per QPE that holds a slice reading it (own layer: R; next: W),
   each crossing the NoC with XY routing (|dx| + |dy| hops between QPEs).
Layers are evaluated in order within a tick, so outputs equal the reference step for step; on the
chip each layer boundary costs one tick of latency (the events reach the next layer's PEs a tick
later), reported as ``extra["latency_ticks"]``. Cycles per PE per tick follow the target's cost
model (copied into egru.json); ``extra["compute_time_per_token_s"]`` is the slowest PE's cycles /
clock averaged over the run, and a tick whose slowest PE needs more than tick x clock is an overrun.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from neurodeploy.errors import UsageError
from neurodeploy.result import Result
from neurodeploy.sim.inputs import as_batched

from . import egru_format as fmt

ROLE = "simulate"


def fixed_exp(x: np.ndarray, int_bits: int, frac_bits: int) -> np.ndarray:
    """exp in the accelerator's signed fixed point: argument and result rounded to 2^-frac_bits,
    saturating at the largest representable value."""
    q = float(2 ** frac_bits)
    top = float(2 ** int_bits) - 1 / q
    arg = np.clip(np.round(x * q) / q, -top, top)
    return (np.minimum(np.round(np.exp(arg) * q) / q, top)).astype(np.float32)


def sigmoid(x: np.ndarray, ib: int, fb: int) -> np.ndarray:
    e = fixed_exp(-np.abs(x), ib, fb)
    one = np.float32(1)
    return np.where(x >= 0, one / (one + e), e / (one + e)).astype(np.float32)


def _accumulate(x: np.ndarray, rows: sp.csr_matrix, bias: np.ndarray) -> np.ndarray:
    """bias + the rows of the non-zero sources, each scaled by its value, in float32: (B, 3k)."""
    return (np.asarray((rows.T @ x.T).T, np.float32) + bias).astype(np.float32)


class _PE:
    def __init__(self, z, k: int, p: dict, n_in: int, h: int):
        self.lo, self.hi, self.layer = p["lo"], p["hi"], p["layer"]
        n = self.hi - self.lo
        self.rows = {}
        for key, n_src in (("W", n_in), ("R", h)):
            csr = sp.csr_matrix((z[fmt.key(k, key, "weight")], z[fmt.key(k, key, "index")].astype(np.int64),
                                 z[fmt.key(k, key, "indptr")].astype(np.int64)), shape=(n_src, fmt.GATES * n))
            self.rows[key] = (csr, np.diff(csr.indptr))  # rows by source, stored synapses per source
        self.b_W, self.b_R = z[fmt.key(k, "b_W")], z[fmt.key(k, "b_R")]
        self.theta = z[fmt.key(k, "threshold")]
        self.qpe = tuple(p["qpe"])


def run(art, inputs, *, steps: int | None, record: list[str]) -> Result:
    spec = art.json(fmt.SPEC)
    if len(spec["inputs"]) != 1:
        raise UsageError(f"the EGRU chip part has {len(spec['inputs'])} inputs; one input array drives exactly one")
    layers = spec["layers"]
    x = as_batched(inputs, (layers[0]["inputs"],), where=spec["inputs"][0]).astype(np.float32)
    T = int(x.shape[0] if steps is None else steps)
    x = np.concatenate([x, np.zeros((max(0, T - len(x)),) + x.shape[1:], np.float32)])[:T]
    B = x.shape[1]
    c = spec["cost"]
    ib, fb = int(c["exp_int_bits"]), int(c["exp_frac_bits"])
    with np.load(art.file(fmt.ARRAYS)) as z:
        pes = [_PE(z, k, p, layers[p["layer"]]["inputs"], layers[p["layer"]]["units"])
               for k, p in enumerate(spec["pes"])]
    by_layer = [[pe for pe in pes if pe.layer == li] for li in range(len(layers))]
    # packets and hops per event of each layer's units: one packet per distinct reading QPE
    dests = [sorted({pe.qpe for pe in by_layer[li] + (by_layer[li + 1] if li + 1 < len(layers) else [])})
             for li in range(len(layers))]
    hops = [[sum(abs(a[0] - d[0]) + abs(a[1] - d[1]) for d in dests[li]) for a in [pe.qpe for pe in by_layer[li]]]
            for li in range(len(layers))]
    router = tuple(spec["router_qpe"])
    host_hops = sum(abs(router[0] - d[0]) + abs(router[1] - d[1]) for d in {pe.qpe for pe in by_layer[0]})

    state = [(np.zeros((B, L["units"]), np.float32), np.zeros((B, L["units"]), np.float32)) for L in layers]
    outs = {o: np.zeros((T, B, layers[[L["name"] for L in layers].index(src)]["units"])) for o, src in
            spec["outputs"].items()}
    cycles = np.zeros((T, len(pes)))
    tot = dict.fromkeys(("column_updates", "events", "packets", "hops", "host_packets", "host_hops", "egru_cycles",
                         "overhead_cycles"), 0)
    for t in range(T):
        below = x[t]
        tot["host_packets"] += int(np.count_nonzero(below))
        tot["host_hops"] += int(np.count_nonzero(below)) * host_hops
        new_state = []
        for li, L in enumerate(layers):
            c_prev, y_prev = state[li]
            y_new, c_new = np.zeros_like(y_prev), np.zeros_like(c_prev)
            for pi, pe in enumerate(by_layer[li]):
                k = pes.index(pe)
                (Wr, w_fan), (Rr, r_fan) = pe.rows["W"], pe.rows["R"]
                vx, vh = _accumulate(below, Wr, pe.b_W), _accumulate(y_prev, Rr, pe.b_R)
                n = pe.hi - pe.lo
                u = sigmoid(vx[:, :n] + vh[:, :n], ib, fb)
                r = sigmoid(vx[:, n:2 * n] + vh[:, n:2 * n], ib, fb)
                zt = np.float32(2) * sigmoid(np.float32(2) * (vx[:, 2 * n:] + r * vh[:, 2 * n:]), ib, fb) - np.float32(1)
                cc = u * c_prev[:, pe.lo:pe.hi] + (np.float32(1) - u) * zt
                ev = cc > pe.theta
                y_new[:, pe.lo:pe.hi] = np.where(ev, cc, 0)
                c_new[:, pe.lo:pe.hi] = cc - ev * pe.theta
                col = int((below != 0).sum(axis=0) @ w_fan + (y_prev != 0).sum(axis=0) @ r_fan)
                recv = int(np.count_nonzero(below) + np.count_nonzero(y_prev))
                n_ev = int(ev.sum())
                tot["column_updates"] += col
                tot["events"] += n_ev
                tot["packets"] += n_ev * len(dests[li])
                tot["hops"] += n_ev * hops[li][pi]
                work = col * c["egru_column_update"] + B * n * (c["egru_unit_update"] + fmt.GATES * c["exp_cycles"])
                over = c["tick_overhead"] * B + recv * c["packet_received"] + n_ev * len(dests[li]) * c["packet_sent"]
                tot["egru_cycles"] += work
                tot["overhead_cycles"] += over
                cycles[t, k] = work + over
            new_state.append((c_new, y_new))
            below = y_new
        state = new_state
        for o, src in spec["outputs"].items():
            outs[o][t] = state[[L["name"] for L in layers].index(src)][1]
    budget = spec["tick"] * spec["clock"]
    units = sum(L["units"] for L in layers)
    counters = {"synaptic_events": tot["column_updates"], "macs": tot["column_updates"], "spikes": tot["events"],
                "packets": tot["packets"] + tot["host_packets"], "hops": tot["hops"] + tot["host_hops"],
                "cycles": float(cycles.sum()), "ticks": T, "egru_unit_updates": units * T * B,
                "s2_overhead_cycles": float(tot["overhead_cycles"]), "s2_core_cycles": float(tot["egru_cycles"])}
    per_unit = {f"qpe({pe.qpe[0]},{pe.qpe[1]})/pe{spec['pes'][k]['pe']}": {"cycles": float(cycles[:, k].sum())}
                for k, pe in enumerate(pes)}
    worst = cycles.max(axis=1) / B
    return Result(counters=counters, per_unit=per_unit, sim_time_s=T * B * spec["tick"],
                  extra={"engine": "sim", "outputs": outs, "steps": T, "batch": B,
                         "units_used": {"chip": 1, "pe": len(pes)}, "latency_ticks": len(layers),
                         "compute_time_per_token_s": float(worst.mean() / spec["clock"]),
                         "worst_cycles_per_tick": float(worst.max()), "cycle_budget": budget,
                         "overruns": int((worst > budget).sum()), "host_packets": tot["host_packets"]})


class EGRUEngine:
    """The ``sim`` engine: EGRU layers here, blocks on the cores by `cores`, populations by `base`."""

    name = "sim"
    options: tuple[str, ...] = ()

    def __init__(self, base, cores):
        self.base, self.cores = base, cores

    def run(self, artifact, inputs, *, steps: int | None, record: list[str]) -> Result:
        info = artifact.manifest["spinnaker2"]
        if info.get("egru"):
            return run(artifact, inputs, steps=steps, record=record)
        if info.get("cores"):
            return self.cores(artifact, inputs, steps=steps, record=record)
        return self.base.run(artifact, inputs, steps=steps, record=record)
