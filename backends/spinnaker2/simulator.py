"""Cycle-approximate SpiNNaker 2 model that reads only the artifact.

Loading parses every PE's memory image back (neuron parameters, master population table, synaptic
rows or the MLA kernel, routing targets) and the chip router tables, and assembles them into global
sparse matrices so a tick is a few sparse products over all PEs at once (event-driven: cost grows
with spikes x fan-out). Per tick, as the chip's timer ISR does (reference §3):

1. spikes sent in tick t-1 are received; each synapse adds its weight into ring-buffer slot
   t + delay field (so a spike takes delay+1 ticks; the ``*_no_delay`` models use the next tick);
2. neurons update in float32 as the M4F does: ``I = decay*I + in`` (lif_curr_exp*), then
   ``v = alpha_decay*v + I + i_offset + in``; spike if ``v > threshold`` (the strict comparison is
   neurodeploy's reference rule; the chip's own is unverified); reset to v_reset or by subtraction
   (of the threshold, or of v_reset in mode reset_by_subtracting_v_reset);
3. spikes are sent: packets and NoC/chip-link hops come from walking the routing tables;
4. each PE's cycles are costed (TOML cost model, copied into the run spec) and compared with the
   tick's cycle budget; an overrun is counted and reported. On the chip an overrun delays the PE
   and loses spikes ("Deadline missed"); this model keeps the spikes, so its outputs are what a chip
   fast enough would produce, and `extra["overruns"]` says where it was not.

Timing: every projection hop adds delay+1 ticks, so population P runs `lag[P]` ticks behind the
reference. The run executes steps + max lag ticks and returns each recorded trace shifted by its lag,
so index t is reference step t (as the NIR paper ran T+1 ticks and dropped the first);
`extra["lag_ticks"]` gives the shifts. A population's neurons start updating at tick lag[P] (the run
spec's per-population start tick, which the software neuron kernel honours): before it nothing has
reached them, and a bias (i_offset) acting earlier would have integrated lag[P] extra ticks, which
no reference step corresponds to. So every population runs exactly its reference timeline.
Samples of a batch are independent runs of the chip; counters sum over them and
``sim_time_s = batch x ticks x tick``.

Import boundary (ROLE "simulate"): this module reads the artifact with its own code. It may import
the core (`neurodeploy.*`) and the format module `memimage` (the image layout and router entry
format, which both sides must agree on); never a compiler module (convert, partition, place, route,
lower, ...). It re-derives the MLA convolution's synapses from the CONV region and walks the router
tables itself, so a compiler bug in either is not mirrored here.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

from neurodeploy.errors import TargetError, UsageError
from neurodeploy.result import Result
from neurodeploy.sim.inputs import as_batched

from . import memimage as mi
from . import runtime

ROLE = "simulate"
QPE_BIT0 = len(mi.LINKS)  # route bit of the first QPE
BLOCKS = ("row_events", "conv_events", "received", "sent")  # per-PE counter blocks of Machine.counts
TRAFFIC = ("packets", "noc_hops", "link_hops")  # per spike of a PE, from its routing region and the tables
TOTALS = TRAFFIC + ("row_events", "conv_events")  # then per-spike totals


@dataclass
class Machine:
    spec: dict
    pes: dict                   # pes.npz arrays
    pop_slice: np.ndarray       # per neuron: population index
    neuron_base: np.ndarray     # per slice: first global neuron
    pop_base: np.ndarray        # per population: first global neuron
    params: dict                # global float32 arrays over all neurons
    model: np.ndarray           # per neuron: model index
    subtract: np.ndarray        # per neuron: reset by subtraction
    curr: np.ndarray            # per neuron: has a synaptic current
    weights: dict               # effective delay (ticks) -> csr (sources x targets), float32
    inh: dict                   # effective delay -> csr of negative weights into current-based neurons
    counts: sp.csr_matrix       # sources x K per-spike counter contributions (BLOCKS, then TOTALS)
    n_pe: int
    pe_neurons: np.ndarray
    mla_macs: np.ndarray        # per PE per tick
    rec_spikes: dict            # population -> bool
    rec_v: dict


@dataclass
class Part:
    """What one process simulates: all neurons, or one MPI rank's chips (`distributed.py`). `exchange`
    turns the tick's spikes of its own neurons (B x N, global columns) into those plus the other
    ranks' spikes its neurons receive; `reduce` sums (or maxes) a per-rank array over all ranks."""

    own: np.ndarray       # global indices of the neurons simulated here, ascending
    own_pe: np.ndarray    # per PE: simulated here
    exchange: Callable[[sp.csr_matrix], sp.csr_matrix]
    reduce: Callable[[np.ndarray, str], np.ndarray]


def whole(m: "Machine") -> Part:
    """The single-process run: every neuron and PE, nothing to exchange."""
    return Part(np.arange(m.params["threshold"].size), np.ones(m.n_pe, bool), lambda ss: ss, lambda a, op: a)


def _load_images(art):
    pes = art.npz("pes.npz")
    blob = np.fromfile(art.file("images.bin"), dtype="<u4")
    return pes, [mi.unpack(blob[o:o + n]) for o, n in zip(pes["offset"], pes["length"])]


def load(art) -> Machine:
    spec = art.json("runspec.json")
    pes, images = _load_images(art)
    n_pe = len(images)
    n_of = np.array([int(img[mi.GLOBAL][0]) for img in images], np.int64)
    base = np.r_[0, np.cumsum(n_of)[:-1]]
    total = int(n_of.sum())
    pop_of_slice = pes["pop"]
    pop_base = np.array([base[np.flatnonzero(pop_of_slice == i)[0]] for i in range(len(spec["populations"]))])
    models = np.zeros(total, np.int64)
    subtract, amount = np.zeros(total, bool), np.zeros(total, bool)
    params = {k: np.zeros(total, np.float32) for k in mi.CURR_PARAMS}
    syn = {"src": [], "dst": [], "w": [], "d": [], "pe": [], "conv": []}
    for s, img in enumerate(images):
        n, _, _, _, _, model_id, reset_id = (int(x) for x in img[mi.GLOBAL][:mi.GLOBAL_WORDS])
        if int(img[mi.ROUTING][0]) != s << mi.KEY_SHIFT:
            raise TargetError(f"PE image {s} has key offset {int(img[mi.ROUTING][0]):#x}", hint="recompile")
        model = mi.MODELS[model_id]
        lo = base[s]
        models[lo:lo + n] = model_id
        subtract[lo:lo + n] = mi.RESETS[reset_id] != "reset_to_v_reset"
        amount[lo:lo + n] = mi.RESETS[reset_id] == "reset_by_subtracting_v_reset"
        if model == "spike_list":
            continue
        for k, v in mi.parse_neurons(img[mi.NEURON], model, n).items():
            params[k][lo:lo + n] = v
        mpt = img[mi.MPT].reshape(-1, mi.MPT_ENTRY_WORDS).astype(np.int64)
        src_slice = mpt[:, 0] >> mi.KEY_SHIFT
        if model == "lif_conv2d":
            p, kernel = mi.parse_conv(img[mi.SYN_ROW])
            tgt, col, w = mla_synapses(kernel, p, n)
            first = mpt[:, 2] >> mi.ROW_ADDR_SHIFT  # first input atom of each source PE
            e = np.searchsorted(first, col, side="right") - 1
            src, d = base[src_slice[e]] + col - first[e], np.zeros(col.size, np.int64)
        else:
            e, atom, tgt, w, d = mi.parse_rows(img[mi.SYN_ROW], mpt[:, 2] >> mi.ROW_ADDR_SHIFT,
                                               mpt[:, 2] & mi.ROW_LEN_MASK, model in ("lif", "lif_curr_exp"))
            src = base[src_slice[e]] + atom
        syn["src"].append(src)
        syn["dst"].append(lo + tgt)
        syn["w"].append(w)
        syn["d"].append(d + 1)
        syn["pe"].append(np.full(src.size, s))
        syn["conv"].append(np.full(src.size, model == "lif_conv2d"))
    cat = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in syn.items()}
    curr = np.isin(models, [mi.MODELS.index("lif_curr_exp"), mi.MODELS.index("lif_curr_exp_no_delay")])
    weights, inh = {}, {}
    for d in np.unique(cat["d"]).tolist():
        sel = cat["d"] == d
        neg = sel & curr[cat["dst"]] & (cat["w"] < 0)
        weights[d] = _csr(cat["src"][sel & ~neg], cat["dst"][sel & ~neg], cat["w"][sel & ~neg], total, total)
        if neg.any():
            inh[d] = _csr(cat["src"][neg], cat["dst"][neg], cat["w"][neg], total, total)
    pe_neurons = n_of
    mla = np.zeros(n_pe)
    for s, img in enumerate(images):
        if mi.MODELS[int(img[mi.GLOBAL][mi.GLOBAL_WORDS - 2])] == "lif_conv2d":
            p, kernel = mi.parse_conv(img[mi.SYN_ROW])
            mla[s] = n_of[s] * p["in_channels"] * p["kernel_h"] * p["kernel_w"]
    counts = _counts(spec, pes, images, cat, base, n_of, total, n_pe, art)
    pops = spec["populations"]
    params["drop"] = np.where(amount, params["v_reset"], params["threshold"])  # what a subtraction removes
    return Machine(spec, pes, np.repeat(pop_of_slice, n_of), base, pop_base, params, models, subtract, curr,
                   weights, inh, counts, n_pe, pe_neurons, mla,
                   {p["name"]: p["record_spikes"] for p in pops}, {p["name"]: p["record_v"] for p in pops})


def _csr(r, c, v, n, m) -> sp.csr_matrix:
    out = sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(n, m))
    out.sum_duplicates()
    return out


def mla_synapses(kernel: np.ndarray, p: dict, n: int):
    """(target atom in this PE, raw input index, weight) of every MAC the MLA does for output atoms
    out_offset .. out_offset+n: per kernel tap, the pooled input pixel each output reads, expanded to
    the pool_y x pool_x raw pixels it sums. Kernel in MLA order (in_c, out_c, kh, kw)."""
    ci, co, kh, kw = kernel.shape
    ph, pw = p["in_height"] // p["pool_y"], p["in_width"] // p["pool_x"]
    oh, ow = p["out_height"], p["out_width"]
    atom = np.arange(n)
    oc, rest = np.divmod(atom + p["out_offset"], oh * ow)
    oy, ox = np.divmod(rest, ow)
    tgt, col, w = [], [], []
    for c in range(ci):
        for dy in range(kh):
            for dx in range(kw):
                y, x = oy * p["stride_y"] - p["pad_top"] + dy, ox * p["stride_x"] - p["pad_left"] + dx
                k = kernel[c, oc, dy, dx].astype(np.int64)
                hit = (y >= 0) & (y < ph) & (x >= 0) & (x < pw) & (k != 0)
                for a in range(p["pool_y"]):
                    for b in range(p["pool_x"]):
                        raw = (c * p["in_height"] + y * p["pool_y"] + a) * p["in_width"] + x * p["pool_x"] + b
                        tgt.append(atom[hit])
                        col.append(raw[hit])
                        w.append(k[hit])
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)  # noqa: E731
    return cat(tgt), cat(col), cat(w)


def _route_of(table: np.ndarray, key: int) -> int:
    """The route word of the one TCAM entry matching `key` (a miss or a double hit is a bad artifact)."""
    hit = np.flatnonzero((table[:, 1] & key) == table[:, 0])
    if hit.size != 1:
        raise TargetError(f"router lookup of key {key:#x} matched {hit.size} entries (expected 1)",
                          hint="the routing tables in the artifact are inconsistent; recompile")
    return int(table[hit[0], 2])


def deliveries(tables: dict, key: int, home: tuple) -> tuple[list, int]:
    """Breadth-first through the chip router tables from `home`: ([(chip, QPE indices)] the packet
    reaches, chip-link traversals)."""
    seen, queue, out, links = {home}, [home], [], 0
    while queue:
        chip = queue.pop(0)
        route = _route_of(tables[chip], key) if chip in tables else 0
        qpes = [i for i in range(route.bit_length() - QPE_BIT0) if route >> (QPE_BIT0 + i) & 1]
        if qpes:
            out.append((chip, qpes))
        for bit, (dx, dy) in enumerate(mi.LINKS):
            if route >> bit & 1:
                links += 1
                nxt = (chip[0] + dx, chip[1] + dy)
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
    return out, links


def spike_traffic(region: np.ndarray, key: int, home: tuple, src_qpe, tables: dict, qpes: np.ndarray,
                  router_qpe) -> tuple[int, int, int]:
    """One spike of a PE: (packets it injects, NoC hops, chip-link hops). Rows of its ROUTING_TABLE
    region with a PE mask go to a QPE of its chip; a row with mask 0 hands the packet to the router,
    whose tables carry it to other chips and their QPEs: the packet crosses its own chip's NoC to the
    router once, then each remote QPE is reached from its chip's router position."""
    local = region[region[:, mi.ROUTE_PE_MASK] != 0]
    noc = int(np.abs(local[:, mi.ROUTE_QPE] - src_qpe).sum())
    links = 0
    if len(local) < len(region):
        reached, links = deliveries(tables, key, home)
        noc += int(np.abs(np.asarray(src_qpe) - router_qpe).sum())
        for _, idx in reached:
            noc += int(np.abs(qpes[idx] - router_qpe).sum())
    return len(region), noc, links


def _counts(spec, pes, images, cat, base, n_of, total, n_pe, art) -> sp.csr_matrix:
    """A (neurons x (len(BLOCKS)*n_pe + len(TOTALS))) matrix: one spike of neuron i adds row i to the
    tick's counters."""
    slice_of = np.repeat(np.arange(n_pe), n_of)
    ones = np.ones(cat["src"].size)
    row_ev = sp.csr_matrix((ones * ~cat["conv"], (cat["src"], cat["pe"])), shape=(total, n_pe))
    conv_ev = sp.csr_matrix((ones * cat["conv"], (cat["src"], cat["pe"])), shape=(total, n_pe))
    recv = row_ev + conv_ev
    recv.data[:] = 1  # one packet per (source neuron, target PE) in this model of the MC fan-out
    routing = art.npz("routing.npz")
    tables: dict = {}
    for c, e in zip(map(tuple, routing["chip"].tolist()), routing["entry"]):
        tables.setdefault(c, []).append(e)
    tables = {c: np.array(v, np.int64) for c, v in tables.items()}
    qpes, rq = np.array(spec["qpes"]), np.array(spec["router_qpe"])
    per_slice = np.zeros((n_pe, len(TRAFFIC)))
    for s, img in enumerate(images):
        region = img[mi.ROUTING][mi.ROUTING_HEAD:].reshape(-1, mi.ROUTING_ENTRY_WORDS).astype(np.int64)
        if region.size:
            home = tuple(int(v) for v in pes["chip"][s])
            per_slice[s] = spike_traffic(region, s << mi.KEY_SHIFT, home, pes["qpe"][s], tables, qpes, rq)
    sent = sp.csr_matrix((per_slice[slice_of, 0], (np.arange(total), slice_of)), shape=(total, n_pe))
    fan_row = np.asarray(row_ev.sum(1)).ravel()
    fan_conv = np.asarray(conv_ev.sum(1)).ravel()
    totals = sp.csr_matrix(np.column_stack([per_slice[slice_of], fan_row, fan_conv]))
    return sp.hstack([row_ev, conv_ev, recv, sent, totals], format="csr", dtype=np.float64)


def _block(name: str, n: int) -> slice:
    k = BLOCKS.index(name)
    return slice(k * n, (k + 1) * n)


def _total(name: str, n: int) -> int:
    return len(BLOCKS) * n + TOTALS.index(name)


def run(art, inputs, *, steps: int | None, record: list[str], partition: Callable[["Machine"], Part] = whole
        ) -> Result:
    m = load(art)
    part = partition(m)
    spec, pops = m.spec, m.spec["populations"]
    names = [p["name"] for p in pops]
    if len(spec["inputs"]) != 1:
        raise UsageError(f"the network has {len(spec['inputs'])} inputs; one input array drives exactly one")
    inp = spec["inputs"][0]
    in_idx = names.index(inp)
    x = as_batched(inputs, pops[in_idx]["shape"], where=inp)
    if np.any((x != 0) & (x != 1)):
        raise UsageError("spike_list inputs carry binary events; the input has other values", where=inp,
                         hint="threshold or split graded inputs into spikes on the host")
    steps = int(x.shape[0] if steps is None else steps)
    max_lag = max(p["lag"] for p in pops)
    ticks = steps + max_lag
    wanted = runtime.resolve(spec, record)  # steps and recordings are this run's (runtime.py)
    rec_spk, rec_volt = runtime.recording(spec, wanted)
    rec_volt, not_recorded = runtime.fitted(art, spec, m.pes, ticks, rec_spk, rec_volt)
    for pop, why in not_recorded.items():
        warnings.warn(f"{pop}: {why}", stacklevel=2)
    B, N = x.shape[1], m.params["threshold"].size
    x = x.reshape(x.shape[0], B, -1)
    in_lo, in_n = m.pop_base[in_idx], int(np.prod(pops[in_idx]["shape"]))
    neuron = m.model != mi.MODELS.index("spike_list")
    c = spec["cost"]
    upd_cost = np.array([c["neuron_update_spike_list"], c["neuron_update_lif"], c["neuron_update_lif"],
                         c["neuron_update_lif_curr_exp"], c["neuron_update_lif_curr_exp"],
                         c["neuron_update_lif_conv2d"]])[m.model]
    base_cycles = c["tick_overhead"] + np.bincount(np.repeat(np.arange(m.n_pe), m.pe_neurons), upd_cost,
                                                  minlength=m.n_pe) + m.mla_macs / (c["mla_macs_per_cycle"]
                                                                               * c["mla_utilisation_conv"])
    budget = spec["tick_s"] * spec["clock_hz"]
    own, n_own = part.own, part.own.size  # this process's neurons: arrays below are over them only
    P = {k: a[own] for k, a in m.params.items()}
    curr, subtract, neuron = m.curr[own], m.subtract[own], neuron[own]
    weights = {d: w[:, own] for d, w in m.weights.items()}
    inh = {d: w[:, own] for d, w in m.inh.items()}
    start = np.array([p["lag"] for p in pops])[m.pop_slice[own]]  # tick each neuron's population starts
    v = np.zeros((B, n_own), np.float32)
    i_exc, i_inh = np.zeros((B, n_own), np.float32), np.zeros((B, n_own), np.float32)
    depth = max(list(m.weights) + list(m.inh) + [1]) + 1
    ring, ring_inh = np.zeros((depth, B, n_own), np.float32), np.zeros((depth, B, n_own), np.float32)
    rec_s = {p: np.zeros((ticks, B, m_size), bool) for p, m_size in _sizes(pops, wanted)}
    rec_v = {p: np.zeros((ticks, B, m_size), np.float32) for p, m_size in _sizes(pops, wanted) if p in rec_volt}
    in_at, in_col = _local(own, in_lo, in_n)
    rec_at = {p: _local(own, m.pop_base[names.index(p)], rec_s[p].shape[2]) for p in rec_s}
    K = m.counts.shape[1]
    n = m.n_pe
    own_cols = np.r_[np.tile(part.own_pe, len(BLOCKS)), np.ones(len(TOTALS), bool)]
    totals = m.counts[:, len(BLOCKS) * n:]
    tot = np.zeros(K)
    pe_cycles = np.zeros(m.n_pe)
    overruns = np.zeros(m.n_pe, np.int64)
    worst = 0.0
    spikes_out = np.zeros(N)
    for t in range(ticks):
        inp_t, ring[t % depth] = ring[t % depth].copy(), 0
        inh_t, ring_inh[t % depth] = ring_inh[t % depth].copy(), 0
        i_exc = np.where(curr, P["exc_decay"] * i_exc + inp_t, 0).astype(np.float32)
        i_inh = np.where(curr, P["inh_decay"] * i_inh + inh_t, 0).astype(np.float32)
        drive = np.where(curr, i_exc + i_inh, inp_t)
        started = t >= start
        v = np.where(started, P["alpha_decay"] * v + drive + P["i_offset"], v)
        s = (v > P["threshold"]) & neuron & started
        v = np.where(s, np.where(subtract, v - P["drop"], P["v_reset"]), v).astype(np.float32)
        if t < x.shape[0]:
            s[:, in_at] = x[t][:, in_col] != 0
        for p, (at, col) in rec_at.items():
            rec_s[p][t][:, col] = s[:, at]
            if p in rec_v:
                rec_v[p][t][:, col] = v[:, at]
        rows, cols = np.nonzero(s)
        mine = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, own[cols])), shape=(B, N))
        ss = part.exchange(mine)  # + the spikes of other ranks' neurons that reach this rank's
        for d, w in weights.items():
            ring[(t + d) % depth] += (ss @ w).toarray()
        for d, w in inh.items():
            ring_inh[(t + d) % depth] += (ss @ w).toarray()
        cnt = (ss @ m.counts).toarray() * own_cols  # (B, K): this rank's PEs; totals of its own spikes:
        if ss is not mine:
            cnt[:, len(BLOCKS) * n:] = (mine @ totals).toarray()
        tot += cnt.sum(0)
        spikes_out += np.asarray(mine.sum(0)).ravel()
        # cycles of tick t+1's receive work are charged to tick t (one tick of skew, immaterial for totals)
        cyc = (base_cycles + cnt[:, _block("row_events", n)] * c["synaptic_event"]
               + cnt[:, _block("received", n)] * c["packet_received"] + cnt[:, _block("sent", n)] * c["packet_sent"])
        cyc = cyc[:, part.own_pe]
        pe_cycles[part.own_pe] += cyc.sum(0)
        overruns[part.own_pe] += (cyc > budget).sum(0)
        worst = max(worst, float(cyc.max(initial=0)))
    rec_s = {p: part.reduce(r, "sum").astype(bool) for p, r in rec_s.items()}
    rec_v = {p: part.reduce(r, "sum") for p, r in rec_v.items()}
    tot, pe_cycles, overruns, spikes_out = (part.reduce(a, "sum") for a in (tot, pe_cycles, overruns, spikes_out))
    worst = float(part.reduce(np.array([worst]), "max")[0])
    res = _result(m, spec, names, wanted, rec_s, rec_v, tot, pe_cycles, overruns, worst, spikes_out, ticks,
                  steps, B, base_cycles, art)
    if not_recorded:
        res.extra["not_recorded"] = not_recorded
    return res


def _local(own: np.ndarray, lo: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions in `own`, offsets from `lo`) of the neurons lo .. lo+size-1 simulated here."""
    at = np.flatnonzero((own >= lo) & (own < lo + size))
    return at, own[at] - lo


def _sizes(pops, wanted):
    return [(p["name"], int(np.prod(p["shape"]))) for p in pops if p["name"] in set(wanted.values())]


def _result(m, spec, names, wanted, rec_s, rec_v, tot, pe_cycles, overruns, worst, spikes_out, ticks, steps, B,
            base_cycles, art) -> Result:
    pops = spec["populations"]
    lag = {p["name"]: p["lag"] for p in pops}
    shape = {p["name"]: tuple(p["shape"]) for p in pops}
    scales = art.npz("host.npz")
    res = Result()
    for req, pop in wanted.items():
        L = lag[pop]
        res.spikes[req] = rec_s[pop][L:L + steps].astype(np.float32).reshape(steps, B, *shape[pop])
        if pop in rec_v:
            chip_v = rec_v[pop][L:L + steps]
            res.v[req] = (chip_v / scales[f"v_scale/{pop}"].astype(np.float32)).reshape(steps, B, *shape[pop])
            res.extra.setdefault("v_chip", {})[req] = chip_v.reshape(steps, B, *shape[pop])
    n = m.n_pe
    c = spec["cost"]
    neuron = m.model != mi.MODELS.index("spike_list")
    row_ev, conv_ev = tot[_total("row_events", n)], tot[_total("conv_events", n)]
    updates = float(neuron.sum()) * ticks * B
    is_input = ~neuron
    in_spikes = float(spikes_out[is_input].sum())
    pkt_recv = tot[_block("received", n)].sum()
    res.counters = {
        "synaptic_events": row_ev + conv_ev, "s2_row_synaptic_events": row_ev, "s2_conv_synaptic_events": conv_ev,
        "neuron_updates": updates, "spikes": float(spikes_out[neuron].sum()), "s2_input_spikes": in_spikes,
        "packets": tot[_total("packets", n)], "hops": tot[_total("noc_hops", n)] + tot[_total("link_hops", n)],
        "s2_link_hops": tot[_total("link_hops", n)],
        "s2_mla_macs": float(m.mla_macs.sum()) * ticks * B,
        "sram_reads": updates * c["sram_words_per_neuron_update"] + row_ev * c["sram_words_per_synaptic_event"]
                      + pkt_recv * c["sram_words_per_packet"],
        "sram_writes": updates + row_ev, "dram_accesses": 0.0,
        "cycles": float(pe_cycles.sum()), "ticks": float(ticks),
        "s2_overhead_cycles": c["tick_overhead"] * n * ticks * B + pkt_recv * c["packet_received"]
                              + tot[_block("sent", n)].sum() * c["packet_sent"],
    }
    pes = m.pes
    for s in range(n):
        (cx, cy), (qx, qy) = pes["chip"][s], pes["qpe"][s]
        res.per_unit[f"chip({cx},{cy})/qpe({qx},{qy})/pe{pes['pe'][s]}"] = {
            "cycles": float(pe_cycles[s]),
            "synaptic_events": float(tot[_block("row_events", n)][s] + tot[_block("conv_events", n)][s]),
            "packets_received": float(tot[_block("received", n)][s]), "neuron_updates": float(m.pe_neurons[s] * ticks * B)
            if neuron[m.neuron_base[s]] else 0.0, "overruns": float(overruns[s])}
    for i, p in enumerate(names):
        sel = m.pop_slice == i
        res.per_layer[p] = {"spikes": float(spikes_out[sel].sum()),
                            "neuron_updates": float(sel.sum()) * ticks * B if pops[i]["model"] != "spike_list" else 0.0}
    chips = {tuple(cc) for cc in pes["chip"].tolist()}
    res.sim_time_s = B * ticks * spec["tick_s"]
    res.extra.update({"engine": "sim", "overruns": int(overruns.sum()), "lag_ticks": lag, "ticks": ticks,
                      "worst_cycles_per_tick": worst, "cycle_budget": spec["tick_s"] * spec["clock_hz"],
                      "units_used": {"chip": len(chips), "pe": n}, "overrun_pes": int((overruns > 0).sum())})
    return res


class SimEngine:
    """The cycle-approximate chip model as an `neurodeploy.backend.Engine` (``sim``)."""

    name = "sim"
    options: tuple[str, ...] = ()

    def run(self, artifact, inputs, *, steps: int | None, record: list[str]) -> Result:
        from . import distributed  # under mpirun: the chips split over the ranks, same result

        if distributed.launched():
            return distributed.run(artifact, inputs, steps=steps, record=record)
        return run(artifact, inputs, steps=steps, record=record)


ENGINE = SimEngine()
