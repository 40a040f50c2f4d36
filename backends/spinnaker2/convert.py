"""NIR graph -> SpiNNaker 2 populations and projections, with py-spinnaker2's `s2_nir` rules made explicit.

Chains, neuron coefficients and integer weights come from the shared core (`neurodeploy.lowering`);
this module maps them onto py-spinnaker2's models (s2_nir.from_nir, read in its public source;
reference nir.md §6):
- Input -> ``spike_list``; LIF/IF -> ``lif_no_delay`` (``lif_conv2d`` when fed by a Conv2d);
  CubaLIF -> ``lif_curr_exp_no_delay``. With ``conn_delay >= 1`` the delay-capable models ``lif`` /
  ``lif_curr_exp`` are used instead (16-bit synapse word: 4-bit weight, 3-bit delay).
- A chain of linear nodes (Affine/Linear/Conv1d/Scale/pooling/Flatten) folds into one dense
  projection, bias -> ``i_offset``; Conv2d -> Conv2DProjection on the MAC array (int8 kernel, a
  preceding SumPool2d with kernel == stride and no padding becomes its pool_x/pool_y). A population
  fed by a Conv2d takes no other input (one Conv2DProjection per population on the MLA).
- Exactly one weight node between two spike sources (py-spinnaker2 raises on two in a row and on none).
- Neurons (`neurodeploy.lowering.neurons`, the reference's own coefficients in current-first form):
  chip voltage V = S*v with S = w_scale/t0 per neuron, so an integer weight w*w_scale adds S*t0*w;
  alpha_decay = a_m, threshold = S*theta, v_reset = S*v_reset, i_offset = S*c + bias (at its gain).
  LIF/IF: ``v = alpha_decay*v + in + i_offset`` is the reference step exactly. CubaLIF:
  ``lif_curr_exp`` runs ``I = decay*I + in; v = alpha_decay*v + I + i_offset`` with exc_decay =
  inh_decay = a_s (both synapse types decay alike, so the sign of a weight does not change its
  dynamics). Forward Euler needs one tap (exact). The exact integrator's coupled solution needs the
  input of the previous step too (tap t1): each projection gets a second py-spinnaker2 Projection
  with the same sources, weights scaled by t1/t0 and delay conn_delay + 1, which only the delay
  models have; so exact CubaLIF needs ``-O conn_delay>=1`` and is refused without it.
  A bias into a CubaLIF enters i_offset at its settled gain (the chip has no current bias).
- Weight scale s (one per post-neuron; every value that v integrates is multiplied by it):
  ``weight_scale=F`` uses s = F everywhere (the NIR paper LIF used 102.02). Otherwise
  ``weight_scaling`` picks it (`neurodeploy.lowering.scale.row_scales`), w_max from the target
  (``limits.weight_max_int8`` for int8 words, ``limits.weight_max_4bit`` for the 4-bit word):
  ``per_neuron`` (default, a neurodeploy improvement over py-spinnaker2), per output channel for conv
  (one int8 kernel per channel on the MLA); recorded v is divided back by S on the host
  (per-neuron lists for ``lif_conv2d`` populations are assumed to be accepted like those of the other
  models: unverified). ``per_layer``: py-spinnaker2's s2_nir rule. ``none``: s = 1.
- Integer weights are rounded to nearest (s2_nir truncates conv kernels with ``astype(np.int8)``;
  rounding halves the worst error at no cost). Weights that become 0 are dropped (no synapse word).
- Reset: semantics ``zero`` -> reset_to_v_reset with v_reset 0; ``subtract`` -> reset_by_subtraction;
  ``v_reset`` -> reset_to_v_reset with v_reset = node v_reset * S. Neurons reset in the step they
  spike. A CubaLIF with ``subtract`` applied next step (snnTorch Synaptic's default) ->
  reset_by_subtracting_v_reset with v_reset = S*theta/alpha_decay: the late subtract is a same-step
  subtract of theta/beta, spikes identical (docs/semantics.md); the kernel is software, py-spinnaker2
  has no such mode. LIF/IF with a late reset are refused here so that the compiler's rewrites
  (`neurodeploy.lowering.rewrites`, native parts) apply; so is a late reset to zero on a CubaLIF.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy import lowering as lw
from neurodeploy.errors import InvalidModel, UnsupportedNode, UnsupportedSemantics
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import RESETS

ROLE = "compile"
NEURONS = (nir.LIF, nir.IF, nir.CubaLIF)
HOST_HINT = ("keep it on the host: cut the graph before this node, export the part that ends in spikes "
             "and compute {what} from the recorded output spikes in your own code")
HOST_WHAT = {"LI": "the leaky readout", "CubaLI": "the leaky readout", "I": "the integrator",
             "Threshold": "the threshold", "Delay": "the delay"}


@dataclass
class Population:
    name: str
    model: str
    shape: tuple
    params: dict = field(default_factory=dict)   # float32 arrays, one value per neuron
    reset: str = "reset_to_v_reset"
    v_scale: np.ndarray | None = None            # chip voltage = NIR voltage * v_scale

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Projection:
    name: str                 # the weight node's name (a second tap: "<name>@tap1")
    pre: str
    post: str
    kind: str                 # "dense" | "conv2d"
    weights: sp.csr_matrix    # (post, pre) integer weights of the whole projection (conv: its expansion)
    delay: int                # synapse-word delay field; effective delay is delay + 1 ticks
    conv: dict | None = None  # MLA parameters and the int8 kernel (in_c, out_c, kh, kw)
    error: dict = field(default_factory=dict)
    tap: int = 0              # 1: the previous step's input (exact CubaLIF), one tick later than tap 0


@dataclass
class Network:
    populations: dict[str, Population]
    projections: list[Projection]
    outputs: dict[str, str]   # Output node -> population feeding it

    def incoming(self, pop: str) -> list[Projection]:
        return [p for p in self.projections if p.post == pop]


def support(opts) -> lw.Support:
    """The semantics SpiNNaker 2 models (checked by the core before mapping)."""
    hints = {k: HOST_HINT.format(what=v) for k, v in HOST_WHAT.items()}
    hints["reset_timing"] = ("SpiNNaker 2 neurons reset in the step they spike (a late subtract: as a subtract of "
                             "theta/beta): compile with --reset-timing same_step")
    hints["CubaLIF.integrator"] = ("the exact CubaLIF needs a second synapse one tick later: compile with "
                                   "-O conn_delay=1 (4-bit weights), or use --integrator euler")
    same_step = {"reset_timing": ("same_step",)}  # LIF/IF: a late reset is rewritten by the compiler
    cuba = {} if opts.conn_delay > 0 else {"integrator": ("euler",)}
    return lw.Support("SpiNNaker 2", values={"dt": None, "reset": RESETS, "integrator": ("exact", "euler"),
                                            "reset_timing": ("same_step", "next_step")},
                      neurons=NEURONS, per_type={nir.LIF: same_step, nir.IF: same_step, nir.CubaLIF: cuba},
                      hints=hints)


def _shape(graph: Graph, name: str, which: str) -> tuple:
    return tuple(int(s) for s in (graph.in_shape if which == "in" else graph.out_shape)[name])


def _unsupported(graph: Graph, name: str) -> UnsupportedNode:
    kind = type(graph.nodes[name]).__name__
    return UnsupportedNode(f"{kind} node has no SpiNNaker 2 (py-spinnaker2) model", where=name,
                           hint=HOST_HINT.format(what=HOST_WHAT.get(kind, f"the {kind}")))


def _weight_node(graph: Graph, src: str, dst: str, ops: tuple) -> str:
    weights = [o for o in ops if isinstance(graph.nodes[o], lw.WEIGHTS)]
    if not weights:
        raise UnsupportedNode(f"spike source {src!r} drives neuron {dst!r} without a weight node",
                              where=dst, hint="py-spinnaker2 needs a weight layer between populations: insert "
                                              "an identity nir.Linear")
    if len(weights) > 1:
        raise UnsupportedNode(f"two weight layers in a row ({weights[0]} -> {weights[1]}) between {src!r} "
                              f"and {dst!r}", where=weights[1],
                              hint="SpiNNaker 2 needs a neuron between weight layers: fuse them (multiply "
                                   "the matrices) or insert a neuron layer")
    return weights[0]


def _conv_params(graph: Graph, ops: tuple, conv_name: str) -> dict:
    conv: nir.Conv2d = graph.nodes[conv_name]
    where = conv_name
    if np.prod(np.broadcast_to(conv.dilation, 2)) != 1 or int(conv.groups) != 1:
        raise UnsupportedNode("Conv2d with dilation or groups != 1 has no MLA mode", where=where,
                              hint="use a plain convolution or keep this layer on the host")
    if isinstance(conv.padding, str):
        raise UnsupportedNode(f"Conv2d padding {conv.padding!r} must be explicit integers", where=where,
                              hint="re-export with numeric padding")
    pads = lw.fold.pair(conv.padding)
    pool = (1, 1)
    before = [o for o in ops[:ops.index(conv_name)] if not isinstance(graph.nodes[o], nir.Flatten)]
    after = [o for o in ops[ops.index(conv_name) + 1:] if not isinstance(graph.nodes[o], nir.Flatten)]
    if after:
        raise UnsupportedNode("only a neuron may follow a Conv2d on SpiNNaker 2", where=after[0],
                              hint="put the pooling before the next Conv2d/Affine instead")
    if before:
        pn: nir.SumPool2d = graph.nodes[before[-1]]
        if len(before) > 1 or not isinstance(pn, nir.SumPool2d):
            raise UnsupportedNode("only a SumPool2d may precede a Conv2d on SpiNNaker 2", where=before[0],
                                  hint="fold other operations into the previous layer")
        k, s = lw.fold.pair(pn.kernel_size), lw.fold.pair(pn.stride)
        if not (k == s and not np.any(np.broadcast_to(pn.padding, 2))):
            raise UnsupportedNode("SumPool2d before Conv2d needs kernel == stride and no padding (MLA pool)",
                                  where=before[-1], hint="change the pooling or keep it on the host")
        pool = k
        in_shape = _shape(graph, before[-1], "in")
    else:
        in_shape = _shape(graph, conv_name, "in")
    stride = lw.fold.pair(conv.stride)
    return {"in_channels": in_shape[0], "in_height": in_shape[1], "in_width": in_shape[2],
            "pool_y": pool[0], "pool_x": pool[1], "stride_y": stride[0], "stride_x": stride[1],
            "pad_top": pads[0], "pad_bottom": pads[0], "pad_left": pads[1], "pad_right": pads[1]}


def mla_matrix(kernel: np.ndarray, p: dict) -> sp.csr_matrix:
    """The (out, in) matrix an MLA Conv2DProjection computes: optional sum-pool, then conv2d, with the
    kernel in MLA order (in_c, out_c, kh, kw); built from the core's conv/pool matrices."""
    ci, h, w = p["in_channels"], p["in_height"], p["in_width"]
    pool = (p["pool_y"], p["pool_x"])
    m = lw.conv2d_matrix(kernel.swapaxes(0, 1), (ci, h // pool[0], w // pool[1]), (p["stride_y"], p["stride_x"]),
                         (p["pad_top"], p["pad_left"]))
    if pool != (1, 1):
        m = (m @ lw.pool2d_matrix((ci, h, w), pool, pool, 0)).tocsr()
        m.sum_duplicates()
    return m


def _neuron_params(cf: lw.CurrentFirst, bias: np.ndarray, sem, w_scale: np.ndarray) -> tuple[dict, np.ndarray, str]:
    """Chip parameters of one population (module docstring); `w_scale` is the per-neuron weight scale."""
    scale = w_scale / cf.t0
    params = {"threshold": cf.theta * scale, "alpha_decay": cf.a_m, "v_reset": cf.v_reset * scale}
    if cf.a_s is None:
        params["i_offset"] = cf.c * scale + bias * w_scale
    else:  # the bias settles through the current: its gain relative to a weight's is bias_gain / t0
        params["i_offset"] = cf.c * scale + bias * w_scale * (cf.bias_gain / cf.t0)
        params["exc_decay"] = params["inh_decay"] = cf.a_s
    reset = "reset_by_subtraction" if sem.reset == "subtract" else "reset_to_v_reset"
    if sem.reset_timing == "next_step":  # a CubaLIF (support): subtract theta/beta in the spiking step
        if sem.reset != "subtract":
            err = UnsupportedSemantics("SpiNNaker 2 applies a reset to a value in the spiking step only",
                                       where="semantics", hint="compile with --reset-timing same_step")
            err.field = "reset_timing"  # the compiler's late_zero rewrite applies (lowering/rewrites.py)
            raise err
        reset, params["v_reset"] = "reset_by_subtracting_v_reset", cf.theta * scale / cf.a_m
    return {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}, scale, reset


def convert(graph: Graph, opts, w_max: int) -> tuple[Network, dict]:
    """Lower `graph` to a `Network`; also return, per projection, its most negative and most positive
    integer weight before clipping (for the weight-range design rules)."""
    lw.check(graph, support(opts))
    folder = lw.Folder(graph, _unsupported)
    pops: dict[str, Population] = {}
    projs: list[Projection] = []
    peaks: dict[str, float] = {}
    outputs: dict[str, str] = {}
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, nir.Input):
            pops[name] = Population(name, "spike_list", _shape(graph, name, "out"))
        elif isinstance(node, nir.Output):
            src = graph.predecessors(name)
            if len(src) != 1 or src[0] not in pops:
                raise UnsupportedNode("Output must be fed directly by one spiking population", where=name,
                                      hint="record the neuron layer itself; " + HOST_HINT.format(what="the readout"))
            outputs[name] = src[0]
        elif isinstance(node, NEURONS):
            pops[name] = _population(graph, folder, name, node, opts, w_max, projs, peaks)
        elif not isinstance(node, lw.LINEAR):
            raise _unsupported(graph, name)
    for name, node in graph.nodes.items():  # a linear op with no neuron after it computes nothing on chip
        if isinstance(node, lw.LINEAR) and not graph.successors(name):
            raise UnsupportedNode("weight/pooling node with no neuron after it", where=name,
                                  hint=HOST_HINT.format(what="this layer"))
    return Network(pops, projs, outputs), peaks


def _ends(scaled: np.ndarray) -> tuple[float, float]:
    """(most negative, most positive) integer weight before clipping, as the rounding makes them: the
    synapse word's two ends are limits of their own (an int8 word is symmetric, -128 is not used)."""
    q = np.rint(scaled)
    return float(min(q.min(initial=0), 0)), float(max(q.max(initial=0), 0))


def _model(node, convs: list, paths: list, delayed: bool, name: str) -> str:
    if isinstance(node, nir.CubaLIF):
        if convs:
            raise UnsupportedNode("CubaLIF after Conv2d is not supported by py-spinnaker2", where=name,
                                  hint="use LIF or IF after a convolution")
        return "lif_curr_exp" if delayed else "lif_curr_exp_no_delay"
    if convs:
        if len(paths) > 1:
            raise UnsupportedNode(f"a Conv2d-fed population takes no other input on SpiNNaker 2 ({len(paths)} "
                                  "inputs here)", where=name, hint="the MLA computes one Conv2DProjection per "
                                  "population: merge the inputs into one convolution or add a neuron layer")
        if delayed:
            raise UnsupportedNode("Conv2DProjection needs conn_delay 0 (the MLA path has no delay)", where=name,
                                  hint="compile with -O conn_delay=0")
        return "lif_conv2d"
    return "lif" if delayed else "lif_no_delay"


def _population(graph, folder, name, node, opts, w_max, projs, peaks) -> Population:
    n = graph.size(name)
    paths = folder.paths(name)
    convs = [p for p in paths if any(isinstance(graph.nodes[o], nir.Conv2d) for o in p.ops)]
    model = _model(node, convs, paths, opts.conn_delay > 0, name)
    parts = []  # (source, weight node, kind, float weights before scaling, MLA params)
    for p in paths:
        wname = _weight_node(graph, p.source, name, p.ops)
        if isinstance(graph.nodes[wname], nir.Conv2d):
            kernel = np.asarray(graph.nodes[wname].weight, dtype=np.float64).swapaxes(0, 1)  # MLA order
            parts.append((p.source, wname, "conv2d", kernel, _conv_params(graph, p.ops, wname)))
        else:
            mat = folder.matrix(p.ops)
            if mat.shape != (n, graph.size(p.source)):
                raise InvalidModel(f"weights {mat.shape} do not map {p.source} ({graph.size(p.source)}) to "
                                   f"{name} ({n})", where=wname)
            parts.append((p.source, wname, "dense", mat, None))
    cf = lw.current_first(lw.coefficients(graph, name))
    ratio = cf.t1 / cf.t0  # tap-1 weights relative to tap-0 weights (0 unless exact CubaLIF)
    peak = np.zeros(n)
    for *_, kind, mat, _ in parts:
        rows = (np.abs(mat).swapaxes(0, 1).reshape(mat.shape[1], -1).max(1).repeat(n // mat.shape[1])
                if kind == "conv2d" else lw.row_peaks(mat))
        peak = np.maximum(peak, rows * np.maximum(1.0, np.abs(ratio)))
    shape = _shape(graph, name, "out")
    w_scale = lw.row_scales(peak, w_max, opts.weight_scaling, opts.weight_scale)
    params, v_scale, reset = _neuron_params(cf, folder.neuron_bias(name), graph.semantics, w_scale)
    mode = "fixed" if opts.weight_scale is not None else opts.weight_scaling
    for src, wname, kind, mat, p in parts:
        if kind == "conv2d":
            s = w_scale[::n // shape[0]]
            r = lw.round_scaled(mat, s[None, :, None, None], w_max, scales=s)
            kernel = r.q.astype(np.int8)
            peaks[wname] = _ends(mat * s[None, :, None, None])
            projs.append(Projection(wname, src, name, "conv2d", mla_matrix(kernel, p), 0, dict(p, kernel=kernel),
                                    {"scaling": mode, **r.stats}))
            continue
        q, r = lw.quantize_rows(mat, w_scale, w_max)
        peaks[wname] = _ends(lw.scale_rows(mat, w_scale).data)
        projs.append(Projection(wname, src, name, "dense", q, opts.conn_delay, None, {"scaling": mode, **r.stats}))
        if cf.two_taps:
            q1, r1 = lw.quantize_rows(lw.scale_rows(mat, ratio), w_scale, w_max)
            peaks[f"{wname}@tap1"] = _ends(lw.scale_rows(lw.scale_rows(mat, ratio), w_scale).data)
            projs.append(Projection(f"{wname}@tap1", src, name, "dense", q1, opts.conn_delay + 1, None,
                                    {"scaling": mode, **r1.stats}, tap=1))
    return Population(name, model, shape, params, reset, v_scale.astype(np.float64))
