"""Quantize a normalized graph to Loihi fixed point: populations (LIF processes) and synapse groups.

The float neuron of the reference simulator (`neurodeploy.sim.neurons.Neuron`, one update rule
``i' = a_s i + g_s x``, ``v' = a_m v + c + k_i i + k_x x`` for every NIR type and integrator) is
read for its coefficients, so the chip program and the reference share one definition of the
semantics. Loihi's LIF (lava-nc ``PyLifModelBitAcc``) computes, in integer units,

    u' = u * (4096 - du - 1) / 4096 + 64 * a_in          (a_in = weight mantissa sum << weight_exp)
    v' = v * (4096 - dv) / 4096 + u' + bias_mant << bias_exp,   spike if v' > vth << 6, then v' = 0

With S the voltage scale (integer v units per model unit): dv = (1 - a_m) 4096,
du = (1 - a_s) 4096 - 1, the synaptic weight into u is ``kappa * g_s * W * S / 64`` with
``kappa = k_i + k_x (1 - a_s) / g_s`` (the membrane gain that keeps the reference's steady state;
equal to dt/tau_mem R for Euler), threshold ``v_th * S / 64`` and the bias ``c`` plus the affine
bias at its steady-state gain. An affine bias into a CubaLIF thus skips the synaptic filter's
first few steps (Loihi has no current bias): reported, not hidden.

Two mappings (``-O mapping=``):
- ``auto`` (default): one threshold mantissa per population, as large as ``vth_bits`` (17 minus
  ``headroom_bits``) and the weights allow; a per-neuron scale S_i = vth * 64 / v_th_i absorbs
  unequal thresholds; per synapse group the smallest weight exponent that fits the 8-bit mantissa;
  round to nearest; mixed-sign groups use even mantissas only (Lava drops their LSB).
- ``paper``: the NIR paper's nir_to_lava fixed point (neuromorphs/NIR paper/nir_to_lava.py):
  S = 2**14, ``w = int(w * 256)`` with weight_exp 0, ``dv = int(dv * 4095)``, ``du = int(du * 4095)``,
  ``vth = int(v_th * 131071) >> 9``; truncation everywhere. It reproduces the Loihi 2 chip trace.
Anything that does not fit (decay rounding to 0 or above 4095, threshold over 17 bits, weight
exponent out of range, bias over 13+3 bits) raises `InvalidModel` naming the node and the rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir.graph import Graph, is_neuron
from neurodeploy.quant.fixed import relative_error, round_half_away, split_mantissa_exponent
from neurodeploy.sim.neurons import Neuron
from neurodeploy.targets import Target

from .connect import drives

MIXED, EXCITATORY, INHIBITORY = 1, 2, 3  # lava.utils.weightutils.SignMode values
SPIKING = (nir.LIF, nir.IF, nir.CubaLIF)
DECAY_ONE = 4096


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
    weights: sp.csr_matrix  # (n_dst, n_src) int mantissas
    weight_exp: int
    sign_mode: int
    num_message_bits: int
    error: float = 0.0


@dataclass
class Net:
    inputs: dict[str, tuple]
    populations: list[Population]
    synapses: list[Synapses]
    outputs: dict[str, str]


def quantize(graph: Graph, target: Target, opts: dict) -> Net:
    fp = lambda k: int(target.v(f"fixed_point.{k}"))  # noqa: E731
    inputs = {n: tuple(graph.out_shape[n]) for n in graph.inputs}
    pops, syns = [], []
    for name in graph.neurons():
        coeffs = _coefficients(graph, name)
        mats, bias = drives(graph, name)
        for src in mats:
            if not isinstance(graph.nodes[src], (nir.Input, *SPIKING)):
                raise UnsupportedNode(f"{type(graph.nodes[src]).__name__} output cannot drive a synapse",
                                      where=src, hint="Loihi synapses carry spikes from inputs or LIF/IF/CubaLIF")
        if opts["mapping"] == "paper":
            pop, groups = _paper(name, graph, coeffs, mats, bias, fp)
        else:
            pop, groups = _auto(name, graph, coeffs, mats, bias, fp, opts["headroom_bits"])
        pops.append(pop)
        for src, (w, e, mode, err) in groups.items():
            bits = opts["input_bits"] if src in inputs else 0
            syns.append(Synapses(f"{src}->{name}", src, name, w, e, mode, bits, err))
    outputs = {}
    for out in graph.outputs:
        preds = graph.predecessors(out)
        if len(preds) != 1 or not isinstance(graph.nodes[preds[0]], (nir.Input, *SPIKING)):
            raise UnsupportedNode("an Output must be fed by exactly one spiking neuron node", where=out,
                                  hint="Loihi reads out spikes; end the graph with LIF/IF/CubaLIF")
        outputs[out] = preds[0]
    return Net(inputs, pops, syns, outputs)


def _coefficients(graph: Graph, name: str) -> dict:
    node, sem = graph.nodes[name], graph.semantics
    if not isinstance(node, SPIKING):
        kind = type(node).__name__
        raise UnsupportedNode(f"{kind} has no Loihi mapping" if not is_neuron(node) else
                              f"non-spiking {kind} cannot run on Loihi's LIF", where=name,
                              hint="Loihi neurons spike: use LIF, IF or CubaLIF")
    if sem.reset == "subtract":
        raise UnsupportedNode("Loihi's LIF resets to zero; reset 'subtract' is not available", where=name,
                              hint="compile with --reset zero")
    if sem.reset_timing != "same_step":
        raise UnsupportedNode(f"Loihi resets in the spiking step; reset_timing {sem.reset_timing!r} "
                              "is not available", where=name)
    shape = tuple(graph.out_shape[name])
    nrn = Neuron(name, node, shape, sem, 1, np.float64)
    flat = lambda a, d=0.0: np.broadcast_to(d if a is None else a, shape).astype(np.float64).ravel()  # noqa
    if sem.reset == "v_reset" and np.any(nrn.v_reset != 0):
        raise UnsupportedNode("Loihi resets v to 0; this node has a non-zero v_reset", where=name)
    c = dict(a_m=flat(nrn.a_m), k_x=flat(nrn.k_x), c=flat(nrn.c), theta=flat(nrn.theta),
             a_s=flat(nrn.a_s, 0.0), cuba=nrn.a_s is not None)
    if c["cuba"]:
        g_s, k_i = flat(nrn.g_s), flat(nrn.k_i)
        kappa = k_i + c["k_x"] * (1 - c["a_s"]) / g_s
        c["w_gain"], c["b_gain"] = kappa * g_s, kappa * g_s / (1 - c["a_s"])
    else:
        c["w_gain"] = c["b_gain"] = c["k_x"]
    if np.any(c["theta"] <= 0):
        raise InvalidModel("v_threshold must be positive on Loihi (unsigned threshold)", where=name)
    for key in ("a_m", "a_s"):
        if len(np.unique(c[key])) > 1:
            raise InvalidModel(f"time constants differ within the layer ({key}); a Lava LIF process has "
                               "one du/dv", where=name, hint="split the layer by time constant")
    return c


def _decay(frac: float, name: str, what: str, minus_one: bool, paper: bool) -> tuple[int, float]:
    """12-bit decay constant for ``x *= 1 - frac``; u's decay uses du + 1 (lava ds_offset)."""
    raw = int(frac * 4095) if paper else int(round_half_away(frac * DECAY_ONE)) - minus_one
    eff = (raw + minus_one) / DECAY_ONE
    if raw < 0 or raw > 4095 or (frac > 0 and eff == 0):
        rule = "exceeds 4095" if raw > 4095 else "rounds to no decay"
        raise InvalidModel(f"{what} decay {frac:.6g} per step {rule} in 12 bits", where=name,
                           hint="Loihi decays are (4096 - d)/4096 with 0 <= d <= 4095; change tau or dt")
    return raw, abs(eff - frac) / frac if frac else float(eff != 0)


def _scale_rows(m: sp.csr_matrix, f: np.ndarray) -> sp.csr_matrix:
    """Row i times f[i], keeping m's exact sparsity pattern (so .data stays aligned)."""
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    return sp.csr_matrix((m.data * f[rows], m.indices, m.indptr), shape=m.shape)


def _with_data(m: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    """Same sparsity pattern, new (integer) values; explicit zeros dropped."""
    q = sp.csr_matrix((data.astype(np.int64), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    q.eliminate_zeros()
    return q


def _auto(name, graph, c, mats, bias, fp, headroom):
    n = graph.size(name)
    mant_max_w = (1 << fp("weight_mant_bits")) - 1
    e_min, e_max = fp("weight_exp_min"), fp("weight_exp_max")
    shift = fp("state_shift")
    b_mant_max = (1 << (fp("bias_mant_bits") - 1)) - 1
    b_exp_max = fp("bias_exp_max")
    bias_v = c["c"] + c["b_gain"] * bias  # per-step voltage drive, model units
    w_model = {src: _scale_rows(m, c["w_gain"]) for src, m in mats.items()}
    # Largest threshold mantissa (via S_i = vth 64 / theta_i) that keeps every weight within 8 bits
    # at the top exponent, the bias within 13 bits at the top bias exponent, and the 24-bit current
    # u from wrapping even if every source fires in one step (at steady state for CubaLIF).
    room = lambda num, den: float(np.where(den > 0, num / np.where(den > 0, den, 1), np.inf).min())  # noqa
    unit, u_max = float(1 << shift), float((1 << (fp("state_bits") - 1)) - 1)
    vth = float((1 << (fp("vth_bits") - headroom)) - 1)
    for w in w_model.values():
        vth = min(vth, room((mant_max_w - 1) * 2.0**e_max * c["theta"], abs(w).max(axis=1).toarray().ravel()))
    row_sum = sum((abs(w).sum(axis=1).A1 for w in w_model.values()), np.zeros(n))
    vth = min(vth, room(u_max * c["theta"] * (1 - c["a_s"]) / unit, row_sum))
    vth = min(vth, room(b_mant_max * 2.0**b_exp_max * c["theta"] / unit, np.abs(bias_v)))
    vth = int(vth)
    if vth < 1:
        raise InvalidModel("weights or bias are too large relative to the threshold for 8-bit "
                           f"mantissas with exponent <= {e_max}", where=name)
    scale = vth * (1 << shift) / c["theta"]  # S_i: v units per model unit
    dv, dv_err = _decay(1 - c["a_m"][0], name, "membrane", False, False)
    du, du_err = (_decay(1 - c["a_s"][0], name, "synaptic", True, False) if c["cuba"] else (4095, 0.0))
    groups = {}
    for src, w in w_model.items():
        w_a = _scale_rows(w, scale / (1 << shift)).data  # a_in units
        mixed = bool((w_a < 0).any() and (w_a > 0).any())
        half, e = split_mantissa_exponent(w_a / 2 if mixed else w_a, mant_max_w // 2 if mixed else mant_max_w,
                                          e_min, e_max)
        if half is None:
            raise InvalidModel(f"weights from {src} need weight exponent {e} > {e_max}", where=name)
        q = half * 2 if mixed else half
        mode = MIXED if mixed else (INHIBITORY if (w_a < 0).any() else EXCITATORY)
        groups[src] = (_with_data(w, q), e, mode, relative_error(w_a, q * 2.0**e))
    b_v = bias_v * scale
    b_exp = np.clip(np.ceil(np.log2(np.maximum(np.abs(b_v), 1e-300) / b_mant_max)), 0, b_exp_max).astype(np.int64)
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
    vth = int(theta * 131071) >> 9
    if vth >= 1 << fp("vth_bits") or vth < 1:
        raise InvalidModel(f"threshold mantissa {vth} is outside 1..{(1 << fp('vth_bits')) - 1}", where=name)
    s = float(1 << 14)
    dv, dv_err = _decay(1 - c["a_m"][0], name, "membrane", False, True)
    du, du_err = _decay(1 - c["a_s"][0], name, "synaptic", False, True) if c["cuba"] else (4095, 0.0)
    groups = {}
    for src, m in mats.items():
        w = _scale_rows(m, c["w_gain"] * 256).data
        q = np.trunc(w).astype(np.int64)
        if np.abs(q).max(initial=0) > 255:
            raise InvalidModel(f"weights from {src} reach {np.abs(q).max()} > 255 with weight_exp 0",
                               where=name, hint="use -O mapping=auto")
        mode = MIXED if (q < 0).any() and (q > 0).any() else (INHIBITORY if (q < 0).any() else EXCITATORY)
        groups[src] = (_with_data(m, q), 0, mode, relative_error(w, q))
    b_v = (c["c"] + c["b_gain"] * bias) * 256
    b_mant = np.trunc(b_v).astype(np.int64)
    if np.abs(b_mant).max(initial=0) > (1 << (fp("bias_mant_bits") - 1)) - 1:
        raise InvalidModel("bias does not fit the 13-bit mantissa at bias_exp 6", where=name)
    err = {"vth_error": relative_error([theta * s], [vth << 6]), "dv_error": dv_err, "du_error": du_err,
           "bias_error": relative_error(b_v, b_mant)}
    return Population(name, tuple(graph.out_shape[name]), du, dv, vth, b_mant,
                      np.full(graph.size(name), 6, dtype=np.int64), err), groups
