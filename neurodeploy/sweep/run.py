"""Run a sweep's points on Dask distributed, keep each finished point, and write the table.

Engine: a `distributed.Client` on an embedded `LocalCluster` (one single-threaded worker process per
core; no set-up), or on the scheduler at `--cluster ADDRESS`. The model and input arrays are sent to
the workers once (`scatter`), so workers need no shared file system, only neurodeploy installed.

Resume: each finished point is kept as ``<table>.points/<key>.json`` (written atomically by the
client, as it completes). A re-run reads those and submits only the missing points, so an
interrupted sweep resumes and a finished one costs nothing. Points that failed with an internal
error (exit code 1: a bug, perhaps fixed since) are run again; other failures are results.
"""
from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .. import safeio
from ..errors import TargetError
from . import table
from .point import evaluate
from .spec import Point, Spec

RETRIED_EXIT = 1
DAEMON = "distributed.worker.daemon"


def points_dir(out: Path) -> Path:
    return out.parent / f"{out.name}.points"


def _done(directory: Path, p: Point) -> dict | None:
    try:
        row = json.loads((directory / f"{p.key}.json").read_text())
    except (OSError, ValueError):
        return None
    return None if row.get("exit_code") == RETRIED_EXIT else row


@contextmanager
def client(cluster: str | None, workers: int | None):
    """A Dask client: on `cluster` (a scheduler address), else on a local cluster closed on exit."""
    from distributed import Client, LocalCluster

    if cluster:
        try:
            c = Client(cluster, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise TargetError(f"cannot reach the Dask scheduler: {e}", where=cluster,
                              hint="start one with `dask scheduler` and `dask worker ADDRESS`") from None
        with c:
            yield c
        return
    import dask

    n = workers or os.cpu_count() or 1
    with dask.config.set({DAEMON: False}):  # a point forks (the model reader's probe, ir/probe.py)
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                             silence_logs=logging.ERROR)
    with local, Client(local) as c:
        yield c


def sweep(spec: Spec, *, cluster: str | None = None, workers: int | None = None,
          console: Console | None = None) -> tuple[Path, list[dict]]:
    """Run every missing point of `spec`, write the table; (table path, rows in row order)."""
    from ..cli import _load_input, _load_labels

    safeio.check_output_path(spec.out)
    pts = spec.points()
    keep = points_dir(spec.out)
    keep.mkdir(exist_ok=True)
    rows = {p.key: row for p in pts if (row := _done(keep, p)) is not None}
    todo = [p for p in pts if p.key not in rows]
    if todo:
        model = spec.model.read_bytes()
        arrays = {name: _load_input(str(path)) for name, path in spec.inputs.items()
                  if any(p.params["input"] == name for p in todo)}
        labels = _load_labels(str(spec.labels)) if spec.labels else None
        run = {"steps": spec.steps, "engine": spec.engine, "samples": spec.samples}
        _submit_all(spec, todo, model, arrays, labels, run, cluster, workers, keep, rows, console)
    ordered = [{**p.params, **rows[p.key], "key": p.key, "seed": p.seed} for p in pts]
    return table.write(spec.out, spec, ordered), ordered


def _submit_all(spec, todo, model, arrays, labels, run, cluster, workers, keep, rows, console):
    from distributed import as_completed

    with client(cluster, min(workers or os.cpu_count() or 1, len(todo)) if not cluster else None) as c:
        m, lab = c.scatter(model, broadcast=True), c.scatter(labels, broadcast=True)
        xs = {name: c.scatter(x, broadcast=True) for name, x in arrays.items()}
        futures = {c.submit(evaluate, m, xs[p.params["input"]], lab, p.params, p.seed,
                            {**run, "options": spec.target_options.get(p.params["target"], {})},
                            key=f"nd-point-{p.key}", pure=False): p for p in todo}
        columns = (TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=console or Console(stderr=True)) as bar:
            task = bar.add_task("sweep", total=len(futures))
            for fut in as_completed(futures):
                p = futures[fut]
                try:
                    row = fut.result()
                except Exception as e:  # the worker died (memory, signal): the point's row says so
                    row = {"status": "error", "exit_code": RETRIED_EXIT, "error": f"worker lost: {type(e).__name__}: {e}"}
                safeio.write_file(keep / f"{p.key}.json", json.dumps(row, sort_keys=True).encode())
                rows[p.key] = row
                bar.advance(task)

