"""The mapping flow (convert -> partition -> design rules -> place -> route) and the artifact it writes.

Artifact files (all the simulator reads; it never sees the NIR graph):
- ``images.bin``: every PE's memory image (uint32 little-endian), concatenated in slice order;
- ``pes.npz``: per PE: offset/length of its image (words), chip, QPE, PE, population index, first atom;
- ``routing.npz``: compressed router tables of every chip (key, mask, route) and uncompressed counts;
- ``runspec.json``: tick, clock, ticks, recording, populations (model, shape, pipeline lag), the cost
  model and latencies copied from the target file, geometry;
- ``host.npz``: host-side voltage scales (chip voltage = NIR voltage x v_scale), as py-spinnaker2 keeps
  ``pop.nir_v_scale`` on the host;
- ``network_s2.py`` + ``network_s2.npz``: the same network for py-spinnaker2 (see pyspinnaker2.py): its
  integer weights again, each projection as an int8 matrix or CSR, whichever is smaller.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurodeploy.artifact import dump_json, save_npz
from neurodeploy.backend import delay_rules
from neurodeploy.errors import UsageError

from . import drc
from . import memimage as mi
from .convert import Network, convert
from .options import Options, parse
from .partition import Slicing, conv_sources, dense_entries, partition, routing_reserve, synapses_into
from .place import Geometry, Placement, place
from .pyspinnaker2 import ident, network_script
from .route import build_tables, compress, path_costs, region_targets, targets_per_source

ROLE = "compile"
COST_KEYS = ("tick_overhead", "neuron_update_lif", "neuron_update_lif_curr_exp", "neuron_update_lif_conv2d",
             "neuron_update_spike_list", "synaptic_event", "packet_received", "packet_sent", "mla_macs_per_cycle",
             "mla_utilisation_conv", "sram_words_per_neuron_update", "sram_words_per_synaptic_event",
             "sram_words_per_packet")


@dataclass
class Mapping:
    net: Network
    opts: Options
    steps: int
    record: str | tuple
    slicing: Slicing
    costs: list
    lags: dict
    n_ticks: int
    recorded: set                                 # populations recording spikes
    voltage: set                                  # populations recording v as well
    rules: list
    quant: dict
    placement: Placement | None = None
    targets: dict = field(default_factory=dict)   # source slice -> every (chip, QPE, PE mask) it feeds
    regions: dict = field(default_factory=dict)   # source slice -> its ROUTING_TABLE rows
    words: list = field(default_factory=list)     # per PE, after placement: image + run-time state
    cycles: list = field(default_factory=list)    # per PE, after placement: estimated cycles per tick
    tables: dict = field(default_factory=dict)
    uncompressed: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)


def pipeline_lags(net: Network) -> dict[str, int]:
    """Ticks by which each population runs behind the reference: every projection hop takes delay+1
    (a second tap, one tick later by design, adds none)."""
    order = {p: i for i, p in enumerate(net.populations)}
    lag: dict[str, int] = {}
    for p in net.populations:
        lag[p] = max((lag[q.pre] + q.delay + 1 for q in net.incoming(p) if order[q.pre] < order[p] and q.tap == 0),
                     default=0)
    return lag


def recording(net: Network, record) -> tuple[set, set]:
    """(populations recording spikes, populations recording v too) for the common ``record`` option:
    outputs (spikes and v), all (spikes of every population, v of the outputs) or named nodes
    (populations or Output nodes: spikes and v)."""
    outs = set(net.outputs.values())
    if record == "outputs":
        return outs, outs
    if record == "all":
        return set(net.populations), outs
    named = set()
    for r in record:
        pop = net.outputs.get(r, r)
        if pop not in net.populations:
            raise UsageError(f"record={r!r} names no population or output",
                             hint=f"known: {', '.join(sorted(set(net.populations) | set(net.outputs)))}")
        named.add(pop)
    return named, {p for p in named if net.populations[p].model != "spike_list"}


def map_network(graph, target, options) -> Mapping:
    """The whole mapping for `options` (`neurodeploy.backend.Options`), rules included."""
    opts = parse(options.backend, target)
    for rule in delay_rules(graph, target.v("limits.delay_max"), "delay range"):  # before the Delay is refused
        rule.raise_if_violated()
    steps = options.common.steps or target.v("defaults.steps")
    w_max = target.v("limits.weight_max_4bit" if opts.conn_delay > 0 else "limits.weight_max_int8")
    # the 4-bit word keeps a sign bit beside its magnitude; the int8 word's lower end is the target's
    w_min = -w_max if opts.conn_delay > 0 else target.v("limits.weight_min_int8")
    net, peaks = convert(graph, opts, w_max)
    lags = pipeline_lags(net)
    n_ticks = steps + max(lags.values(), default=0)
    recorded, voltage = recording(net, options.common.record)
    sl, costs = partition(net, target, opts, n_ticks, recorded, voltage)
    geo = Geometry.from_target(target)
    board_target = target.get("geometry.chips_per_board") is not None
    boards = opts.boards if opts.boards is not None or not board_target else target.v("geometry.boards_max")
    pes = geo.usable_pes * geo.chips_x * geo.chips_y * (boards if board_target else 1)
    rules = drc.pre_placement(net, sl, costs, peaks, target, opts, pes, (w_min, w_max))
    quant = {p.name: p.error for p in net.projections}
    m = Mapping(net, opts, steps, options.common.record, sl, costs, lags, n_ticks, recorded, voltage, rules, quant)
    if not all(r.ok for r in rules):
        return m
    m.placement = pl = place(len(sl), geo)
    src, dst = _pairs(net, sl)
    m.targets = targets_per_source(src, dst, pl.chip, pl.qpe, pl.pe)
    raw = build_tables(m.targets, pl.chip, geo.qpes) if pl.chips_used > 1 else {}
    m.uncompressed = {c: len(t) for c, t in raw.items()}
    m.tables = {c: compress(t) for c, t in raw.items()}
    router = [drc.router_rule({c: len(t) for c, t in m.tables.items()}, target)] if m.tables else []
    if not all(r.ok for r in router):  # before costing every path through tables that cannot be loaded
        m.rules = rules + router
        return m
    hop_s = target.v("timing.noc_cycles_per_hop") / target.v("timing.noc_clock")
    m.regions = {s: region_targets(t, tuple(int(v) for v in pl.chip[s]), geo.router_qpe) for s, t in m.targets.items()}
    m.paths = path_costs(m.targets, pl.chip, pl.qpe, m.tables, geo.qpes, geo.router_qpe, len(sl), hop_s,
                         target.v("timing.chip_link_latency"))
    # routing region words and packet sending, now that targets are known
    words = [c.words - routing_reserve(target) + mi.ROUTING_ENTRY_WORDS * len(m.regions.get(s, ()))
             for s, c in enumerate(costs)]
    cycles = [c.cycles + opts.activity * sl.n[s] * m.paths["packets"][s] * target.v("cost.packet_sent")
              for s, c in enumerate(costs)]
    m.words, m.cycles = words, cycles
    m.rules = [r for r in rules if not r.name.startswith(("SRAM", "tick"))]
    m.rules += drc.budget_rules(sl, words, cycles, target, opts, drc.budget_words(target))
    m.rules += router
    return m


def _pairs(net: Network, sl: Slicing) -> tuple[np.ndarray, np.ndarray]:
    """(source slice, destination slice) for every PE pair with at least one synapse."""
    src, dst = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for pop, p in net.populations.items():
        if p.model == "lif_conv2d":
            for s in sl.slices_of(pop):
                srcs = conv_sources(net, sl, s)[1]
                src.append(srcs.astype(np.int64))
                dst.append(np.full(srcs.size, s, np.int64))
        elif p.model != "spike_list":
            local, srcs = dense_entries(net, sl, pop)[:2]
            src.append(srcs.astype(np.int64))
            dst.append(sl.base[pop] + local.astype(np.int64))
    return np.concatenate(src), np.concatenate(dst)


def pe_image(m: Mapping, s: int) -> np.ndarray:
    net, sl, opts = m.net, m.slicing, m.opts
    pop = net.populations[sl.pops[sl.pop_index[s]]]
    a, n = int(sl.start[s]), int(sl.n[s])
    t = m.regions.get(s, np.zeros((0, mi.ROUTING_ENTRY_WORDS), np.int64))
    rec_spk = pop.name in m.recorded
    rec_v = pop.name in m.voltage and pop.model != "spike_list"
    regions = {mi.ROUTING: np.r_[s << mi.KEY_SHIFT, len(t), mi.ROUTING_HEAD, t.reshape(-1)],
               mi.TIMER: [int(round(opts.tick * opts.clock)), m.n_ticks],
               mi.GLOBAL: [n, int(rec_spk), int(rec_v), 0, 0, mi.MODELS.index(pop.model), mi.RESETS.index(pop.reset)],
               mi.LOG: np.zeros(mi.LOG_WORDS)}
    spk, volt = mi.record_words(n, m.n_ticks, rec_spk, rec_v)
    regions[mi.SPIKE_REC], regions[mi.V_REC] = np.zeros(spk), np.zeros(volt)
    if pop.model == "spike_list":
        regions[mi.NEURON] = np.zeros(mi.bitfield_words(n) * m.n_ticks)
    else:
        params = {k: v[a:a + n] for k, v in pop.params.items()}
        regions[mi.NEURON] = mi.neuron_region(params, pop.model, n)
        if pop.model == "lif_conv2d":
            proj, srcs = conv_sources(net, sl, s)
            ci, co, kh, kw = proj.conv["kernel"].shape
            post = net.populations[proj.post].shape
            p = dict(proj.conv, in_channels=ci, out_channels=co, out_height=post[1], out_width=post[2],
                     kernel_h=kh, kernel_w=kw, out_offset=a)
            mpt = np.stack([srcs << mi.KEY_SHIFT, np.full(srcs.size, mi.KEY_MASK), sl.start[srcs] << mi.ROW_ADDR_SHIFT], 1)
            regions[mi.SYN_ROW] = mi.conv_region(p, proj.conv["kernel"])
        else:
            ent, addr, stride, rows = mi.dense_rows(*synapses_into(net, sl, s), sl.n, opts.conn_delay > 0)
            mpt = np.stack([ent << mi.KEY_SHIFT, np.full(ent.size, mi.KEY_MASK), (addr << mi.ROW_ADDR_SHIFT) | stride],
                           1)
            regions[mi.SYN_ROW] = rows
        mpt_offset = mi.HEADER + sum(np.size(regions[r]) for r in (mi.ROUTING, mi.TIMER, mi.GLOBAL)) + mi.MPT_INFO_WORDS
        regions[mi.MPT_INFO], regions[mi.MPT] = [mpt_offset, len(mpt)], mpt.astype(np.int64)
    return mi.pack(regions)


def write_artifact(m: Mapping, graph, target, out: Path) -> dict:
    net, sl, pl, opts = m.net, m.slicing, m.placement, m.opts
    offsets, lengths = np.zeros(len(sl), np.int64), np.zeros(len(sl), np.int64)
    pos = 0
    with open(out / "images.bin", "wb") as f:
        for s in range(len(sl)):
            img = pe_image(m, s)
            offsets[s], lengths[s] = pos, img.size
            pos += img.size
            img.astype("<u4", copy=False).tofile(f)
    save_npz(out / "pes.npz", offset=offsets, length=lengths, chip=pl.chip, qpe=pl.qpe, pe=pl.pe,
             pop=sl.pop_index, start=sl.start, n=sl.n)
    chips = sorted(m.tables)
    save_npz(out / "routing.npz",
             chip=np.array([c for c in chips for _ in m.tables[c]], np.int64).reshape(-1, 2),
             entry=np.concatenate([m.tables[c] for c in chips]) if chips else np.zeros((0, mi.TABLE_ENTRY_WORDS), np.int64),
             uncompressed=np.array([m.uncompressed[c] for c in chips], np.int64))
    save_npz(out / "host.npz", **{f"v_scale/{p.name}": p.v_scale for p in net.populations.values()
                                   if p.v_scale is not None})
    pops = [{"name": p.name, "model": p.model, "shape": list(p.shape), "lag": m.lags[p.name],
             "record_spikes": p.name in m.recorded,
             "record_v": p.name in m.voltage and p.model != "spike_list"}
            for p in net.populations.values()]
    geo = Geometry.from_target(target)
    record = m.record if isinstance(m.record, str) else list(m.record)
    spec = {"tick_s": opts.tick, "clock_hz": opts.clock, "steps": m.steps, "n_ticks": m.n_ticks,
            "populations": pops, "outputs": net.outputs, "inputs": [p.name for p in net.populations.values()
                                                                     if p.model == "spike_list"],
            "chips_used": pl.chips_used, "boards": pl.boards,
            "router_qpe": list(geo.router_qpe), "qpes": geo.qpes.tolist(),
            "noc_hop_s": target.v("timing.noc_cycles_per_hop") / target.v("timing.noc_clock"),
            "chip_link_latency_s": target.v("timing.chip_link_latency"),
            "cost": {k: target.v(f"cost.{k}") for k in COST_KEYS},
            "options": {**opts.to_dict(), "steps": m.steps, "record": record}}
    (out / "runspec.json").write_bytes(dump_json(spec))
    script, arrays = network_script(m, graph)
    (out / "network_s2.py").write_text(script)
    save_npz(out / "network_s2.npz", **arrays)
    return summary(m)


def summary(m: Mapping) -> dict:
    """Manifest info: the utilization summary, the rules and the quantization error per layer."""
    sl, pl = m.slicing, m.placement
    return {
        "pes": len(sl), "chips": pl.chips_used if pl else None, "boards": pl.boards if pl else None,
        "atoms_per_pe": sl.atoms, "pipeline_lag_ticks": m.lags, "n_ticks": m.n_ticks,
        "router_entries": {f"{c[0]},{c[1]}": int(len(t)) for c, t in m.tables.items()},
        "router_entries_uncompressed": {f"{c[0]},{c[1]}": int(n) for c, n in m.uncompressed.items()},
        "rules": [{"name": r.name, "needed": r.needed, "available": r.available, "where": r.where, "ok": r.ok}
                  for r in m.rules],
        "quantization": m.quant,
        "projections": [{"name": p.name, "pre": p.pre, "post": p.post, "kind": p.kind, "delay": p.delay,
                         "tap": p.tap, "arrays": ident(p.name, i, "proj"),
                         **({"conv": {k: v for k, v in p.conv.items() if k != "kernel"}} if p.conv else {})}
                        for i, p in enumerate(m.net.projections)],
        "populations": {name: ident(name, i, "pop") for i, name in enumerate(m.net.populations)},
        "per_pe": {"label": [pl.label(s) for s in range(len(sl))] if pl else [],
                   "population": [sl.pops[i] for i in sl.pop_index], "neurons": sl.n.tolist(),
                   "synapses": [c.synapses for c in m.costs],
                   "sram_bytes": [mi.WORD_BYTES * int(w) for w in m.words],
                   "cycles_per_tick": [round(c) for c in m.cycles],
                   "routing_targets": [len(m.regions.get(s, ())) for s in range(len(sl))]},
    }
