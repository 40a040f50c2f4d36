"""A short terminal view of an energy report (totals, event breakdown, baseline), printed by the
CLI and the demo; the full report is the json/md/html file."""
from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from ..energy.model import EnergyReport
from . import tables

SHORT = (tables.summary, tables.by_event, tables.baseline)


def _table(sec: tables.Section, drop: tuple[str, ...] = ()) -> Table:
    keep = [i for i, h in enumerate(sec.header) if h not in drop]
    t = Table(title=sec.title, title_justify="left")
    for i in keep:
        t.add_column(sec.header[i] or " ", overflow="fold")
    for row in sec.rows:
        t.add_row(*(escape(str(row[i])) for i in keep))
    return t


def summary(report) -> Group:
    if not isinstance(report, EnergyReport):
        return Group(_table(tables.comparison(report)))
    parts = [f"[bold]Energy estimate: {escape(report.target)}[/] — {escape(report.description)}"]
    for make in SHORT:
        sec = make(report)
        if sec is not None and sec.rows:
            parts.append(_table(sec, drop=("source",)))
    parts += [f"[yellow]warning:[/] {escape(w)}" for w in report.warnings]  # text may hold names
    parts.append("[dim]sources, per-layer and per-unit breakdowns, NeuroBench metrics: see the full report[/]")
    return Group(*parts)
