"""The `--report` table: per-PE and per-chip utilization from the artifact's manifest summary."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Group
from rich.table import Table

ROLE = "compile"
PER_PE_ROWS = 40  # format: table layout, not hardware: a long network prints its first rows per PE, then the per-chip totals


def report(artifact):
    info = artifact.manifest["spinnaker2"]
    pe = info["per_pe"]
    t = Table(title=f"SpiNNaker 2 per PE ({info['pes']} PEs, {info['chips']} chip(s), {info['boards']} board(s))")
    for col in ("PE", "population", "neurons", "synapses", "SRAM bytes", "routing targets", "cycles/tick"):
        t.add_column(col, justify="left" if col in ("PE", "population") else "right")
    n = len(pe["label"])
    for i in range(min(n, PER_PE_ROWS)):
        t.add_row(pe["label"][i], pe["population"][i], str(pe["neurons"][i]), str(pe["synapses"][i]),
                  str(pe["sram_bytes"][i]), str(pe["routing_targets"][i]), str(pe["cycles_per_tick"][i]))
    if n > PER_PE_ROWS:
        t.add_row(f"... {n - PER_PE_ROWS} more", "", "", "", "", "", "")
    chips = defaultdict(lambda: {"pes": 0, "neurons": 0, "synapses": 0, "sram_bytes": 0, "cycles": 0})
    for i, label in enumerate(pe["label"]):
        c = chips[label.split("/")[0]]
        c["pes"] += 1
        for k in ("neurons", "synapses", "sram_bytes"):
            c[k] += pe[k][i]
        c["cycles"] = max(c["cycles"], pe["cycles_per_tick"][i])
    ct = Table(title="per chip")
    for col in ("chip", "PEs", "neurons", "synapses", "SRAM bytes", "router entries", "max cycles/tick"):
        ct.add_column(col, justify="left" if col == "chip" else "right")
    for chip, c in chips.items():
        pes, neu, syn, mem, cyc = c.values()
        key = chip[len("chip("):-1]
        ct.add_row(chip, str(pes), str(neu), str(syn), str(mem), str(info["router_entries"].get(key, 0)), str(cyc))
    rules = Table(title="design rules")
    for col in ("rule", "needed", "available", "where", "ok"):
        rules.add_column(col)
    for r in info["rules"]:
        rules.add_row(r["name"], f"{r['needed']:g}", f"{r['available']:g}", r["where"], "yes" if r["ok"] else "NO")
    return Group(t, ct, rules)
