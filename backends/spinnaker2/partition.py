"""Cut populations into PE-sized slices under both budgets: SRAM and cycles per tick.

Every population gets one atoms-per-PE value (like py-spinnaker2's ``set_max_atoms_per_core``):
start at the model's limit (or the user's cap), measure each slice's memory image and its estimated
cycles per tick exactly (synapse rows depend on how the *source* populations are sliced too), and
shrink the populations whose worst slice is over budget until nothing changes. Slices are numbered
globally in network order; that number is also the PE's routing key prefix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import memimage as mi
from .convert import Network

STATE_WORDS = {"spike_list": 0, "lif_no_delay": 1, "lif": 1, "lif_conv2d": 1, "lif_curr_exp_no_delay": 3,
               "lif_curr_exp": 3}


@dataclass
class Slicing:
    pops: list[str]
    atoms: dict[str, int]
    base: dict[str, int]          # first global slice of each population
    count: dict[str, int]         # slices of each population
    pop_index: np.ndarray         # per slice
    start: np.ndarray             # per slice: first atom
    n: np.ndarray                 # per slice: atoms

    @classmethod
    def make(cls, net: Network, atoms: dict[str, int]) -> "Slicing":
        pops = list(net.populations)
        base, count, pi, st, nn = {}, {}, [], [], []
        total = 0
        for i, name in enumerate(pops):
            size, a = net.populations[name].size, atoms[name]
            starts = np.arange(0, size, a)
            base[name], count[name] = total, starts.size
            total += starts.size
            st.append(starts)
            nn.append(np.minimum(a, size - starts))
            pi.append(np.full(starts.size, i))
        return cls(pops, dict(atoms), base, count, np.concatenate(pi), np.concatenate(st), np.concatenate(nn))

    def __len__(self) -> int:
        return int(self.n.size)

    def slices_of(self, pop: str) -> range:
        return range(self.base[pop], self.base[pop] + self.count[pop])


def synapses_into(net: Network, sl: Slicing, s: int):
    """Per synapse into slice `s` from its dense projections: (source slice, atom, target, weight, delay)."""
    pop = sl.pops[sl.pop_index[s]]
    a, n = int(sl.start[s]), int(sl.n[s])
    parts = []
    for proj in net.incoming(pop):
        if proj.kind != "dense":
            continue
        sub = proj.weights[a:a + n].tocoo()
        k = sl.atoms[proj.pre]
        parts.append((sl.base[proj.pre] + sub.col // k, sub.col % k, sub.row, sub.data,
                      np.full(sub.nnz, proj.delay)))
    if not parts:
        return tuple(np.zeros(0, np.int64) for _ in range(5))
    return tuple(np.concatenate(c) for c in zip(*parts))


def conv_sources(net: Network, sl: Slicing, s: int):
    """For a lif_conv2d slice: (the projection, the source slices its output atoms read)."""
    pop = sl.pops[sl.pop_index[s]]
    proj = next(p for p in net.incoming(pop) if p.kind == "conv2d")
    a, n = int(sl.start[s]), int(sl.n[s])
    cols = np.unique(proj.weights[a:a + n].indices)
    return proj, np.unique(sl.base[proj.pre] + cols // sl.atoms[proj.pre])


@dataclass
class SliceCost:
    words: int          # memory image without the routing-table targets, plus run-time state
    synapses: int
    rows: int           # source neurons with at least one synapse here
    entries: int        # master population table entries
    cycles: float       # estimated cycles per tick at the assumed activity
    mla_macs: int       # MAC-array MACs per tick


def slice_cost(net: Network, sl: Slicing, s: int, target, opts, n_ticks: int, recorded: set) -> SliceCost:
    pop = sl.pops[sl.pop_index[s]]
    p = net.populations[pop]
    n = int(sl.n[s])
    c = target.v
    words = mi.HEADER + 3 + routing_reserve(target) + 2 + 7 + 2 + mi.LOG_WORDS
    spk, volt = mi.record_words(n, n_ticks, pop in recorded, pop in recorded and p.model != "spike_list"
                                and pop in net.outputs.values())
    words += spk + volt
    synapses = rows = entries = mla = 0
    cyc = c("cost.tick_overhead")
    if p.model == "spike_list":
        words += (n + 31) // 32 * n_ticks
        cyc += n * c("cost.neuron_update_spike_list")
    else:
        words += n * (len(mi.param_names(p.model)) + STATE_WORDS[p.model]) + n * c("memory.ring_buffer_words_per_neuron")
        cyc += n * c(f"cost.neuron_update_{p.model.replace('_no_delay', '')}")
        if p.model == "lif_conv2d":
            proj, srcs = conv_sources(net, sl, s)
            kernel = proj.conv["kernel"]
            entries = srcs.size
            words += len(mi.CONV_FIELDS) + -(-kernel.size // 4)
            synapses = int(proj.weights[int(sl.start[s]):int(sl.start[s]) + n].nnz)
            ci, _, kh, kw = kernel.shape
            mla = n * ci * kh * kw
            cyc += mla / (c("cost.mla_macs_per_cycle") * c("cost.mla_utilisation_conv"))
            rows = int(sum(sl.n[srcs]))
        else:
            src, atom, tgt, w, d = synapses_into(net, sl, s)
            ent, addr, stride, rw = mi.dense_rows(src, atom, tgt, w, d, sl.n, opts.conn_delay > 0)
            entries, synapses = ent.size, src.size
            words += rw.size
            rows = np.unique(src.astype(np.int64) * 256 + atom).size
            cyc += opts.activity * synapses * c("cost.synaptic_event")
        words += 3 * entries
        cyc += opts.activity * rows * c("cost.packet_received")
    return SliceCost(int(words), int(synapses), int(rows), int(entries), float(cyc), int(mla))


def routing_reserve(target) -> int:
    """Words budgeted for the routing region before placement: one row per QPE of a chip plus the router."""
    return 5 * (target.v("limits.qpes") + 1)


def model_limit(target, model: str) -> int:
    key = f"limits.max_atoms_{model}"
    if key not in target.quantities:  # the no-delay variant shares its model's limit
        key = key.replace("_no_delay", "")
    return min(target.v(key), target.v("limits.targets_per_pe"))


def partition(net: Network, target, opts, n_ticks: int, recorded: set) -> tuple[Slicing, list[SliceCost]]:
    """Populations are sized in network order, each shrunk until its worst slice fits, given its
    (already sized) sources; a few outer passes settle recurrent sources sized later."""
    budget_words = (target.v("limits.dtcm_per_pe") - target.v("limits.stack_heap_per_pe")) // 4
    budget_cycles = opts.tick * opts.clock
    atoms = {}
    for name, p in net.populations.items():
        cap = opts.atoms_cap(name)
        atoms[name] = max(1, min(p.size, cap if cap is not None else model_limit(target, p.model)))
    cache: dict = {}

    def costs_of(sl: Slicing, name: str) -> list[SliceCost]:
        srcs = tuple(sorted((q.pre, atoms[q.pre]) for q in net.incoming(name)))
        out = []
        for s in sl.slices_of(name):
            key = (s - sl.base[name], name, atoms[name], srcs)
            if key not in cache:
                cache[key] = slice_cost(net, sl, s, target, opts, n_ticks, recorded)
            out.append(cache[key])
        return out

    for _ in range(10):
        changed = False
        for name in net.populations:
            while True:
                sl = Slicing.make(net, atoms)
                mine = costs_of(sl, name)
                over = max(max(c.words / budget_words, c.cycles / budget_cycles) for c in mine)
                if over <= 1 or atoms[name] == 1:
                    break
                atoms[name] = max(1, min(atoms[name] - 1, int(atoms[name] / over * 0.95)))
                changed = True
        if not changed:
            break
    sl = Slicing.make(net, atoms)
    return sl, [c for name in net.populations for c in costs_of(sl, name)]
