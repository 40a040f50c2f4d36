"""Fuzz the whole CLI with HDF5-structure mutations of `.nir` files and count what comes out.

Issue #10: 10,000 mutated files gave 37 uncaught exceptions. Each mutant here goes through every
command: ``inspect``, ``simulate``, ``compile`` for one target of each installed backend and ``run``
on each artifact that compiled. An exit of 0/2/3/4/5 is an answer; exit 1 ("internal error", the
top-level catch of a bug) and any exception escaping `cli.main` count as failures, each kept with
its command line and crash report.

    .venv/bin/python bench/fuzz.py [N=10000] [--seed S] [--progress K]   # counts; exit 1 on a failure

The mutations (`mutate`) act on the file's structure through h5py: shapes, dtypes, lengths (conv
dilation/stride/padding of the wrong length included), all-zero and NaN/inf parameters, declared
huge sizes, deleted datasets, edges deleted/duplicated/dangling, and nesting (a node moved into a
subgraph, sometimes without its input edge). tests/test_fuzz_nir.py runs ~1,000 of them per CI run.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import io
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nir
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neurodeploy import backend as bk  # noqa: E402
from neurodeploy import cli, ir  # noqa: E402
from neurodeploy import targets as tg  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata" / "nir-paper"
STEPS = 4
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
    failures: list = field(default_factory=list)  # (mutation, argv, stderr)
    seconds: float = 0.0


def _cli(argv: list[str], tally: Tally, what: str) -> int:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    except BaseException as e:  # noqa: BLE001 - anything escaping the CLI's top level is a failure too
        code, err = -1, io.StringIO(f"escaped cli.main: {type(e).__name__}: {e}")
    tally.commands += 1
    tally.exits[code] += 1
    if code not in (0, 2, 3, 4, 5):
        tally.failures.append((what, argv, err.getvalue().strip()))
    return code


def _input(path: Path, seed_shape: tuple, out: Path) -> Path:
    """Spikes of the mutant's input shape when it loads, else of its seed's."""
    try:
        shape = tuple(ir.load(path).out_shape[ir.load(path).inputs[0]])
    except Exception:  # noqa: BLE001 - the commands report the load error themselves
        shape = seed_shape
    n = math.prod(shape) if shape else 1
    x = np.zeros((STEPS, 1, *shape)) if 0 < n <= 10**5 else np.zeros((STEPS, 1, *seed_shape))
    x.reshape(-1)[:: 3] = 1.0
    np.save(out, x)
    return out


def commands(path: Path, work: Path, targets: list[str], seed_shape: tuple, tally: Tally, what: str) -> None:
    """Every command on one file: inspect, simulate, compile per target, run per artifact."""
    x = _input(path, seed_shape, work / "x.npy")
    _cli(["inspect", str(path)], tally, what)
    _cli(["simulate", str(path), "--input", str(x), "--steps", str(STEPS), "--out", str(work / "sim.npz")],
         tally, what)
    for t in targets:
        art = work / f"art-{t}"
        if _cli(["compile", str(path), "--target", t, "--reset", "zero", "-o", str(art), "--force"], tally, what) == 0:
            _cli(["run", str(art), "--input", str(x), "--steps", str(STEPS), "--out", str(work / f"run-{t}.npz")],
                 tally, what)


def campaign(n: int, seed: int = 0, work: Path | None = None, progress: int = 0) -> Tally:
    """`n` mutants round-robin over the seeds, each through every command."""
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="nd-fuzz-")) if own else work
    (work / "crashes").mkdir(exist_ok=True)
    os.environ.setdefault(cli.CRASH_DIR_ENV, str(work / "crashes"))
    tally, t0 = Tally(), time.perf_counter()
    try:
        files = seeds(work)
        shapes = [tuple(ir.load(p).out_shape[ir.load(p).inputs[0]]) for p in files]
        targets = one_target_per_backend()
        rng = np.random.default_rng(seed)
        for i in range(n):
            k = i % len(files)
            mutant = work / "mutant.nir"
            what = f"#{i} {files[k].name}: " + mutate(files[k], mutant, rng)
            commands(mutant, work, targets, shapes[k], tally, what)
            tally.mutants += 1
            if progress and tally.mutants % progress == 0:
                print(f"  {tally.mutants} mutants, {tally.commands} runs, {time.perf_counter() - t0:.0f} s, "
                      f"exits {dict(sorted(tally.exits.items()))}, failures {len(tally.failures)}", flush=True)
    finally:
        tally.seconds = time.perf_counter() - t0
        if own and not tally.failures:  # kept with its crash reports when something failed
            shutil.rmtree(work, ignore_errors=True)
    return tally


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--progress", type=int, default=500, help="print the counts every N mutants")
    a = ap.parse_args(argv)
    from neurodeploy.ir import reader
    reader.probe = lambda path, read: None  # the forked hang probe: structure mutants are valid HDF5
    t = campaign(a.n, a.seed, progress=a.progress)
    print(f"{t.mutants} mutants, {t.commands} command runs in {t.seconds:.0f} s; exits: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(t.exits.items())))
    print(f"internal errors / escaped exceptions: {len(t.failures)}")
    for what, argv_, err in t.failures:
        print(f"  {what}\n    neurodeploy {' '.join(argv_)}\n    {err[:300]}")
    return 1 if t.failures else 0


if __name__ == "__main__":
    sys.exit(main())
