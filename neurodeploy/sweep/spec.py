"""The sweep file (TOML) read into an ordered list of content-addressed points.

A point's key is the SHA-256 of what decides its result: the model file's bytes, the input (and
labels) file's bytes, the run settings and the point's parameters. Its seed is derived from that key,
so a point draws the same devices wherever and whenever it runs, and two points never share a seed
by accident. The grid order (axes as written, last axis fastest) is the table's row order.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import UsageError
from ..semantics import Semantics

SEMANTICS = tuple(f.name for f in fields(Semantics))
RUN_KEYS = ("model", "labels", "steps", "engine", "samples", "replicates", "out", "options")
AXES = ("target", "input", "drift_time", "options", "semantics")
SEED_BITS = 63


@dataclass(frozen=True)
class Point:
    key: str
    seed: int
    params: dict  # column -> value, in column order


@dataclass
class Spec:
    path: Path
    model: Path
    labels: Path | None
    steps: int | None
    engine: str | None
    samples: int | None
    out: Path
    target_options: dict[str, dict[str, str]] = field(default_factory=dict)  # fixed -O options per target
    axes: dict[str, list] = field(default_factory=dict)  # column -> values, in grid order
    inputs: dict[str, Path] = field(default_factory=dict)  # input name as written -> file

    def points(self) -> list[Point]:
        """Every point of the grid, in row order."""
        digests = {"model": _sha(self.model), "labels": _sha(self.labels) if self.labels else None,
                   "inputs": {name: _sha(p) for name, p in self.inputs.items()}}
        run = {"steps": self.steps, "engine": self.engine, "samples": self.samples}
        cols = list(self.axes)
        out = []
        for combo in itertools.product(*self.axes.values()):
            params = dict(zip(cols, combo))
            what = {"model": digests["model"], "labels": digests["labels"],
                    "input": digests["inputs"][params["input"]], "run": run, "params": params,
                    "options": self.target_options.get(params["target"], {})}
            key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()
            out.append(Point(key, seed_of(key), params))
        return out


def seed_of(key: str) -> int:
    """The point's seed: the key's leading bits (a non-negative 63-bit integer, as `-O seed=` takes)."""
    return int(key, 16) >> (len(key) * 4 - SEED_BITS)


def _sha(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}", where=str(path)) from None


def _values(axis: str, v, where: str) -> list:
    values = v if isinstance(v, list) else [v]
    if not values:
        raise UsageError(f"axis {axis} has no value", where=where, hint="give a value or a non-empty list")
    if len(set(map(json.dumps, values))) != len(values):
        raise UsageError(f"axis {axis} repeats a value: {values}", where=where)
    for x in values:
        if not isinstance(x, (str, int, float, bool)):
            raise UsageError(f"axis {axis} has a value that is not a string or number: {x!r}", where=where)
    return values


def _positive(table: dict, key: str, where: str) -> int | None:
    v = table.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise UsageError(f"[sweep] {key} must be a positive integer, got {v!r}", where=where)
    return v


def load(path: str | Path, *, out: str | Path | None = None) -> Spec:
    """Read and check a sweep file; relative paths in it are relative to the file."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except OSError as e:
        raise UsageError(f"cannot read the sweep file: {e.strerror}", where=str(p)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"the sweep file is not valid TOML: {e}", where=str(p)) from None
    where = str(p)
    unknown = sorted(set(doc) - {"sweep", "grid"})
    if unknown:
        raise UsageError(f"unknown table(s) {', '.join(unknown)}", where=where, hint="tables: [sweep], [grid]")
    run, grid = doc.get("sweep", {}), doc.get("grid", {})
    bad = sorted(set(run) - set(RUN_KEYS))
    if bad:
        raise UsageError(f"[sweep] has unknown key(s) {', '.join(bad)}", where=where, hint=f"keys: {', '.join(RUN_KEYS)}")
    bad = sorted(set(grid) - set(AXES))
    if bad:
        raise UsageError(f"[grid] has unknown axis {', '.join(bad)}", where=where, hint=f"axes: {', '.join(AXES)}")
    for need, table in (("model", run), ("target", grid), ("input", grid)):
        if need not in table:
            raise UsageError(f"the sweep file names no {need}", where=where,
                             hint=f"add {need} = ... under [{'sweep' if table is run else 'grid'}]")
    for key in ("model", "labels", "engine", "out"):
        if key in run and not isinstance(run[key], str):
            raise UsageError(f"[sweep] {key} must be a string, got {run[key]!r}", where=where)
    base = p.parent
    spec = Spec(path=p, model=base / str(run["model"]), labels=base / str(run["labels"]) if "labels" in run else None,
                steps=_positive(run, "steps", where), engine=run.get("engine"), samples=_positive(run, "samples", where),
                out=Path(out) if out else base / str(run.get("out", p.with_suffix(".parquet").name)))
    fixed = run.get("options", {})
    if not isinstance(fixed, dict) or not all(isinstance(t, dict) for t in fixed.values()):
        raise UsageError("[sweep.options] must hold one table per target: [sweep.options.TARGET] KEY = VALUE",
                         where=where)
    spec.target_options = {t: {k: str(v) for k, v in o.items()} for t, o in fixed.items()}
    spec.axes["target"] = [str(t) for t in _values("target", grid["target"], where)]
    names = [str(i) for i in _values("input", grid["input"], where)]
    spec.inputs = {n: base / n for n in names}
    spec.axes["input"] = names
    for section, prefix in (("options", "O."), ("semantics", "semantics.")):
        table = grid.get(section, {})
        if not isinstance(table, dict):
            raise UsageError(f"[grid.{section}] must be a table of KEY = [values]", where=where)
        if section == "semantics" and set(table) - set(SEMANTICS):
            raise UsageError(f"[grid.semantics] has unknown field(s) {', '.join(sorted(set(table) - set(SEMANTICS)))}",
                             where=where, hint=f"fields: {', '.join(SEMANTICS)}")
        for k, v in table.items():
            if section == "options" and k in ("steps", "seed"):
                raise UsageError(f"[grid.options] {k} is set by the sweep ([sweep] steps; seeds from the point key)",
                                 where=where)
            spec.axes[prefix + k] = [str(x) for x in _values(f"{section}.{k}", v, where)] if section == "options" \
                else _values(f"{section}.{k}", v, where)
    if "drift_time" in grid:
        drift = _values("drift_time", grid["drift_time"], where)
        if not all(isinstance(t, (int, float)) and not isinstance(t, bool) and t >= 0 for t in drift):
            raise UsageError(f"[grid] drift_time must be seconds >= 0, got {drift}", where=where)
        spec.axes["drift_time"] = [float(t) for t in drift]
    spec.axes["replicate"] = list(range(_positive(run, "replicates", where) or 1))
    return spec
