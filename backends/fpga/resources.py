"""Resources of the generated core estimated from its structure, and the design rules against the part.

What Yosys ``synth_xilinx`` makes of the design (synth.py measures it; bench/bench_fpga.py compares):

- memories (weights rows*W x P*wb; v W x P*vb; acc W x P*ab, two for a two-point layer; a CubaLIF
  layer's current j W x P*jb). The state memories are LUT-RAM up to ``estimate.lutram_max_depth``
  words or ``lutram_max_bits`` bits (read and write at one address: RAM32M16 / RAM64M8 up to 64
  words, 64 bits per LUT deeper; UG574), else the fewest RAMB36 over the part's aspect ratios
  (UG573, RAMB18 halves). The weight memory is always block RAM (design.py gives it rom_style =
  "block"), the fewest RAMB36 likewise. The parameter memory is a constant ROM: its bit columns equal in every
  word are constants, the others are logic (one LUT6 per 64 words per bit, F7/F8 join four) up to
  ``estimate.rom_logic_bits_per_ramb18`` bits per RAMB18 they would take, else block RAM;
- only the live lanes count: in a one-word layer of N < P neurons the padding lanes are constants;
- DSP48E2: a signed x by y bit product takes ceil((x-1)/(a-1)) * ceil((y-1)/(b-1)) slices (a x b =
  27 x 18, the cheaper way round); one v*A per LIF lane (and j*As, acc*G per CubaLIF lane: Yosys's
  opt_expr drops the zero low bits of acc << F), r*c, its index product and r*(K1+LUT) per
  two-point lane; a weight-address multiply takes one where Yosys maps it (`weight_address_dsps`);
- FF: the synchronous read registers of every read port out of LUT-RAM (block RAM has its own),
  a depth-1 memory's contents, the spike bitmap of a layer that feeds another, the controller counters;
- LUT, counted per lane as one LUT per bit of each adder, comparator and multiplexer of the
  datapath (``estimate`` rounds and constants: UG574, or measured), the state LUT-RAM and the
  parameter ROMs as above, the bitmap's write enables and read multiplexer; three coefficients are
  fitted to synthesis (the target says on which configurations): the control logic of a layer of
  more than one word, of each layer-to-layer connection, and the factor a two-point lane's exp
  table (a ROM in logic at a combinational index) takes over the same ROM alone.

`rules_from_shapes` needs only the layer sizes and fan-ins, so a graph far over the part is refused
before anything big is built.
"""
from __future__ import annotations

import math

from neurodeploy.backend import Rule
from neurodeploy.targets import Target

from .layout import lut_width, pack, param_fields

ROLE = "compile"
BRAM_KEY = "width_"
TWO_POINT_ADDERS = ("acc_basal", "acc_apical", "r", "c")  # ab-bit adders of a two-point lane


def bram36(target: Target, width: int, depth: int) -> float:
    """Fewest RAMB36 for a width x depth memory, in halves (a RAMB18 holds half the depth of a RAMB36
    at each width up to 36 bits; UG573)."""
    if width == 0 or depth == 0:
        return 0
    configs = [(int(k[len(BRAM_KEY):]), int(q.low)) for k, q in target.section("part.bram").items()]
    half_max = max(w for w, _ in configs) // 2
    halves = min(math.ceil(width / w) * math.ceil(2 * depth / d) * (2 if w > half_max else 1) for w, d in configs)
    return halves / 2


def memory(target: Target, width: int, depth: int, rom: bool = False) -> dict:
    """{"bram36", "lut", "lutram"}: out of block RAM up to estimate.lutram_max_depth words or
    lutram_max_bits bits (a constant memory, `rom`: up to estimate.rom_logic_bits_per_ramb18 bits per
    RAMB18 it would take), else the fewest RAMB36. "lut" is what a read-write state memory takes as
    LUT-RAM (read and write at one address, the word counter): up to 64 words RAM32M16 / RAM64M8
    (32 x 16 or 64 x 8 in 8 LUTs of a SLICEM), deeper 64 bits per LUT (RAM128X1S, RAM256X1S; UG574)."""
    blocks = bram36(target, width, depth)
    if rom:
        small = width * depth <= 2 * blocks * int(target.v("estimate.rom_logic_bits_per_ramb18"))
    else:
        small = depth <= int(target.v("estimate.lutram_max_depth")) or \
            width * depth <= int(target.v("estimate.lutram_max_bits"))
    if small:
        bits, group = int(target.v("estimate.lut_bits")), int(target.v("estimate.lutram_primitive_luts"))
        if depth <= 1:  # a register
            lut = 0
        elif depth <= bits:
            lut = group * math.ceil(width * (bits // 2 if depth <= bits // 2 else bits) / (group * bits))
        else:
            lut = math.ceil(width * depth / bits)
        return {"bram36": 0, "lut": lut, "lutram": True}
    return {"bram36": blocks, "lut": 0, "lutram": False}


def rom_luts(target: Target, bits: int, depth: int) -> int:
    """A constant memory's varying bit columns as logic: per bit one LUT6 per 64 words, up to
    estimate.rom_free_mux_leaves of them joined by the F7/F8 multiplexers without LUTs (UG574), more
    per leaf beyond (LUT multiplexers, estimate.rom_lut_per_leaf_muxed)."""
    leaves = math.ceil(depth / int(target.v("estimate.lut_bits")))
    free = int(target.v("estimate.rom_free_mux_leaves"))
    return bits * (leaves if leaves <= free else math.ceil(leaves * float(target.v("estimate.rom_lut_per_leaf_muxed"))))


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


def weight_address_dsps(spec: dict, target: Target) -> dict[str, int]:
    """Layer name -> DSP48E2 of the weight-address multiplies (idx + row0) * W it is the first to use.

    What synth_xilinx does to the design's unsigned product (idx: index_bits; + row0 one bit more; W
    bitlen(W) bits; its low bits feed a memory address of ceil(log2(rows * W)) bits): opt_expr drops
    the tz trailing zero bits of W (passes/opt/opt_expr.cc; a power of two becomes a shift), opt_merge
    then makes one multiply of the products with the same row0 and odd part of W, wreduce keeps the
    product bits the addresses use (passes/opt/wreduce.cc): Y = min(address bits, A + bitlen(W)) - tz.
    mul2dsp maps it to a DSP when both operands have 2 bits or more and Y at least
    estimate.dsp_min_product_bits (techlibs/common/mul2dsp.v, DSP_Y_MINWIDTH; techlibs/xilinx/
    synth_xilinx.cc)."""
    groups: dict[tuple[int, int], list] = {}  # (row0, odd part of W) -> [first layer, A bits, widest Y]
    for lay in spec["layers"]:
        W = lay["words"]
        tz = (W & -W).bit_length() - 1
        address = (lay["rows"] * W - 1).bit_length()
        for e in lay["sources"]:
            a = spec["index_bits"] if e["row0"] == 0 else max(spec["index_bits"], e["row0"].bit_length()) + 1
            g = groups.setdefault((e["row0"], W >> tz), [lay["name"], a, 0])
            g[2] = max(g[2], min(address, a + W.bit_length()) - tz)
    out: dict[str, int] = {}
    for (_, odd), (name, a, y) in groups.items():
        if odd > 1 and a > 1 and y >= int(target.v("estimate.dsp_min_product_bits")):
            out[name] = out.get(name, 0) + 1
    return out


def estimate(spec: dict, target: Target, arrays: list[dict]) -> dict:
    """{"bram36", "dsp", "lut", "ff"} of the whole core, and per layer (module docstring)."""
    P, wb, ab, vb, D, F = (spec[k] for k in ("lanes", "weight_bits", "acc_bits", "v_bits", "decay_bits", "frac_bits"))
    a_bits, b_bits = int(target.v("part.dsp_a_bits")), int(target.v("part.dsp_b_bits"))
    def dsp(x: int, y: int) -> int:  # signed x by y bits: one sign bit, then a_bits-1 / b_bits-1 per slice
        return min(math.ceil((x - 1) / (a_bits - 1)) * math.ceil((y - 1) / (b_bits - 1)),
                   math.ceil((y - 1) / (a_bits - 1)) * math.ceil((x - 1) / (b_bits - 1)))

    def split(x: int, y: int) -> int:  # the LUT adder summing a product's partial products over DSPs
        return x + y - (a_bits - 1) if dsp(x, y) > 1 else 0

    est = {k: float(target.v(f"estimate.{k}")) for k in ("lut_per_controller", "lut_per_edge", "exp_table_in_context",
                                                         "lut_per_scanned_neuron", "lut_per_const_compare_bit")}
    address_dsps = weight_address_dsps(spec, target)
    per_layer, total = {}, {"bram36": 0.0, "dsp": 0, "lut": 0, "ff": 0}
    for lay, a in zip(spec["layers"], arrays):
        W, tp = lay["words"], lay["kind"] == "two_point"
        jb = spec["j_bits"] if lay["kind"] == "cuba" else 0  # a CubaLIF layer's current j: one more state memory
        fields = param_fields(spec, lay)
        n_acc = 2 if tp else 1
        pw = sum(w for _, w, _ in fields)
        L = min(P, lay["size"])  # live lanes: in a one-word layer the padding lanes are constants
        state = [memory(target, P * ab, W)] * n_acc + ([] if tp else [memory(target, P * vb, W)]) + \
            ([memory(target, P * jb, W)] if jb else [])
        words = pack([a[name].reshape(W, P) for name, _, _ in fields], [w for _, w, _ in fields])
        varying = varying_bits(words, P * pw)  # constant columns of the ROM are no memory at all
        params = memory(target, varying, W, rom=True) if varying else {"bram36": 0, "lut": 0, "lutram": True}
        rom = rom_luts(target, varying, W) if params["lutram"] else 0
        # Per lane one LUT per bit of each adder, comparator and multiplexer (UG574: a carry-chain bit
        # takes one LUT): acc + weight; v: the partial products of v*A (the rounding constant goes
        # into the DSP48E2's ALU, UG579), + bias (when not all zero), + acc << F (its low F bits pass
        # through), vn > theta (a constant theta when W = 1: fewer LUTs), the reset multiplexer.
        if tp:
            t = lay["transfer"]
            km, lw, lb = abs(t["km"]).bit_length(), lut_width(lay), spec["lut_bits"]
            # r, c = acc + bias (ab + 1 bits); r*c; (r*c)*km (km unsigned); r*(K1 + table) (unsigned)
            dsps = L * (dsp(ab + 1, ab + 1) + dsp(2 * ab + 2, km + 1) + dsp(ab + 1, lw + 2))
            raw = 2 * ab + km + 2 - t["sh"]  # ((r*c*km + round) >> sh) - i0, then its clamp compare
            # the adders (two accumulators; r and c = acc + bias), raw and its clamp, the index mux, the exp table (one
            # ROM per lane, logic read at a combinational index: a fitted factor over the same ROM alone), k1 + table,
            # the partial products of r*c*km, the value register mux
            table = rom_luts(target, lw, 2 ** lb) * est["exp_table_in_context"]
            lane = len(TWO_POINT_ADDERS) * ab + 2 * raw + 2 * lb + table + lw + split(2 * ab + 2, km + 1) + \
                spec["value_bits"]
        else:
            dsps = L * dsp(vb, D + 2)  # v * A, A unsigned D + 1 bits
            cmp = vb if W > 1 else math.ceil(vb * est["lut_per_const_compare_bit"])
            lane = ab + split(vb, D + 2) + vb * bool(a["bias"].any()) + max(vb - F, 0) + cmp + vb
            if jb:  # j*As and acc*G in DSPs (opt_expr drops the F zero bits of acc << F), the partial
                # products of each; + j into v, their sum, + bias_j
                dsps += L * (dsp(jb, D + 2) + dsp(ab, spec["gain_bits"]))
                lane += split(jb, D + 2) + split(ab, spec["gain_bits"]) + vb + jb + D + 1 + jb
        dsps += address_dsps.get(lay["name"], 0)
        regs = L * (ab * n_acc + (0 if tp else vb) + jb) * (2 if W == 1 else 1)
        bitmap = lay["size"] if lay["consumers"] else 0  # a padding lane's bit is a constant 0
        # the bitmap: a write enable per word, one read multiplexer (4 inputs per LUT); a controller per
        # layer of more than one word (its word counter compares and address logic; fitted)
        control = (W + math.ceil(bitmap * est["lut_per_scanned_neuron"]) if bitmap else 0) + \
            est["lut_per_controller"] * (W > 1) + est["lut_per_edge"] * len(lay["consumers"])
        weights = bram36(target, P * wb, lay["rows"] * W)
        r = {"bram36": weights + params["bram36"] + sum(m["bram36"] for m in state), "dsp": dsps,
             "lut": round(L * lane + sum(m["lut"] for m in state) + rom + control),
             "ff": regs + bitmap}
        per_layer[lay["name"]] = r
        for key in total:
            total[key] += r[key]
    ctrl = max(lay["words"] for lay in spec["layers"]).bit_length() + \
        max(lay["size"] for lay in spec["layers"]).bit_length() + spec["index_bits"]
    if any(lay["kind"] == "two_point" for lay in spec["layers"]):
        total["ff"] += P * spec["value_bits"]
    total["ff"] += ctrl
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
                 hint="a layer that feeds another keeps its spikes in one register; split the layer"),
            Rule("word_bits", word_bits(spec), int(target.v("design.max_signal_bits")), where="memory word",
                 hint="a memory word holds one field per lane: fewer -O lanes or narrower formats")]


def word_bits(spec: dict) -> int:
    """The widest memory word: P lanes of the widest of weight, v, acc (and a CubaLIF layer's current
    j) or a layer's parameter fields."""
    lane = max([spec["weight_bits"], spec["v_bits"], spec["acc_bits"], spec.get("j_bits", 0)]
               + [sum(w for _, w, _ in param_fields(spec, lay)) for lay in spec["layers"]])
    return spec["lanes"] * lane
