"""Target descriptions: `targets/<name>.toml`, data not code (ARCHITECTURE principle 3).

Every number is a *quantity*: an inline table with ``value`` (or ``low``/``high`` for a range),
``unit``, ``source`` and ``confidence`` (src | code | doc | 2nd | derived | estimate | unverified).
A number with no published source says so: ``source = "none published: <why this value>"`` and
``confidence = "estimate"``. The loader refuses a quantity without a source.

    [target]
    name = "spinnaker2"
    backend = "spinnaker2"           # package under neurodeploy.backends
    description = "..."
    [limits]
    pes = { value = 152, unit = "PE", source = "...", confidence = "code" }
    [energy]
    synaptic_event = { low = 10, high = 450, unit = "pJ", source = "...", confidence = "2nd" }
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import TargetError, UsageError

TARGETS_DIR = Path(__file__).resolve().parent.parent / "targets"
CONFIDENCE = ("src", "code", "doc", "2nd", "derived", "estimate", "unverified", "measured")


@dataclass(frozen=True)
class Quantity:
    low: float
    high: float
    unit: str
    source: str
    confidence: str

    @property
    def value(self) -> float:
        """Point value: the stated value, or the geometric middle of a range."""
        if self.low == self.high:
            return self.low
        if self.low > 0:
            return (self.low * self.high) ** 0.5
        return (self.low + self.high) / 2


class Target:
    """A loaded target description; `q("limits.pes")` gives a `Quantity`, `v(...)` its value."""

    def __init__(self, name: str, data: dict, path: Path):
        self.name, self.data, self.path = name, data, path
        self.quantities: dict[str, Quantity] = {}
        _collect(data, "", self.quantities, path)
        meta = data.get("target", {})
        if "backend" not in meta:
            raise TargetError(f"[target] table has no 'backend' key", where=str(path))
        self.backend: str = meta["backend"]
        self.description: str = meta.get("description", "")

    def q(self, key: str) -> Quantity:
        try:
            return self.quantities[key]
        except KeyError:
            raise TargetError(f"target {self.name} has no quantity {key!r}", where=str(self.path)) from None

    def v(self, key: str):
        val = self.q(key).value
        return int(val) if float(val).is_integer() else val

    def get(self, key: str, default=None):
        """A plain (non-quantity) setting, dotted path, e.g. ``get("target.chips")``."""
        node = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def section(self, prefix: str) -> dict[str, Quantity]:
        p = prefix.rstrip(".") + "."
        return {k[len(p):]: q for k, q in self.quantities.items() if k.startswith(p)}


def _collect(node: dict, prefix: str, out: dict, path: Path) -> None:
    for key, val in node.items():
        full = f"{prefix}{key}"
        if isinstance(val, dict) and ("value" in val or "low" in val):
            if not str(val.get("source", "")).strip():
                raise TargetError(f"quantity {full!r} has no source", where=str(path))
            conf = val.get("confidence", "unverified")
            if conf not in CONFIDENCE:
                raise TargetError(f"quantity {full!r} has confidence {conf!r}, not one of {CONFIDENCE}",
                                  where=str(path))
            low = val.get("low", val.get("value"))
            high = val.get("high", val.get("value"))
            out[full] = Quantity(float(low), float(high), str(val.get("unit", "")), val["source"], conf)
        elif isinstance(val, dict):
            _collect(val, full + ".", out, path)


def available() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def load(name_or_path: str) -> Target:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = TARGETS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise UsageError(f"unknown target {name_or_path!r}", hint=f"known targets: {', '.join(available()) or 'none'}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise TargetError(f"not valid TOML: {e}", where=str(path)) from None
    return Target(path.stem, data, path)
