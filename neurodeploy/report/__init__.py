"""Energy reports rendered as JSON (tools), Markdown (logs) or self-contained HTML (people).

`render(report, fmt)` takes one `EnergyReport` or a `--target all` comparison (a list of
``(target, EnergyReport | reason)``); `write` puts it in a file atomically.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import UsageError
from . import html, jsonfmt, markdown

FORMATS = {"json": jsonfmt.render, "md": markdown.render, "html": html.render}


def render(report, fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"report format {fmt!r} is not one of {', '.join(FORMATS)}")
    return FORMATS[fmt](report)


def write(report, fmt: str, path) -> Path:
    """Render first, then write via a temp file and rename: a failure leaves no partial file."""
    text = render(report, fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
