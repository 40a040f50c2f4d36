"""Resources of the generated core estimated from its structure, and the design rules against the part.

What Yosys ``synth_xilinx`` makes of the design (synth.py measures it; bench/bench_fpga.py compares):

- memories (weights rows*W x P*wb; v W x P*vb; acc W x P*ab, two for a two-point layer; a CubaLIF
  layer's current j W x P*jb): LUT-RAM
  up to ``estimate.lutram_max_depth`` words or ``lutram_max_bits`` bits (LUTs = bits / bits per LUT of the shallow or deep
  primitives), else the fewest RAMB36 over the part's aspect ratios (UG573, RAMB18 halves); the
  parameter memory is a constant ROM: its bit columns equal in every word are constants, the
  others become logic (one LUT per bit per 64 words) or, when deep, block RAM;
- DSP48E2: each signed x by y product takes ceil(x/(a-1)) * ceil(y/(b-1)) slices (a x b = 27 x 18,
  the cheaper way round); one v*A per LIF lane (and j*As, (acc << F)*G per CubaLIF lane), r*c, its
  index product and r*(K1+LUT) per two-point lane; a weight address (row * W, W not a power of two) at least
  ``estimate.dsp_min_product_bits`` wide takes one;
- FF: the synchronous read registers of every LUT-RAM read port (block RAM has its own), a depth-1
  memory's contents, the spike bitmap of a layer that feeds another, the controller counters;
- LUT: the datapath per lane and bit (``estimate.lut_per_lane_bit_*``), the bitmap scan mux per
  neuron scanned, LUT-RAM, the ROM, the controller per layer. Those coefficients are fitted to
  synthesis (the target says so); everything else is counted.

`rules_from_shapes` needs only the layer sizes and fan-ins, so a graph far over the part is refused
before anything big is built.
"""
from __future__ import annotations

import math

from neurodeploy.backend import Rule
from neurodeploy.targets import Target

from .layout import pack, param_fields

ROLE = "compile"
BRAM_KEY = "width_"


def bram36(target: Target, width: int, depth: int) -> float:
    """Fewest RAMB36 for a width x depth memory, in halves (a RAMB18 holds half the depth of a RAMB36
    at each width up to 36 bits; UG573)."""
    if width == 0 or depth == 0:
        return 0
    configs = [(int(k[len(BRAM_KEY):]), int(q.low)) for k, q in target.section("part.bram").items()]
    half_max = max(w for w, _ in configs) // 2
    halves = min(math.ceil(width / w) * math.ceil(2 * depth / d) * (2 if w > half_max else 1) for w, d in configs)
    return halves / 2


def memory(target: Target, width: int, depth: int) -> dict:
    """{"bram36", "lut"}: LUT-RAM up to estimate.lutram_max_depth words or lutram_max_bits bits (the
    LUTs its bits need, shallow (<= 64 words) or deep primitives), else block RAM."""
    if depth <= int(target.v("estimate.lutram_max_depth")) or width * depth <= int(target.v("estimate.lutram_max_bits")):
        key = "shallow" if depth <= int(target.v("estimate.lutram_shallow_depth")) else "deep"
        bits_per_lut = float(target.v(f"estimate.lutram_bits_per_lut_{key}"))
        return {"bram36": 0, "lut": math.ceil(width * max(depth, 1) / bits_per_lut), "lutram": True}
    return {"bram36": bram36(target, width, depth), "lut": 0, "lutram": False}


def rules_from_shapes(target: Target, layers: list[tuple[str, int, int]], lanes: int, wb: int) -> list[Rule]:
    """(name, size, fan-in rows) per layer -> the weight-memory rule alone."""
    need = sum(bram36(target, lanes * wb, rows * -(-n // lanes)) for _, n, rows in layers)
    return [Rule("bram36_weights", need, int(target.v("part.bram36")), where="weight memories",
                 hint="fewer or smaller layers, fewer -O weight_bits, or a larger part")]


def varying_bits(words: list[int], width: int) -> int:
    """Bit positions that differ between the words of a constant memory (the rest are constants)."""
    if len(words) < 2:
        return 0
    same_one, any_one = -1, 0
    for w in words:
        same_one &= w
        any_one |= w
    return bin((any_one & ~same_one) & ((1 << width) - 1)).count("1")


def estimate(spec: dict, target: Target, arrays: list[dict]) -> dict:
    """{"bram36", "dsp", "lut", "ff"} of the whole core, and per layer (module docstring)."""
    P, wb, ab, vb, D = (spec[k] for k in ("lanes", "weight_bits", "acc_bits", "v_bits", "decay_bits"))
    a_bits, b_bits = int(target.v("part.dsp_a_bits")), int(target.v("part.dsp_b_bits"))
    def dsp(x: int, y: int) -> int:  # a signed x by y product, operands placed the cheaper way round
        return min(math.ceil(x / (a_bits - 1)) * math.ceil(y / (b_bits - 1)),
                   math.ceil(y / (a_bits - 1)) * math.ceil(x / (b_bits - 1)))

    lut_lane = {k: float(target.v(f"estimate.lut_per_lane_bit_{k}")) for k in ("lif", "two_point")}
    per_layer, total = {}, {"bram36": 0.0, "dsp": 0, "lut": 0, "ff": 0}
    for lay, a in zip(spec["layers"], arrays):
        W, tp = lay["words"], lay["kind"] == "two_point"
        jb = spec["j_bits"] if lay["kind"] == "cuba" else 0  # a CubaLIF layer's current j: one more state memory
        fields = param_fields(spec, lay)
        n_acc = 2 if tp else 1
        pw = sum(w for _, w, _ in fields)
        weights = memory(target, P * wb, lay["rows"] * W)
        state = [memory(target, P * ab, W)] * n_acc + ([] if tp else [memory(target, P * vb, W)]) + \
            ([memory(target, P * jb, W)] if jb else [])
        words = pack([a[name].reshape(W, P) for name, _, _ in fields], [w for _, w, _ in fields])
        varying = varying_bits(words, P * pw)  # constant columns of the ROM are no memory at all
        params = memory(target, varying, W) if varying else {"bram36": 0, "lut": 0, "lutram": True}
        rom = varying * math.ceil(W / int(target.v("estimate.lutram_shallow_depth"))) if params["lutram"] else 0
        if tp:
            t = lay["transfer"]
            width = 2 * ab + abs(t["km"]).bit_length()
            dsps = P * (dsp(ab, ab) + dsp(2 * ab, abs(t["km"]).bit_length() + 1) + dsp(ab, spec["value_bits"] - ab))
            datapath = P * (2 * ab + width + spec["value_bits"]) * lut_lane["two_point"]
        else:
            dsps, datapath = P * dsp(vb, D + 1), P * (ab + vb) * lut_lane["lif"]
            if jb:  # j*As and (acc << F)*G
                dsps += P * (dsp(jb, D + 1) + dsp(ab + spec["frac_bits"], spec["gain_bits"]))
        addr = lay["rows"].bit_length() + W.bit_length()  # weight address (row0 + idx) * W: a DSP if wide
        dsps += int(W & (W - 1) != 0 and addr >= int(target.v("estimate.dsp_min_product_bits")))
        regs = P * (wb * weights["lutram"] + ab * n_acc + (0 if tp else vb) + jb) * (2 if W == 1 else 1)
        regs -= P * wb * weights["lutram"] * (W == 1)
        bitmap = W * P if lay["consumers"] else 0
        r = {"bram36": weights["bram36"] + params["bram36"] + sum(m["bram36"] for m in state), "dsp": dsps,
             "lut": round(datapath + weights["lut"] + sum(m["lut"] for m in state) + rom
                          + lay["size"] * len(lay["consumers"]) * float(target.v("estimate.lut_per_scanned_neuron"))),
             "ff": regs + bitmap}
        per_layer[lay["name"]] = r
        for key in total:
            total[key] += r[key]
    ctrl = max(lay["words"] for lay in spec["layers"]).bit_length() + \
        max(lay["size"] for lay in spec["layers"]).bit_length() + spec["index_bits"]
    if any(lay["kind"] == "two_point" for lay in spec["layers"]):
        total["ff"] += P * spec["value_bits"]
    total["ff"] += ctrl
    total["lut"] += round(len(spec["layers"]) * float(target.v("estimate.lut_per_layer")))
    return {"total": total, "layers": per_layer}


def rules(spec: dict, target: Target, est: dict, clock: float) -> list[Rule]:
    t = est["total"]
    return [Rule("bram36", t["bram36"], int(target.v("part.bram36")), where="memories"),
            Rule("dsp48e2", t["dsp"], int(target.v("part.dsps")), where="datapath",
                 hint="fewer -O lanes or narrower formats"),
            Rule("lut", t["lut"], int(target.v("part.luts")), where="logic"),
            Rule("ff", t["ff"], int(target.v("part.ffs")), where="registers"),
            Rule("clock", clock, float(target.v("part.pl_clock_max")), where="design.clock"),
            Rule("bitmap_bits", max((lay["words"] * spec["lanes"] for lay in spec["layers"] if lay["consumers"]),
                                    default=0),
                 int(target.v("design.max_signal_bits")), where="spike bitmap",
                 hint="a layer that feeds another keeps its spikes in one register; split the layer")]
