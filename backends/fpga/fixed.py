"""Lower a graph to the FPGA core's fixed point: layers, integer weights and per-signal formats.

Everything a neuron or a synapse chain becomes comes from the shared lowering: chains folded per
(source, layer) (`Folder`), the reference's own coefficients (`coefficients`: ``v' = a_m v + c +
k_x x``), per-layer scaling and rounding (`row_scales`, `quantize_rows`), the semantics check
(`SUPPORT`). With S the layer's weight scale (weight LSB per model unit of v), F = frac_bits and
D = decay_bits the core computes per neuron and step, in integers (golden.py is the spec):

    v' = wrap_vb( (v*A + 2**(D-1)) >> D  +  bias  +  (sum of weights of this step's events) << F )
    spike if v' > theta; then v' = 0 (reset zero / v_reset 0) or v' - theta (subtract)

    weights   w = round(k_x * M * S), |w| <= 2**(wb-1) - 1, S per layer from the largest |k_x M|
    A = round(a_m * 2**D)   bias = round((c + k_x b) * S * 2**F)   theta = round(v_th * S * 2**F)

Formats come from value ranges: the membrane width ``v_bits`` from the largest |v| the float
reference reaches on calibration inputs (-O calib=FILE.npy, else Bernoulli spikes at calib_rate),
theta and the bias, plus headroom_bits; the accumulator width from the exact bound sum |w| of a
row. A ``v_bits`` given with -O below that is refused (`InvalidModel`, rule ``v_format``). The
report states every format and the error it causes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy.errors import InvalidModel, UnsupportedNode, UnsupportedSemantics, UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.lowering import Folder, Support, check, coefficients, quantize_rows, row_peaks, row_scales, scale_rows
from neurodeploy.sim.reference import simulate
from neurodeploy.targets import Target

ROLE = "compile"
SPIKING = (nir.LIF, nir.IF)
SUPPORT = Support(
    backend="fpga",
    values={"dt": None, "integrator": None, "reset": None, "reset_timing": ("same_step",)},
    neurons=SPIKING,
    hints={"reset_timing": "the core resets in the spiking step: compile with --reset-timing same_step",
           **{t.__name__: f"{t.__name__} has no datapath in the FPGA core: use LIF or IF"
              for t in (nir.LI, nir.CubaLI, nir.I, nir.CubaLIF)}})
INT_OPTIONS = ("lanes", "weight_bits", "frac_bits", "decay_bits", "headroom_bits", "v_bits")
OPTIONS = (*INT_OPTIONS, "calib")


@dataclass
class Layer:
    name: str
    size: int
    sources: list[dict]   # {src, via, w: (n, n_src) int csr}
    A: np.ndarray
    bias: np.ndarray
    theta: np.ndarray
    scale: float          # weight LSB per model unit of v
    error: dict


def parse_options(raw: dict, target: Target) -> dict:
    unknown = sorted(set(raw) - set(OPTIONS))
    if unknown:
        raise UsageError(f"unknown FPGA option(s) {', '.join(unknown)}", hint=f"known: {', '.join(OPTIONS)}")
    o = {k: int(target.v(f"design.{k}")) for k in INT_OPTIONS if k != "v_bits"}
    o["v_bits"], o["calib"] = 0, raw.get("calib", "")
    for k in INT_OPTIONS:
        if k in raw:
            if not str(raw[k]).isdigit():
                raise UsageError(f"option {k}={raw[k]!r} must be a non-negative integer")
            o[k] = int(raw[k])
    for k in ("lanes", "weight_bits", "decay_bits"):
        if o[k] < 1 or (k == "weight_bits" and o[k] < 2):
            raise UsageError(f"option {k}={o[k]} is too small")
    return o


def _unsupported(graph: Graph, name: str) -> Exception:
    return UnsupportedNode(f"{type(graph.nodes[name]).__name__} has no FPGA mapping", where=name,
                           hint="supported: Input, LIF, IF, Affine, Linear, Scale, Conv1d, Conv2d, SumPool2d, "
                                "AvgPool2d, Flatten, Output")


def structure(graph: Graph) -> tuple[str, list[str], Folder]:
    """The one input, the neuron layers in order, and the folder; refuses what the core cannot run."""
    check(graph, SUPPORT)
    if len(graph.inputs) != 1:
        raise UnsupportedNode(f"the FPGA core streams one graph input, this graph has {len(graph.inputs)}",
                              where=", ".join(graph.inputs) or "graph", hint="merge the inputs into one")
    layers, folder = graph.neurons(), Folder(graph, unsupported=_unsupported)
    for i, name in enumerate(layers):
        if graph.semantics.reset == "v_reset" and np.any(np.asarray(getattr(graph.nodes[name], "v_reset", 0)) != 0):
            raise UnsupportedSemantics("the core resets to 0 (or subtracts); v_reset != 0 has no datapath",
                                       where=name, hint="compile with --reset zero or --reset subtract")
        for path in folder.paths(name):
            if path.source not in graph.inputs and path.source not in layers[:i]:
                raise UnsupportedNode(f"recurrent connection from {path.source}: the core runs layers "
                                      "feed-forward within a step", where=name, hint="rule: feed_forward")
    for out in graph.outputs:
        for p in graph.predecessors(out):
            if p not in layers:
                raise UnsupportedNode("an output must be fed by a neuron layer", where=out)
    return graph.inputs[0], layers, folder


def fan_in(graph: Graph, folder: Folder, name: str) -> dict[str, int]:
    """Source -> its number of neurons (the rows of the layer's weight memory), before any folding."""
    return {p.source: graph.size(p.source) for p in folder.paths(name)}


def lower(graph: Graph, folder: Folder, layers: list[str], o: dict) -> list[Layer]:
    w_max, F, D = 2 ** (o["weight_bits"] - 1) - 1, o["frac_bits"], o["decay_bits"]
    out = []
    for name in layers:
        co = coefficients(graph, name)
        n = graph.size(name)
        k_x = np.asarray(co.k_x, np.float64).ravel()
        drive = folder.drive(name)
        via: dict[str, dict] = {}
        for path in folder.paths(name):
            via.setdefault(path.source, {}).update(dict.fromkeys(path.ops))
        mats = {src: scale_rows(m, k_x) for src, m in drive.matrices.items()}
        peak = np.max([row_peaks(m) for m in mats.values()], axis=0) if mats else np.zeros(n)
        s = float(row_scales(peak, w_max, "per_layer")[0])
        sources, werr = [], {}
        for src, m in mats.items():
            q, r = quantize_rows(m, np.full(n, s), w_max, dtype=np.int64)
            sources.append({"src": src, "via": list(via[src]), "w": q})
            werr[src] = r.stats
        unit = s * 2.0 ** F
        a_m = np.asarray(co.a_m, np.float64).ravel()
        c = np.zeros(n) if co.c is None else np.asarray(co.c, np.float64).ravel()
        bias_f, theta_f = (c + k_x * drive.bias) * unit, np.asarray(co.theta, np.float64).ravel() * unit
        A = np.rint(a_m * 2.0 ** D).astype(np.int64)
        bias, theta = np.rint(bias_f).astype(np.int64), np.rint(theta_f).astype(np.int64)
        error = {"weights": werr, "decay_max_abs_error": float(np.abs(A / 2.0 ** D - a_m).max(initial=0)),
                 "theta_max_abs_error": float(np.abs(theta - theta_f).max(initial=0) / unit),
                 "bias_max_abs_error": float(np.abs(bias - bias_f).max(initial=0) / unit),
                 "v_lsb": 1.0 / unit, "weight_lsb": 1.0 / s}
        out.append(Layer(name, n, sources, A, bias, theta, s, error))
    return out


def bits(x: float) -> int:
    """Signed width holding +-x."""
    return max(1, math.ceil(math.log2(x + 1))) + 1


def calibration(graph: Graph, inp: str, o: dict, target: Target, seed: int) -> np.ndarray:
    if o["calib"]:
        path = Path(o["calib"])
        if not path.is_file():
            raise UsageError("calibration input file not found", where=str(path))
        return np.load(path, allow_pickle=False)
    rng = np.random.default_rng(seed)
    shape = (int(target.v("design.calib_steps")), int(target.v("design.calib_batch")), *graph.out_shape[inp])
    return (rng.random(shape) < float(target.v("design.calib_rate"))).astype(np.float64)


def formats(graph: Graph, inp: str, layers: list[Layer], o: dict, target: Target, seed: int) -> dict:
    """The widths (v_bits, acc_bits) from calibration ranges and exact bounds, checked; per layer the
    measured range in the report."""
    x = calibration(graph, inp, o, target, seed)
    ref = simulate(graph, x, record=[lay.name for lay in layers])
    need, acc, ranges = 0, 1, {}
    for lay in layers:
        unit = lay.scale * 2.0 ** o["frac_bits"]
        v_max = float(np.abs(ref.v[lay.name]).max(initial=0))
        top = max(v_max * unit, float(np.abs(lay.theta).max(initial=0)), float(np.abs(lay.bias).max(initial=0)))
        lay_need = bits(top) + o["headroom_bits"]
        row_sum = sum(abs(s["w"]).sum(axis=1).A.ravel() for s in lay.sources) if lay.sources else np.zeros(1)
        acc = max(acc, bits(float(np.max(row_sum, initial=0))))
        ranges[lay.name] = {"v_max_calibrated": v_max, "v_bits_needed": lay_need}
        if o["v_bits"] and o["v_bits"] < lay_need:
            raise InvalidModel(f"format overflow: v needs {lay_need} bits (calibrated |v| up to {v_max:.4g}, "
                               f"threshold {lay.theta.max() / unit:.4g}) but v_bits={o['v_bits']}",
                               where=lay.name, hint="rule: v_format; raise -O v_bits or lower -O frac_bits")
        need = max(need, lay_need)
    v_bits = o["v_bits"] or need
    widest = v_bits + o["decay_bits"] + 1
    if widest > int(target.v("design.max_bits")):
        raise InvalidModel(f"format overflow: the decay product needs {widest} bits", where=layers[0].name,
                           hint="rule: product_width; lower -O frac_bits or -O decay_bits")
    return {"v_bits": v_bits, "acc_bits": acc, "ranges": ranges}


def padded(a: np.ndarray, total: int, fill: int = 0) -> np.ndarray:
    return np.concatenate([a, np.full(total - a.size, fill, np.int64)])


def build_spec(inp: str, in_shape, layers: list[Layer], outputs: dict, reset: str, o: dict, f: dict) -> tuple[dict, list[dict]]:
    """The fixed-point spec (design.json) and per-layer arrays in `layout.read`'s form."""
    P = o["lanes"]
    names = [lay.name for lay in layers]
    n_in = int(np.prod(in_shape))
    offset, specs, arrays = 0, [], []
    for lay in layers:
        W = -(-lay.size // P)
        row0, rows, srcs = 0, [], []
        for s in lay.sources:
            n_src = s["w"].shape[1]
            srcs.append({"src": s["src"], "via": s["via"], "row0": row0, "rows": n_src})
            rows.append(sp.csr_matrix(s["w"]).T.toarray())
            row0 += n_src
        w = np.zeros((row0, W * P), np.int64)
        if rows:
            w[:, :lay.size] = np.concatenate(rows)
        never = 2 ** (f["v_bits"] - 1) - 1  # a padded lane never spikes
        arrays.append({"w": w, "A": padded(lay.A, W * P), "bias": padded(lay.bias, W * P),
                       "theta": padded(lay.theta, W * P, never)})
        specs.append({"name": lay.name, "size": lay.size, "words": W, "rows": row0, "offset": offset,
                      "sources": srcs})
        offset += lay.size
    for spec in specs:
        spec["consumers"] = [j for j, other in enumerate(specs) for s in other["sources"] if s["src"] == spec["name"]]
    widest_id = max(n_in, offset)
    spec = {"lanes": P, "weight_bits": o["weight_bits"], "acc_bits": f["acc_bits"], "v_bits": f["v_bits"],
            "frac_bits": o["frac_bits"], "decay_bits": o["decay_bits"],
            "index_bits": max(1, math.ceil(math.log2(widest_id + 1))),
            "reset": "subtract" if reset == "subtract" else "zero",
            "input": {"name": inp, "shape": [int(d) for d in in_shape], "size": n_in,
                      "consumers": [j for j, s in enumerate(specs) for src in s["sources"] if src["src"] == inp]},
            "layers": specs, "outputs": dict(outputs)}
    if any(n not in names for n in spec["outputs"].values()):
        raise InvalidModel("an output is not fed by a layer")
    return spec, arrays
