"""A `FidelityReport` (`neurodeploy validate`) as Markdown, JSON or self-contained HTML, and its
terminal summary; the same sections in every format (`report.tables.Section`)."""
from __future__ import annotations

import json
from html import escape

from ..errors import UsageError
from ..fidelity import Comparison, FidelityReport
from . import html, jsonfmt, markdown
from .tables import Section

FORMATS = ("md", "json", "html")
TITLES = {"float": "against the float reference (quantization + mapping)",
          "quantized": "against the reference with the target's quantized parameters (mapping only)"}


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def sections(rep: FidelityReport) -> list[Section]:
    out = []
    for c in (rep.against_float, rep.against_quantized):
        if c is None:
            continue
        rows = [[l.name, "spikes" if l.spiking else "membrane", _pct(l.agreement), _num(l.count_correlation),
                 "never" if l.first_divergence is None else str(l.first_divergence),
                 f"{l.spikes_target} / {l.spikes_reference}" if l.spiking else f"max |dv| {l.max_v_difference:.4g}",
                 str(rep.lag.get(l.name, 0))] for l in c.layers]
        out.append(Section(f"Per layer, {TITLES[c.reference]}",
                           ["layer", "compares", "spike agreement", "count correlation", "first diverging step",
                            "spikes target / reference", "lag (steps)"], rows))
        out.append(Section(f"Output decisions ({rep.output}), {TITLES[c.reference]}", ["measure", "value"],
                           _decision_rows(c)))
    mc = rep.monte_carlo
    if mc:
        out.append(Section(f"Device draws: {mc['samples']} (seed {mc['seed']}, drift time {mc['drift_time']:g} s, "
                           f"effects {', '.join(mc['effects']) or 'none'}), against the ideal devices",
                           ["measure", "mean", "95 % CI of the mean", "2.5-97.5 % of draws"], _draw_rows(mc)))
    return out


MC_MEASURES = (("spike_agreement", "output spike agreement"), ("decision_agreement", "decision agreement"),
               ("accuracy", "accuracy"))


def _draw_rows(mc: dict) -> list[list[str]]:
    rows = [[label, _pct(mc[k]["mean"]), f"{_pct(mc[k]['ci95'][0])} .. {_pct(mc[k]['ci95'][1])}",
             f"{_pct(mc[k]['quantiles95'][0])} .. {_pct(mc[k]['quantiles95'][1])}"]
            for k, label in MC_MEASURES if k in mc]
    if "ideal_accuracy" in mc:
        rows.append(["accuracy, ideal devices", _pct(mc["ideal_accuracy"]), "", ""])
    return rows


def _decision_rows(c: Comparison) -> list[list[str]]:
    rows = [["decision agreement", _pct(c.decision_agreement)],
            ["samples with a clear reference decision", str(c.clear_samples)]]
    if c.accuracy_target is not None:
        rows += [["accuracy, target", _pct(c.accuracy_target)], ["accuracy, reference", _pct(c.accuracy_reference)]]
    return rows


def _header(rep: FidelityReport) -> list[str]:
    return [f"artifact: {rep.artifact}", f"target: {rep.target}, engine: {rep.engine}",
            f"{rep.steps} steps x {rep.batch} samples"] + [f"note: {n}" for n in rep.notes]


def render(rep: FidelityReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"kind": "fidelity_report", **jsonfmt._clean(rep.to_dict())}, indent=2) + "\n"
    if fmt == "md":
        return "\n".join(["# Fidelity", ""] + [f"- {h}" for h in _header(rep)] + [""]
                         + [markdown._table(s) for s in sections(rep)])
    if fmt == "html":
        head = "".join(f"<li>{escape(h)}</li>" for h in _header(rep))
        body = f"<h1>Fidelity</h1><ul>{head}</ul>" + "".join(html._table(s) for s in sections(rep))
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Fidelity: {escape(rep.target)}</title>"
                f"<style>{html.STYLE}</style></head><body>{body}</body></html>\n")
    raise UsageError(f"report format {fmt!r} is not one of {', '.join(FORMATS)}")


def summary(rep: FidelityReport) -> str:
    """A few plain lines for the terminal."""
    lines = []
    for c in (rep.against_float, rep.against_quantized):
        if c is None:
            continue
        layers = ", ".join(f"{l.name} {_pct(l.agreement) if l.spiking else 'r=' + _num(l.count_correlation)}"
                           for l in c.layers)
        acc = f", accuracy {_pct(c.accuracy_target)} (reference {_pct(c.accuracy_reference)})" \
            if c.accuracy_target is not None else ""
        lines.append(f"vs {c.reference} reference: decisions {_pct(c.decision_agreement)} of {c.clear_samples}"
                     f"{acc}; spike agreement per layer: {layers}")
    mc = rep.monte_carlo
    if mc:
        lines.append(f"{mc['samples']} device draws: " + "; ".join(
            f"{label} {_pct(mc[k]['mean'])} (95% CI {_pct(mc[k]['ci95'][0])}..{_pct(mc[k]['ci95'][1])})"
            for k, label in MC_MEASURES if k in mc))
    return "\n".join(lines)
