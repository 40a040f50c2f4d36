"""Bit-accurate Loihi simulator in NumPy (``--engine sim``): Lava's fixed-point LIF and Dense models,
whole batch at once.

It reproduces lava-nc 0.10.0 ``PyLifModelBitAcc`` and ``PyDenseModelBitAcc`` (tag "fixed_pt")
operation by operation, in int64 (loihi.md §2-3). The widths come from the artifact's run spec
(``net.json`` ``chip``: decay_bits d, state_bits b, state_shift a, weight_mant_bits m; 12, 24, 6, 8
on Loihi 1 and 2), never from the target TOML:

- Dense, first step: clip mantissas to m bits by sign mode, then drop ``m - num_weight_bits +
  mixed`` LSBs with an arithmetic shift (mixed-sign odd weights lose their lowest bit, negative
  ones round down); each step ``a(t+1) = (W @ s(t)) << weight_exp`` (floor for a negative
  exponent): every synapse group delays by one step.
- LIF: ``u = u*(2**d-du-1) >>0 d + a_in << a`` wrapped to b bits the way Lava does it (once,
  into (-2**(b-1), 2**(b-1)]); ``v = v*(2**d-dv) >>0 d + u + bias`` clipped to +-(2**(b-1)-1);
  spike if ``v > vth << a``; then v = 0 (>>0: shift toward zero).

Only the recorded voltage may differ from Lava's: with probe ``v_at_spike = "chip"`` a spiking
neuron reads ``refractory_probe_unit * refractory_steps`` (128 on Loihi 2, where the voltage
register counts the refractory period; lava-nc/lava#282) instead of 0. The Lava runner applies the
same convention to its recorded voltages, so the engines stay comparable bit for bit.

Counters: ``synaptic_events`` = (non-zero source events) x (non-zero synapses they read), counted
when the spike is sent; ``neuron_updates`` = neurons x steps; ``spikes``; per core in
``Result.per_unit["core<i>"]`` (synaptic events are charged to the core of the target neuron).

Import boundary: reads the artifact through layout.py only; imports no compiler module.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from neurodeploy.artifact import Artifact
from neurodeploy.quant.fixed import saturate, shift, shift_toward_zero
from neurodeploy.result import Result

from .layout import INHIBITORY, MIXED, padded, prepare_inputs, read, record_names, v_at_spike

ROLE = "simulate"


def effective_weights(w: np.ndarray, sign_mode: int, num_weight_bits: int, mant_bits: int) -> np.ndarray:
    """Lava's clip_weights + truncate_weights (lava/utils/weightutils.py) on int mantissas of a
    `mant_bits`-bit weight format."""
    w = np.asarray(w, dtype=np.int64)
    sign = -1 if sign_mode == INHIBITORY else 1
    w = sign * w
    mixed = int(sign_mode == MIXED)
    w = np.clip(w, -(1 << mant_bits) * mixed, (1 << mant_bits) - 1)
    n = mant_bits - num_weight_bits + mixed
    return sign * ((w >> n) << n)


def lava_wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Lava's current wrap: subtract 2**bits above 2**(bits-1), add it at or below -2**(bits-1)
    (one pass)."""
    limit = 1 << (bits - 1)
    x = np.where(x > limit, x - 2 * limit, x)
    return np.where(x <= -limit, x + 2 * limit, x)


class _Group:
    """One synapse group: effective weights laid out for gathering rows of active sources."""

    def __init__(self, meta: dict, w, batch: int, mant_bits: int):
        self.src, self.dst, self.exp = meta["src"], meta["dst"], int(meta["weight_exp"])
        self.graded = meta["num_message_bits"] > 0
        if sp.issparse(w):
            w = w.tocsr(copy=True)
            w.data = effective_weights(w.data, meta["sign_mode"], meta["num_weight_bits"], mant_bits)
            w.eliminate_zeros()
            self.w_sparse = w.astype(np.float64)
        else:
            self.w_sparse = None
            eff = effective_weights(w, meta["sign_mode"], meta["num_weight_bits"], mant_bits)
            self.wt = np.ascontiguousarray(eff.T, dtype=np.float64)  # exact: |sums| << 2**53
        self.nnz_rows = sp.csr_matrix(w != 0) if sp.issparse(w) else sp.csr_matrix(self.wt.T != 0)  # (dst, src)
        self.buf = np.zeros((batch, w.shape[0]), dtype=np.int64)
        self.src_events = np.zeros(w.shape[1], dtype=np.int64)

    def send(self, x: np.ndarray) -> None:
        """Accumulate this step's source output; it arrives one step later (Lava's a_buff)."""
        active = x != 0
        self.src_events += active.sum(axis=0)
        if self.w_sparse is not None:
            acc = (self.w_sparse @ x.T.astype(np.float64)).T.astype(np.int64)
        elif x.shape[0] == 1 and not self.graded:
            acc = self.wt[np.flatnonzero(active[0])].sum(axis=0, keepdims=True).astype(np.int64)
        else:
            acc = (x.astype(np.float64) @ self.wt).astype(np.int64)
        self.buf = shift(acc, self.exp)


class SimEngine:
    """``--engine sim``: this module's simulator, in this process."""

    name = "sim"
    options: tuple[str, ...] = ()

    def run(self, artifact: Artifact, inputs, *, steps: int | None, record: list[str]) -> Result:
        return run(artifact, inputs, steps=steps, record=record)


def run(artifact: Artifact, inputs, *, steps: int | None, record: list[str]) -> Result:
    meta, arrays = read(artifact.path)
    spec = meta["chip"]
    d, a, b = spec["decay_bits"], spec["state_shift"], spec["state_bits"]
    one = 1 << d
    pops = meta["populations"]
    names = [p["name"] for p in pops]
    record = record_names(meta, record)
    xs = {k: padded(x, steps) for k, x in prepare_inputs(meta, inputs).items()}
    T, B = next(iter(xs.values())).shape[:2]
    groups = [_Group(s, arrays[f"s{j}"], B, spec["weight_mant_bits"]) for j, s in enumerate(meta["synapses"])]
    n = {p["name"]: int(np.prod(p["shape"], dtype=np.int64)) for p in pops}
    u = {k: np.zeros((B, n[k]), dtype=np.int64) for k in names}
    v = {k: np.zeros((B, n[k]), dtype=np.int64) for k in names}
    bias = {p["name"]: shift(arrays[f"p{i}_bias_mant"], arrays[f"p{i}_bias_exp"]) for i, p in enumerate(pops)}
    out = {k: np.zeros((B, n[k]), dtype=np.int64) for k in names}
    rec_s = {k: np.zeros((T, B, n[k]), dtype=np.uint8) for k in record}
    rec_v = {k: np.zeros((T, B, n[k]), dtype=np.int64) for k in record}
    spike_count = {k: np.zeros(n[k], dtype=np.int64) for k in names}
    marker = v_at_spike(meta)
    for t in range(T):
        a_in = {k: np.zeros((B, n[k]), dtype=np.int64) for k in names}
        for g in groups:
            a_in[g.dst] += g.buf
        for p in pops:
            k = p["name"]
            uk = shift_toward_zero(u[k] * (one - p["du"] - 1), d) + (a_in[k] << a)
            u[k] = lava_wrap(uk, b)
            vk = saturate(shift_toward_zero(v[k] * (one - p["dv"]), d) + u[k] + bias[k], b)
            s = vk > (p["vth"] << a)
            v[k] = np.where(s, 0, vk)
            out[k] = s.astype(np.int64)
            spike_count[k] += s.sum(axis=0)
            if k in rec_s:
                rec_s[k][t] = s
                rec_v[k][t] = np.where(s, marker, v[k])
        for g in groups:
            g.send(xs[g.src][t] if g.src in xs else out[g.src])
    return _result(meta, groups, spike_count, rec_s, rec_v, T, B, artifact.manifest["loihi"]["step_time_s"])


def p_size(pop: dict) -> int:
    return int(np.prod(pop["shape"]))


def _result(meta, groups, spike_count, rec_s, rec_v, T, B, step_time_s) -> Result:
    pops = meta["populations"]
    shape = {p["name"]: tuple(p["shape"]) for p in pops}
    res = Result(sim_time_s=T * step_time_s)
    for k in rec_s:
        res.spikes[k] = rec_s[k].reshape(T, B, *shape[k])
        res.v[k] = rec_v[k].reshape(T, B, *shape[k])
    keys = ("synaptic_events", "neuron_updates", "spikes")
    per_unit: dict[str, dict] = {}
    per_layer = {p["name"]: dict.fromkeys(keys, 0) for p in pops}  # a population is one neuron node
    for p in pops:
        for core, start, stop in p["cores"]:
            c = per_unit.setdefault(f"core{core}", dict.fromkeys(keys, 0))
            c["neuron_updates"] += (stop - start) * T * B
            c["spikes"] += int(spike_count[p["name"]][start:stop].sum())
        per_layer[p["name"]]["neuron_updates"] = p_size(p) * T * B
        per_layer[p["name"]]["spikes"] = int(spike_count[p["name"]].sum())
    cores_of = {p["name"]: p["cores"] for p in pops}
    for g in groups:
        events = g.nnz_rows.multiply(g.src_events[None, :]).sum(axis=1).A1  # per target neuron
        per_layer[g.dst]["synaptic_events"] += int(events.sum())
        for core, start, stop in cores_of[g.dst]:
            per_unit[f"core{core}"]["synaptic_events"] += int(events[start:stop].sum())
    res.per_unit = per_unit
    res.per_layer = per_layer
    res.counters = {k: sum(c[k] for c in per_unit.values()) for k in ("synaptic_events", "neuron_updates", "spikes")}
    res.counters["ticks"] = T
    res.extra["units_used"] = {"chip": meta["chips"], "core": len(per_unit)}
    res.extra["engine"] = "sim"
    return res


ENGINE = SimEngine()
