"""Fuzz the whole CLI with HDF5-structure mutations of `.nir` files and count what comes out.

Issue #10: 10,000 mutated files gave 37 uncaught exceptions. Each mutant here goes through every
command: ``inspect``, ``simulate``, ``compile`` for one target of each installed backend and ``run``
on each artifact that compiled. An exit of 0/2/3/4/5 is an answer; exit 1 ("internal error", the
top-level catch of a bug) and any exception escaping `cli.main` count as failures, each kept with
its command line and crash report.

    .venv/bin/python bench/fuzz.py [N=10000] [--seed S] [--workers K] [--limit SECONDS] [--only I ...]

Exit 1 on an internal error or a hang (a command over `--limit`); each mutant that failed is kept.

The mutations (`mutate`) act on the file's structure through h5py: shapes, dtypes, lengths (conv
dilation/stride/padding of the wrong length included), all-zero and NaN/inf parameters, declared
huge sizes, deleted datasets, edges deleted/duplicated/dangling, and nesting (a node moved into a
subgraph, sometimes without its input edge). tests/test_fuzz_nir.py runs 1,000 of them per CI run.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import io
import math
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nir
import numpy as np
from rich.progress import Progress, TextColumn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neurodeploy import backend as bk  # noqa: E402
from neurodeploy import cli, ir  # noqa: E402
from neurodeploy import targets as tg  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata" / "nir-paper"
STEPS = 4
LIMIT = 60.0  # seconds one command may take before it counts as a hang (typical: 0.02-0.5 s)
MUTATIONS = ("zeros", "nonfinite", "length", "shape", "dtype", "huge", "drop", "edges", "nest", "scale")


def one_target_per_backend() -> list[str]:
    """The first target file of each installed backend (new backends are fuzzed without edits here)."""
    seen = {}
    for name in tg.available():
        backend = tg.load(name).backend
        if backend in bk.installed() and backend not in seen:
            seen[backend] = name
    return sorted(seen.values())


def _lif(n: int) -> nir.LIF:
    return nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                   v_reset=np.zeros(n))


def seeds(work: Path) -> list[Path]:
    """Real files (a LIF, the Braille RNN) plus generated ones every backend compiles: an
    Affine->LIF->Linear->LIF chain, the same with a conv layer, and the chain's second layer nested."""
    rng = np.random.default_rng(0)
    chain = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([6])}),
        "fc1": nir.Affine(weight=rng.normal(0, 5, (5, 6)), bias=np.zeros(5)), "lif1": _lif(5),
        "fc2": nir.Linear(weight=rng.normal(0, 5, (3, 5))), "lif2": _lif(3),
        "out": nir.Output(output_type={"output": np.array([3])})},
        edges=[("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "out")], type_check=False)
    conv = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([1, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=rng.normal(0, 5, (2, 1, 3, 3)), stride=1, padding=1,
                           dilation=1, groups=1, bias=np.zeros(2)),
        "lif": nir.LIF(tau=np.full((2, 4, 4), 2e-3), r=np.ones((2, 4, 4)), v_leak=np.zeros((2, 4, 4)),
                       v_threshold=np.ones((2, 4, 4)), v_reset=np.zeros((2, 4, 4))),
        "out": nir.Output(output_type={"output": np.array([2, 4, 4])})},
        edges=[("in", "conv"), ("conv", "lif"), ("lif", "out")], type_check=False)
    paths = [REALDATA / "lif" / "lif_norse.nir", REALDATA / "rnn" / "braille_noDelay_bias_zero.nir"]
    for name, g in (("chain", chain), ("conv", conv), ("nested", _nest(chain, "lif2", keep_input=True))):
        paths.append(work / f"seed_{name}.nir")
        ir.write(paths[-1], g)
    return paths


def _nest(g: nir.NIRGraph, node: str, keep_input: bool) -> nir.NIRGraph:
    """`node` moved into a subgraph (its own Input/Output); without `keep_input` the subgraph's input
    edge is left out (issue #10: "a subgraph node with no input edge")."""
    shape = np.asarray(getattr(g.nodes[node], "v_threshold", np.zeros(1))).shape or (1,)
    inner = {"input": nir.Input(input_type={"input": np.array(shape)}), node: g.nodes[node],
             "output": nir.Output(output_type={"output": np.array(shape)})}
    edges = ([("input", node)] if keep_input else []) + [(node, "output")]
    sub = nir.NIRGraph(nodes=inner, edges=edges, type_check=False)
    nodes = {**{k: v for k, v in g.nodes.items() if k != node}, f"{node}_sub": sub}
    outer = [(a if a != node else f"{node}_sub", b if b != node else f"{node}_sub") for a, b in g.edges]
    return nir.NIRGraph(nodes=nodes, edges=outer, type_check=False)


def _datasets(f: h5py.File) -> list[str]:
    out = []
    if isinstance(f.get("node"), h5py.Group):
        f["node"].visititems(lambda n, o: out.append("node/" + n) if isinstance(o, h5py.Dataset) else None)
    return sorted(out)


def _numeric(f: h5py.File) -> list[str]:
    return [d for d in _datasets(f) if f[d].dtype.kind in "biuf" and not d.endswith("/type")]


def _replace(f: h5py.File, name: str, **kw) -> None:
    parent, key = name.rsplit("/", 1)
    del f[name]
    f[parent].create_dataset(key, **kw)


def mutate(src: Path, dst: Path, rng: np.random.Generator) -> str:
    """Write a mutant of `src` to `dst`; returns what was done (for the report)."""
    how = str(rng.choice(MUTATIONS))
    if how == "nest":
        g = ir.read(src)
        names = [n for n, v in g.nodes.items() if not isinstance(v, (nir.Input, nir.Output, nir.NIRGraph))]
        node = str(rng.choice(names)) if names else None
        if node:
            ir.write(dst, _nest(g, node, keep_input=bool(rng.integers(2))))
            return f"nest {node}"
    shutil.copyfile(src, dst)
    with h5py.File(dst, "a") as f:
        numeric = _numeric(f)
        if how == "edges" or not numeric:
            return _edges(f, rng)
        name = str(rng.choice(numeric))
        arr = f[name][()]
        a = np.asarray(arr, dtype=np.float64)
        if how == "zeros":
            _replace(f, name, data=np.zeros_like(a))
        elif how == "nonfinite":
            b = a.copy().reshape(-1) if a.size else np.zeros(1)
            b[rng.integers(b.size, size=max(1, b.size // 3))] = rng.choice([np.nan, np.inf, -np.inf])
            _replace(f, name, data=b.reshape(a.shape) if a.size else b)
        elif how == "length":  # one axis shorter or longer (a conv's dilation of length 1 or 3 ...)
            flat = a.reshape(a.shape or (1,))
            axis = int(rng.integers(flat.ndim))
            k = int(rng.choice([-2, -1, 1, 2]))
            if k < 0:
                b = np.delete(flat, np.s_[:min(-k, flat.shape[axis])], axis=axis)
            else:
                b = np.concatenate([flat, np.take(flat, [0] * k, axis=axis, mode="clip") if flat.shape[axis]
                                    else np.ones(tuple(k if i == axis else s for i, s in enumerate(flat.shape)))],
                                   axis=axis)
            _replace(f, name, data=b)
        elif how == "shape":
            shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(0, 4))))
            _replace(f, name, data=np.full(shape, a.reshape(-1)[0] if a.size else 1.0))
        elif how == "dtype":
            _replace(f, name, data=a.astype(str(rng.choice(["i1", "u1", "f2", "?", "c8", "i8"]))))
        elif how == "huge":  # declared, never stored: must be refused before it is read
            n = int(rng.choice([2**27 + 1, 2**31, 10**12]))
            _replace(f, name, shape=(n,), dtype="f8", maxshape=(None,), chunks=(1024,))
        elif how == "drop":
            del f[name]
        else:  # scale: far above or below any sensible range, or negative
            _replace(f, name, data=a * float(rng.choice([1e30, 1e-30, -1.0, 1e6])))
    return f"{how} {name}"


def _edges(f: h5py.File, rng: np.random.Generator) -> str:
    ds = f.get("node/edges")
    ok = isinstance(ds, h5py.Dataset) and ds.ndim == 2 and ds.size and h5py.check_string_dtype(ds.dtype)
    edges = [[x.decode(), y.decode()] for x, y in ds[()]] if ok else []
    names = list(f["node/nodes"]) if isinstance(f.get("node/nodes"), h5py.Group) else ["x"]
    how = str(rng.choice(["delete", "duplicate", "dangling", "self", "reverse"]))
    i = int(rng.integers(len(edges))) if edges else 0
    if how == "delete" and edges:
        edges.pop(i)
    elif how == "duplicate" and edges:
        edges.append(edges[i])
    elif how == "dangling":
        edges.append([str(rng.choice(names)), "nowhere"])
    elif how == "self":
        n = str(rng.choice(names))
        edges.append([n, n])
    elif edges:
        edges[i] = edges[i][::-1]
    if "edges" in f.get("node", {}):
        del f["node/edges"]
    f["node"].create_dataset("edges", data=np.array(edges, dtype=object).reshape(-1, 2), dtype=h5py.string_dtype())
    return f"edges {how}"


@dataclass
class Tally:
    mutants: int = 0
    commands: int = 0
    exits: collections.Counter = field(default_factory=collections.Counter)
    failures: list = field(default_factory=list)  # (mutation, argv, stderr, reproducer): internal errors
    hangs: list = field(default_factory=list)  # (mutation, argv or None, reproducer): over the time limit
    seconds: float = 0.0
    by_command: collections.Counter = field(default_factory=collections.Counter)  # seconds per command kind

    def add(self, other: "Tally") -> None:
        self.mutants += other.mutants
        self.commands += other.commands
        self.exits.update(other.exits)
        self.failures += other.failures
        self.hangs += other.hangs
        self.by_command.update(other.by_command)


class Hang(BaseException):
    """A command over its time limit (a BaseException: the CLI's top-level catch must not take it)."""


def _alarm(signum, frame):
    raise Hang()


def _kind(argv: list[str]) -> str:
    if argv[0] == "compile":
        return f"compile {argv[argv.index('--target') + 1]}"
    return f"run {argv[1].rsplit('art-', 1)[-1]}" if argv[0] == "run" else argv[0]


def _cli(argv: list[str], tally: Tally, what: str, limit: float = 0.0) -> int:
    """One command in this process; exit code, or -1 when it escaped `cli.main` or hung."""
    err, t0 = io.StringIO(), time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_REAL, limit)  # 0: no limit
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    except Hang:
        code = -1
        tally.hangs.append((what, argv, None))
    except BaseException as e:  # noqa: BLE001 - anything escaping the CLI's top level is a failure too
        code, err = -1, io.StringIO(f"escaped cli.main: {type(e).__name__}: {e}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    tally.commands += 1
    tally.exits[code] += 1
    tally.by_command[_kind(argv)] += time.perf_counter() - t0
    if code not in (0, 2, 3, 4, 5) and not (tally.hangs and tally.hangs[-1][1] is argv):
        tally.failures.append((what, argv, err.getvalue().strip(), None))
    return code


def _input(path: Path, seed_shape: tuple, out: Path) -> Path:
    """Spikes of the mutant's input shape when it loads, else of its seed's."""
    try:
        g = ir.load(path)
        shape = tuple(g.out_shape[g.inputs[0]])
    except Exception:  # noqa: BLE001 - the commands report the load error themselves
        shape = seed_shape
    n = math.prod(shape) if shape else 1
    x = np.zeros((STEPS, 1, *shape)) if 0 < n <= 10**5 else np.zeros((STEPS, 1, *seed_shape))
    x.reshape(-1)[:: 3] = 1.0
    np.save(out, x)
    return out


def commands(path: Path, work: Path, targets: list[str], seed_shape: tuple, tally: Tally, what: str,
             limit: float = 0.0) -> None:
    """Every command on one file: inspect, simulate, compile per target, run per artifact."""
    x = _input(path, seed_shape, work / "x.npy")
    _cli(["inspect", str(path)], tally, what, limit)
    _cli(["simulate", str(path), "--input", str(x), "--steps", str(STEPS), "--out", str(work / "sim.npz")],
         tally, what, limit)
    for t in targets:
        art = work / f"art-{t}"
        if _cli(["compile", str(path), "--target", t, "--reset", "zero", "-o", str(art), "--force"], tally, what,
                limit) == 0:
            _cli(["run", str(art), "--input", str(x), "--steps", str(STEPS), "--out", str(work / f"run-{t}.npz")],
                 tally, what, limit)


@dataclass
class Setup:
    """What every mutant needs; built once in the parent, inherited by the forked workers."""
    work: Path
    files: list
    shapes: list
    targets: list
    seed: int
    limit: float

    def one(self, i: int, where: Path) -> Tally:
        """Mutant `i` (its own random stream: the same file whatever worker or order) through every
        command; a mutant that failed or hung is kept in crashes/ as its reproducer."""
        k = i % len(self.files)
        mutant = where / "mutant.nir"
        what = f"#{i} {self.files[k].name}: " + mutate(self.files[k], mutant, np.random.default_rng([self.seed, i]))
        tally = Tally(mutants=1)
        commands(mutant, where, self.targets, self.shapes[k], tally, what, self.limit)
        if tally.failures or tally.hangs:
            keep = str(self.keep(mutant, i))
            tally.failures = [(w, a, e, keep) for w, a, e, _ in tally.failures]
            tally.hangs = [(w, a, keep) for w, a, _ in tally.hangs]
        return tally

    def keep(self, mutant: Path, i: int) -> Path:
        dst = self.work / "crashes" / f"mutant-s{self.seed}-{i}.nir"
        shutil.copyfile(mutant, dst)
        return dst


def _prepare() -> None:
    """In a worker only. Costs the CLI pays per process, paid once per worker instead: the argument parser, and the
    target files (read once, so that a file edited during a long run does not meet code imported
    before the edit). Neither is what is fuzzed; the `.nir` file is read by every command."""
    from neurodeploy.ir import reader

    reader.probe = lambda path, read: None  # the forked hang probe: structure mutants are valid HDF5
    if not hasattr(cli._parser, "cache_info"):
        cli._parser = functools.cache(cli._parser)
        tg.load = functools.cache(tg.load)
    signal.signal(signal.SIGALRM, _alarm)


def _worker(setup: Setup, conn, where: Path) -> None:
    _prepare()
    where.mkdir(exist_ok=True)
    while (i := conn.recv()) is not None:
        conn.send(setup.one(i, where))


class Pool:
    """Long-lived forked workers (imports and warm-up paid once); a worker silent past the mutant's
    time limit (a hang inside C code the alarm cannot interrupt) or dead is replaced, the mutant
    counted as a hang or a failure."""

    def __init__(self, setup: Setup, workers: int):
        self.setup, self.ctx, self.slots = setup, mp.get_context("fork"), {}
        for w in range(workers):
            self.start(w)

    def start(self, w: int) -> None:
        parent, child = self.ctx.Pipe()
        where = self.setup.work / f"w{w}"
        proc = self.ctx.Process(target=_worker, args=(self.setup, child, where), daemon=True)
        proc.start()
        child.close()
        self.slots[w] = [proc, parent, None, 0.0]  # process, pipe, mutant index, deadline

    def deadline(self) -> float:
        per_mutant = self.setup.limit * (2 + 2 * len(self.setup.targets))
        return time.monotonic() + (per_mutant + 30 if per_mutant else 10**9)

    def map(self, indices, done) -> None:
        todo = iter(indices)
        for slot in self.slots.values():
            self.give(slot, todo)
        while any(s[2] is not None for s in self.slots.values()):
            busy = {s[1]: w for w, s in self.slots.items() if s[2] is not None}
            soonest = min(s[3] for s in self.slots.values() if s[2] is not None)
            for conn in mpc.wait(list(busy), timeout=max(0.0, soonest - time.monotonic())):
                w = busy[conn]
                slot = self.slots[w]
                try:
                    done(conn.recv())
                except (EOFError, OSError):  # died: a crash of the interpreter (segfault, OOM kill)
                    done(self.lost(w, f"worker died with exit {slot[0].exitcode}", hang=False))
                self.give(self.slots[w], todo)
            for w, slot in list(self.slots.items()):
                if slot[2] is not None and time.monotonic() > slot[3]:
                    done(self.lost(w, "no answer within the mutant's time limit", hang=True))
                    self.give(self.slots[w], todo)

    def give(self, slot, todo) -> None:
        slot[2] = next(todo, None)
        if slot[2] is not None:
            slot[3] = self.deadline()
            slot[1].send(slot[2])

    def lost(self, w: int, why: str, hang: bool) -> Tally:
        proc, _, i, _ = self.slots[w]
        proc.kill()
        proc.join()
        keep = str(self.setup.keep(self.setup.work / f"w{w}" / "mutant.nir", i))
        self.start(w)
        t = Tally(mutants=1)
        if hang:
            t.hangs.append((f"#{i}: {why}", None, keep))
        else:
            t.failures.append((f"#{i}: {why}", [], why, keep))
        return t

    def close(self) -> None:
        for proc, conn, _, _ in self.slots.values():
            conn.send(None)
            proc.join(5)
            if proc.is_alive():
                proc.kill()


def campaign(n: int, seed: int = 0, work: Path | None = None, workers: int = 1, limit: float = LIMIT,
             on_result=None, only: list[int] | None = None) -> Tally:
    """`n` mutants (or the mutants `only`) round-robin over the seeds, each through every command, in
    `workers` forked processes; `on_result(tally)` after each mutant."""
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="nd-fuzz-")) if own else work
    (work / "crashes").mkdir(exist_ok=True)
    os.environ.setdefault(cli.CRASH_DIR_ENV, str(work / "crashes"))
    tally, t0 = Tally(), time.perf_counter()
    try:
        files = seeds(work)
        shapes = [tuple(ir.load(p).out_shape[ir.load(p).inputs[0]]) for p in files]
        setup = Setup(work, files, shapes, one_target_per_backend(), seed, limit)
        (work / "warm").mkdir(exist_ok=True)
        commands(files[2], work / "warm", setup.targets, shapes[2], Tally(), "warm-up")  # lazy imports, once
        pool = Pool(setup, workers)
        try:
            def done(t: Tally) -> None:
                tally.add(t)
                if on_result:
                    on_result(tally)
            pool.map(only if only is not None else range(n), done)
        finally:
            pool.close()
    finally:
        tally.seconds = time.perf_counter() - t0
        if own and not tally.failures and not tally.hangs:  # kept with its reproducers otherwise
            shutil.rmtree(work, ignore_errors=True)
    return tally


def signature(err: str) -> str:
    """What a failure is, without its numbers and paths: the error line before the reproducer."""
    line = err.split(" -- a bug in neurodeploy")[0].replace("internal error: ", "")
    return re.sub(r"\d+", "N", re.sub(r"'[^']*'|/\S+", "…", line))[:160]


def report(t: Tally, load: tuple | None = None) -> str:
    lines = [f"{t.mutants} mutants, {t.commands} command runs in {t.seconds:.0f} s"
             + (f" (load average {load[0]:.1f} at the end)" if load else "") + "; exits: "
             + ", ".join(f"{k}: {v}" for k, v in sorted(t.exits.items())),
             "time per command kind: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.by_command.most_common()),
             f"internal errors / escaped exceptions: {len(t.failures)}; hangs: {len(t.hangs)}"]
    sigs = collections.Counter((a[0] if a else "?", signature(e)) for _, a, e, _ in t.failures)
    lines += [f"  {n} x {cmd}: {s}" for (cmd, s), n in sigs.most_common()]
    for what, argv_, err, keep in t.failures[:50]:
        lines.append(f"  {what}\n    neurodeploy {' '.join(argv_)}\n    {err[:300]}\n    reproducer: {keep}")
    for what, argv_, keep in t.hangs[:50]:
        lines.append(f"  hang {what}: {' '.join(argv_) if argv_ else ''} reproducer: {keep}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="forked worker processes")
    ap.add_argument("--limit", type=float, default=LIMIT, help="seconds one command may take (a hang)")
    ap.add_argument("--only", type=int, nargs="+", help="only these mutant numbers (a reproducer)")
    ap.add_argument("--progress", type=int, default=100, help="without a terminal: a line every N mutants")
    a = ap.parse_args(argv)
    from neurodeploy.ir import reader
    reader.probe = lambda path, read: None  # the forked hang probe: structure mutants are valid HDF5
    total = len(a.only) if a.only else a.n
    with Progress(*Progress.get_default_columns(), TextColumn("{task.fields[info]}"),
                  disable=not sys.stdout.isatty()) as bar:
        task = bar.add_task("fuzz", total=total, info="")
        t0 = time.perf_counter()

        def on_result(t: Tally) -> None:
            info = f"{t.commands} runs, {len(t.failures)} internal errors, {len(t.hangs)} hangs"
            bar.update(task, completed=t.mutants, info=info)
            if not sys.stdout.isatty() and t.mutants % a.progress == 0:
                print(f"  {t.mutants}/{total} mutants, {info}, {time.perf_counter() - t0:.0f} s, "
                      f"exits {dict(sorted(t.exits.items()))}, load {os.getloadavg()[0]:.1f}", flush=True)
        t = campaign(a.n, a.seed, workers=a.workers, limit=a.limit, on_result=on_result, only=a.only)
    print(report(t, os.getloadavg()))
    return 1 if t.failures or t.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
