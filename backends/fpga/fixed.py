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
from neurodeploy.ir.dialect import TwoPointCell
from neurodeploy.ir.graph import Graph
from neurodeploy.lowering import Folder, Support, check, coefficients, quantize_rows, row_peaks, row_scales, scale_rows
from neurodeploy.sim.reference import simulate
from neurodeploy.targets import Target

ROLE = "compile"
SPIKING = (nir.LIF, nir.IF)
SUPPORT = Support(
    backend="fpga",
    values={"dt": None, "integrator": None, "reset": None, "reset_timing": ("same_step",)},
    neurons=(*SPIKING, TwoPointCell),
    hints={"reset_timing": "the core resets in the spiking step: compile with --reset-timing same_step",
           **{t.__name__: f"{t.__name__} has no datapath in the FPGA core: use LIF or IF"
              for t in (nir.LI, nir.CubaLI, nir.I, nir.CubaLIF)}})
INT_OPTIONS = ("lanes", "weight_bits", "frac_bits", "decay_bits", "headroom_bits", "lut_bits", "v_bits")
OPTIONS = (*INT_OPTIONS, "calib")


@dataclass
class Layer:
    name: str
    size: int
    sources: list[dict]   # {src, via, port, w: (n, n_src) int csr}
    params: dict          # per-neuron int arrays: A, bias, theta (LIF/IF); bias_b, bias_a (two-point)
    scale: float          # weight LSB per model unit of v (LIF/IF) or of r (two-point)
    error: dict
    kind: str = "lif"
    transfer: dict | None = None  # two-point: the exp look-up table and its constants (twopoint.py)


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
    for k in ("lanes", "weight_bits", "decay_bits", "lut_bits"):
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
            if isinstance(graph.nodes.get(path.source), TwoPointCell):
                raise UnsupportedNode(f"{path.source} is a two-point rate unit; its graded output has no event "
                                      "path into another layer of the core", where=name,
                                      hint="rule: two_point_terminal (two-point cells feed only outputs)")
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


def port_drives(graph: Graph, folder: Folder, name: str) -> dict[str, tuple[dict, dict, np.ndarray]]:
    """Per port of neuron `name`: ({source: matrix}, {source: via nodes}, bias), chains summed."""
    out: dict[str, tuple[dict, dict, np.ndarray]] = {}
    n = graph.size(name)
    for path in folder.paths(name):
        port = graph.port(path.ops[-1] if path.ops else path.source, name)
        mats, via, _ = out.setdefault(port, ({}, {}, np.zeros(n)))
        m = folder.matrix(path.ops) if path.ops else sp.identity(graph.size(path.source), format="csr")
        mats[path.source] = (mats[path.source] + m).tocsr() if path.source in mats else m
        via.setdefault(path.source, {}).update(dict.fromkeys(path.ops))
    for pre in graph.predecessors(name):
        port = graph.port(pre, name)
        if port in out:
            out[port] = (out[port][0], out[port][1], out[port][2] + folder.bias(pre))
    return out


def quantized_sources(mats: dict, via: dict, port: str, n: int, w_max: int) -> tuple[float, list, dict]:
    """One per-layer scale for all of a port's matrices; the integer matrices and their errors."""
    peak = np.max([row_peaks(m) for m in mats.values()], axis=0) if mats else np.zeros(n)
    s = float(row_scales(peak, w_max, "per_layer")[0])
    sources, err = [], {}
    for src, m in mats.items():
        q, r = quantize_rows(m, np.full(n, s), w_max, dtype=np.int64)
        sources.append({"src": src, "via": list(via[src]), "port": port, "w": q})
        err[src if port == "input" else f"{port}:{src}"] = r.stats
    return s, sources, err


def lower(graph: Graph, folder: Folder, layers: list[str], o: dict) -> list[Layer]:
    from .twopoint import lower_two_point

    w_max, F, D = 2 ** (o["weight_bits"] - 1) - 1, o["frac_bits"], o["decay_bits"]
    out = []
    for name in layers:
        if isinstance(graph.nodes[name], TwoPointCell):
            out.append(lower_two_point(graph, name, port_drives(graph, folder, name), w_max))
            continue
        co = coefficients(graph, name)
        n = graph.size(name)
        k_x = np.asarray(co.k_x, np.float64).ravel()
        mats, via, b = port_drives(graph, folder, name).get("input", ({}, {}, np.zeros(n)))
        s, sources, werr = quantized_sources({k: scale_rows(m, k_x) for k, m in mats.items()}, via, "input", n,
                                             w_max)
        unit = s * 2.0 ** F
        a_m = np.asarray(co.a_m, np.float64).ravel()
        c = np.zeros(n) if co.c is None else np.asarray(co.c, np.float64).ravel()
        bias_f, theta_f = (c + k_x * b) * unit, np.asarray(co.theta, np.float64).ravel() * unit
        A = np.rint(a_m * 2.0 ** D).astype(np.int64)
        bias, theta = np.rint(bias_f).astype(np.int64), np.rint(theta_f).astype(np.int64)
        error = {"weights": werr, "decay_max_abs_error": float(np.abs(A / 2.0 ** D - a_m).max(initial=0)),
                 "theta_max_abs_error": float(np.abs(theta - theta_f).max(initial=0) / unit),
                 "bias_max_abs_error": float(np.abs(bias - bias_f).max(initial=0) / unit),
                 "v_lsb": 1.0 / unit, "weight_lsb": 1.0 / s}
        out.append(Layer(name, n, sources, {"A": A, "bias": bias, "theta": theta}, s, error))
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
    measured range in the report; two-point layers get their exp table (twopoint.table)."""
    from .twopoint import drives, table

    x = calibration(graph, inp, o, target, seed)
    lif = [lay.name for lay in layers if lay.kind == "lif"]
    ref = simulate(graph, x, record=lif)
    need, acc, ranges, value_bits = 0, 1, {}, 1
    max_bits = int(target.v("design.max_bits"))
    for lay in layers:
        row_sum = sum(abs(s["w"]).sum(axis=1).A.ravel() for s in lay.sources) if lay.sources else np.zeros(1)
        bias_top = max((float(np.abs(v).max(initial=0)) for k, v in lay.params.items() if k.startswith("bias_")),
                       default=0.0)
        acc = max(acc, bits(float(np.max(row_sum, initial=0)) + bias_top))
        if lay.kind == "two_point":
            r, c = drives(lay, {inp: np.asarray(x).reshape(x.shape[0], x.shape[1], -1),
                                **{n: ref.spikes[n].reshape(x.shape[0], x.shape[1], -1) for n in lif}})
            lay.transfer.update(table(lay, r, c, o, max_bits))
            value_bits = max(value_bits, lay.transfer["value_bits"])
            ranges[lay.name] = {"r_max_calibrated": float(np.abs(r).max(initial=0)) / lay.scale,
                                "c_max_calibrated": float(np.abs(c).max(initial=0)) / lay.transfer["s_a"]}
            lay.error.update({"transfer_max_rel_error": lay.transfer["transfer_max_rel_error"],
                              "u_range": [lay.transfer["u_min"], lay.transfer["u_max"]],
                              "value_lsb": 1.0 / (lay.scale * 2.0 ** o["frac_bits"])})
            continue
        unit = lay.scale * 2.0 ** o["frac_bits"]
        v_max = float(np.abs(ref.v[lay.name]).max(initial=0))  # after the reset: at most ~theta when spiking
        theta, bias = lay.params["theta"], lay.params["bias"]
        # the register holds v before the reset: decayed v + bias + acc << F (acc by its exact bound)
        pre = v_max * unit + np.abs(bias) + row_sum * 2.0 ** o["frac_bits"]
        top = max(float(np.max(pre, initial=0)), float(np.abs(theta).max(initial=0)))
        lay_need = bits(top) + o["headroom_bits"]
        ranges[lay.name] = {"v_max_calibrated": v_max, "v_pre_reset_bound": top / unit, "v_bits_needed": lay_need}
        if o["v_bits"] and o["v_bits"] < lay_need:
            raise InvalidModel(f"format overflow: v needs {lay_need} bits (calibrated |v| up to {v_max:.4g}, "
                               f"threshold {theta.max() / unit:.4g}) but v_bits={o['v_bits']}",
                               where=lay.name, hint="rule: v_format; raise -O v_bits or lower -O frac_bits")
        need = max(need, lay_need)
    v_bits = o["v_bits"] or max(need, 1)
    widest = v_bits + o["decay_bits"] + 1
    if widest > max_bits:
        raise InvalidModel(f"format overflow: the decay product needs {widest} bits", where=lif[0] if lif else "",
                           hint="rule: product_width; lower -O frac_bits or -O decay_bits")
    return {"v_bits": v_bits, "acc_bits": acc, "value_bits": value_bits, "ranges": ranges, "calibration": x}


def padded(a: np.ndarray, total: int, fill: int = 0) -> np.ndarray:
    return np.concatenate([a, np.full(total - a.size, fill, np.int64)])


def build_spec(inp: str, in_shape, layers: list[Layer], outputs: dict, reset: str, o: dict,
               f: dict) -> tuple[dict, list[dict]]:
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
            srcs.append({"src": s["src"], "via": s["via"], "port": s["port"], "row0": row0, "rows": n_src})
            rows.append(sp.csr_matrix(s["w"]).T.toarray())
            row0 += n_src
        w = np.zeros((row0, W * P), np.int64)
        if rows:
            w[:, :lay.size] = np.concatenate(rows)
        never = 2 ** (f["v_bits"] - 1) - 1  # a padded lane never spikes
        arrays.append({"w": w, **{k: padded(v, W * P, never if k == "theta" else 0) for k, v in lay.params.items()}})
        entry = {"name": lay.name, "kind": lay.kind, "size": lay.size, "words": W, "rows": row0, "offset": offset,
                 "sources": srcs}
        if lay.transfer is not None:
            t = lay.transfer
            entry["transfer"] = {k: t[k] for k in ("k1", "k2", "k1_int", "km", "sh", "i0", "du", "u_min", "u_max")}
            entry["transfer"]["value_scale"] = lay.scale * 2.0 ** o["frac_bits"]
            entry["transfer"].update(lut_max=max(t["lut"]), s_b=lay.scale, s_a=t["s_a"])
            arrays[-1]["lut"] = np.asarray(t["lut"], np.int64)
        specs.append(entry)
        offset += lay.size
    for spec in specs:
        spec["consumers"] = sorted({j for j, other in enumerate(specs) for s in other["sources"]
                                    if s["src"] == spec["name"]})
    widest_id = max(n_in, offset)
    spec = {"lanes": P, "weight_bits": o["weight_bits"], "acc_bits": f["acc_bits"], "v_bits": f["v_bits"],
            "frac_bits": o["frac_bits"], "decay_bits": o["decay_bits"], "value_bits": f["value_bits"],
            "lut_bits": o["lut_bits"], "index_bits": max(1, math.ceil(math.log2(widest_id + 1))),
            "reset": "subtract" if reset == "subtract" else "zero",
            "input": {"name": inp, "shape": [int(d) for d in in_shape], "size": n_in,
                      "consumers": sorted({j for j, s in enumerate(specs) for src in s["sources"]
                                           if src["src"] == inp})},
            "layers": specs, "outputs": dict(outputs)}
    if any(n not in names for n in spec["outputs"].values()):
        raise InvalidModel("an output is not fed by a layer")
    return spec, arrays
