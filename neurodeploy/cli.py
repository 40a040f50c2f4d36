"""`neurodeploy` command line: inspect, simulate, compile, run, energy, targets.

Exit codes (the CLI contract every backend uses): 0 ok, 2 usage, 3 invalid model,
4 does not fit the target, 5 target/link failure. They come from the exception classes in
`neurodeploy.errors`, so a backend raising the right error gets the right code.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from . import backend as bk
from . import targets as tg
from .errors import NeuroDeployError, UsageError
from .semantics import INTEGRATORS, RESET_TIMINGS, RESETS, Semantics

out = Console()
err = Console(stderr=True)


def _semantics(args) -> Semantics:
    return Semantics().with_(dt=args.dt, reset=args.reset, integrator=args.integrator,
                             reset_timing=args.reset_timing)


def _load_model(args):
    from . import ir

    return ir.load(args.model, semantics=_semantics(args))


def _load_input(path: str) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read input array: {e}", where=path) from None
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise UsageError(f"input array has dtype {x.dtype}, expected numbers", where=path)
    return x


def _options(pairs: list[str]) -> dict:
    opts = {}
    for p in pairs or []:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise UsageError(f"backend option {p!r} is not KEY=VALUE")
        opts[key.strip()] = value.strip()
    return opts


def cmd_inspect(args) -> None:
    from . import ir

    graph = _load_model(args)
    out.print(ir.describe(graph))


def cmd_simulate(args) -> None:
    from .sim.reference import simulate

    graph = _load_model(args)
    result = simulate(graph, _load_input(args.input), steps=args.steps, record=args.record or None)
    result.save_npz(args.out)
    out.print(f"recorded {', '.join(sorted(set(result.spikes) | set(result.v)))} -> {args.out}")


def cmd_compile(args) -> None:
    target, _ = bk.resolve(args.target)  # an unknown target fails before the model is read
    graph = _load_model(args)
    artifact = bk.compile(graph, target, args.output, options=_options(args.option), overwrite=args.force)
    out.print(f"[green]compiled[/] {args.model} for {artifact.target} -> {artifact.path}")
    if args.report:
        out.print(bk.get(artifact.backend).report(artifact))


def cmd_run(args) -> None:
    result = bk.run(args.artifact, _load_input(args.input), steps=args.steps, record=args.record,
                    engine=args.engine)
    result.save_npz(args.out)
    overruns = result.extra.get("overruns")
    if overruns:
        err.print(f"[yellow]warning:[/] {overruns} tick deadline overrun(s); on the chip these lose spikes")
    out.print(f"ran {args.artifact} ({result.extra.get('engine', args.engine or 'sim')}) -> {args.out}")


def cmd_energy(args) -> None:
    from . import energy, report
    from .report import terminal

    inputs = _load_input(args.input)
    labels = np.load(args.labels, allow_pickle=False) if args.labels else None
    src = Path(args.source)
    if src.is_dir():
        if args.target not in (None, "artifact"):
            raise UsageError("--target applies to a model file; an artifact already has its target")
        rep = energy.estimate_artifact(src, inputs, steps=args.steps, labels=labels)
    else:
        if not args.target:
            raise UsageError("a model file needs --target T (or --target all)")
        args.model = args.source
        graph = _load_model(args)
        names = None if args.target == "all" else [args.target]
        rep = energy.compare_targets(graph, inputs, targets=names, steps=args.steps, labels=labels)
    report.write(rep, args.format, args.o)
    out.print(terminal.summary(rep))
    out.print(f"full energy report ({args.format}) -> {args.o}")


def cmd_targets(args) -> None:
    table = Table(title="targets/*.toml")
    for col in ("target", "backend", "installed", "key limits"):
        table.add_column(col)
    installed = set(bk.installed())
    for name in tg.available():
        t = tg.load(name)
        limits = ", ".join(f"{k} {q.value:g} {q.unit}".strip() for k, q in list(t.section("limits").items())[:4])
        table.add_row(name, t.backend, "yes" if t.backend in installed else "no", limits)
    out.print(table)


def _semantic_flags(sp) -> None:
    """The semantics NIR leaves open (see neurodeploy/semantics.py for the defaults' meaning)."""
    sp.add_argument("--dt", type=float, help="time step in seconds (default 1e-4)")
    sp.add_argument("--reset", choices=RESETS, help="reset mode (default v_reset)")
    sp.add_argument("--integrator", choices=INTEGRATORS, help="integrator (default exact)")
    sp.add_argument("--reset-timing", choices=RESET_TIMINGS, help="when a spike's reset applies (default same_step)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neurodeploy", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def model_cmd(name, help_):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("model", help="a .nir file (NIR 1.0.8, with or without the neurodeploy dialect)")
        _semantic_flags(sp)
        return sp

    model_cmd("inspect", "print nodes, shapes, parameters, edges and recurrent loops").set_defaults(fn=cmd_inspect)

    sp = model_cmd("simulate", "run the exact float reference simulator")
    sp.add_argument("--input", required=True, help="IN.npy: (T, *in_shape) or (T, batch, *in_shape)")
    sp.add_argument("--steps", type=int, help="time steps (default: length of the input)")
    sp.add_argument("--record", nargs="+", metavar="NODE", help="nodes to record (default: outputs)")
    sp.add_argument("--out", required=True, help="OUT.npz with <node>.spikes and <node>.v")
    sp.set_defaults(fn=cmd_simulate)

    sp = model_cmd("compile", "compile a model for a target into an artifact directory")
    sp.add_argument("--target", required=True, help="a name from `neurodeploy targets`")
    sp.add_argument("-o", "--output", required=True, help="artifact directory to create")
    sp.add_argument("-O", "--option", action="append", metavar="KEY=VALUE", help="backend option (repeatable)")
    sp.add_argument("--report", action="store_true", help="print the per-unit utilization table")
    sp.add_argument("--force", action="store_true", help="replace an existing artifact directory")
    sp.set_defaults(fn=cmd_compile)

    sp = sub.add_parser("run", help="run an artifact on its target's simulator or engine")
    sp.add_argument("artifact")
    sp.add_argument("--input", required=True)
    sp.add_argument("--steps", type=int)
    sp.add_argument("--record", nargs="+", metavar="NODE", default=[])
    sp.add_argument("--engine", help="engine of the backend (e.g. sim, lava)")
    sp.add_argument("--out", required=True)
    sp.set_defaults(fn=cmd_run)

    sp = sub.add_parser("energy", help="energy-estimation report")
    sp.add_argument("source", help="an artifact directory, or a model file with --target")
    sp.add_argument("--input", required=True)
    sp.add_argument("--labels", help="L.npy: class labels, to report accuracy beside energy")
    sp.add_argument("--target", help="with a model file: a target name or `all`")
    sp.add_argument("--steps", type=int)
    sp.add_argument("--format", choices=("json", "md", "html"), default="md")
    sp.add_argument("-o", required=True, metavar="FILE")
    _semantic_flags(sp)
    sp.set_defaults(fn=cmd_energy)

    sub.add_parser("targets", help="list targets/*.toml with their backends").set_defaults(fn=cmd_targets)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.fn(args)
    except NeuroDeployError as e:
        err.print(f"[red]error:[/] {e}", highlight=False)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
