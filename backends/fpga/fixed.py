"""Lower a graph to the FPGA core's fixed point: layers, integer weights and per-signal formats.

Everything a neuron or a synapse chain becomes comes from the shared lowering: chains folded per
(source, layer) (`Folder`), the reference's own coefficients in the current-first form
(`current_first(coefficients(...))`: ``v' = a_m v + c + k_i i + k_x x``, ``i' = a_s i + g_s x``,
t0 = k_x), per-layer scaling and rounding (`row_scales`, `quantize_rows`), the semantics check
(`SUPPORT`). With S the layer's weight scale (weight LSB per model unit of v), F = frac_bits,
D = decay_bits and acc the sum of the weights of this step's events, the core computes per neuron
and step, in integers (golden.py is the spec):

    v' = wrap_vb( (v*A + 2**(D-1)) >> D  +  bias  +  acc << F  +  j )          (j = 0: LIF, IF)
    j' = wrap_jb( (j*As + (acc << F)*G + 2**(D-1)) >> D  +  bias_j )           (CubaLIF)
    spike if v' > theta; then v' = 0 (reset zero / v_reset 0) or v' - theta (subtract)

    weights   w = round(k_x * M * S), |w| <= 2**(wb-1) - 1, S per layer from the largest |k_x M|
    A = round(a_m * 2**D)   bias = round((c + k_x b) * S * 2**F)   theta = round(v_th * S * 2**F)
    As = round(a_s * 2**D)  G = round(g * 2**D)  bias_j = round(g * k_x b * S * 2**F)

j is the reference's k_i*i in v units, so v' uses the current before its update as the reference
does, and g = k_i*g_s/k_x = a_s + t1/t0 is the current's gain on this step's drive (a_s exactly
under forward Euler, where t1 = 0; the exact integrator's second tap otherwise): both integrators
run exactly in one datapath. A chain from the layer itself or a later one (a loop) reaches it one step
late, the reference's delay of a cycle's closing edge (`recurrent` checks the chains).

Formats come from value ranges: the membrane width ``v_bits`` from the largest |v| the float
reference reaches on calibration inputs (-O calib=FILE.npy, else Bernoulli spikes at calib_rate),
theta and the bias, plus headroom_bits; the accumulator width from the exact bound sum |w| of a
row. The CubaLIF current j has no reset, so its width ``j_bits`` comes from an exact bound as well:
the steady state of the largest drive, (G/2**D sum|w| 2**F + 1/2 + |bias_j|) / (1 - As/2**D) (a
range from calibration would wrap on a stronger input, e.g. a steady one; the calibrated range is
reported beside it), and the membrane's pre-reset bound adds it. A ``v_bits`` or ``j_bits`` given
with -O below its need is refused (`InvalidModel`, rule ``v_format`` or ``j_format``). The report
states every format and the error it causes.
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
from neurodeploy.lowering import (Folder, Support, check, coefficients, current_first, quantize_rows, row_peaks,
                                  row_scales, scale_rows)
from neurodeploy.sim.reference import simulate
from neurodeploy.targets import Target

ROLE = "compile"
SPIKING = (nir.LIF, nir.IF, nir.CubaLIF)
SUPPORT = Support(
    backend="fpga",
    values={"dt": None, "integrator": None, "reset": None, "reset_timing": ("same_step",)},
    neurons=(*SPIKING, TwoPointCell),
    hints={"reset_timing": "the core resets in the spiking step: compile with --reset-timing same_step",
           **{t.__name__: f"{t.__name__} has no datapath in the FPGA core: use LIF, IF or CubaLIF"
              for t in (nir.LI, nir.CubaLI, nir.I)}})
FROM_CALIBRATION = ("v_bits", "j_bits")  # 0 (the default): the width the calibration needs
INT_OPTIONS = ("lanes", "weight_bits", "frac_bits", "decay_bits", "headroom_bits", "lut_bits", *FROM_CALIBRATION)
OPTIONS = (*INT_OPTIONS, "calib")


@dataclass
class Layer:
    name: str
    size: int
    sources: list[dict]   # {src, via, port, w: (n, n_src) int csr}
    params: dict          # per-neuron int arrays: A, bias, theta (LIF/IF; CubaLIF also As, G, bias_j);
                          # bias_b, bias_a (two-point)
    scale: float          # weight LSB per model unit of v (LIF/IF) or of r (two-point)
    error: dict
    kind: str = "lif"     # "lif" (LIF, IF), "cuba" (CubaLIF) or "two_point"
    transfer: dict | None = None  # two-point: the exp look-up table and its constants (twopoint.py)


def parse_options(raw: dict, target: Target) -> dict:
    unknown = sorted(set(raw) - set(OPTIONS))
    if unknown:
        raise UsageError(f"unknown FPGA option(s) {', '.join(unknown)}", hint=f"known: {', '.join(OPTIONS)}")
    o = {k: int(target.v(f"design.{k}")) for k in INT_OPTIONS if k not in FROM_CALIBRATION}
    o.update(dict.fromkeys(FROM_CALIBRATION, 0), calib=raw.get("calib", ""))
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
                           hint="supported: Input, LIF, IF, CubaLIF, Affine, Linear, Scale, Conv1d, Conv2d, SumPool2d, "
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
            loop = path.source not in graph.inputs and path.source not in layers[:i]
            recurrent(graph, folder, path, name, loop)
    for out in graph.outputs:
        for p in graph.predecessors(out):
            if p not in layers:
                raise UnsupportedNode("an output must be fed by a neuron layer", where=out)
    return graph.inputs[0], layers, folder


def recurrent(graph: Graph, folder: Folder, path, name: str, loop: bool) -> None:
    """The core delivers a source's spikes in the same step to later layers and one step late to its
    own and earlier layers (their accumulators keep what the scan adds after their update pass): a
    chain must carry the reference's delayed (cycle-closing) edge exactly when it loops back."""
    chain = (path.source, *path.ops, name)
    late = [e for e in zip(chain[:-1], chain[1:]) if e in graph.delayed]
    if len(late) != loop:
        raise UnsupportedNode(f"the chain from {path.source} reaches {name} {len(late)} step(s) late; the core "
                              f"delivers {'one step late to a loop' if loop else 'in the same step to a later layer'}",
                              where=name, hint="rule: loop_delay (a recurrent chain closes its loop with one "
                                               "delayed edge, a feed-forward chain with none)")
    if not late:
        return
    if isinstance(graph.nodes[name], TwoPointCell):
        raise UnsupportedNode(f"recurrent connection from {path.source} into a two-point cell", where=name,
                              hint="rule: two_point_recurrent (a two-point cell's drives are this step's events)")
    tail = late[0][0]
    if tail != path.source and np.any(folder.bias(tail)):
        raise UnsupportedNode(f"{tail} has a bias on the recurrent chain from {path.source}: the reference's "
                              f"delayed edge {tail} -> {late[0][1]} carries zeros at step 0, the core adds the "
                              "bias from the first step", where=name,
                              hint="rule: delayed_bias; move the bias to a feed-forward Affine into the layer")


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
        cf = current_first(coefficients(graph, name))
        n, k_x = graph.size(name), cf.t0
        mats, via, b = port_drives(graph, folder, name).get("input", ({}, {}, np.zeros(n)))
        s, sources, werr = quantized_sources({k: scale_rows(m, k_x) for k, m in mats.items()}, via, "input", n,
                                             w_max)
        unit = s * 2.0 ** F
        params, error = {}, {"weights": werr}
        fixed(params, error, "A", "decay_max_abs_error", cf.a_m, 2.0 ** D)
        fixed(params, error, "bias", "bias_max_abs_error", cf.c + k_x * b, unit)
        fixed(params, error, "theta", "theta_max_abs_error", cf.theta, unit)
        error.update(v_lsb=1.0 / unit, weight_lsb=1.0 / s)
        if cf.a_s is not None:
            g = cf.a_s + np.divide(cf.t1, k_x, out=np.zeros(n), where=k_x != 0)  # k_i*g_s/k_x (both 0 if k_x is)
            fixed(params, error, "As", "current_decay_max_abs_error", cf.a_s, 2.0 ** D)
            fixed(params, error, "G", "current_gain_max_abs_error", g, 2.0 ** D)
            fixed(params, error, "bias_j", "current_bias_max_abs_error", g * k_x * b, unit)
            for key, what in (("A", "membrane"), ("As", "synaptic")):
                if np.any(params[key] >= 1 << D):  # the float form (realised.py) needs a decay below 1
                    raise InvalidModel(f"the {what} decay rounds to 1 in {D} bits (no decay)", where=name,
                                       hint="rule: decay_format; raise -O decay_bits or shorten the time constant")
        out.append(Layer(name, n, sources, params, s, error, "cuba" if cf.a_s is not None else "lif"))
    return out


def fixed(params: dict, error: dict, key: str, err_key: str, x: np.ndarray, scale: float) -> None:
    """params[key] = round(x * scale) (int64); error[err_key] = its largest rounding error in x's units."""
    q = np.rint(x * scale)
    params[key] = q.astype(np.int64)
    error[err_key] = float(np.abs(q - x * scale).max(initial=0) / scale)


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
    spiking = [lay.name for lay in layers if lay.kind != "two_point"]
    ref = simulate(graph, x, record=spiking)
    need, need_j, acc, ranges, value_bits = 0, 0, 1, {}, 1
    max_bits, f_unit, d_unit = int(target.v("design.max_bits")), 2.0 ** o["frac_bits"], 2.0 ** o["decay_bits"]
    for lay in layers:
        row_sum = sum(abs(s["w"]).sum(axis=1).A.ravel() for s in lay.sources) if lay.sources else np.zeros(1)
        bias_top = max((float(np.abs(lay.params[k]).max(initial=0)) for k in ("bias_b", "bias_a") if k in lay.params),
                       default=0.0)  # the two-point biases enter the accumulators
        acc = max(acc, bits(float(np.max(row_sum, initial=0)) + bias_top))
        if lay.kind == "two_point":
            r, c = drives(lay, {inp: np.asarray(x).reshape(x.shape[0], x.shape[1], -1),
                                **{n: ref.spikes[n].reshape(x.shape[0], x.shape[1], -1) for n in spiking}})
            lay.transfer.update(table(lay, r, c, o, max_bits))
            value_bits = max(value_bits, lay.transfer["value_bits"])
            ranges[lay.name] = {"r_max_calibrated": float(np.abs(r).max(initial=0)) / lay.scale,
                                "c_max_calibrated": float(np.abs(c).max(initial=0)) / lay.transfer["s_a"]}
            lay.error.update({"transfer_max_rel_error": lay.transfer["transfer_max_rel_error"],
                              "u_range": [lay.transfer["u_min"], lay.transfer["u_max"]],
                              "value_lsb": 1.0 / (lay.scale * 2.0 ** o["frac_bits"])})
            continue
        unit = lay.scale * f_unit
        v_max = float(np.abs(ref.v[lay.name]).max(initial=0))  # after the reset: at most ~theta when spiking
        theta, bias = lay.params["theta"], lay.params["bias"]
        # the register holds v before the reset: decayed v + bias + acc << F (acc by its exact bound) + j
        pre = v_max * unit + np.abs(bias) + row_sum * f_unit
        ranges[lay.name] = {}
        if lay.kind == "cuba":
            # j has no reset: |j| <= its steady state under the largest drive (acc by its exact bound),
            # (G/2**D * sum|w| << F + 1/2 + |bias_j|) / (1 - As/2**D), by induction over the step
            p = lay.params
            j_top = (p["G"] / d_unit * row_sum * f_unit + 0.5 + np.abs(p["bias_j"])) / (1 - p["As"] / d_unit)
            j_need = bits(float(np.max(j_top, initial=0)))
            j_max = float(np.abs(coefficients(graph, lay.name).k_i * ref.extra["i"][lay.name]).max(initial=0))
            ranges[lay.name] = {"j_max_calibrated": j_max, "j_bound": float(np.max(j_top, initial=0)) / unit,
                                "j_bits_needed": j_need}
            if o["j_bits"] and o["j_bits"] < j_need:
                raise InvalidModel(f"format overflow: the current j needs {j_need} bits (|j| up to "
                                   f"{ranges[lay.name]['j_bound']:.4g}) but j_bits={o['j_bits']}", where=lay.name,
                                   hint="rule: j_format; raise -O j_bits or lower -O frac_bits")
            need_j = max(need_j, j_need)
            pre = pre + j_top
        top = max(float(np.max(pre, initial=0)), float(np.abs(theta).max(initial=0)))
        lay_need = bits(top) + o["headroom_bits"]
        ranges[lay.name].update(v_max_calibrated=v_max, v_pre_reset_bound=top / unit, v_bits_needed=lay_need)
        if o["v_bits"] and o["v_bits"] < lay_need:
            raise InvalidModel(f"format overflow: v needs {lay_need} bits (calibrated |v| up to {v_max:.4g}, "
                               f"threshold {theta.max() / unit:.4g}) but v_bits={o['v_bits']}",
                               where=lay.name, hint="rule: v_format; raise -O v_bits or lower -O frac_bits")
        need = max(need, lay_need)
    v_bits, j_bits = o["v_bits"] or max(need, 1), o["j_bits"] or need_j
    gain_bits = max((bits(float(np.abs(lay.params["G"]).max(initial=0))) for lay in layers if lay.kind == "cuba"), default=0)
    widest = v_bits + o["decay_bits"] + 1
    if gain_bits:  # j*As + (acc << F)*G + rounding
        widest = max(widest, max(j_bits + o["decay_bits"] + 1, acc + o["frac_bits"] + gain_bits) + 1)
    if widest > max_bits:
        raise InvalidModel(f"format overflow: the decay product needs {widest} bits",
                           where=spiking[0] if spiking else "",
                           hint="rule: product_width; lower -O frac_bits or -O decay_bits")
    return {"v_bits": v_bits, "j_bits": j_bits, "gain_bits": gain_bits, "acc_bits": acc, "value_bits": value_bits,
            "ranges": ranges, "calibration": x}


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
            "j_bits": f["j_bits"], "gain_bits": f["gain_bits"],
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
