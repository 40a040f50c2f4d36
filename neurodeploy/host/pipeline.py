"""A model split between host and chip, compiled and run step by step (token by token).

    p = compile_pipeline(graph, "spinnaker2", "out/lm")     # host_<i>.onnx + chip_<i>/ artifacts
    r = Runner("out/lm", batch=1)                            # onnxruntime sessions + chip engines
    y = r.step({"input": x_t})                               # one token through every segment
    ys = r.run(x)                                            # (T, B, ...) sequence, step by step

Layout of the directory: ``pipeline.json`` (format, target, placement of every node, segments,
crossings, SHA-256 of every host file), ``host_<i>.onnx`` + ``host_<i>_state.npz`` per host
segment, ``chip_<i>/`` a normal artifact per chip segment (its own manifest and checks),
``model.nir`` the whole model. It is written into a staging directory and moved into place.

A chip engine runs whole sequences, so `step` replays the chip segment on its input history and
keeps the last step (exact for a deterministic engine; O(T^2) ticks, fine for the tens of tokens of
a generation test; `run` with no feedback calls the engine once per chip segment).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nir
import numpy as np

from .. import backend as bk
from .. import ir
from ..errors import TargetError, UnsupportedNode, UsageError
from ..ir.graph import Graph
from ..sim.inputs import as_batched
from . import boundary
from .placement import Segment, Split, partition

FORMAT, VERSION = "neurodeploy-pipeline", 1
MANIFEST = "pipeline.json"


def chip_graph(graph: Graph, seg: Segment) -> Graph:
    """Segment `seg` as a graph of its own: an Input per outside source (named after it), an
    Output ``<node>_out`` per value read outside (graph Output nodes stay themselves)."""
    inside = set(seg.nodes)
    nodes = {n: graph.nodes[n] for n in seg.nodes}
    edges = [(s, d) for s, d in graph.edges if s in inside and d in inside]
    in_shape = {n: graph.in_shape[n] for n in seg.nodes}
    out_shape = {n: graph.out_shape[n] for n in seg.nodes}
    for s, d in graph.edges:
        if d in inside and s not in inside:
            if (s, d) in graph.delayed:
                raise UnsupportedNode(f"a recurrent edge from {s!r} enters the chip part from the host", where=d,
                                      hint="keep the recurrence on one side")
            shape = tuple(graph.out_shape[s])
            nodes[s] = nir.Input(input_type={"input": np.array(shape)})
            in_shape[s] = out_shape[s] = shape
            edges.append((s, d))
    for n in seg.outputs:
        if not isinstance(graph.nodes[n], nir.Output):
            o = output_name(n)
            nodes[o] = nir.Output(output_type={"output": np.array(graph.out_shape[n])})
            in_shape[o] = out_shape[o] = tuple(graph.out_shape[n])
            edges.append((n, o))
    ports = {e: p for e, p in graph.ports.items() if e in set(edges)}
    return Graph(nodes, edges, in_shape, out_shape, graph.semantics, dict(graph.metadata), ports)


def output_name(n: str) -> str:
    return f"{n}_out"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _chip_part(graph: Graph, seg: Segment, split: Split, backend, options: dict | None, calibration):
    """The chip graph, its compile options and its boundary scales: on a target whose inputs are
    integer events (``graded_input_option``), values crossing in are quantized (`boundary`)."""
    chip = chip_graph(graph, seg)
    sources = sorted({c.src for c in split.crossings if c.dst in seg.nodes and c.kind == "values"})
    opt = getattr(backend, "graded_input_option", None)
    if not sources or opt is None:
        return chip, options, {}, None
    if opt not in (options or {}):
        raise UsageError(f"values from {', '.join(sources)} cross into {backend.name}, which takes integer events",
                         hint=f"give -O {opt}=N (payload bits of the graded events) and calibration inputs")
    bits = int(options[opt])
    qs = boundary.scales(graph, calibration, sources, bits)
    for s, q in qs.items():
        boundary.fold(chip, s, q)
    return chip, options, qs, bits


def compile_pipeline(graph: Graph, target: str, out_dir: str | Path, *, options: dict | None = None,
                     real_input: bool = False, overwrite: bool = False, dtype=np.float32,
                     calibration=None) -> Split:
    """Partition `graph` for `target`, export host segments to ONNX and compile chip segments.
    `calibration`: inputs of the whole model, run on the reference to scale values that cross into
    a chip taking integer events (`boundary`)."""
    from .onnx_export import export

    t, backend = bk.resolve(target)
    split = partition(graph, backend, t.name, real_input=real_input)
    out = Path(os.path.abspath(out_dir))
    if out.exists() and any(out.iterdir()):
        if not (overwrite and (out / MANIFEST).is_file()):
            raise UsageError("exists and is not empty" + ("" if overwrite else "; pass --force to replace a pipeline"),
                             where=str(out_dir))
    if not out.parent.is_dir():
        raise UsageError(f"directory {out.parent} does not exist", where=str(out_dir))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        files, segs = {}, []
        for seg in split.segments:
            entry = {"index": seg.index, "side": seg.side, "nodes": list(seg.nodes), "inputs": list(seg.inputs),
                     "outputs": list(seg.outputs)}
            if seg.side == "host":
                part = export(graph, seg, dtype)
                name = f"host_{seg.index}"
                (tmp / f"{name}.onnx").write_bytes(part.model.SerializeToString())
                np.savez(tmp / f"{name}_state.npz", **part.state0)
                entry.update(file=f"{name}.onnx", state=f"{name}_state.npz", macs_per_step=part.macs_per_step,
                             neuron_updates_per_step=part.neuron_updates_per_step, in_now=part.inputs,
                             in_prev=part.prev_inputs)
                files.update({f"{name}.onnx": _sha(tmp / f"{name}.onnx"),
                              f"{name}_state.npz": _sha(tmp / f"{name}_state.npz")})
            else:
                entry["artifact"] = f"chip_{seg.index}"
                entry["inputs"] += [n for n in seg.nodes if n in graph.inputs]  # a graph input the chip reads itself
                chip, opts, qs, bits = _chip_part(graph, seg, split, backend, options, calibration)
                bk.compile(chip, t, tmp / entry["artifact"], options=opts)
                entry["fed_by"] = {n: graph.predecessors(n)[0] for n in seg.outputs
                                   if isinstance(graph.nodes[n], nir.Output) and graph.predecessors(n)}
                if qs:
                    entry.update(scale=qs, bits=bits)
            segs.append(entry)
        ir.write(tmp / "model.nir", graph)
        manifest = {"format": FORMAT, "version": VERSION, "target": t.name, "backend": t.backend,
                    "dtype": np.dtype(dtype).name, "inputs": graph.inputs, "outputs": graph.outputs,
                    "input_shapes": {n: list(graph.out_shape[n]) for n in graph.inputs},
                    "placement": {n: [p.where, p.why] for n, p in split.placement.items()},
                    "crossings": [[c.src, c.dst, c.kind, c.width] for c in split.crossings],
                    "segments": segs, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return split


def is_pipeline(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def read_manifest(path: str | Path) -> dict:
    p = Path(path)
    try:
        m = json.loads((p / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise TargetError(f"cannot read {MANIFEST}: {e}", where=str(p)) from None
    if not isinstance(m, dict) or m.get("format") != FORMAT or m.get("version") != VERSION:
        raise TargetError(f"{MANIFEST} is not a neurodeploy pipeline (format {FORMAT} v{VERSION})", where=str(p))
    for rel, h in m["files"].items():
        if not (p / rel).is_file() or _sha(p / rel) != h:
            raise TargetError("host file missing or changed since compile (checksum mismatch)", where=str(p / rel),
                              hint="recompile the pipeline")
    return m


@dataclass
class Crossed:
    """Per boundary edge kind, the events that crossed (non-zero entries) and steps run."""

    spikes: int = 0
    values: int = 0
    steps: int = 0
    per_edge: dict = field(default_factory=dict)


class _Host:
    def __init__(self, path: Path, entry: dict, batch: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(path / entry["file"]), opts, providers=["CPUExecutionProvider"])
        self.entry, self.batch = entry, batch
        with np.load(path / entry["state"]) as z:
            self.state0 = {k: z[k] for k in z.files}
        self.names = [o.name for o in self.sess.get_outputs()]
        self.dtype = np.float32 if self.sess.get_inputs()[0].type == "tensor(float)" else np.float64
        self.reset()

    def reset(self):
        self.state = {k: np.repeat(v, self.batch, axis=0) for k, v in self.state0.items()}

    def step(self, now: dict, prev: dict) -> dict:
        feed = {f"in:{s}": now[s].astype(self.dtype) for s in self.entry["in_now"]}
        feed.update({f"prev:{s}": prev[s].astype(self.dtype) for s in self.entry["in_prev"]})
        feed.update(self.state)
        res = dict(zip(self.names, self.sess.run(self.names, feed)))
        self.state = {"state:" + k[len("next:"):]: v for k, v in res.items() if k.startswith("next:")}
        return {k[len("out:"):]: v for k, v in res.items() if k.startswith("out:")}


class _Chip:
    def __init__(self, path: Path, entry: dict, engine: str | None, graph_outputs):
        self.dir, self.entry, self.engine = path / entry["artifact"], entry, engine
        # a graph Output node keeps its name in the chip graph; other values read outside get one
        self.names = {n: n if n in graph_outputs else output_name(n) for n in entry["outputs"]}
        self.history: list[dict] = []
        self.result = None
        self.lag = self._lag()

    def _lag(self) -> int:
        """Steps the chip's outputs run behind the model (a target whose quantized graph adds
        Delay nodes, e.g. Loihi's synapse delay); the chip runs that many extra steps."""
        from .. import artifact as art
        from ..fidelity import lags

        a = art.Artifact(self.dir)
        model = ir.load(a.file(a.manifest["model"]))
        return max(lags(bk.get(a.backend).quantized_graph(a), model, model.order).values(), default=0)

    def reset(self):
        self.history = []

    def _outputs(self, result) -> dict:
        out = {}
        for n, o in self.names.items():
            # an engine may record an output under the population feeding it (Loihi)
            keys = (o, n, self.entry.get("fed_by", {}).get(n))
            for table, key in [(t, k) for k in keys for t in (result.spikes, result.extra.get("outputs", {}), result.v)]:
                if key in table:
                    out[n] = np.asarray(table[key], np.float64)[self.lag:]
                    break
            else:
                raise TargetError(f"the chip engine recorded no output {o!r}", where=str(self.dir))
        return out

    def run(self, xs: dict) -> dict:
        ins = self.entry["inputs"]
        feed = {s: xs[s] for s in ins}
        for s, q in self.entry.get("scale", {}).items():
            feed[s] = boundary.encode(feed[s], q, self.entry["bits"])
        if self.lag:
            feed = {s: np.concatenate([v, np.zeros((self.lag,) + v.shape[1:], v.dtype)]) for s, v in feed.items()}
        steps = len(next(iter(feed.values())))
        self.result = bk.run(self.dir, feed[ins[0]] if len(ins) == 1 else feed, steps=steps, engine=self.engine)
        return self._outputs(self.result)

    def step(self, now: dict) -> dict:
        self.history.append({s: now[s] for s in self.entry["inputs"]})
        xs = {s: np.stack([h[s] for h in self.history]) for s in self.entry["inputs"]}
        return {k: v[-1] for k, v in self.run(xs).items()}


class Runner:
    """Runs a compiled pipeline: host segments in onnxruntime, chip segments on their engine."""

    def __init__(self, path: str | Path, *, batch: int = 1, engine: str | None = None):
        self.path = Path(path)
        self.m = read_manifest(self.path)
        self.batch = batch
        self.parts = []
        for e in self.m["segments"]:
            self.parts.append(_Host(self.path, e, batch) if e["side"] == "host"
                              else _Chip(self.path, e, engine, set(self.m["outputs"])))
        self.crossings = [tuple(c) for c in self.m["crossings"]]
        self.reset()

    def reset(self, batch: int | None = None):
        """Back to the initial state (for `batch` samples from now on, if given)."""
        self.batch = batch or self.batch
        for p in self.parts:
            p.batch = self.batch
            p.reset()
        self.prev: dict[str, np.ndarray] = {}
        self.crossed = Crossed()

    def _count(self, values: dict) -> None:
        for src, dst, kind, _ in self.crossings:
            nz = int(np.count_nonzero(values[src]))
            setattr(self.crossed, kind, getattr(self.crossed, kind) + nz)
            self.crossed.per_edge[f"{src}->{dst}"] = self.crossed.per_edge.get(f"{src}->{dst}", 0) + nz

    def _sequence(self, inputs) -> dict:
        """Input name -> (T, B, *shape), checked like every simulator's input."""
        xs = inputs if isinstance(inputs, dict) else {self.m["inputs"][0]: inputs}
        unknown = sorted(set(xs) - set(self.m["inputs"]))
        if unknown:
            raise UsageError(f"no model input named {', '.join(unknown)}", hint=f"inputs: {', '.join(self.m['inputs'])}")
        return {n: as_batched(xs[n], self.m["input_shapes"][n], where=n) for n in self.m["inputs"]}

    def step(self, inputs) -> dict:
        """One step: `inputs` (B, *shape) for a one-input model, or a dict input -> array."""
        values = {k: v[0] for k, v in self._sequence(
            {k: np.asarray(v)[None] for k, v in inputs.items()} if isinstance(inputs, dict)
            else np.asarray(inputs)[None]).items()}
        for part in self.parts:
            if isinstance(part, _Host):
                prev = {s: self.prev.get(s, np.zeros_like(values.get(s, 0.0))) for s in part.entry["in_prev"]}
                values.update(part.step(values, prev))
            else:
                values.update(part.step(values))
        self._count(values)
        self.crossed.steps += 1
        self.prev = values
        return {o: values[o] for o in self.m["outputs"]}

    def run(self, inputs) -> dict:
        """A whole sequence (T, B, *shape); returns output -> (T, B, *shape). Without feedback
        across the boundary each segment runs over the whole sequence in turn (a chip engine once);
        otherwise step by step."""
        xs = self._sequence(inputs)
        T, B = next(iter(xs.values())).shape[:2]
        if B != self.batch:
            self.reset(B)  # a different batch starts from the initial state
        if any(isinstance(p, _Host) and p.entry["in_prev"] for p in self.parts):
            outs = [self.step({k: v[t] for k, v in xs.items()}) for t in range(T)]
            return {o: np.stack([y[o] for y in outs]) for o in self.m["outputs"]}
        for part in self.parts:
            if isinstance(part, _Host):
                steps = [part.step({k: v[t] for k, v in xs.items()}, {}) for t in range(T)]
                xs.update({k: np.stack([s[k] for s in steps]) for k in steps[0]})
            else:
                xs.update(part.run(xs))
        for t in range(T):
            self._count({k: v[t] for k, v in xs.items()})
        self.crossed.steps += T
        return {o: xs[o] for o in self.m["outputs"]}
