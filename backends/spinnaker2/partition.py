"""Cut populations into PE-sized slices under the budgets: SRAM, cycles per tick and the MPT's row length.

Every population gets one atoms-per-PE value (like py-spinnaker2's ``set_max_atoms_per_core``):
start at the model's limit (or the user's cap), measure each slice's memory image, its estimated
cycles per tick and its longest synaptic row exactly (synapse rows depend on how the *source*
populations are sliced too), and shrink the populations whose worst slice is over budget until
nothing changes. A population with ``-O atoms_per_core`` keeps it as given (the design rules check it). Slices are numbered
globally in network order; that number is also the PE's routing key prefix.

Dense synapse rows are costed without building them: a slice's SYN_ROW size only needs, per source
PE, its longest row (synapses from one source neuron into the slice), which one counting pass over
the population's weights gives for all slices at once. `memimage.dense_rows` builds the same layout
when the images are written; a test checks the two agree word for word.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurodeploy.errors import TargetError

from . import memimage as mi
from .convert import Network

ROLE = "compile"
# run-time neuron state words beside the image: v, plus I_exc and I_inh for the current models
STATE_WORDS = {"spike_list": 0, "lif_no_delay": 1, "lif": 1, "lif_conv2d": 1, "lif_curr_exp_no_delay": 3,  # format:
               "lif_curr_exp": 3}  # format: (see above)


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
    """Per synapse into slice `s` from its dense projections: (source slice, atom, target, weight, delay),
    ordered by source neuron, then target (the synaptic row order) when no two projections share a source."""
    pop = sl.pops[sl.pop_index[s]]
    a, n = int(sl.start[s]), int(sl.n[s])
    parts = []
    for proj in sorted(_dense(net, pop), key=lambda q: sl.base[q.pre]):
        sub = proj.weights[a:a + n]
        row = np.repeat(np.arange(n, dtype=np.int64), np.diff(sub.indptr))
        # by source neuron, then target; csr rows are sorted runs, which a stable (merge) sort exploits
        order = np.argsort(sub.indices.astype(np.int64) * n + row, kind="stable")
        col, row, w = sub.indices[order], row[order], sub.data[order]
        k = sl.atoms[proj.pre]
        parts.append((sl.base[proj.pre] + col // k, col % k, row, w, np.full(w.size, proj.delay)))
    if not parts:
        return tuple(np.zeros(0, np.int64) for _ in range(5))  # format: a synapse record's five fields
    return tuple(np.concatenate(c) for c in zip(*parts))


def _dense(net: Network, pop: str) -> list:
    return [p for p in net.incoming(pop) if p.kind == "dense"]


def dense_entries(net: Network, sl: Slicing, pop: str):
    """The dense rows into every slice of `pop`, counted not built. Returns per MPT entry (local slice,
    source slice, longest row in synapses) and per local slice the source neurons with a synapse."""
    projs = sorted(_dense(net, pop), key=lambda q: sl.base[q.pre])
    pres = list(dict.fromkeys(q.pre for q in projs))  # in slice order, so source slices grow with the key
    offsets = np.cumsum([0] + [net.populations[q].size for q in pres])
    span, a, count = int(offsets[-1]), sl.atoms[pop], sl.count[pop]
    empty = np.zeros(0, np.int64)
    if not projs:
        return empty, empty, empty, np.zeros(count, np.int64)
    key = np.concatenate([np.repeat(np.arange(q.weights.shape[0], dtype=np.int64) // a * span
                                    + offsets[pres.index(q.pre)], np.diff(q.weights.indptr))
                          + q.weights.indices for q in projs])
    if count * span <= key.size * max(1, key.size.bit_length()):  # a count table is cheaper than sorting
        c = np.bincount(key, minlength=count * span)
        key = np.flatnonzero(c)
        per_neuron = c[key]
    else:
        key, per_neuron = np.unique(key, return_counts=True)
    local, idx = np.divmod(key, span)
    which = np.searchsorted(offsets, idx, side="right") - 1
    k = np.array([sl.atoms[q] for q in pres])[which]
    src = np.array([sl.base[q] for q in pres])[which] + (idx - offsets[which]) // k
    # (no synapse at all, e.g. an all-zero weight layer: no entry, not one spurious first row)
    first = np.flatnonzero(np.r_[key.size > 0, (local[1:] != local[:-1]) | (src[1:] != src[:-1])])
    longest = np.maximum.reduceat(per_neuron, first) if first.size else empty
    return local[first], src[first], longest, np.bincount(local, minlength=count)


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
    row_words: int = 0  # longest synaptic row here (words): the MPT's 8-bit row_length field holds it


def fixed_words(target, model: str, n: int) -> int:
    """Words of an n-neuron slice that do not depend on its synapses or recording: header, ROUTING
    (with the pre-placement reserve), TIMER, GLOBAL, LOG and, for neuron models, MPT_INFO, the
    parameters, the state and the ring buffers."""
    words = mi.HEADER + mi.ROUTING_HEAD + routing_reserve(target) + mi.TIMER_WORDS + mi.GLOBAL_WORDS + mi.LOG_WORDS
    if model == "spike_list":
        return words
    per_neuron = len(mi.param_names(model)) + STATE_WORDS[model] + target.v("memory.ring_buffer_words_per_neuron")
    return words + mi.MPT_INFO_WORDS + n * per_neuron


def population_costs(net: Network, sl: Slicing, pop: str, target, opts, n_ticks: int, recorded: set,
                     voltage: set) -> list[SliceCost]:
    """The cost of every slice of `pop` under slicing `sl`; `recorded`/`voltage`: populations that
    record spikes / membrane voltage."""
    p = net.populations[pop]
    c = target.v
    out = []
    if p.model not in ("spike_list", "lif_conv2d"):
        e_local, e_src, longest, rows = dense_entries(net, sl, pop)
        count = sl.count[pop]
        row_words = np.bincount(e_local, sl.n[e_src] * mi.row_stride(longest), minlength=count)
        entries = np.bincount(e_local, minlength=count)
        row_max = np.zeros(count, np.int64)
        np.maximum.at(row_max, e_local, mi.row_stride(longest))
        starts = np.arange(0, p.size, sl.atoms[pop])
        synapses = sum(np.add.reduceat(np.diff(q.weights.indptr), starts) for q in _dense(net, pop))
        synapses = np.broadcast_to(synapses, (count,))
    for i, s in enumerate(sl.slices_of(pop)):
        n = int(sl.n[s])
        words = fixed_words(target, p.model, n)
        spk, volt = mi.record_words(n, n_ticks, pop in recorded, pop in voltage and p.model != "spike_list")
        words += spk + volt
        syn = ent = nrows = mla = row = 0
        cyc = c("cost.tick_overhead")
        if p.model == "spike_list":
            words += mi.bitfield_words(n) * n_ticks
            cyc += n * c("cost.neuron_update_spike_list")
        else:
            cyc += n * c(f"cost.neuron_update_{p.model.replace('_no_delay', '')}")
            if p.model == "lif_conv2d":
                proj, srcs = conv_sources(net, sl, s)
                kernel = proj.conv["kernel"]
                ci, _, kh, kw = kernel.shape
                syn, ent, nrows = int(proj.weights[int(sl.start[s]):int(sl.start[s]) + n].nnz), srcs.size, int(sl.n[srcs].sum())
                words += len(mi.CONV_FIELDS) + -(-kernel.size // mi.WORD_BYTES)
                mla = n * ci * kh * kw
                cyc += mla / (c("cost.mla_macs_per_cycle") * c("cost.mla_utilisation_conv"))
            else:
                syn, ent, nrows, row = int(synapses[i]), int(entries[i]), int(rows[i]), int(row_max[i])
                words += int(row_words[i])
                cyc += opts.activity * syn * c("cost.synaptic_event")
            words += mi.MPT_ENTRY_WORDS * ent
            cyc += opts.activity * nrows * c("cost.packet_received")
        out.append(SliceCost(int(words), syn, nrows, ent, float(cyc), int(mla), row))
    return out


def routing_reserve(target) -> int:
    """Words budgeted for the routing region before placement: one row per QPE of a chip plus the router."""
    return mi.ROUTING_ENTRY_WORDS * (target.v("limits.qpes") + 1)


def atoms_key(model: str, target) -> str:
    """The target key of a model's neurons-per-PE limit (a no-delay variant shares its model's)."""
    key = f"limits.max_atoms_{model}"
    return key if key in target.quantities else key.replace("_no_delay", "")


def model_limit(target, model: str) -> int:
    """Default atoms per PE: the model's limit, within the synapse word's target field."""
    return min(target.v(atoms_key(model, target)), target.v("limits.targets_per_pe"))


def budget_words(target) -> int:
    """SRAM words a PE's image and run-time state may take: the DTCM window minus stack and heap (the
    rest of the PE's SRAM is the ITCM, which holds the model's program, not network data)."""
    dtcm = target.v("limits.dtcm_per_pe")
    if dtcm + target.v("memory.itcm_per_pe") > target.v("memory.sram_per_pe"):
        raise TargetError(f"target {target.name}: ITCM + DTCM exceed the PE's SRAM", where=str(target.path),
                          hint="check memory.itcm_per_pe, limits.dtcm_per_pe and memory.sram_per_pe")
    return (dtcm - target.v("limits.stack_heap_per_pe")) // mi.WORD_BYTES


def partition(net: Network, target, opts, n_ticks: int, recorded: set, voltage: set) -> tuple[Slicing, list[SliceCost]]:
    """Populations are sized in network order, each shrunk until its worst slice fits, given its
    (already sized) sources; outer passes settle recurrent sources sized later (atoms only shrink,
    so the passes end)."""
    budget = budget_words(target)
    budget_cycles = opts.tick * opts.clock
    row_limit = target.v("limits.row_length_words")
    shrink = target.v("defaults.partition_shrink")  # aim a little below the budget: fewer passes
    atoms, fixed = {}, {name for name in net.populations if opts.atoms_fixed(name) is not None}
    for name, p in net.populations.items():
        cap = opts.atoms_fixed(name) or opts.atoms_cap(name)
        atoms[name] = max(1, min(p.size, cap if cap is not None else model_limit(target, p.model)))
    cache: dict = {}

    def costs_of(sl: Slicing, name: str) -> list[SliceCost]:
        key = (name, atoms[name], tuple(sorted((q.pre, atoms[q.pre]) for q in net.incoming(name))))
        if key not in cache:
            cache[key] = population_costs(net, sl, name, target, opts, n_ticks, recorded, voltage)
        return cache[key]

    changed = True
    while changed:
        changed = False
        for name in net.populations:
            while True:
                sl = Slicing.make(net, atoms)
                mine = costs_of(sl, name)
                over = max(max(c.words / budget, c.cycles / budget_cycles, c.row_words / row_limit) for c in mine)
                if over <= 1 or atoms[name] == 1 or name in fixed:
                    break
                atoms[name] = max(1, min(atoms[name] - 1, int(atoms[name] / over * shrink)))
                changed = True
    sl = Slicing.make(net, atoms)
    return sl, [c for name in net.populations for c in costs_of(sl, name)]
