"""Energy reports rendered as JSON (tools), Markdown (logs) or self-contained HTML (people).

`render(report, fmt)` takes one `EnergyReport` or a `--target all` comparison (a list of
``(target, EnergyReport | reason)``); `write` puts it in a file atomically.
"""
from __future__ import annotations

from pathlib import Path

from .. import safeio
from ..errors import UsageError
from . import html, jsonfmt, markdown

FORMATS = {"json": jsonfmt.render, "md": markdown.render, "html": html.render}


def render(report, fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"report format {fmt!r} is not one of {', '.join(FORMATS)}")
    return FORMATS[fmt](report)


def write(report, fmt: str, path) -> Path:
    """Render first, then write atomically (`safeio.write_file`: a failure leaves no partial file).
    This library call creates the parent directories; the CLI does not (it refuses a missing one)."""
    text = render(report, fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return safeio.write_file(path, text.encode("utf-8"))
