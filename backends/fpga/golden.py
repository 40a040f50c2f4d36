"""The bit-exact golden model of the FPGA core, in NumPy (``--engine sim``), and its cycle model.

It reads only the artifact (layout.py: design.json and the .mem files) and computes, per layer and
step, what the core computes (fixed.py's equations, in int64, whole batch at once):

    acc  += weight rows of this step's events           (wrapped to acc_bits; per port)
    v'    = wrap_vb( (v*A + 2**(D-1)) >> D + bias + acc << F + j );  s = v' > theta
    j'    = wrap_jb( (j*As + (acc << F)*G + 2**(D-1)) >> D + bias_j )   (CubaLIF; j = 0 otherwise)
    v'    = 0 (reset zero) or wrap_vb(v' - theta) (subtract) where s;  acc = 0

A two-point layer computes A from its basal and apical accumulators instead (twopoint.py) and
sends a valued beat for every A != 0 (counted like a spike in the cycle model). Layers run in order
within a step; a layer's spikes reach its consumers in the same step: a later layer in this step's
update, the layer itself and earlier ones (recurrent connections) in the next step's, since the
accumulators are kept across steps and cleared only by the update pass that reads them (and by the
clear pass at the start of a sample).

Cycle model (the controller in design.py, two cycles per memory word): per sample a clear pass of
max W cycles, then per step

    (events + 1)                         input beats, the last one ends the step's input
  + events * sum_m 2*W_m                 each event adds one weight row to each consumer m
  + sum_l [ 2*W_l + S_l                  update pass over W_l words, one cycle per emitted spike
            + sum_m (N_l + S_l*2*W_m) ]  scan of the layer's spike bitmap for each consumer m
  + 1                                    the step's ``last`` output beat

`trace` gives every output beat with the cycle it is sent at; the Amaranth and Verilog simulations
must reproduce it exactly. Imports no compiler module.
"""
from __future__ import annotations

import numpy as np

from neurodeploy.artifact import Artifact
from neurodeploy.result import Result

from .layout import prepare_inputs, read, record_layers

ROLE = "simulate"


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    half = 1 << (bits - 1)
    return ((x + half) & ((half << 1) - 1)) - half


def transfer(r: np.ndarray, c: np.ndarray, t: dict, lut: np.ndarray, lut_bits: int) -> np.ndarray:
    """A = r * (K1 + LUT[clamp(((r*c*KM + 2**(SH-1)) >> SH) - I0)]) (twopoint.py)."""
    raw = ((r * c * t["km"] + (1 << (t["sh"] - 1))) >> t["sh"]) - t["i0"]
    return r * (t["k1_int"] + lut[np.clip(raw, 0, (1 << lut_bits) - 1)])


class Golden:
    def __init__(self, spec: dict, arrays: list[dict]):
        self.spec, self.arrays = spec, arrays
        self.rows: dict[tuple[int, str], list[tuple[int, int, str]]] = {}  # (consumer, source) -> rows, port
        for m, lay in enumerate(spec["layers"]):
            for s in lay["sources"]:
                self.rows.setdefault((m, s["src"]), []).append((s["row0"], s["rows"], s["port"]))

    def _add(self, acc: list[dict], m: int, src: str, s: np.ndarray) -> None:
        for r0, n, port in self.rows[m, src]:
            acc[m][port] = wrap(acc[m][port] + s @ self.arrays[m]["w"][r0:r0 + n], self.spec["acc_bits"])

    def fan_out(self, m: int, src: str) -> np.ndarray:
        """Non-zero synapses of each neuron of `src` into layer m."""
        return sum(np.count_nonzero(self.arrays[m]["w"][r0:r0 + n], axis=1) for r0, n, _ in self.rows[m, src])

    def run(self, x: np.ndarray) -> dict:
        """x (T, B, n) 0/1 -> {"spikes": [per layer (T, B, N) bool: spike, or two-point A != 0],
        "v": [(T, B, N) int64: v after reset, or two-point A], "cycles": (T, B) int64}."""
        sp = self.spec
        T, B = x.shape[:2]
        F, D, vb = sp["frac_bits"], sp["decay_bits"], sp["v_bits"]
        half = 1 << (D - 1)
        lays, inp = sp["layers"], sp["input"]
        v = [np.zeros((B, lay["words"] * sp["lanes"]), np.int64) for lay in lays]
        j = [np.zeros_like(a) for a in v]  # the CubaLIF current (zero in other layers)
        spikes = [np.zeros((T, B, lay["size"]), bool) for lay in lays]
        vrec = [np.zeros((T, B, lay["size"]), np.int64) for lay in lays]
        cycles = np.zeros((T, B), np.int64)
        cycles[0] += max(lay["words"] for lay in lays)  # the clear pass before the first step
        acc = [{"input": np.zeros_like(a), "basal": np.zeros_like(a), "apical": np.zeros_like(a)} for a in v]
        for t in range(T):
            ev = x[t]
            n_ev = ev.sum(1)
            cycles[t] += n_ev + 2 + n_ev * sum(2 * lays[m]["words"] for m in inp["consumers"])
            for m in inp["consumers"]:
                self._add(acc, m, inp["name"], ev)
            for i, lay in enumerate(lays):
                a, n = self.arrays[i], lay["size"]
                if lay["kind"] == "two_point":
                    vn = transfer(acc[i]["basal"] + a["bias_b"], acc[i]["apical"] + a["bias_a"], lay["transfer"],
                                  a["lut"], sp["lut_bits"])
                    s = vn != 0
                else:
                    drive = acc[i]["input"] << F
                    vn = wrap(((v[i] * a["A"] + half) >> D) + a["bias"] + drive + j[i], vb)
                    if lay["kind"] == "cuba":
                        j[i] = wrap(((j[i] * a["As"] + drive * a["G"] + half) >> D) + a["bias_j"], sp["j_bits"])
                    s = vn > a["theta"]
                    vn = np.where(s, 0 if sp["reset"] == "zero" else wrap(vn - a["theta"], vb), vn)
                    v[i] = vn
                for held in acc[i].values():  # the update pass clears what it read
                    held.fill(0)
                spikes[i][t], vrec[i][t] = s[:, :n], vn[:, :n]
                n_s = s.sum(1)
                cycles[t] += 2 * lay["words"] + n_s
                for m in lay["consumers"]:
                    self._add(acc, m, lay["name"], s[:, :n].astype(np.int64))
                    cycles[t] += n + n_s * 2 * lays[m]["words"]
        return {"spikes": spikes, "v": vrec, "cycles": cycles}

    def trace(self, out: dict, x: np.ndarray, b: int) -> list[tuple[int, int, int, int]]:
        """(cycle, id, last, value) of every output beat of sample `b`, cycle 0 = its first cycle;
        value is a two-point cell's A, else 0."""
        sp, lays = self.spec, self.spec["layers"]
        P, cur, beats = sp["lanes"], max(lay["words"] for lay in lays), []
        for t in range(x.shape[0]):
            n_ev = int(x[t, b].sum())
            cur += n_ev + 1 + n_ev * sum(2 * lays[m]["words"] for m in sp["input"]["consumers"])
            for i, lay in enumerate(lays):
                s = out["spikes"][i][t, b]
                value = out["v"][i][t, b] if lay["kind"] == "two_point" else np.zeros(lay["size"], np.int64)
                for k in range(lay["words"]):
                    ids = np.flatnonzero(s[k * P:(k + 1) * P]) + k * P
                    beats += [(cur + 2 + r, lay["offset"] + int(j), 0, int(value[j])) for r, j in enumerate(ids)]
                    cur += 2 + len(ids)
                for m in lay["consumers"]:
                    cur += lay["size"] + int(s.sum()) * 2 * lays[m]["words"]
            beats.append((cur, 0, 1, 0))
            cur += 1
        return beats


def counters(g: Golden, x: np.ndarray, out: dict) -> dict:
    """spikes (LIF/IF/CubaLIF), synaptic_events (events x non-zero synapses they reach), neuron_updates,
    cycles, ticks."""
    sp = g.spec
    T, B = x.shape[:2]
    sources = {sp["input"]["name"]: (x, sp["input"]["consumers"])}
    sources.update({lay["name"]: (out["spikes"][i], lay["consumers"]) for i, lay in enumerate(sp["layers"])})
    syn = 0
    for src, (s, cons) in sources.items():
        fan = sum((g.fan_out(m, src) for m in cons), np.zeros(s.shape[-1], np.int64))
        syn += int((s.reshape(-1, s.shape[-1]) != 0).sum(0) @ fan)
    return {"spikes": int(sum(s.sum() for s, lay in zip(out["spikes"], sp["layers"]) if lay["kind"] != "two_point")),
            "synaptic_events": syn, "neuron_updates": int(T * B * sum(lay["size"] for lay in sp["layers"])),
            "cycles": int(out["cycles"].sum()), "ticks": T}


class GoldenEngine:
    name = "sim"
    options: tuple[str, ...] = ()

    def run(self, artifact: Artifact, inputs, *, steps: int | None, record: list[str]) -> Result:
        spec, arrays = read(artifact.path)
        x = prepare_inputs(spec, inputs)
        if steps is not None:
            x = np.concatenate([x, np.zeros((max(0, steps - x.shape[0]),) + x.shape[1:], x.dtype)])[:steps]
        g = Golden(spec, arrays)
        out = g.run(x)
        res = Result(counters=counters(g, x, out), extra={"engine": "sim"},
                     sim_time_s=float(out["cycles"].sum()) / spec["clock_hz"])
        for i in record_layers(spec, record):
            lay = spec["layers"][i]
            shape = x.shape[:2] + tuple(lay["shape"])
            if lay["kind"] == "two_point":
                value = out["v"][i].reshape(shape) / lay["transfer"]["value_scale"]
                res.extra.setdefault("outputs", {})[lay["name"]] = value
                continue
            res.spikes[lay["name"]] = out["spikes"][i].reshape(shape).astype(np.float32)
            res.v[lay["name"]] = out["v"][i].reshape(shape).astype(np.float64)
        return res


ENGINE = GoldenEngine()
