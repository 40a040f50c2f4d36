"""JSON for tools: the whole EnergyReport as plain data; non-finite numbers become null."""
from __future__ import annotations

import json
import math

from ..energy.model import EnergyReport


def _clean(x):
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item"):  # numpy scalar
        return _clean(x.item())
    return x


def as_data(report) -> dict:
    if isinstance(report, EnergyReport):
        return {"kind": "energy_report", **report.to_dict()}
    return {"kind": "target_comparison",
            "targets": [{"target": n, "fits": True if not isinstance(r, str) else
                         (False if r.startswith("does not fit") else None),
                         **({"reason": r} if isinstance(r, str) else {"report": r.to_dict()})}
                        for n, r in report]}


def render(report) -> str:
    return json.dumps(_clean(as_data(report)), indent=1, allow_nan=False) + "\n"
