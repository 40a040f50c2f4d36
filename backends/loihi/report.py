"""The ``--report`` view of a Loihi artifact: per-core utilization and per-layer quantization error."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table

from neurodeploy.artifact import Artifact

ROLE = "format"  # reads the manifest only


def render(artifact: Artifact) -> Group:
    m = artifact.manifest["loihi"]
    cores = Table(title=f"{artifact.target}: {len(m['cores'])} neurocores on {m['chips']} chip(s)")
    for col in ("core", "population", "neurons", "synapses", "synapse bytes", "input axons", "output axons"):
        cores.add_column(col, justify="right" if col != "population" else "left")
    for r in m["cores"]:
        cores.add_row(str(r["core"]), r["population"], str(r["neurons"]), str(r["synapses"]),
                      str(r["synapse_bytes"]), str(r["input_axons"]), str(r["output_axons"]))
    quant = Table(title=f"quantization (mapping={m['resolved_options']['mapping']}): relative errors")
    for col in ("population", "du", "dv", "vth", "weight groups: rel. error @ exp", "vth err", "dv err", "du err",
                "bias err"):
        quant.add_column(col)
    for name, q in m["quantization"].items():
        groups = ", ".join(f"{src}: {w['rel_error']:.2%} @ {w['weight_exp']}" for src, w in q["weights"].items())
        quant.add_row(name, str(q["du"]), str(q["dv"]), str(q["vth"]), groups, f"{q['vth_error']:.2%}",
                      f"{q['dv_error']:.2%}", f"{q['du_error']:.2%}", f"{q['bias_error']:.2%}")
    return Group(cores, quant, f"netx export: {m['netx']}")
