"""Quantize a normalized graph to Loihi fixed point: populations (LIF processes) and synapse groups.

Everything a neuron, a synapse chain or a weight becomes comes from the shared lowering
(`neurodeploy.lowering`): the reference's own coefficients in the current-first form, chains folded
into one sparse matrix per (source, neuron), row scaling that keeps the sparsity pattern, and the
semantics check against `SUPPORT`. Loihi's LIF (lava-nc ``PyLifModelBitAcc``) computes, in integer
units, with ``D = 2**decay_bits`` and ``A = 2**state_shift`` (4096 and 64 on Loihi 1 and 2):

    u' = u * (D - du - 1) / D + A * a_in          (a_in = weight mantissa sum << weight_exp)
    v' = v * (D - dv) / D + u' + bias_mant << bias_exp,   spike if v' > vth * A, then v' = 0

This is the current-first form ``I' = a_s I + in; V' = a_m V + I' + offset``. With S the voltage
scale (integer v units per model unit): dv = (1 - a_m) D, du = (1 - a_s) D - 1, the synaptic weight
into u is ``single_tap * W * S / A`` (the exact CubaLIF's second tap has no place here: Loihi keeps
its steady-state gain, not its transient), threshold ``v_th * S / A`` and the bias ``c`` plus the
affine bias at its steady-state gain (``bias_gain``). An affine bias into a CubaLIF thus skips the
synaptic filter's first few steps (Loihi has no current bias): reported, not hidden.

Two mappings (``-O mapping=``):
- ``auto`` (default): one threshold mantissa per population, as large as ``vth_bits`` (minus
  ``headroom_bits``) and the weights allow; a per-neuron scale S_i = vth A / v_th_i absorbs
  unequal thresholds; per synapse group the smallest weight exponent that fits the mantissa;
  round to nearest; mixed-sign groups use even mantissas only (Lava drops their LSB).
- ``paper``: the NIR paper's nir_to_lava fixed point (neuromorphs/NIR paper/nir_to_lava.py), whose
  constants are Loihi's widths: S = 2**(weight_mant_bits + state_shift) = 2**14,
  ``w = int(w * 2**weight_mant_bits)`` with weight_exp 0, ``dv = int(dv * (D - 1))``,
  ``du = int(du * (D - 1))``, ``vth = int(v_th * (2**vth_bits - 1)) >> (vth_bits - weight_mant_bits)``,
  bias exponent ``state_shift``; truncation everywhere. It reproduces the Loihi 2 chip trace.
Anything that does not fit a width of the target (decay rounding to 0 or above D - 1, threshold
over vth_bits, weight exponent out of range, current over state_bits, bias over its mantissa and
exponent, a Delay over delay_max) raises `ResourceExceeded` with the rule of drc.py, needed vs
available; a value no width can hold (a negative threshold) raises `InvalidModel`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy.backend import Rule
from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir.graph import Graph
from neurodeploy.lowering import (Folder, Support, check, coefficients, current_first, error_stats, is_source,
                                  scale_rows, with_data)
from neurodeploy.quant.fixed import relative_error, round_half_away, split_mantissa_exponent
from neurodeploy.targets import Target

from . import drc
from .layout import EXCITATORY, INHIBITORY, MIXED

ROLE = "compile"
SPIKING = (nir.LIF, nir.IF, nir.CubaLIF)
SUPPORT = Support(
    backend="loihi",
    values={"dt": None, "integrator": None, "reset": ("zero", "v_reset"), "reset_timing": ("same_step",)},
    neurons=SPIKING,
    hints={"reset": "Loihi's LIF resets v to 0: compile with --reset zero",
           "reset_timing": "Loihi resets in the spiking step: compile with --reset-timing same_step",
           **{t.__name__: f"non-spiking {t.__name__} cannot run on Loihi's LIF: use LIF, IF or CubaLIF"
              for t in (nir.LI, nir.CubaLI, nir.I)}})


@dataclass
class Population:
    name: str
    shape: tuple
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    error: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Synapses:
    name: str
    src: str
    dst: str
    via: tuple[str, ...]      # the graph's linear nodes folded into this group
    weights: sp.csr_matrix    # (n_dst, n_src) int mantissas
    weight_exp: int
    sign_mode: int
    num_message_bits: int
    error: float = 0.0
    stats: dict = field(default_factory=dict)


@dataclass
class Net:
    inputs: dict[str, tuple]
    populations: list[Population]
    synapses: list[Synapses]
    outputs: dict[str, str]


def _unsupported(graph: Graph, name: str) -> Exception:
    return UnsupportedNode(f"{type(graph.nodes[name]).__name__} has no Loihi mapping", where=name,
                           hint="supported: Input, LIF, CubaLIF, IF, Affine, Linear, Scale, Conv1d, Conv2d, "
                                "SumPool2d, AvgPool2d, Flatten, Output")


def quantize(graph: Graph, target: Target, opts: dict) -> Net:
    check(graph, SUPPORT)
    drc.delays(graph, target)
    fp = lambda k: int(target.v(f"fixed_point.{k}"))  # noqa: E731
    inputs = {n: tuple(graph.out_shape[n]) for n in graph.inputs}
    folder = Folder(graph, unsupported=_unsupported)
    pops, syns = [], []
    for name in graph.neurons():
        coeffs = _coefficients(graph, name)
        drive = folder.drive(name)
        via: dict[str, dict] = {}  # source -> its linear nodes in first-seen order (a dict as ordered set)
        for path in folder.paths(name):
            via.setdefault(path.source, {}).update(dict.fromkeys(path.ops))
        if opts["mapping"] == "paper":
            pop, groups = _paper(name, graph, coeffs, drive.matrices, drive.bias, fp)
        else:
            pop, groups = _auto(name, graph, coeffs, drive.matrices, drive.bias, fp, opts["headroom_bits"])
        pops.append(pop)
        for src, (w, e, mode, err, stats) in groups.items():
            bits = opts["input_bits"] if src in inputs else 0
            syns.append(Synapses(f"{src}->{name}", src, name, tuple(via[src]), w, e, mode, bits, err, stats))
    outputs = {}
    for out in graph.outputs:
        preds = graph.predecessors(out)
        if len(preds) != 1 or not is_source(graph.nodes[preds[0]]):
            raise UnsupportedNode("an Output must be fed by exactly one spiking neuron node", where=out,
                                  hint="Loihi reads out spikes; end the graph with LIF/IF/CubaLIF")
        outputs[out] = preds[0]
    return Net(inputs, pops, syns, outputs)


def _coefficients(graph: Graph, name: str) -> dict:
    """The neuron's current-first coefficients as flat arrays, checked against Loihi's LIF."""
    cf = current_first(coefficients(graph, name))
    if np.any(cf.v_reset != 0):
        raise UnsupportedNode("Loihi resets v to 0; this node has a non-zero v_reset", where=name)
    if np.any(cf.theta <= 0):
        raise InvalidModel("v_threshold must be positive on Loihi (unsigned threshold)", where=name)
    cuba = cf.a_s is not None
    c = dict(a_m=cf.a_m, c=cf.c, theta=cf.theta, a_s=cf.a_s if cuba else np.zeros_like(cf.a_m), cuba=cuba,
             w_gain=cf.single_tap, b_gain=cf.bias_gain)
    for key in ("a_m", "a_s"):
        if len(np.unique(c[key])) > 1:
            raise InvalidModel(f"time constants differ within the layer ({key}); a Lava LIF process has "
                               "one du/dv", where=name, hint="split the layer by time constant")
    return c


def _decay(frac: float, name: str, what: str, minus_one: bool, paper: bool, bits: int) -> tuple[int, float]:
    """``decay_bits`` decay constant for ``x *= 1 - frac``; u's decay uses du + 1 (lava ds_offset)."""
    one = 1 << bits
    raw = int(frac * (one - 1)) if paper else int(round_half_away(frac * one)) - minus_one
    eff = (raw + minus_one) / one
    if raw < 0:
        raise InvalidModel(f"{what} decay {frac:.6g} per step is negative (the state would grow)", where=name)
    if raw > one - 1 or (frac > 0 and eff == 0):
        rule = f"exceeds {one - 1}" if raw > one - 1 else "rounds to no decay"
        need = drc.bits(raw) if raw > one - 1 else \
            math.ceil(math.log2(1 / frac + 1 if paper else (0.5 + minus_one) / frac))
        drc.decay(name, need, bits, f"{what} decay {frac:.6g} per step {rule} in {bits} bits; Loihi decays are "
                                    f"({one} - d)/{one} with 0 <= d <= {one - 1}; change tau or dt").raise_if_violated()
    return raw, abs(eff - frac) / frac if frac else float(eff != 0)


def _decays(c: dict, name: str, bits: int, paper: bool) -> tuple[int, float, int, float]:
    """(dv, its error, du, its error); a neuron without a current reloads u each step (du = D - 1)."""
    dv, dv_err = _decay(1 - c["a_m"][0], name, "membrane", False, paper, bits)
    if not c["cuba"]:
        return dv, dv_err, (1 << bits) - 1, 0.0
    du, du_err = _decay(1 - c["a_s"][0], name, "synaptic", not paper, paper, bits)
    return dv, dv_err, du, du_err


def _sign_mode(q: np.ndarray) -> int:
    return MIXED if (q < 0).any() and (q > 0).any() else (INHIBITORY if (q < 0).any() else EXCITATORY)


def _auto(name, graph, c, mats, bias, fp, headroom):
    n = graph.size(name)
    mant_max_w = (1 << fp("weight_mant_bits")) - 1
    e_min, e_max = fp("weight_exp_min"), fp("weight_exp_max")
    shift = fp("state_shift")
    b_mant_max = (1 << (fp("bias_mant_bits") - 1)) - 1
    b_exp_max = fp("bias_exp_max")
    bias_v = c["c"] + c["b_gain"] * bias  # per-step voltage drive, model units
    w_model = {src: scale_rows(m, c["w_gain"]) for src, m in mats.items()}
    # Largest threshold mantissa (via S_i = vth A / theta_i) that keeps every weight within the
    # mantissa at the top exponent, the bias within its mantissa at the top bias exponent, and the
    # current u from wrapping even if every source fires in one step (at steady state for CubaLIF).
    room = lambda num, den: float(np.where(den > 0, num / np.where(den > 0, den, 1), np.inf).min())  # noqa
    unit, u_max = float(1 << shift), float((1 << (fp("state_bits") - 1)) - 1)
    dv, dv_err, du, du_err = _decays(c, name, fp("decay_bits"), paper=False)
    w_rows = [abs(w).max(axis=1).toarray().ravel() for w in w_model.values()]
    w_peak = max((float((r / c["theta"]).max(initial=0)) for r in w_rows), default=0.0)
    row_sum = sum((abs(w).sum(axis=1).A1 for w in w_model.values()), np.zeros(n))
    # each room: the largest vth this need allows; the smallest binds, and below 1 its rule is violated
    rooms = {"weights": (min((room((mant_max_w - 1) * 2.0**e_max * c["theta"], r) for r in w_rows), default=np.inf),
                         drc.weight_exp(name, w_peak, mant_max_w - 1, e_max)),
             "state": (room(u_max * c["theta"] * (1 - c["a_s"]) / unit, row_sum),
                       drc.state(name, float((row_sum * unit / (c["theta"] * (1 - c["a_s"]))).max(initial=0)),
                                 fp("state_bits"))),
             "bias": (room(b_mant_max * 2.0**b_exp_max * c["theta"] / unit, np.abs(bias_v)),
                      drc.bias_exp(name, float((np.abs(bias_v) * unit / c["theta"]).max(initial=0)), b_mant_max,
                                   b_exp_max))}
    vth = int(min([float((1 << (fp("vth_bits") - headroom)) - 1)] + [r for r, _ in rooms.values()]))
    if vth < 1:
        min(rooms.values(), key=lambda r: r[0])[1].raise_if_violated()
        raise InvalidModel("no threshold mantissa fits the weights, current and bias", where=name)
    scale = vth * (1 << shift) / c["theta"]  # S_i: v units per model unit
    groups = {}
    for src, w in w_model.items():
        w_a = scale_rows(w, scale / (1 << shift)).data  # a_in units
        mixed = bool((w_a < 0).any() and (w_a > 0).any())
        half, e = split_mantissa_exponent(w_a / 2 if mixed else w_a, mant_max_w // 2 if mixed else mant_max_w,
                                          e_min, e_max)
        if half is None:
            Rule("loihi.weight_exp", e, e_max, where=name, hint=f"weights from {src}").raise_if_violated()
        q = half * 2 if mixed else half
        qw = with_data(w, q)
        stats = error_stats(w_a, q * 2.0**e, np.array([2.0**-e]), len(q) - qw.nnz)
        groups[src] = (qw, e, _sign_mode(q), relative_error(w_a, q * 2.0**e), stats)
    b_v = bias_v * scale
    tiny = np.finfo(np.float64).tiny
    b_exp = np.clip(np.ceil(np.log2(np.maximum(np.abs(b_v), tiny) / b_mant_max)), 0, b_exp_max).astype(np.int64)
    b_mant = np.clip(round_half_away(b_v / 2.0**b_exp), -b_mant_max, b_mant_max)
    err = {"vth_error": relative_error(c["theta"] * scale, np.full(n, vth << shift)), "dv_error": dv_err,
           "du_error": du_err, "bias_error": relative_error(b_v, b_mant * 2.0**b_exp)}
    return Population(name, tuple(graph.out_shape[name]), du, dv, vth, b_mant, b_exp, err), groups


def _paper(name, graph, c, mats, bias, fp):
    """nir_to_lava's fixed point, generalized with the same constants to IF/CubaLIF and biases."""
    if len(np.unique(c["theta"])) > 1:
        raise InvalidModel("mapping=paper needs one threshold per layer", where=name,
                           hint="use -O mapping=auto")
    theta = float(c["theta"][0])
    vth_bits, w_bits, shift = fp("vth_bits"), fp("weight_mant_bits"), fp("state_shift")
    vth = int(theta * ((1 << vth_bits) - 1)) >> (vth_bits - w_bits)
    drc.threshold(name, vth, vth_bits).raise_if_violated()
    if vth < 1:
        raise InvalidModel(f"threshold mantissa {vth} is outside 1..{(1 << vth_bits) - 1}", where=name,
                           hint="the threshold is below the format's resolution; use -O mapping=auto")
    w_unit, s = float(1 << w_bits), float(1 << (w_bits + shift))
    dv, dv_err, du, du_err = _decays(c, name, fp("decay_bits"), paper=True)
    groups = {}
    for src, m in mats.items():
        w = scale_rows(m, c["w_gain"] * w_unit).data
        q = np.trunc(w).astype(np.int64)
        peak = int(np.abs(q).max(initial=0))
        drc.mantissa("loihi.weight_mant", name, peak, w_bits, False,
                        f"weights from {src} reach {peak} > {int(w_unit) - 1} with weight_exp 0; "
                        "use -O mapping=auto").raise_if_violated()
        qw = with_data(m, q)
        groups[src] = (qw, 0, _sign_mode(q), relative_error(w, q), error_stats(w, q, np.array([1.0]),
                                                                                 len(q) - qw.nnz))
    b_v = (c["c"] + c["b_gain"] * bias) * w_unit
    b_mant = np.trunc(b_v).astype(np.int64)
    drc.mantissa("loihi.bias_mant", name, float(np.abs(b_mant).max(initial=0)), fp("bias_mant_bits"), True,
                    f"bias does not fit the {fp('bias_mant_bits')}-bit mantissa at bias_exp {shift}; "
                    "use -O mapping=auto").raise_if_violated()
    err = {"vth_error": relative_error([theta * s], [vth << shift]), "dv_error": dv_err, "du_error": du_err,
           "bias_error": relative_error(b_v, b_mant)}
    return Population(name, tuple(graph.out_shape[name]), du, dv, vth, b_mant,
                      np.full(graph.size(name), shift, dtype=np.int64), err), groups
