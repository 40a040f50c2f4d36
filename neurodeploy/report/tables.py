"""The report's content as plain sections (title, header, rows), shared by Markdown and HTML so
both say exactly the same thing."""
from __future__ import annotations

from dataclasses import dataclass

from ..energy.model import EnergyReport, Joules

PREFIXES = ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ"), (1e-12, "pJ"), (1e-15, "fJ"))


@dataclass
class Section:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


def joules(x: float) -> str:
    if x == 0:
        return "0 J"
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    for k, unit in PREFIXES:
        if abs(x) >= k * (1 - 1e-9):
            return f"{x / k:.3g} {unit}"
    return f"{x / 1e-15:.3g} fJ"


def span(e: Joules | None) -> str:
    """'point (low – high)', or just the point when the range is exact."""
    if e is None:
        return "n/a"
    low, high = joules(e.low), joules(e.high)
    return joules(e.point) if low == high else f"{joules(e.point)} ({low} – {high})"


def ratio(r: Joules | None) -> str:
    if r is None:
        return "n/a"
    low, high = f"{r.low:.3g}", f"{r.high:.3g}"
    return f"{r.point:.3g}×" if low == high else f"{r.point:.3g}× ({low} – {high})"


def num(x) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:.4g}"


def summary(rep: EnergyReport) -> Section:
    rows = [["total", span(rep.total)], ["dynamic", span(rep.dynamic)], ["static", span(rep.static)],
            [f"per inference ({num(rep.inferences)} in this run)", span(rep.per_inference)],
            ["per time step (one sample)", span(rep.per_step)]]
    if rep.per_token is not None:
        rows.append(["per token", span(rep.per_token)])
    rows += [["time steps × batch", f"{num(rep.steps)} × {num(rep.batch)}"],
             ["simulated run time", f"{rep.sim_time_s:.6g} s"]]
    if rep.accuracy is not None:
        rows.append(["accuracy (labels)", f"{rep.accuracy:.4f}"])
    return Section("Totals (point, low – high)", ["quantity", "energy"], rows)


def by_event(rep: EnergyReport) -> Section:
    whole = rep.total.point or 1.0
    rows = []
    for line in list(rep.by_event.values()) + list(rep.static_lines.values()):
        c = line.coefficient
        coef = f"{c.low / (1e-12 if c.kind == 'dynamic' else 1e-3):.4g}"
        if c.low != c.high:
            coef += f" – {c.high / (1e-12 if c.kind == 'dynamic' else 1e-3):.4g}"
        coef += " pJ/event" if c.kind == "dynamic" else " mW/unit"
        count = num(line.count) if c.kind == "dynamic" else f"{line.count:.4g} unit·s"
        rows.append([line.name, count, coef, span(line.energy), f"{100 * line.energy.point / whole:.3g} %",
                     c.confidence, c.source])
    return Section("Breakdown by event type", ["event", "count", "coefficient", "energy", "share",
                                                "confidence", "source"], rows)


def per_layer(rep: EnergyReport) -> Section:
    rows = [[layer, span(sum(parts.values(), Joules())),
             ", ".join(f"{k} {num(v)}" for k, v in sorted(rep.layer_counters.get(layer, {}).items()))]
            for layer, parts in rep.per_layer.items()]
    return Section("Per layer", ["layer", "dynamic energy", "counted events"], rows,
                   "" if rows else "the target simulator reported no per-layer counters")


def per_unit(rep: EnergyReport) -> Section:
    rows = [[unit, span(e), ", ".join(f"{k} {num(v)}" for k, v in sorted(rep.unit_counters.get(unit, {}).items()))]
            for unit, e in rep.per_unit.items()]
    return Section("Per core / PE / tile", ["unit", "dynamic energy", "counted events"], rows,
                   "" if rows else "the target simulator reported no per-unit counters")


def neurobench(rep: EnergyReport) -> Section | None:
    nb = rep.neurobench
    if nb is None:
        return None
    ops = nb.get("SynapticOperations") or {}
    rows = [["Footprint (bytes)", num(nb["Footprint"])],
            ["  of which synapses / neurons", f"{num(nb['footprint_synapses'])} / {num(nb['footprint_neurons'])}"],
            ["ConnectionSparsity", f"{nb['ConnectionSparsity']:.4f}"],
            ["ActivationSparsity", "n/a" if nb["ActivationSparsity"] is None else f"{nb['ActivationSparsity']:.4f}"],
            ["SynapticOperations Dense (per sample)", num(ops.get("Dense"))],
            ["SynapticOperations Effective_MACs", num(ops.get("Effective_MACs"))],
            ["SynapticOperations Effective_ACs", num(ops.get("Effective_ACs"))]]
    return Section("NeuroBench metrics (NeuroBench 2.3 definitions)", ["metric", "value"], rows,
                   "; ".join(nb.get("notes", [])))


def baseline(rep: EnergyReport) -> Section | None:
    b = rep.baseline
    if b is None:
        return None
    rows = [[d["label"], f"{d['mac_pJ']:.4g}", span(d["energy"]), ratio(d.get("ratio")),
             d["mac_confidence"], d["mac_source"]] for d in b["devices"].values()]
    note = (f"dense run: {num(b['dense_macs'])} MACs + {num(b['neuron_updates'])} neuron updates "
            f"({num(b['steps'])} steps × {num(b['batch'])} samples); ratio = baseline / this target")
    return Section("Conventional baseline (same network, dense, every step)",
                   ["device", "pJ/MAC", "energy", "ratio", "confidence", "source"], rows, note)


def counted(rep: EnergyReport) -> Section:
    rows = [["not priced (counted, no coefficient)", ", ".join(rep.not_priced) or "none"],
            ["not modelled (coefficient, not counted)", ", ".join(rep.not_modelled) or "none"]]
    return Section("What is and is not counted", ["", ""], rows)


def sections(rep: EnergyReport) -> list[Section]:
    parts = [summary(rep), by_event(rep), per_layer(rep), per_unit(rep), neurobench(rep), baseline(rep), counted(rep)]
    return [s for s in parts if s is not None]


def comparison(rows: list[tuple[str, EnergyReport | str]]) -> Section:
    out = []
    for name, rep in rows:
        if isinstance(rep, str):
            out.append([name, "no" if rep.startswith("does not fit") else "not run", "", "", "", rep])
            continue
        gpu = (rep.baseline or {}).get("devices", {}).get("gpu_titan_black", {}).get("ratio")
        out.append([name, "yes", span(rep.per_inference), span(rep.dynamic), ratio(gpu),
                    "; ".join(rep.warnings)])
    return Section("Targets compared", ["target", "fits", "energy per inference", "dynamic (run)",
                                        "GPU baseline / target", "notes"], out)
