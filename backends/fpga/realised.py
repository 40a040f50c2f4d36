"""The float model an FPGA artifact realises (`Backend.quantized_graph`), read back from its files.

In the core's integer units (v in LSB, dt = 1, forward Euler) each layer is the core's update
without its rounding: with a = A / 2**D,

    LIF(tau = 1/(1-a), r = tau, v_leak = bias*tau, v_threshold = theta)     (a < 1)
    IF(r = 1, v_threshold = theta), its bias on the Affine                     (a = 1)
    source -> Affine(w * 2**F) -> layer, one per (source, layer), named after the folded graph node
    (``via``) or ``"<src>-><layer>"``

A recurrent chain (its source is the layer or a later one) closes a cycle, whose edge into the layer
the reference delays one step (graph.delayed), as the core does; the chains' biases ride on the
layer's first feed-forward chain, which no cycle cuts at step 0.

so v' = a v + bias + 2**F sum(w s). A CubaLIF layer (v' = a v + bias + u + j, j' = a_s j + g u + bias_j,
u = 2**F sum(w s), a_s = As/2**D, g = G/2**D) is the Euler CubaLIF whose current i' = a_s i + x is
the membrane's whole drive j + u:

    CubaLIF(tau_mem = 1/(1-a), tau_syn = 1/(1-a_s), r = tau_mem, w_in = tau_syn, v_leak = bias*tau_mem)
    x[t] = u[t] + ((g - a_s) u[t-1] + bias_j  for t >= 1)

(by induction i[t+1] = j[t] + u[t]); the second term is a second path per source, Affine(w * 2**F *
(g - a_s), bias_j on the first) -> Delay(1), present when g != a_s (the exact integrator) or bias_j
!= 0. What the float model leaves out, and the golden model and the
RTL do: the rounding of v*a to the v LSB (at most half an LSB per step, 2**-F of a weight step) and
the wrap of v and acc at their widths, which the formats are chosen never to reach on calibration
inputs. Spikes agree unless the rounding moves v across a threshold.
"""
from __future__ import annotations

import nir
import numpy as np

from neurodeploy.artifact import Artifact
from neurodeploy.errors import TargetError, UnsupportedNode
from neurodeploy.ir.dialect import TwoPointCell
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics

from .layout import read

ROLE = "format"


def quantized_graph(artifact: Artifact) -> Graph:
    spec, arrays = read(artifact.path)
    sem = Semantics(dt=1.0, reset="subtract" if spec["reset"] == "subtract" else "zero", integrator="euler")
    one = float(1 << spec["decay_bits"])
    inp = spec["input"]
    nodes = {inp["name"]: nir.Input(input_type={"input": np.array(inp["shape"])})}
    shapes = {inp["name"]: tuple(inp["shape"])}
    edges, in_shape = [], {inp["name"]: tuple(inp["shape"])}
    names = [lay["name"] for lay in spec["layers"]]
    loops: dict[tuple[str, str], list] = {}  # (source, layer) of a recurrent chain -> its edges
    for i, (lay, a) in enumerate(zip(spec["layers"], arrays)):
        n, name = lay["size"], lay["name"]
        if lay["kind"] == "two_point":
            edges += _two_point(lay, a, nodes, shapes, in_shape)
            continue
        A, bias, theta = (a[k][:n].astype(np.float64) for k in ("A", "bias", "theta"))
        full = lambda x: np.full(n, float(x))  # noqa: E731
        integrate = lay["kind"] == "lif" and bool(np.all(A == one))
        if lay["kind"] == "cuba":
            tau_mem, tau_syn = one / (one - A), one / (one - a["As"][:n])
            nodes[name] = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem, v_leak=bias * tau_mem,
                                      v_threshold=theta, v_reset=full(0), w_in=tau_syn)
        elif integrate:
            nodes[name] = nir.IF(r=full(1), v_threshold=theta, v_reset=full(0))
        elif np.any(A == one):
            raise UnsupportedNode("a layer mixes leaky and non-leaky neurons", where=name)
        else:
            tau = one / (one - A)
            nodes[name] = nir.LIF(tau=tau, r=tau, v_leak=bias * tau, v_threshold=theta, v_reset=full(0))
        shapes[name] = in_shape[name] = (n,)
        # the constant inputs ride on the first feed-forward chain: a recurrent one is cut at step 0
        ahead = [s for s in lay["sources"] if s["src"] not in names[i:]]
        carried = {"bias": bias if integrate else np.zeros(n), "bias_j": a.get("bias_j", np.zeros(n))[:n]}
        if not ahead and any(np.any(b) for b in carried.values()):
            raise UnsupportedNode("a layer without a feed-forward chain has no step-0 path for its constant "
                                  "input in the float model", where=name)
        for s in lay["sources"]:
            aff = s["via"][0] if len(s["via"]) == 1 else f"{s['src']}->{name}"
            w = a["w"][s["row0"]:s["row0"] + s["rows"], :n].T.astype(np.float64) * 2.0 ** spec["frac_bits"]
            first = bool(ahead) and s is ahead[0]
            nodes[aff] = nir.Affine(weight=w, bias=carried["bias"] if first else np.zeros(n))
            chain = [(s["src"], aff), (aff, name)]
            in_shape[aff], shapes[aff] = (s["rows"],), (n,)
            if lay["kind"] == "cuba":
                chain += _later_tap(s["src"], aff, name, w, (a["G"][:n] - a["As"][:n]) / one,
                                    carried["bias_j"] * first, nodes, shapes, in_shape)
            if s["src"] in names[i:]:
                loops[s["src"], name] = chain
            else:
                edges += chain
    for out, lay in spec["outputs"].items():
        n = next(x["size"] for x in spec["layers"] if x["name"] == lay)
        nodes[out] = nir.Output(output_type={"output": np.array([n])})
        edges.append((lay, out))
        shapes[out] = in_shape[out] = (n,)
    g = Graph(nodes, edges + [e for chain in loops.values() for e in chain], in_shape, shapes, semantics=sem)
    paths = [p for chain in loops.values() for p in (chain[:2], chain[2:]) if p]
    if g.delayed & set(edges) or any(len(g.delayed & set(p)) != 1 for p in paths):  # the core's loops: 1 step
        raise TargetError("the float model closes its loops elsewhere than the core",
                          where=", ".join(f"{s}->{d}" for s, d in loops),
                          hint="design.json's layer order is not a topological order of its feed-forward chains")
    return g


def _later_tap(src: str, aff: str, name: str, w: np.ndarray, gain: np.ndarray, bias: np.ndarray, nodes: dict,
               shapes: dict, in_shape: dict) -> list:
    """A CubaLIF's input of the previous step (module docstring): Affine(gain * w, bias) -> Delay(1),
    none when both are zero."""
    if not (np.any(gain) or np.any(bias)):
        return []
    n, rows = w.shape
    nodes[aff + ".tap1"] = nir.Affine(weight=gain[:, None] * w, bias=bias.astype(np.float64))
    nodes[aff + ".delay"] = nir.Delay(delay=np.ones(n))
    in_shape[aff + ".tap1"], shapes[aff + ".tap1"] = (rows,), (n,)
    in_shape[aff + ".delay"] = shapes[aff + ".delay"] = (n,)
    return [(src, aff + ".tap1"), (aff + ".tap1", aff + ".delay"), (aff + ".delay", name)]


def _two_point(lay: dict, a: dict, nodes: dict, shapes: dict, in_shape: dict) -> list:
    """A two-point layer: TwoPointCell(k1, k2) fed per port by Affines of its integer weights over
    the port's scale (model units); the exp table is what the float model leaves out."""
    n, name, t = lay["size"], lay["name"], lay["transfer"]
    edges, apical, biased = [], [], set()
    for s in lay["sources"]:
        aff = (s["via"][0] if len(s["via"]) == 1 else f"{s['src']}->{name}") + f".{s['port']}"
        scale = t["s_a"] if s["port"] == "apical" else t["s_b"]
        bias = a["bias_a" if s["port"] == "apical" else "bias_b"][:n] / scale
        w = a["w"][s["row0"]:s["row0"] + s["rows"], :n].T / scale
        nodes[aff] = nir.Affine(weight=w, bias=np.zeros(n) if s["port"] in biased else bias)
        biased.add(s["port"])
        in_shape[aff], shapes[aff] = (s["rows"],), (n,)
        edges += [(s["src"], aff), (aff, name)]
        if s["port"] == "apical":
            apical.append(aff)
    nodes[name] = TwoPointCell(k1=np.full(n, t["k1"]), k2=np.full(n, t["k2"]), apical=tuple(apical))
    shapes[name] = in_shape[name] = (n,)
    return edges
