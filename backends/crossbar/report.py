"""The crossbar report: per layer tiles, utilization, weight error, ADC step and a DRC table."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table

from neurodeploy.artifact import Artifact

from . import layout

ROLE = "backend"


def drc(spec: dict) -> list[tuple[str, str, str, str]]:
    """(layer, rule, value, verdict) rows: what the compile checked and what a run should know."""
    rows = []
    total = sum(len(lay["row_blocks"]) * len(lay["col_blocks"]) for lay in spec["layers"])
    for lay in spec["layers"]:
        tiles = len(lay["row_blocks"]) * len(lay["col_blocks"])
        rows.append((lay["name"], "tiles", f"{tiles} (network {total})", "ok"))
        lsb = lay["adc_lsb"]
        rows.append((lay["name"], "ADC step <= 1 level", f"{lsb:.3g} levels",
                     "ok" if lsb <= 1 else "ADC quantization coarser than one level (effect 'adc')"))
        err = lay["weights"].get("rel_rms_error", 0.0)
        rows.append((lay["name"], "weight error (rel. RMS)", f"{err:.3g}", "ok"))
        zeroed = lay["weights"].get("zeroed", 0)
        rows.append((lay["name"], "weights rounded to 0", str(zeroed), "ok" if not zeroed else "lost synapses"))
    return rows


def render(artifact: Artifact):
    spec, _ = layout.read(artifact)
    t = Table(title=f"crossbar: {artifact.target}")
    for col in ("layer", "kind", "rows x neurons", "tiles", "utilization", "weight error", "reservoir"):
        t.add_column(col)
    R, C = spec["tile"]["rows"], spec["tile"]["cols"]
    for lay in spec["layers"]:
        tiles = len(lay["row_blocks"]) * len(lay["col_blocks"])
        used = lay["rows"] * 2 * lay["size"] / (tiles * R * C) if tiles else 0.0
        t.add_row(lay["name"], lay["kind"], f"{lay['rows']} x {lay['size']}", str(tiles), f"{used:.1%}",
                  f"{lay['weights'].get('rel_rms_error', 0.0):.3g}", "yes" if lay["reservoir"] else "")
    d = Table(title="design rules")
    for col in ("layer", "rule", "value", "verdict"):
        d.add_column(col)
    for row in drc(spec):
        d.add_row(*row)
    return Group(t, d)
