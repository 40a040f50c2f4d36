"""The two-point (L5PC) cell on the FPGA core: a rate unit, its exp as a look-up table.

The cell is the Kay-Phillips form the reference runs (neurodeploy/ops/dialect/two_point.py,
docs/equations.md): ``A = r (k1 + (1 - k1) exp(k2 r c))``, r the basal drive, c the apical
context, both summed from spike events through integer weights (scales S_b, S_a, one per port and
layer). Per step and neuron the core computes, in integers (golden.py runs the same):

    r = acc_b + bias_b          c = acc_a + bias_a
    i = clamp(((r*c*KM + 2**(SH-1)) >> SH) - I0, 0, 2**L - 1)         the table index
    A = r * (K1 + LUT[i])       output value, in units of 1 / (S_b 2**E)

with u = k2 r c / (S_b S_a) sampled on L = lut_bits address bits over the range of u met on the
calibration inputs (step du), ``LUT[i] = round((1-k1) exp((i + I0) du) 2**E)``, K1 = round(k1 2**E),
E = frac_bits, KM = round(k2 / (S_b S_a du) 2**SH). The error of the table (half a step of u, the
rounding of the entries) is stated per layer as ``transfer_max_rel_error`` over that range; u beyond
it is clamped to the table's ends. It is a rate unit on purpose: the cell has no state and no
threshold in its published form, and its graded output leaves the core as a valued beat; a layer
fed by a two-point cell is refused (rule two_point_terminal).
"""
from __future__ import annotations

import math

import numpy as np

from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir.graph import Graph

ROLE = "compile"


def lower_two_point(graph: Graph, name: str, drives: dict, w_max: int):
    from .fixed import Layer, quantized_sources

    node, n = graph.nodes[name], graph.size(name)
    k1, k2 = np.asarray(node.k1, np.float64).ravel(), np.asarray(node.k2, np.float64).ravel()
    if np.ptp(k1) or np.ptp(k2):
        raise UnsupportedNode("the core shares one exp table per layer: k1 and k2 must be uniform", where=name,
                              hint="rule: uniform_k; split the layer by (k1, k2)")
    scales, sources, err, params = {}, [], {}, {}
    for port in ("basal", "apical"):
        mats, via, b = drives.get(port, ({}, {}, np.zeros(n)))
        s, src, e = quantized_sources(mats, via, port, n, w_max)
        scales[port], params[f"bias_{port[0]}"] = s, np.rint(b * s).astype(np.int64)
        sources += src
        err.update(e)
    transfer = {"k1": float(k1[0]), "k2": float(k2[0]), "s_a": scales["apical"]}
    return Layer(name, n, sources, params, scales["basal"], {"weights": err}, kind="two_point", transfer=transfer)


def drives(lay, spikes: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(r, c) integers over a calibration run: spikes {source: (T, B, n_src)}."""
    acc = {"basal": lay.params["bias_b"].astype(np.int64), "apical": lay.params["bias_a"].astype(np.int64)}
    out = {p: np.broadcast_to(a, next(iter(spikes.values())).shape[:2] + a.shape).copy() for p, a in acc.items()}
    for s in lay.sources:
        x = spikes[s["src"]].astype(np.int64)
        out[s["port"]] += np.einsum("tbj,ij->tbi", x.reshape(x.shape[0], x.shape[1], -1), s["w"].toarray())
    return out["basal"], out["apical"]


def table(lay, r: np.ndarray, c: np.ndarray, o: dict, max_bits: int) -> dict:
    """The transfer constants from the calibrated range of u, and the error they make there."""
    t, L, E = lay.transfer, o["lut_bits"], o["frac_bits"]
    g = t["k2"] / (lay.scale * t["s_a"])
    u = g * r.astype(np.float64) * c
    lo, hi = min(0.0, float(u.min(initial=0))), max(0.0, float(u.max(initial=0)))
    du = (hi - lo) / ((1 << L) - 1) or 1.0
    gain = g / du
    sh = max(1, E - math.floor(math.log2(abs(gain)))) if gain else 1
    km = int(round(gain * 2.0 ** sh))
    i0 = int(round(lo / du))
    widest = hi / math.log(2) + E + int(np.abs(r).max(initial=1)).bit_length() + 2
    if widest > max_bits:
        raise InvalidModel(f"format overflow: exp(k2 r c) reaches exp({hi:.3g}) on the calibration inputs; the "
                           f"output A would need {widest:.0f} bits", where=lay.name,
                           hint="rule: exp_range; smaller basal/apical weights or -O frac_bits")
    k1 = int(round(t["k1"] * 2.0 ** E))
    lut = [int(round((1 - t["k1"]) * math.exp((i + i0) * du) * 2.0 ** E)) for i in range(1 << L)]
    acc = max(int(np.abs(r).max(initial=1)), int(np.abs(c).max(initial=1)))
    prod_bits = 2 * acc.bit_length() + 1 + abs(km).bit_length() + 1
    if prod_bits > max_bits:
        raise InvalidModel(f"format overflow: the table index product needs {prod_bits} bits", where=lay.name,
                           hint="rule: product_width; lower -O weight_bits or -O frac_bits")
    grid = np.linspace(lo, hi, 1 << (L + 2))
    idx = np.clip(np.rint(grid / du) - i0, 0, (1 << L) - 1).astype(np.int64)
    exact = t["k1"] + (1 - t["k1"]) * np.exp(grid)
    approx = (k1 + np.asarray(lut)[idx]) / 2.0 ** E
    return {"k1_int": k1, "km": km, "sh": sh, "i0": i0, "lut": lut, "u_min": lo, "u_max": hi, "du": du,
            "transfer_max_rel_error": float(np.max(np.abs(approx - exact) / np.abs(exact))),
            "value_bits": acc.bit_length() + 1 + max(k1 + max(lut), 1).bit_length() + 1}
