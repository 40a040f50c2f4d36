"""`neurodeploy` command line: inspect, simulate, compile, run, validate, energy, sweep, targets.

Exit codes (the CLI contract every backend uses): 0 ok, 2 usage, 3 invalid model,
4 does not fit the target, 5 target/link failure. They come from the exception classes in
`neurodeploy.errors`, so a backend raising the right error gets the right code. Any other
exception is a bug: it is reported as "internal error" with a crash report to attach (exit 1).

Every argument is checked before work starts (docs/artifact.md): inputs are real-valued `.npy`
arrays within the memory budget, steps are positive and bounded, ``-O`` values are finite, output
paths are writable regular files (`safeio`). Errors are one line on a non-terminal stderr, with
control characters escaped and nothing a user named parsed as rich markup.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shlex
import sys
import tempfile
import time
import traceback
from dataclasses import fields
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import artifact as art
from . import backend as bk
from . import budget, plausibility, safeio
from . import targets as tg
from .errors import NeuroDeployError, UsageError
from .semantics import INTEGRATORS, RESET_TIMINGS, RESETS, Semantics

out = Console(markup=False, highlight=False, soft_wrap=True)  # names and paths: never markup, never wrapped
err = Console(stderr=True, markup=False, highlight=False)
CRASH_DIR_ENV = "NEURODEPLOY_CRASH_DIR"
_OPTION_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
MAX_SAMPLES = 10**6  # Monte Carlo device draws per run: far above the 100 a CI needs, far below a day's work


def _semantics(args) -> dict:
    """The semantics flags given (field -> value); each overrides that field of the file's."""
    return {f.name: getattr(args, f.name) for f in fields(Semantics) if getattr(args, f.name) is not None}


def _load_model(args):
    from . import ir

    return ir.load(args.model, overrides=_semantics(args))


def _clean(text: str) -> str:
    """Control characters (a newline in a node name, a terminal escape) shown escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def _say(label: str, text: str, style: str = "red") -> None:
    """One message on stderr: one line when stderr is not a terminal, never parsed as markup."""
    if sys.stderr.isatty():
        err.print(Text(f"{label}:", style=style), Text(_clean(text)))
    else:
        sys.stderr.write(f"{label}: {_clean(text)}\n")
        sys.stderr.flush()


def _read_npy(path: str, what: str, kinds: str, min_ndim: int) -> np.ndarray:
    """A `.npy` array of a real dtype kind in `kinds`, its size charged to the budget before loading."""
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                raise UsageError(f"{what} is not a .npy file", where=path,
                                 hint="save one array with numpy.save (an .npz archive holds several)")
            f.seek(0)
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise UsageError(f"{what} uses .npy format {version}; expected 1.0 or 2.0", where=path)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = header(f)
    except OSError as e:
        raise UsageError(f"cannot read {what}: {e.strerror}", where=path) from None
    except ValueError as e:
        raise UsageError(f"{what} has a damaged .npy header: {e}", where=path) from None
    if dtype.kind == "c":
        raise UsageError(f"{what} holds complex values ({dtype}); expected real numbers", where=path)
    if dtype.kind not in kinds or dtype.hasobject:
        raise UsageError(f"{what} has dtype {dtype}; expected {'integers' if kinds == 'iu' else 'real numbers'}",
                         where=path)
    if len(shape) < min_ndim or 0 in shape:
        raise UsageError(f"{what} has shape {shape}; expected at least {min_ndim} non-empty dimension(s)", where=path)
    budget.charge(math.prod(shape) * (dtype.itemsize + 8), f"{what} of shape {shape}", where=path)  # + a float64 copy
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UsageError(f"cannot read {what}: {e}", where=path) from None
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise UsageError(f"{what} contains NaN or infinite values", where=path)
    return x


def _load_input(path: str) -> np.ndarray:
    """``(T, *in_shape)`` or ``(T, batch, *in_shape)``: bool, integer or float, finite."""
    return _read_npy(path, "input array", "biuf", 2)


def _load_labels(path: str) -> np.ndarray:
    return _read_npy(path, "labels", "iu", 1)


def _charge_steps(x: np.ndarray, steps: int | None, where: str) -> None:
    """Feeding `steps` steps of `x` (zeros past its end) makes a float64 array of that length."""
    if steps is not None and steps > len(x):
        budget.charge(steps * (x.size // len(x)) * 8, f"{steps} steps of input", where=where)


def _options(pairs: list[str]) -> dict:
    """``-O KEY=VALUE`` pairs: a plain key, given once, a printable value, a number only if finite."""
    opts = {}
    for p in pairs or []:
        key, sep, value = p.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _OPTION_KEY.fullmatch(key):
            raise UsageError(f"backend option {p!r} is not KEY=VALUE with a plain key")
        if key in opts:
            raise UsageError(f"backend option {key} is given twice")
        if not value.isprintable():
            raise UsageError(f"backend option {key} has control characters in its value")
        try:
            number = float(value)
        except ValueError:
            number = 0.0
        if not math.isfinite(number):
            raise UsageError(f"backend option {key}={value} is not a finite number")
        opts[key] = value
    return opts


def cmd_inspect(args) -> None:
    from . import ir

    graph = _load_model(args)
    out.print(ir.describe(graph))


def cmd_simulate(args) -> None:
    from .sim.reference import simulate

    safeio.check_output_path(args.out)
    x = _load_input(args.input)
    graph = _load_model(args)
    result = simulate(graph, x, steps=args.steps, record=args.record or None)
    safeio.write_file(args.out, result.save_npz)
    for w in plausibility.graph_warnings(graph) + plausibility.silent_output(result, list(result.spikes), graph):
        _say("warning", w, style="yellow")
    names = set(result.spikes) | set(result.v) | set(result.extra["outputs"])
    out.print(_clean(f"recorded {', '.join(sorted(names))} -> {args.out}"))


def cmd_compile(args) -> None:
    from .host import cli as host_cli  # models split between host and chip (docs/host.md)

    target, _ = bk.resolve(args.target)  # an unknown target or a bad -o fails before the model is read
    options = _options(args.option)
    if (args.fidelity is None) != (args.calibration is None):
        raise UsageError("--fidelity and --calibration go together", hint="e.g. --fidelity 0.99 --calibration X.npy")
    if not host_cli.is_pipeline(args.output):
        art.check_output_dir(args.output, overwrite=args.force)
    calibration = _load_input(args.calibration) if args.calibration else None
    graph = _load_model(args)
    split, real = host_cli.plan_split(graph, target, options)
    if split is not None and calibration is not None:
        raise UsageError("--fidelity searches one chip artifact; this model is split between host and chip")
    if split is not None:
        for line in host_cli.compile_split(graph, target, args.output, options, real, overwrite=args.force,
                                           report=args.report):
            out.print(line)
        out.print(Text("compiled", style="green"), _clean(f"{args.model} for {target.name} (host + chip) -> {args.output}"))
        return
    if calibration is None:
        artifact = bk.compile(graph, target, args.output, options=options, overwrite=args.force)
    else:
        from . import calibrate  # the cheapest precision setting reaching --fidelity (docs/fidelity.md)

        artifact = calibrate.compile(graph, target, args.output, args.fidelity, calibration, options=options,
                                     overwrite=args.force)
    out.print(Text("compiled", style="green"), _clean(f"{args.model} for {artifact.target} -> {artifact.path}"))
    if "calibration" in artifact.manifest:
        from . import calibrate

        for line in calibrate.lines(artifact.manifest["calibration"])[None if args.report else -1:]:
            out.print(_clean(line))
    for r in artifact.manifest.get("rewrites", []):  # exact convention rewrites (lowering/rewrites.py)
        out.print(_clean(f"rewrote {', '.join(r['nodes'])} ({r['rule']}): {r['effect']}"))
    if args.report:
        out.print(bk.get(artifact.backend).report(artifact))


def cmd_run(args) -> None:
    safeio.check_output_path(args.out)
    x = _load_input(args.input)
    _charge_steps(x, args.steps, args.input)
    from .host import cli as host_cli

    if host_cli.is_pipeline(args.artifact):
        result = host_cli.run_split(args.artifact, x, args.engine)
        safeio.write_file(args.out, result.save_npz)
        out.print(_clean(f"ran {args.artifact} ({result.extra['engine']}) -> {args.out}; crossed "
                         f"{result.extra['crossing']['spikes']} spikes, {result.extra['crossing']['values']} values"))
        return
    with art.reading(args.artifact):
        device = _device_draws(args)
        result = bk.run(args.artifact, x, steps=args.steps, record=args.record, engine=args.engine,
                        engine_options={**device, **({"port": args.port} if args.port else {})} or None)
        implausible = plausibility.artifact_warnings(art.Artifact(args.artifact), result)
    safeio.write_file(args.out, result.save_npz)
    for w in implausible:
        _say("warning", w, style="yellow")
    overruns = result.extra.get("overruns")
    if overruns:
        _say("warning", f"{overruns} tick deadline overrun(s); on the chip these lose spikes", style="yellow")
    out.print(_clean(f"ran {args.artifact} ({result.extra.get('engine', args.engine or 'sim')}) -> {args.out}"))
    mpi = result.extra.get("mpi")  # under mpirun (SpiNNaker 2 multi-chip, docs/sweep.md)
    if mpi:
        out.print(f"MPI: {mpi['ranks']} rank(s), chips per rank {mpi['chips_per_rank']}; per tick "
                  f"{np.mean(mpi['exchanged_spikes_per_tick']):.1f} spikes exchanged between ranks, "
                  f"{np.mean(mpi['link_hops_per_tick']):.1f} chip-link hops")
    mc = result.extra.get("monte_carlo")
    if mc:
        a = mc["spike_agreement"]
        out.print(f"{mc['samples']} device draws: spike agreement with ideal devices {a['mean']:.4f} "
                  f"(95% CI {a['ci95'][0]:.4f}..{a['ci95'][1]:.4f})")


def _device_draws(args) -> dict:
    """The Monte Carlo over device draws (crossbar: --samples/--seed/--drift-time), for the engine."""
    return {k: v for k, v in (("samples", args.samples), ("seed", args.seed), ("drift_time", args.drift_time))
            if v is not None}


def cmd_energy(args) -> None:
    from . import energy, report
    from .report import terminal

    safeio.check_output_path(args.o)
    inputs = _load_input(args.input)
    _charge_steps(inputs, args.steps, args.input)
    labels = _load_labels(args.labels) if args.labels else None
    src = Path(args.source)
    if src.is_dir():
        if args.target not in (None, "artifact"):
            raise UsageError("--target applies to a model file; an artifact already has its target")
        with art.reading(src):
            rep = energy.estimate_artifact(src, inputs, steps=args.steps, labels=labels)
    else:
        if not args.target:
            raise UsageError("a model file needs --target T (or --target all)")
        args.model = args.source
        graph = _load_model(args)
        names = None if args.target == "all" else [args.target]
        rep = energy.compare_targets(graph, inputs, targets=names, steps=args.steps, labels=labels)
    safeio.write_file(args.o, report.render(rep, args.format).encode())
    out.print(terminal.summary(rep), markup=True)
    out.print(_clean(f"full energy report ({args.format}) -> {args.o}"))


def cmd_validate(args) -> None:
    from . import fidelity
    from .report import fidelity as fidelity_report

    if args.o:
        safeio.check_output_path(args.o)
    x = _load_input(args.input)
    _charge_steps(x, args.steps, args.input)
    labels = _load_labels(args.labels) if args.labels else None
    with art.reading(args.artifact):
        options = {**_device_draws(args), **({"port": args.port} if args.port else {})}
        rep = fidelity.validate(args.artifact, x, labels=labels, engine=args.engine, steps=args.steps,
                                engine_options=options or None)
    for w in rep.warnings:
        _say("warning", w, style="yellow")
    text = fidelity_report.render(rep, args.format)
    if args.o:
        safeio.write_file(args.o, text.encode())
        text = f"{fidelity_report.summary(rep)}\nfull fidelity report ({args.format}) -> {args.o}"
    for line in text.splitlines():
        out.print(_clean(line))


def cmd_sweep(args) -> None:
    from . import sweep
    from .sweep import plot

    spec = sweep.load(args.spec, out=args.o)
    html = spec.out.with_suffix(".html") if args.plot else None
    if html:
        safeio.check_output_path(html)
    path, rows = sweep.sweep(spec, cluster=args.cluster, workers=args.workers)
    failed = [r for r in rows if r["status"] != "ok"]
    out.print(_clean(f"{len(rows)} points, {len(failed)} failed -> {path}"))
    for r in failed:
        _say("failed", f"point {r['key'][:12]} ({r['target']}): exit {r['exit_code']}: {r['error'].splitlines()[0]}",
             style="yellow")
    if html:
        out.print(_clean(f"Pareto front report -> {plot.report(html, rows, list(spec.axes), f'Sweep {spec.path.name}')}"))


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
    """The semantics NIR leaves open (see neurodeploy/semantics.py for the defaults' meaning); each
    flag overrides that field of the semantics stored in the model file."""
    sp.add_argument("--dt", type=float, help="time step in seconds (default: the file's, else 1e-4)")
    sp.add_argument("--reset", choices=RESETS, help="reset mode (default: the file's, else v_reset)")
    sp.add_argument("--integrator", choices=INTEGRATORS, help="integrator (default: the file's, else exact)")
    sp.add_argument("--reset-timing", choices=RESET_TIMINGS,
                    help="when a spike's reset applies (default: the file's, else same_step)")
    sp.add_argument("--refractory", type=float, metavar="SECONDS",
                    help="refractory period, a multiple of dt (default: the file's, else 0)")
    sp.add_argument("--synaptic-delay", type=float, metavar="SECONDS",
                    help="delay of every connection, a multiple of dt (default: the file's, else 0)")


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one clean line (exit 2, as argparse's own)."""

    def error(self, message):
        _say("error", f"{self.prog}: {message} (see {self.prog} --help)")
        raise SystemExit(2)


def _checked(parse):
    """An argparse `type` from a parser raising UsageError."""
    def type_(text):
        try:
            return parse(text)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    type_.__name__ = parse.__name__
    return type_


def _integer(what: str, lo: int, hi: int):
    """An argparse type: a plain integer in [lo, hi] (steps: memory is then checked against the budget)."""
    def parse(text: str) -> int:
        if not text.strip().isdigit() or not lo <= int(text) <= hi:
            raise UsageError(f"{what} {text!r} must be an integer in [{lo}, {hi}]")
        return int(text)
    parse.__name__ = what
    return _checked(parse)


def _seconds(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        s = math.nan
    if not 0 <= s < math.inf:
        raise UsageError(f"{text!r} is not a finite number of seconds >= 0")
    return s


def _fraction(text: str) -> float:
    try:
        f = float(text)
    except ValueError:
        f = math.nan
    if not 0 < f <= 1:
        raise UsageError(f"{text!r} is not a fraction in (0, 1]")
    return f


def _device_flags(sp) -> None:
    sp.add_argument("--samples", type=_integer("samples", 1, MAX_SAMPLES), help="Monte Carlo: number of device draws (crossbar)")
    sp.add_argument("--seed", type=_integer("seed", 0, 2**63 - 1), help="seed of the device draws")
    sp.add_argument("--drift-time", type=_checked(_seconds), help="seconds since the devices were programmed")


def _common_flags() -> argparse.ArgumentParser:
    """Flags every command takes: the memory budget and the artifact lock timeout (docs/artifact.md)."""
    c = _Parser(add_help=False)
    c.add_argument("--memory-budget", metavar="SIZE", type=_checked(budget.parse_size),
                   help=f"largest input-driven allocation, e.g. 512M, 4G (default ${budget.ENV} or "
                        f"{budget.DEFAULT // 2**30}G)")
    c.add_argument("--lock-timeout", metavar="SECONDS", type=_checked(safeio.parse_timeout),
                   help=f"wait this long for an artifact another process uses (default ${safeio.LOCK_ENV} "
                        f"or {safeio.DEFAULT_LOCK_TIMEOUT:g})")
    return c


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="neurodeploy", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    common = _common_flags()

    def command(name, help_):
        return sub.add_parser(name, help=help_, parents=[common])

    def model_cmd(name, help_):
        sp = command(name, help_)
        sp.add_argument("model", help="a .nir file (NIR 1.0.8, with or without the neurodeploy dialect)")
        _semantic_flags(sp)
        return sp

    model_cmd("inspect", "print nodes, shapes, parameters, edges and recurrent loops").set_defaults(fn=cmd_inspect)

    sp = model_cmd("simulate", "run the exact float reference simulator")
    sp.add_argument("--input", required=True, help="IN.npy: (T, *in_shape) or (T, batch, *in_shape)")
    sp.add_argument("--steps", type=_integer("steps", 1, bk.MAX_STEPS), help="time steps (default: length of the input)")
    sp.add_argument("--record", nargs="+", metavar="NODE", help="nodes to record (default: outputs)")
    sp.add_argument("--out", required=True, help="OUT.npz with <node>.spikes (0/1 outputs), <node>.v (states) "
                                                  "and <node>.out (real-valued or graded outputs)")
    sp.set_defaults(fn=cmd_simulate)

    sp = model_cmd("compile", "compile a model for a target into an artifact directory")
    sp.add_argument("--target", required=True, help="a name from `neurodeploy targets`")
    sp.add_argument("-o", "--output", required=True, help="artifact directory to create")
    sp.add_argument("-O", "--option", action="append", metavar="KEY=VALUE", help="backend option (repeatable)")
    sp.add_argument("--report", action="store_true", help="print the per-unit utilization table")
    sp.add_argument("--force", action="store_true",
                    help="replace an existing artifact directory (only one neurodeploy wrote)")
    sp.add_argument("--fidelity", type=_checked(_fraction), metavar="F",
                    help="search the target's precision choices for the cheapest reaching output-decision "
                         "agreement F with the float model on --calibration (refused, exit 4, if none does)")
    sp.add_argument("--calibration", metavar="X.npy", help="inputs for --fidelity: (T, *in_shape) or (T, batch, *in_shape)")
    sp.set_defaults(fn=cmd_compile)

    sp = command("run", "run an artifact on its target's simulator or engine")
    sp.add_argument("artifact")
    sp.add_argument("--input", required=True)
    sp.add_argument("--steps", type=_integer("steps", 1, bk.MAX_STEPS))
    sp.add_argument("--record", nargs="+", metavar="NODE", default=[])
    sp.add_argument("--engine", help="engine of the backend (e.g. sim, lava, hil)")
    sp.add_argument("--port", help="serial port of the board (--engine hil)")
    _device_flags(sp)
    sp.add_argument("--out", required=True)
    sp.set_defaults(fn=cmd_run)

    sp = command("energy", "energy-estimation report")
    sp.add_argument("source", help="an artifact directory, or a model file with --target")
    sp.add_argument("--input", required=True)
    sp.add_argument("--labels", help="L.npy: class labels, to report accuracy beside energy")
    sp.add_argument("--target", help="with a model file: a target name or `all`")
    sp.add_argument("--steps", type=_integer("steps", 1, bk.MAX_STEPS))
    sp.add_argument("--format", choices=("json", "md", "html"), default="md")
    sp.add_argument("-o", required=True, metavar="FILE")
    _semantic_flags(sp)
    sp.set_defaults(fn=cmd_energy)

    sp = command("validate", "compare an artifact's run with the float reference, layer by layer (docs/fidelity.md)")
    sp.add_argument("artifact")
    sp.add_argument("--input", required=True, help="IN.npy: (T, *in_shape) or (T, batch, *in_shape)")
    sp.add_argument("--labels", help="L.npy: class labels, to report accuracy of target and reference")
    sp.add_argument("--steps", type=_integer("steps", 1, bk.MAX_STEPS))
    sp.add_argument("--engine", help="engine of the backend (e.g. sim, lava, hil)")
    sp.add_argument("--port", help="serial port of the board (--engine hil)")
    _device_flags(sp)
    sp.add_argument("--format", choices=("md", "json", "html"), default="md")
    sp.add_argument("-o", metavar="FILE", help="write the report here (default: print it)")
    sp.set_defaults(fn=cmd_validate)

    sp = command("sweep", "a grid of compile/run options: compile, run, validate, energy per point (docs/sweep.md)")
    sp.add_argument("spec", help="SPEC.toml: [sweep] model, labels, steps ...; [grid] target, input, options ...")
    sp.add_argument("--cluster", metavar="ADDRESS", help="a Dask scheduler (default: a local cluster on this machine)")
    sp.add_argument("--workers", type=_integer("workers", 1, 4096), help="local cluster size (default: the cores)")
    sp.add_argument("--plot", action="store_true", help="also write TABLE.html with the energy-fidelity Pareto fronts")
    sp.add_argument("-o", metavar="TABLE.parquet", help="the table (default: [sweep] out, else SPEC.parquet)")
    sp.set_defaults(fn=cmd_sweep)

    command("targets", "list targets/*.toml with their backends").set_defaults(fn=cmd_targets)
    from .hil.cli import add_parsers as add_hil_parsers  # neurodeploy hil info|run|replay

    add_hil_parsers(sub, [common])
    return p


def _crash_report(argv: list[str]) -> str:
    """Write what reproduces an unexpected exception (command, versions, traceback); its path."""
    text = (f"neurodeploy internal error\ncommand: neurodeploy {shlex.join(argv)}\ncwd: {os.getcwd()}\n"
            f"python {platform.python_version()}, numpy {np.__version__}, {platform.platform()}\n\n"
            f"{traceback.format_exc()}")
    directory = Path(os.environ.get(CRASH_DIR_ENV) or tempfile.gettempdir())
    path = directory / f"neurodeploy-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        return str(safeio.write_file(path, text.encode()))
    except NeuroDeployError as e:
        return f"(none written: {e})"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    try:
        with budget.scope(args.memory_budget), safeio.LOCK_TIMEOUT.given(args.lock_timeout):
            args.fn(args)
    except NeuroDeployError as e:
        _say("error", str(e))
        return e.exit_code
    except KeyboardInterrupt:
        _say("interrupted", "stopped by the user; nothing half-written is left in place")
        return 130
    except Exception as e:  # a bug: say so, leave a reproducer, no traceback on the terminal
        _say("internal error", f"{type(e).__name__}: {e} -- a bug in neurodeploy; reproducer and traceback: "
                               f"{_crash_report(argv)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
