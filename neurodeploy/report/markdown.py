"""Markdown for logs: the assumptions header, then every section as a table."""
from __future__ import annotations

from ..energy.model import EnergyReport
from . import tables


def _cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _table(sec: tables.Section) -> str:
    out = [f"### {sec.title}", ""]
    if sec.rows:
        out.append("| " + " | ".join(sec.header) + " |")
        out.append("|" + "---|" * len(sec.header))
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in sec.rows]
    if sec.note:
        out += ["", f"_{sec.note}_"]
    return "\n".join(out) + "\n"


def _one(rep: EnergyReport, level: str = "#") -> str:
    out = [f"{level} Energy estimate: {rep.target}", "", rep.description, "", "**Assumptions**", ""]
    out += [f"- {k}: {v}" for k, v in rep.assumptions.items()]
    out += [""] + [f"> **warning:** {w}" for w in rep.warnings]
    out += [_table(s) for s in tables.sections(rep)]
    return "\n".join(out)


def render(report) -> str:
    if isinstance(report, EnergyReport):
        return _one(report)
    out = ["# Energy across targets", "", _table(tables.comparison(report))]
    out += [_one(r, "##") for _, r in report if not isinstance(r, str)]
    return "\n".join(out)
