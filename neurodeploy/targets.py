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

Variants inherit: ``[target] extends = "spinnaker2"`` starts from that file's tables (deep merge,
the variant's keys win); only the differences are written. The parent is looked up beside the
variant, then in `targets/`, so a user's own board file can extend a shipped target.

Every target is checked against a schema when loaded: the core's (`SCHEMA`: the ``[target]`` keys
and the ``energy`` sections every backend shares) plus its backend's
``backends/<backend>/target_schema.toml`` (or a ``target_schema.toml`` beside the file, as for the
baselines). A description with ``backend = "none"`` and no schema beside it is checked against the
core's part only. A schema lists each quantity the code reads with its unit:

    [required]
    "limits.pes" = "PE"                 # dotted key = unit (or a list of accepted units)
    [optional]
    "energy.dynamic.*" = ["pJ", "nJ"]   # * matches one key level

A quantity missing from the schema, a required one missing from the file, a wrong unit, or a
plain number outside ``[target]`` with no ``<key>_source`` string beside it is refused: every
number has a source and every number the code uses is declared.

Limits. A *limit* is a quantity a network can need more of than the target has, so that a network
over it is refused with a named design rule (``ResourceExceeded``: rule, needed, available; exit 4).
Every quantity under ``[limits]`` is one, and so is each width or range elsewhere that the schema's
``[limits]`` table names; that table maps each limit to the rule that checks it:

    [limits]
    "limits.delay_max" = "delay range"               # rule name as ResourceExceeded prints it
    "fixed_point.weight_exp_max" = "loihi.weight_exp"
    "limits.tiles" = ["crossbar_tiles_per_layer", "crossbar_tiles"]   # several rules guard one limit

Numbers the backend rounds or saturates to by design (ADC bits, a saturating state register, a
weight exponent's lower end) are formats, not limits: going past them costs precision, which
``validate`` reports, and is never refused. `Target.limits` lists them; tests/test_limits.py builds
one over-limit network per limit of every target file and requires its rule to fire.
"""
from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import TargetError, UsageError

TARGETS_DIR = Path(__file__).resolve().parent.parent / "targets"
BACKENDS_DIR = Path(__file__).resolve().parent.parent / "backends"
SCHEMA_FILE = "target_schema.toml"
NO_BACKEND = "none"  # a description with no backend (energy-only): only the core schema applies
# The core's part of every schema: energy coefficients are read generically (neurodeploy.energy).
SCHEMA = {"optional": {"energy.dynamic.*": ["fJ", "pJ", "nJ", "uJ", "J"], "energy.static.*": ["uW", "mW", "W"]}}
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
        self.schema = _schema(self)
        _check_schema(self, self.schema)

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

    def limits(self) -> dict[str, tuple[str, ...]]:
        """Each limit (module docstring) -> the design rules that check it; () when none is named."""
        marked = self.schema.get("limits", {})
        keys = [k for k in self.quantities if k.startswith("limits.") or k in marked]
        return {k: tuple(_units(marked[k])) if k in marked else () for k in sorted(keys)}

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
    return Target(path.stem, _read(path), path)


def _schema(t: "Target") -> dict:
    """The core schema merged with the backend's (or the one beside the file)."""
    beside = t.path.parent / SCHEMA_FILE
    path = beside if beside.is_file() else BACKENDS_DIR / t.backend / SCHEMA_FILE
    if t.backend == NO_BACKEND and not beside.is_file():
        return {"required": {}, "optional": dict(SCHEMA["optional"]), "open": True}
    if not path.is_file():
        raise TargetError(f"backend {t.backend!r} has no {SCHEMA_FILE}", where=str(t.path),
                          hint=f"list every quantity the backend reads with its unit in {path}")
    try:
        own = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise TargetError(f"schema is not valid TOML: {e}", where=str(path)) from None
    merged = {part: {**SCHEMA.get(part, {}), **own.get(part, {})} for part in ("required", "optional", "limits")}
    declared = {**merged["required"], **merged["optional"]}
    for key, rule in merged["limits"].items():
        rules = _units(rule) if isinstance(rule, (str, list)) else [None]
        if key not in declared or not rules or not all(isinstance(r, str) and r.strip() for r in rules):
            raise TargetError(f"[limits] entry {key!r} must name a declared quantity and its rules (strings)",
                              where=str(path))
    return merged


def _units(spec) -> list[str]:
    return [spec] if isinstance(spec, str) else list(spec)


def _check_schema(t: "Target", schema: dict) -> None:
    declared = {**schema["optional"], **schema["required"]}
    for key in schema["required"]:
        if key not in t.quantities:
            raise TargetError(f"required quantity {key!r} is missing", where=str(t.path),
                              hint=f"the {t.backend} backend reads it (its {SCHEMA_FILE})")
    for key, q in t.quantities.items():
        spec = declared.get(key)
        if spec is None:
            spec = next((u for pat, u in declared.items() if "*" in pat and fnmatch.fnmatchcase(key, pat)
                         and key.count(".") == pat.count(".")), None)
        if spec is None and schema.get("open"):
            continue
        if spec is None:
            raise TargetError(f"quantity {key!r} is not in the {t.backend} schema", where=str(t.path),
                              hint=f"declare it in the backend's {SCHEMA_FILE}, or remove it if no code reads it")
        if q.unit not in _units(spec):
            raise TargetError(f"{key} has unit {q.unit!r}, the schema says {_units(spec)}",
                              where=str(t.path))
    _check_bare_numbers(t.data, "", t.path)


def _check_bare_numbers(node: dict, prefix: str, path: Path) -> None:
    """A number that is not a quantity (a list such as absent grid positions) needs ``<key>_source``."""
    for key, val in node.items():
        full = f"{prefix}{key}"
        if full == "target":
            continue
        if isinstance(val, dict) and not ("value" in val or "low" in val):
            _check_bare_numbers(val, full + ".", path)
        elif _numeric(val) and not str(node.get(f"{key}_source", "")).strip():
            raise TargetError(f"number {full!r} has no source", where=str(path),
                              hint=f"make it a quantity with a source, or add {key}_source = \"...\"")


def _numeric(val) -> bool:
    if isinstance(val, bool):
        return False
    if isinstance(val, (int, float)):
        return True
    return isinstance(val, list) and any(_numeric(v) for v in val)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and \
            not ("value" in v or "low" in v) else v
    return out


def _read(path: Path, seen: tuple = ()) -> dict:
    """The file's tables with its ``extends`` chain merged in (the variant's keys win)."""
    if path in seen:
        raise TargetError(f"extends loop: {' -> '.join(p.stem for p in seen + (path,))}", where=str(path))
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise TargetError(f"not valid TOML: {e}", where=str(path)) from None
    parent = data.get("target", {}).get("extends")
    if parent is None:
        return data
    ppath = next((d / f"{parent}.toml" for d in (path.parent, TARGETS_DIR)
                  if isinstance(parent, str) and (d / f"{parent}.toml").is_file()), None)
    if ppath is None:
        raise TargetError(f"extends {parent!r}, which is not a target here", where=str(path),
                          hint=f"known targets: {', '.join(available())}")
    base = _read(ppath, seen + (path,))
    merged = _merge(base, data)
    merged["target"] = {k: v for k, v in merged["target"].items() if k != "extends"}
    return merged
