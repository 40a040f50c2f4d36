"""The float model a Loihi artifact realises (`Backend.quantized_graph`), read back from its files.

The reference simulator run on this graph isolates mapping error from quantization error. It is
built from the artifact alone (layout.py), in the chip's integer units (v in LSB, threshold
``vth << state_shift``), with ``dt = 1`` and forward Euler, whose current-first CubaLIF is Loihi's
update (quantize.py) with ``D = 2**decay_bits``:

    population with a current (du < D - 1):  CubaLIF(tau_syn = D/(du+1), tau_mem = D/dv,
                                              r = tau_mem, w_in = tau_syn, v_leak = bias * tau_mem)
    without (du = D - 1, u' = input):         LIF(tau = D/dv, r = tau, v_leak = bias * tau), or
                                              IF(r = 1) for dv = 0 (its bias rides on the Affine)
    synapse group j:                          source -> Delay(1 step) -> Affine(w * 2**(exp + state_shift))

named after the one graph node it folds (``via``) or ``"<src>-><dst>"``. Weights are the mantissas
as Lava holds them (a mixed-sign group loses its odd LSB). Populations are flat vectors. What the
float model leaves out, and the bit-accurate engines do: the truncation of each decay product, the
floor of a negative weight exponent, the 24-bit wrap of u and the saturation of v; spikes agree
unless one of these moves v across the threshold.

A recurrent group gets no Delay node: the reference already delivers a cycle-closing edge one step
late, which is Loihi's one-step synapse.
"""
from __future__ import annotations

import nir
import numpy as np

from neurodeploy.artifact import Artifact
from neurodeploy.errors import TargetError
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics

from .layout import MIXED, read

ROLE = "backend"
SEMANTICS = Semantics(dt=1.0, reset="zero", integrator="euler", reset_timing="same_step")


def quantized_graph(artifact: Artifact) -> Graph:
    meta, arrays = read(artifact.path)
    spec = meta["chip"]
    one, unit = 1 << spec["decay_bits"], 1 << spec["state_shift"]
    shapes = {s["name"]: tuple(s["shape"]) for s in meta["inputs"]}
    nodes = {s["name"]: nir.Input(input_type={"input": np.array(s["shape"])}) for s in meta["inputs"]}
    bias_on_affine = {}
    for i, p in enumerate(meta["populations"]):
        name, n = p["name"], int(np.prod(p["shape"], dtype=np.int64))
        shapes[name] = (n,)
        bias = arrays[f"p{i}_bias_mant"].astype(np.float64) * 2.0 ** arrays[f"p{i}_bias_exp"]
        th = np.full(n, float(p["vth"] * unit))
        full = lambda x: np.full(n, float(x))  # noqa: E731
        if p["du"] < one - 1:
            if p["dv"] == 0:
                raise TargetError("a population with a synaptic current has no membrane decay", where=name)
            ts, tm = one / (p["du"] + 1), one / p["dv"]
            nodes[name] = nir.CubaLIF(tau_syn=full(ts), tau_mem=full(tm), r=full(tm), w_in=full(ts),
                                      v_leak=bias * tm, v_threshold=th, v_reset=full(0))
        elif p["dv"] > 0:
            tau = one / p["dv"]
            nodes[name] = nir.LIF(tau=full(tau), r=full(tau), v_leak=bias * tau, v_threshold=th, v_reset=full(0))
        else:
            nodes[name] = nir.IF(r=full(1), v_threshold=th, v_reset=full(0))
            bias_on_affine[name] = bias
    groups = []
    for j, s in enumerate(meta["synapses"]):
        w = arrays[f"s{j}"]
        w = (w.toarray() if hasattr(w, "toarray") else w).astype(np.int64)
        if s["sign_mode"] == MIXED:
            w = (w >> 1) << 1  # Lava drops a mixed-sign mantissa's LSB (arithmetic shift)
        name = s["via"][0] if len(s["via"]) == 1 else s["name"]
        b = bias_on_affine.pop(s["dst"], np.zeros(w.shape[0]))
        nodes[name] = nir.Affine(weight=w * 2.0 ** (s["weight_exp"] + spec["state_shift"]), bias=b)
        nodes[f"{name}.delay"] = nir.Delay(delay=np.full(shapes[s["src"]], SEMANTICS.dt))
        shapes[name], shapes[f"{name}.delay"] = (w.shape[0],), shapes[s["src"]]
        groups.append((s["src"], name, s["dst"]))
    if bias_on_affine:
        raise TargetError(f"population {next(iter(bias_on_affine))} has a bias but no synapse group to carry "
                          "it in the float model", where=str(artifact.path))
    for out, pop in meta["outputs"].items():
        nodes[out] = nir.Output(output_type={"output": np.array(shapes[pop])})
        shapes[out] = shapes[pop]
    in_shape = {**shapes, **{aff: shapes[src] for src, aff, _ in groups}}
    return _with_delays(nodes, groups, meta["outputs"], in_shape, shapes)


def _with_delays(nodes, groups, outputs, in_shape, out_shape) -> Graph:
    """One Delay per group, except where the reference's own cycle delay already gives the step."""
    undelayed: set[str] = set()
    for _ in range(len(groups) + 1):
        keep, chains = dict(nodes), {}
        for src, aff, dst in groups:
            if aff in undelayed:
                keep.pop(f"{aff}.delay")
                chains[aff] = [(src, aff), (aff, dst)]
            else:
                chains[aff] = [(src, f"{aff}.delay"), (f"{aff}.delay", aff), (aff, dst)]
        edges = [e for chain in chains.values() for e in chain] + [(pop, out) for out, pop in outputs.items()]
        g = Graph(keep, edges, {k: in_shape[k] for k in keep}, {k: out_shape[k] for k in keep}, semantics=SEMANTICS)
        cut = {aff for aff, chain in chains.items() if g.delayed & set(chain)}
        if cut == undelayed:
            return g
        undelayed = cut
    raise TargetError("no consistent placement of the one-step synapse delays in the float model")
