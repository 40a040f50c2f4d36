"""The sweep's Parquet table: parameter columns (grid order), then `point.RESULTS`; one row per point."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .. import safeio
from ..errors import UsageError
from .point import RESULTS
from .spec import Spec

PARAM_TYPES = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}


def schema(spec: Spec) -> pa.Schema:
    cols = [pa.field(name, _type(name, values)) for name, values in spec.axes.items()]
    return pa.schema(cols + [pa.field(name, getattr(pa, kind)()) for name, kind in RESULTS.items()])


def _type(name: str, values: list) -> pa.DataType:
    kinds = {type(v) for v in values}
    if kinds == {int, float}:
        return pa.float64()
    if len(kinds) != 1:
        raise UsageError(f"axis {name} mixes value types ({', '.join(sorted(k.__name__ for k in kinds))})",
                         hint="write every value of an axis the same way, e.g. all strings")
    return PARAM_TYPES[kinds.pop()]


def write(path: Path, spec: Spec, rows: list[dict]) -> Path:
    """All rows, in row order, written atomically."""
    table = pa.Table.from_pylist(rows, schema=schema(spec))
    return safeio.write_file(path, lambda f: pq.write_table(table, f))


def read(path: str | Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def resources(row: dict) -> dict:
    """The row's design rules (name -> [needed, available]) and units used."""
    return json.loads(row["resources"]) if row.get("resources") else {}
