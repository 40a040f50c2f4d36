"""The crossbar compiler: a graph becomes differential conductance pairs in tiles plus a fixed-point
digital periphery (every number from the target TOML).

Per neuron layer (neurodeploy.lowering folds every synapse chain into one matrix per source):
- the sources are stacked as crossbar rows (inputs), the neurons as column pairs: weight
  w = (G+ - G-) / dG * w_step, both devices of a pair at g_min for w = 0;
- signed levels q = round(w / w_step), |q| <= levels - 1, with w_step per neuron (the ADC counts get a
  digital gain per column) or per layer; or, for a reservoir layer, the device draw itself;
- rows are cut into blocks of the tile's rows and neurons into blocks of half its columns: each
  (row block, neuron block) is one tile; the tiles of a row block are read at once and their ADC
  counts summed digitally;
- the ADC range of a layer covers its largest possible column current (every row on), so it never
  clips; its step in levels is in the run spec;
- the neuron coefficients of the reference (lowering.coefficients) are rounded to the periphery's
  fixed point (periphery.py).
Design rules: tiles per layer and in total against the macro, weight error against
``max_weight_error``.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy import lowering
from neurodeploy.backend import Rule
from neurodeploy.errors import InvalidModel, UnsupportedNode, UsageError
from neurodeploy.ir.graph import Graph, is_neuron
from neurodeploy.targets import Target

from . import device as dv
from .options import CrossbarOptions

ROLE = "compile"

NEURONS = (nir.LIF, nir.IF, nir.CubaLIF, nir.LI, nir.I, nir.CubaLI)
SUPPORT = lowering.Support("crossbar", values={"dt": None, "reset": None, "integrator": None,
                                               "reset_timing": ("same_step",)}, neurons=NEURONS)
US, NS = 1e-6, 1e-9  # format: the TOML's micro-siemens and nanoseconds in SI


def device_params(t: Target) -> dict:
    """Device and circuit numbers the simulator needs, in SI units (copied into the run spec)."""
    v = t.v
    return {
        "device": {"g_max": v("device.g_max") * US, "g_min": v("device.g_min") * US, "levels": v("device.levels"),
                   "noise_c": [v(f"program.noise_c{k}") * US for k in "012"],
                   "verify_tolerance": v("program.verify_tolerance") * US, "t0": v("drift.t0"),
                   "nu_mu": [v(f"drift.nu_mu_{k}") for k in ("slope", "offset", "min", "max")],
                   "nu_sigma": [v(f"drift.nu_sigma_{k}") for k in ("slope", "offset", "min", "max")],
                   "t_read": v("read.t_read") * NS,
                   "noise_q": [v("read.noise_q0"), v("read.noise_q_exp"), v("read.noise_q_max")],
                   "stuck_off": v("faults.stuck_off_rate"), "stuck_on": v("faults.stuck_on_rate")},
        "circuit": {"v_read": v("read.voltage"), "pulse_width": v("read.pulse_width") * NS,
                    "r_row": v("wire.row_resistance"), "r_col": v("wire.col_resistance"),
                    "dac_bits": v("converters.dac_bits"), "adc_bits": v("converters.adc_bits"),
                    "per_read_sigma": v("read.per_read_sigma")},
        "bits": {"state": v("periphery.state_bits"), "fraction": v("periphery.state_fraction_bits"),
                 "coefficient": v("periphery.coefficient_bits")},
        "tile": {"rows": v("tile.rows"), "cols": v("tile.cols")},
    }


@dataclass
class LayerPlan:
    name: str
    kind: str
    shape: tuple
    sources: list[dict]
    W: sp.csr_matrix          # (neurons, rows) float weights as folded
    bias: np.ndarray
    reservoir: bool
    row_blocks: list
    col_blocks: list
    gp: np.ndarray | None = None
    gn: np.ndarray | None = None
    w_step: np.ndarray | None = None
    stats: dict | None = None
    adc_lsb: float = 1.0
    periphery: dict | None = None

    @property
    def tiles(self) -> int:
        return len(self.row_blocks) * len(self.col_blocks)


def _unsupported(graph: Graph, name: str) -> Exception:
    kind = type(graph.nodes[name]).__name__
    return UnsupportedNode(f"{kind} has no crossbar mapping", where=name,
                           hint="between spike sources the crossbar carries only linear nodes (Affine, Linear, "
                                "Conv, pooling, Scale, Flatten)")


def check_finite(graph: Graph) -> None:
    for name in graph.order:
        node = graph.nodes[name]
        for field, val in vars(node).items():
            a = val.data if sp.issparse(val) else val
            if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.number) and not np.all(np.isfinite(a)):
                raise InvalidModel(f"{field} holds non-finite values (NaN or inf)", where=name,
                                   hint="a crossbar conductance or periphery register cannot hold them")


def blocks(n: int, size: int) -> list[list[int]]:
    return [[a, min(a + size, n)] for a in range(0, n, size)]


def plan_layers(graph: Graph, target: Target, opts: CrossbarOptions, seed: int) -> tuple[list[LayerPlan], dict, list[Rule]]:
    lowering.check(graph, SUPPORT)
    check_finite(graph)
    folder = lowering.Folder(graph, _unsupported)
    params = device_params(target)
    tile = params["tile"]
    per_tile = tile["cols"] // 2
    layers, rules = [], []
    unknown = sorted(set(opts.reservoir) - set(graph.neurons()))
    if unknown:
        raise UsageError(f"reservoir names {', '.join(unknown)}, which are not neuron layers",
                         hint=f"neuron layers: {', '.join(graph.neurons())}")
    for name in graph.order:
        node = graph.nodes[name]
        if not is_neuron(node):
            continue
        drive = folder.drive(name)
        delayed = {p.source: False for p in folder.paths(name)}
        for p in folder.paths(name):
            chain = (p.source,) + p.ops + (name,)
            delayed[p.source] |= any(e in graph.delayed for e in zip(chain[:-1], chain[1:]))
        srcs, offset = [], 0
        for s in drive.matrices:
            size = graph.size(s)
            srcs.append({"name": s, "offset": offset, "size": size, "delayed": delayed[s]})
            offset += size
        n = graph.size(name)
        W = sp.hstack([drive.matrices[s["name"]] for s in srcs], format="csr") if srcs else sp.csr_matrix((n, 0))
        lay = LayerPlan(name, type(node).__name__, tuple(graph.out_shape[name]), srcs, W, drive.bias,
                        name in opts.reservoir, blocks(offset, tile["rows"]), blocks(n, per_tile))
        rules.append(Rule("crossbar_tiles_per_layer", lay.tiles, target.v("limits.tiles"), where=name,
                          hint=f"a {offset}x{n} layer needs {len(lay.row_blocks)}x{len(lay.col_blocks)} tiles of "
                               f"{tile['rows']}x{tile['cols']} cells; the macro has {target.v('limits.tiles')}"))
        layers.append(lay)
    rules.append(Rule("crossbar_tiles", sum(lay.tiles for lay in layers), target.v("limits.tiles"),
                      hint="the network needs more tiles than the macro holds"))
    for o in graph.outputs:
        for p in graph.predecessors(o):
            if not (is_neuron(graph.nodes[p]) or isinstance(graph.nodes[p], nir.Input)):
                raise UnsupportedNode(f"output fed by {type(graph.nodes[p]).__name__} {p!r}: the crossbar reads "
                                      "outputs from neuron layers only", where=o, hint="end the network with a neuron "
                                      "layer (e.g. LI for a readout)")
    if all(r.ok for r in rules):
        levels = opts.levels or target.v("device.levels")
        if not 2 <= levels <= target.v("device.levels"):
            raise UsageError(f"levels={levels} is outside 2..{target.v('device.levels')} (the device's levels)")
        d = dv.Device.from_dict(params["device"])
        for lay in layers:
            _conductances(lay, d, levels, seed, opts.weight_scaling)
            if opts.max_weight_error is not None:
                rules.append(Rule("weight_precision", lay.stats["rel_rms_error"], opts.max_weight_error, where=lay.name,
                                  hint=f"{levels} levels cannot hold these weights at the requested precision: use "
                                       "per_neuron scaling, more levels or a looser max_weight_error"))
            _adc_range(lay, d, params)
            _periphery(lay, graph, params, levels)
    return layers, params, rules


def _conductances(lay: LayerPlan, d: dv.Device, levels: int, seed: int, scaling: str = "per_neuron") -> None:
    W, n = lay.W, lay.W.shape[0]
    q_max = levels - 1
    step = (d.g_max - d.g_min) / q_max
    if lay.reservoir:
        # The device draw is the weight: every synapse's device is programmed once (no verify) to
        # the middle of the range; its level above g_min, times the sign the graph gives, is w/w_step.
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(lay.name.encode())])))
        target = np.full(W.nnz, (d.g_min + d.g_max) * 0.5)
        g = np.clip(dv.program(target, d, rng), d.g_min, d.g_max)
        level = (g - d.g_min) / step
        mag = float(np.abs(W.data).mean()) if W.nnz else 1.0
        w_step = np.full(n, mag / float(level.mean()) if W.nnz else 1.0)
        Q = sp.csr_matrix((np.sign(W.data) * level, W.indices, W.indptr), shape=W.shape)
        lay.stats = {"reservoir": True, "level_mean": float(level.mean()), "level_std": float(level.std()),
                     "rel_rms_error": 0.0, "zeroed": 0}
    else:
        scale = lowering.row_scales(lowering.row_peaks(W), q_max, scaling)
        Q, r = lowering.quantize_rows(W, scale, q_max, dtype=np.int64)
        Q = Q.astype(np.float64)
        w_step = 1.0 / scale
        lay.stats = r.stats
    dense = Q.T.toarray()                      # (rows, neurons)
    lay.gp = (d.g_min + np.maximum(dense, 0) * step).astype(np.float32)
    lay.gn = (d.g_min + np.maximum(-dense, 0) * step).astype(np.float32)
    lay.w_step = w_step


def _adc_range(lay: LayerPlan, d: dv.Device, params: dict) -> None:
    """One ADC step per layer, in levels: the largest column current of any tile over the codes."""
    step = d.step
    full = 0.0
    for r0, r1 in lay.row_blocks:
        for g in (lay.gp[r0:r1], lay.gn[r0:r1]):
            full = max(full, float(g.astype(np.float64).sum(0).max(initial=0)) / step)
    lay.adc_lsb = max(full, 1.0) / (2 ** params["circuit"]["adc_bits"] - 1)


def _fixed(x, bits: int) -> np.ndarray:
    return np.rint(np.asarray(x, np.float64) * 2.0 ** bits).astype(np.int64)


def _periphery(lay: LayerPlan, graph: Graph, params: dict, levels: int) -> None:
    co = lowering.coefficients(graph, lay.name)
    n = lay.W.shape[0]
    flat = lambda a, default=0.0: np.full(n, default) if a is None else np.asarray(a, np.float64).reshape(-1)  # noqa: E731
    F, Fc = params["bits"]["fraction"], params["bits"]["coefficient"]
    if co.spiking:
        theta = flat(co.theta)
        if not np.all(theta > 0):
            raise InvalidModel("v_threshold must be positive: the fixed-point periphery counts in units of the "
                               "threshold", where=lay.name)
    else:
        theta = np.ones(n)
    s = 2.0 ** F / theta
    k_x, b, w = flat(co.k_x), flat(lay.bias), lay.w_step
    ki_gs = flat(co.k_i) * flat(co.g_s) if co.a_s is not None else np.zeros(n)
    p = {"A": _fixed(flat(co.a_m), Fc), "K": _fixed(k_x * w * s, Fc), "Ka": _fixed(k_x * w * lay.adc_lsb * s, Fc),
         "C": _fixed((flat(co.c) + k_x * b) * s, Fc),
         "As": _fixed(flat(co.a_s), Fc), "Ks": _fixed(ki_gs * w * s, Fc), "Ksa": _fixed(ki_gs * w * lay.adc_lsb * s, Fc),
         "Cs": _fixed(ki_gs * b * s, Fc), "R": np.rint(flat(co.v_reset) * s).astype(np.int64)}
    rows = lay.W.shape[1]
    worst = int(np.abs(p["K"]).max(initial=0)) * rows * levels + \
        int(np.abs(p["Ka"]).max(initial=0)) * len(lay.row_blocks) * 2 ** params["circuit"]["adc_bits"] + \
        int(np.abs(p["A"]).max(initial=0)) * 2 ** params["bits"]["state"]
    if worst >= np.iinfo(np.int64).max // 2:
        raise InvalidModel("the periphery's fixed-point accumulator would overflow (weights or decays far above the "
                           "threshold, or too many coefficient bits)", where=lay.name,
                           hint="scale the weights and threshold, or lower periphery.coefficient_bits")
    lay.periphery = {**p, "theta": theta}


def spec_and_arrays(layers: list[LayerPlan], params: dict, graph: Graph, opts: CrossbarOptions,
                    seed: int) -> tuple[dict, dict]:
    spec = {"dt": graph.semantics.dt, "reset": graph.semantics.reset, "seed": seed, "effects": opts.effects,
            "verify": opts.verify,
            "inputs": {n: list(graph.out_shape[n]) for n in graph.inputs},
            "outputs": {o: graph.predecessors(o)[0] for o in graph.outputs},
            **{k: params[k] for k in ("device", "circuit", "bits", "tile")},
            "layers": [{"name": lay.name, "kind": lay.kind, "shape": list(lay.shape), "size": lay.W.shape[0],
                        "rows": lay.W.shape[1], "sources": lay.sources, "reservoir": lay.reservoir,
                        "row_blocks": lay.row_blocks, "col_blocks": lay.col_blocks, "adc_lsb": lay.adc_lsb,
                        "weights": lay.stats} for lay in layers]}
    arrays = {}
    for lay in layers:
        arrays[f"{lay.name}.gp"], arrays[f"{lay.name}.gn"] = lay.gp, lay.gn
        arrays[f"{lay.name}.w_step"], arrays[f"{lay.name}.bias"] = lay.w_step, np.asarray(lay.bias, np.float64)
        for k, v in lay.periphery.items():
            arrays[f"{lay.name}.{k}"] = v
    return spec, arrays

