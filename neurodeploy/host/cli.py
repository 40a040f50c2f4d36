"""The hooks `neurodeploy compile` and `neurodeploy run` call for split models (kept here so the
CLI changes by a few lines).

- ``compile``: when the target cannot take the whole graph (a host op, an op it does not model,
  a real-valued input on a spike-only target), a pipeline directory is compiled instead of an
  artifact. ``-O input=real`` says the graph's inputs are real-valued (default: spikes).
- ``run``: a pipeline directory runs host ONNX -> chip engine -> host per step; the outputs are
  written like any run's (``<node>.out``), with the crossing counts.
"""
from __future__ import annotations

import numpy as np

from .. import artifact as art
from .. import backend as bk
from ..errors import UsageError
from ..result import Result
from .pipeline import Runner, compile_pipeline, is_pipeline
from .placement import partition
from .report import split_table

INPUT_KINDS = ("spikes", "real")


def input_kind(options: dict) -> bool:
    """Pop ``input=`` from the -O options; True when the inputs are real-valued."""
    kind = str(options.pop("input", "spikes")).strip()
    if kind not in INPUT_KINDS:
        raise UsageError(f"option input={kind!r} must be one of {', '.join(INPUT_KINDS)}")
    return kind == "real"


def plan_split(graph, target, options: dict):
    """(the split, inputs real-valued?) when `graph` needs host parts on `target`, else (None, ...);
    pops ``input=`` from `options`."""
    real = input_kind(options)
    t, backend = bk.resolve(target)
    split = partition(graph, backend, t.name, real_input=real)
    return (split if split.needs_host else None), real


def compile_split(graph, target, out_dir, options: dict, real: bool, *, overwrite: bool, report: bool) -> list:
    """Compile the pipeline; returns what to print."""
    split = compile_pipeline(graph, target, out_dir, options=options or None, real_input=real, overwrite=overwrite)
    c = split.counts()
    lines = [f"split: {c['native']} native, {c['emulated']} emulated, {c['host']} host node(s) in "
             f"{len(split.segments)} segment(s) (host parts as ONNX)"]
    if report:
        r = Runner(out_dir)
        lines.append(split_table(r.m, {n: type(graph.nodes[n]).__name__ for n in graph.nodes}))
        lines += [bk.get(r.m["backend"]).report(art.Artifact(p.dir)) for p in r.parts if hasattr(p, "dir")]
    return lines


def run_split(path, x: np.ndarray, engine: str | None) -> Result:
    """Run a pipeline directory over the input sequence (T, [B,] *shape)."""
    r = Runner(path, engine=engine)
    outs = r.run(x)
    c = r.crossed
    return Result(extra={"outputs": outs, "engine": f"host+{engine or 'sim'}",
                         "crossing": {"spikes": c.spikes, "values": c.values, "per_edge": c.per_edge}})


__all__ = ["is_pipeline", "plan_split", "compile_split", "run_split"]
