"""Design rules, named, each with what the network needs and what the target has (checked before writing).

Pre-placement: neurons per PE (per model), fan-in per neuron, weight range, delay range, SRAM per PE,
tick deadline, PEs. Post-placement: router entries per chip, SRAM per PE including the routing
region, tick deadline including packet sending.
"""
from __future__ import annotations

import numpy as np

from neurodeploy.backend import Rule

from . import memimage as mi
from .partition import fixed_words, model_limit

ROLE = "compile"


def budget_words(target) -> int:
    """SRAM words a PE's image and run-time state may take: DTCM minus stack and heap."""
    return (target.v("limits.dtcm_per_pe") - target.v("limits.stack_heap_per_pe")) // mi.WORD_BYTES


def pre_placement(net, sl, costs, peaks, target, opts, geo, board_target: bool, w_max: int) -> list[Rule]:
    rules = []
    for model in sorted({p.model for p in net.populations.values()}):
        pops = [n for n, p in net.populations.items() if p.model == model]
        worst = max(pops, key=lambda n: sl.atoms[n])
        rules.append(Rule(f"neurons per PE ({model})", sl.atoms[worst], model_limit(target, model), where=worst,
                          hint="lower -O max_atoms_per_core"))
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
        worst = max(peaks, key=peaks.get)
        rules.append(Rule("weight range", peaks[worst], w_max, where=worst,
                          hint="use -O weight_scaling=per_neuron or a smaller -O weight_scale"))
    delays = [p.delay for p in net.projections] or [opts.conn_delay]
    rules.append(Rule("delay range", max(max(delays), opts.conn_delay), target.v("limits.delay_max"),
                      hint="chain relay populations for longer delays"))
    rules += budget_rules(sl, [c.words for c in costs], [c.cycles for c in costs], target, opts, budget)
    if not board_target:
        rules.append(Rule("PEs", len(sl), geo.usable_pes, hint="use a bigger target (spinnaker2-48chip) or fewer, "
                                                              "fuller PEs (-O max_atoms_per_core)"))
    return rules


def budget_rules(sl, words, cycles, target, opts, budget) -> list[Rule]:
    s_mem, s_cyc = int(np.argmax(words)), int(np.argmax(cycles))
    return [Rule("SRAM per PE (bytes)", int(words[s_mem]) * mi.WORD_BYTES, int(budget) * mi.WORD_BYTES,
                 where=f"{sl.pops[sl.pop_index[s_mem]]}[{sl.start[s_mem]}:{sl.start[s_mem] + sl.n[s_mem]}]",
                 hint="fewer neurons per PE (-O max_atoms_per_core) or fewer synapses"),
            Rule(f"tick deadline (cycles at activity {opts.activity:g})", int(np.ceil(cycles[s_cyc])),
                 int(opts.tick * opts.clock),
                 where=f"{sl.pops[sl.pop_index[s_cyc]]}[{sl.start[s_cyc]}:{sl.start[s_cyc] + sl.n[s_cyc]}]",
                 hint=f"longer -O tick, -O clock={target.v('timing.clock_high'):g}, or fewer neurons per PE")]


def router_rule(entries_per_chip: dict, target) -> Rule:
    worst = max(entries_per_chip, key=entries_per_chip.get) if entries_per_chip else None
    return Rule("router entries per chip", entries_per_chip.get(worst, 0), target.v("limits.router_entries"),
                where=f"chip{worst}" if worst else "", hint="place communicating populations closer or use "
                                                            "larger slices so keys compress")
