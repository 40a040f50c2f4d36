"""Design rules, named, each with what the network needs and what the target has (checked before writing).

Pre-placement, in this order: synapse targets per PE (the 8-bit target field), neurons per PE (per
model limit), synaptic row length (the MPT's 8-bit row_length), fan-in per neuron, weight range
(positive and negative ends), delay range, SRAM per PE, tick deadline, PEs. Post-placement: router
entries per chip, SRAM per PE including the routing region, tick deadline including packet sending.
The partitioner keeps slices within the targets field, the model's atoms, the row length and SRAM by
default: those rules fire when ``-O max_atoms_per_core`` asks for more, ``-O atoms_per_core`` fixes a
slicing that does not fit, or one neuron alone does not fit.
"""
from __future__ import annotations

import numpy as np

from neurodeploy.backend import Rule

from . import memimage as mi
from .partition import atoms_key, budget_words, fixed_words

ROLE = "compile"
MAX_ATOMS = "limits.max_atoms_"
SYNAPSE_WORD_MODELS = ("lif", "lif_no_delay", "lif_curr_exp", "lif_curr_exp_no_delay")  # rows of 16-bit words


def pre_placement(net, sl, costs, peaks, target, opts, pes_available: int, w_range: tuple) -> list[Rule]:
    """`w_range`: (most negative, most positive) integer weight of the synapse word in use;
    `pes_available`: PEs of the chip, or of the boards a board target may use."""
    rules = []
    rows = [p for p, q in net.populations.items() if q.model in SYNAPSE_WORD_MODELS]
    if rows:
        worst = max(rows, key=lambda n: sl.atoms[n])
        rules.append(Rule("synapse targets per PE", sl.atoms[worst], target.v("limits.targets_per_pe"), where=worst,
                          hint="the synapse word's target field: lower -O max_atoms_per_core"))
    by_limit: dict[str, list] = {}
    for name, p in net.populations.items():
        by_limit.setdefault(atoms_key(p.model, target), []).append(name)
    for key in sorted(by_limit):
        worst = max(by_limit[key], key=lambda n: sl.atoms[n])
        rules.append(Rule(f"neurons per PE ({key[len(MAX_ATOMS):]})", sl.atoms[worst], target.v(key), where=worst,
                          hint="lower -O max_atoms_per_core"))
    longest = int(np.argmax([c.row_words for c in costs]))
    rules.append(Rule("synaptic row length (words)", costs[longest].row_words, target.v("limits.row_length_words"),
                      where=_label(sl, longest), hint="one source neuron's synapses into one PE (parallel "
                                                      "projections add up): fewer -O atoms_per_core"))
    budget = budget_words(target)
    dense = [p for p in net.projections if p.kind == "dense"]
    if dense:
        fan_in = {}
        for p in dense:
            fan_in[p.post] = fan_in.get(p.post, 0) + np.diff(p.weights.indptr)
        worst = max(fan_in, key=lambda n: fan_in[n].max(initial=0))
        # one neuron alone on a PE: each source needs a row header plus a synapse word, after the fixed regions
        model = net.populations[worst].model
        free = budget - fixed_words(target, model, 1)
        rules.append(Rule("fan-in per neuron", int(fan_in[worst].max(initial=0)),
                          int(free // (mi.ROW_HEADER_WORDS + 1)),
                          where=worst, hint="split the layer's inputs over several populations or sparsify it"))
    if peaks:
        hint = "use -O weight_scaling=per_neuron or a smaller -O weight_scale"
        top = max(peaks, key=lambda k: peaks[k][1])
        low = min(peaks, key=lambda k: peaks[k][0])
        rules.append(Rule("weight range", peaks[top][1], w_range[1], where=top, hint=hint))
        rules.append(Rule("weight range (negative)", abs(peaks[low][0]), -w_range[0], where=low, hint=hint))
    delays = [p.delay for p in net.projections] or [opts.conn_delay]
    rules.append(Rule("delay range", max(max(delays), opts.conn_delay), target.v("limits.delay_max"),
                      hint="chain relay populations for longer delays"))
    rules += budget_rules(sl, [c.words for c in costs], [c.cycles for c in costs], target, opts, budget)
    rules.append(Rule("PEs", len(sl), pes_available, hint="use a bigger target (spinnaker2-48chip, more -O boards) "
                                                         "or fewer, fuller PEs (-O max_atoms_per_core)"))
    return rules


def _label(sl, s: int) -> str:
    return f"{sl.pops[sl.pop_index[s]]}[{sl.start[s]}:{sl.start[s] + sl.n[s]}]"


def budget_rules(sl, words, cycles, target, opts, budget) -> list[Rule]:
    s_mem, s_cyc = int(np.argmax(words)), int(np.argmax(cycles))
    return [Rule("SRAM per PE (bytes)", int(words[s_mem]) * mi.WORD_BYTES, int(budget) * mi.WORD_BYTES,
                 where=_label(sl, s_mem),
                 hint="fewer neurons per PE (-O max_atoms_per_core) or fewer synapses"),
            Rule(f"tick deadline (cycles at activity {opts.activity:g})", int(np.ceil(cycles[s_cyc])),
                 int(opts.tick * opts.clock),
                 where=_label(sl, s_cyc),
                 hint=f"longer -O tick, -O clock={target.v('timing.clock_high'):g}, or fewer neurons per PE")]


def router_rule(entries_per_chip: dict, target) -> Rule:
    """The fullest chip's compressed table against the router's TCAM (only chips with a table: the
    router is used between chips, so only multi-chip targets give its size)."""
    worst = max(entries_per_chip, key=entries_per_chip.get)
    return Rule("router entries per chip", entries_per_chip[worst], target.v("limits.router_entries"),
                where=f"chip{worst}", hint="place communicating populations closer or use larger slices so keys "
                                           "compress")
