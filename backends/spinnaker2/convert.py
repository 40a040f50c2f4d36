"""NIR graph -> SpiNNaker 2 populations and projections, with py-spinnaker2's `s2_nir` rules made explicit.

Mapping (py-spinnaker2 `s2_nir.from_nir`, read in its public source; reference nir.md §6):
- Input -> ``spike_list``; LIF/IF -> ``lif_no_delay`` (``lif_conv2d`` when fed by a Conv2d);
  CubaLIF -> ``lif_curr_exp_no_delay``. With ``conn_delay >= 1`` the delay-capable models ``lif`` /
  ``lif_curr_exp`` are used instead (16-bit synapse word: 4-bit weight, 3-bit delay).
- Affine/Linear -> dense projection, bias -> ``i_offset``; Conv2d -> Conv2DProjection on the MAC array
  (int8 kernel, a preceding SumPool2d with kernel == stride and no padding becomes its pool_x/pool_y);
  SumPool2d / Flatten elsewhere are folded into the dense projection's connection matrix. A population
  fed by a Conv2d takes no other input (one Conv2DProjection per population on the MLA).
- Exactly one weight node between two spike sources (py-spinnaker2 raises on two in a row and on none).
- Parameters (forward Euler uses dt/tau and 1-dt/tau, the exact integrator exp(-dt/tau)):
  alpha_decay = 1 - dt/tau | exp(-dt/tau); r_factor = (1 - alpha_decay)*r; v_scale = 1/r_factor;
  threshold = v_th*v_scale*w_scale; i_offset = (1-alpha_decay)*v_leak*v_scale*w_scale + bias*w_scale.
  IF: alpha_decay = 1, v_scale = 1/(dt*r) (s2_nir uses 1/r, i.e. its dt = 1; neurodeploy's IF
  integrates dt*R*I, so the two agree at dt = 1). CubaLIF: exc_decay = inh_decay = syn decay, I_scale = 1/((1-syn
  decay)*w_in), scale = v_scale*I_scale*w_scale, bias enters as bias*w_in*I_scale*w_scale.
- Weight scale s (one per post-neuron; every value that v integrates is multiplied by it):
  ``weight_scale=F`` uses s = F everywhere (the NIR paper LIF used 102.02). Otherwise
  ``weight_scaling`` picks it, w_max = 127 for int8 words, 15 for the 4-bit word:
  ``per_neuron`` (default, a neurodeploy improvement over py-spinnaker2): s_c = w_max/max_j|w_cj| over
  all weights into neuron c, and per output channel for conv (one int8 kernel per channel on the MLA).
  The neuron's threshold, i_offset and v_reset carry the same s_c (per-neuron float32 parameters,
  which py-spinnaker2 accepts as lists) and recorded v is divided back by it, so the scaling is exact
  in exact arithmetic; only rounding w*s_c to an integer remains, and that error is relative to the
  neuron's own largest weight, not the layer's (per-neuron lists for ``lif_conv2d`` populations are
  assumed to be accepted like those of the other models: unverified). ``per_layer``: py-spinnaker2's
  s2_nir rule, one s = w_max/max|w| over the population's inputs. ``none``: s = 1.
- Integer weights are rounded to nearest (s2_nir truncates conv kernels with ``astype(np.int8)``;
  rounding halves the worst error at no cost). Weights that become 0 are dropped (no synapse word).
- Reset: semantics ``zero`` -> reset_to_v_reset with v_reset 0; ``subtract`` -> reset_by_subtraction;
  ``v_reset`` -> reset_to_v_reset with v_reset = node v_reset * scale.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir.graph import Graph

NEURON_MODELS = {"lif_no_delay", "lif", "lif_curr_exp_no_delay", "lif_curr_exp", "lif_conv2d"}
LINEAR_OPS = (nir.Affine, nir.Linear, nir.Conv2d, nir.SumPool2d, nir.Flatten)
WEIGHTS = (nir.Affine, nir.Linear, nir.Conv2d)
HOST_HINT = ("keep it on the host: cut the graph before this node, export the part that ends in spikes "
             "and compute {what} from the recorded output spikes in your own code")


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
    name: str                 # the weight node's name
    pre: str
    post: str
    kind: str                 # "dense" | "conv2d"
    weights: sp.csr_matrix    # (post, pre) integer weights of the whole projection (conv: its expansion)
    delay: int                # synapse-word delay field; effective delay is delay + 1 ticks
    conv: dict | None = None  # MLA parameters and the int8 kernel (in_c, out_c, kh, kw)
    error: dict = field(default_factory=dict)


@dataclass
class Network:
    populations: dict[str, Population]
    projections: list[Projection]
    outputs: dict[str, str]   # Output node -> population feeding it

    def incoming(self, pop: str) -> list[Projection]:
        return [p for p in self.projections if p.post == pop]


def _shape(graph: Graph, name: str, which: str) -> tuple:
    return tuple(int(s) for s in (graph.in_shape if which == "in" else graph.out_shape)[name])


def _chains(graph: Graph, name: str, path: tuple = ()) -> list[tuple[str, tuple]]:
    """All (spike source, ops from source to `name`) chains through linear ops feeding `name`."""
    out = []
    for pre in graph.predecessors(name):
        node = graph.nodes[pre]
        if isinstance(node, nir.Input) or isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            out.append((pre, path))
        elif isinstance(node, LINEAR_OPS):
            if pre in path:
                raise InvalidModel("a loop of weight nodes without a neuron in it", where=pre)
            out.extend(_chains(graph, pre, (pre,) + path))
        else:
            raise _unsupported(graph, pre)
    return out


def _unsupported(graph: Graph, name: str) -> UnsupportedNode:
    node = graph.nodes[name]
    kind = type(node).__name__
    what = {"LI": "the leaky readout", "CubaLI": "the leaky readout", "I": "the integrator",
            "Threshold": "the threshold", "Scale": "the scaling", "Delay": "the delay"}.get(kind, f"the {kind}")
    return UnsupportedNode(f"{kind} node has no SpiNNaker 2 (py-spinnaker2) model",
                           where=name, hint=HOST_HINT.format(what=what))


def _pool_matrix(in_shape: tuple, node: nir.SumPool2d) -> sp.csr_matrix:
    """SumPool2d as a sparse (out, in) 0/1 matrix on NCHW-flattened indices."""
    c, h, w = in_shape
    kh, kw = (int(k) for k in np.broadcast_to(node.kernel_size, 2))
    sh, sw = (int(s) for s in np.broadcast_to(node.stride, 2))
    ph, pw = (int(p) for p in np.broadcast_to(node.padding, 2))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    co, yo, xo, dy, dx = np.meshgrid(np.arange(c), np.arange(oh), np.arange(ow), np.arange(kh), np.arange(kw),
                                     indexing="ij")
    yi, xi = yo * sh - ph + dy, xo * sw - pw + dx
    ok = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
    rows = ((co * oh + yo) * ow + xo)[ok]
    cols = ((co * h + yi) * w + xi)[ok]
    return sp.csr_matrix((np.ones(rows.size, np.float64), (rows, cols)), shape=(c * oh * ow, c * h * w))


def conv_matrix(kernel: np.ndarray, p: dict) -> sp.csr_matrix:
    """The (out, in) sparse matrix of an MLA Conv2DProjection: optional sum-pool then conv2d.

    `kernel` is in MLA order (in_c, out_c, kh, kw); `p` has in_channels, in_height, in_width
    (before pooling), pool_y/x, stride_y/x, pad_top/bottom/left/right. Shared by the compiler
    (to route) and the simulator (which rebuilds it from the kernel in the memory image)."""
    ci, co, kh, kw = kernel.shape
    py_, px = p["pool_y"], p["pool_x"]
    h, w = p["in_height"] // py_, p["in_width"] // px
    oh = (h + p["pad_top"] + p["pad_bottom"] - kh) // p["stride_y"] + 1
    ow = (w + p["pad_left"] + p["pad_right"] - kw) // p["stride_x"] + 1
    o, i, yo, xo, dy, dx = np.meshgrid(np.arange(co), np.arange(ci), np.arange(oh), np.arange(ow),
                                       np.arange(kh), np.arange(kw), indexing="ij")
    yi, xi = yo * p["stride_y"] - p["pad_top"] + dy, xo * p["stride_x"] - p["pad_left"] + dx
    ok = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w) & (kernel[i, o, dy, dx] != 0)
    rows = ((o * oh + yo) * ow + xo)[ok]
    cols = ((i * h + yi) * w + xi)[ok]
    vals = kernel[i, o, dy, dx][ok].astype(np.int32)
    m = sp.csr_matrix((vals, (rows, cols)), shape=(co * oh * ow, ci * h * w))
    if py_ * px > 1:  # pooling first: each pooled input pixel sums py*px raw pixels
        c, H, W = ci, p["in_height"], p["in_width"]
        pool = _pool_matrix((c, H, W), nir.SumPool2d(kernel_size=np.array([py_, px]), stride=np.array([py_, px]),
                                                     padding=np.array([0, 0])))
        m = (m @ pool).tocsr()
    m.sum_duplicates()
    return m


def _chain_matrix(graph: Graph, ops: tuple) -> tuple[sp.spmatrix | np.ndarray, np.ndarray]:
    """Compose a dense chain (pools, flattens, one Affine/Linear) into (post x pre) weights and bias."""
    mat = None
    bias = None
    for op in ops:
        node = graph.nodes[op]
        if isinstance(node, nir.Flatten):
            continue
        if isinstance(node, nir.SumPool2d):
            m = _pool_matrix(_shape(graph, op, "in"), node)
            if bias is not None:
                bias = m @ bias
        else:  # Affine / Linear: dense ndarray or (bench) a scipy.sparse matrix
            m = node.weight if sp.issparse(node.weight) else np.asarray(node.weight, dtype=np.float64)
            if isinstance(node, nir.Affine):
                bias = np.asarray(node.bias, dtype=np.float64).reshape(-1)
        mat = m if mat is None else m @ mat
    return mat, (bias if bias is not None else 0.0)


def _weight_node(graph: Graph, src: str, dst: str, ops: tuple) -> str:
    weights = [o for o in ops if isinstance(graph.nodes[o], WEIGHTS)]
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
    if int(np.prod(np.broadcast_to(conv.dilation, 2))) != 1 or int(conv.groups) != 1:
        raise UnsupportedNode("Conv2d with dilation or groups != 1 has no MLA mode", where=where,
                              hint="use a plain convolution or keep this layer on the host")
    pads = [int(p) for p in np.broadcast_to(conv.padding, 2)] if not isinstance(conv.padding, str) else None
    if pads is None:
        raise UnsupportedNode(f"Conv2d padding {conv.padding!r} must be explicit integers", where=where,
                              hint="re-export with numeric padding")
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
        k, s = np.broadcast_to(pn.kernel_size, 2), np.broadcast_to(pn.stride, 2)
        if not (np.array_equal(k, s) and not np.any(np.broadcast_to(pn.padding, 2))):
            raise UnsupportedNode("SumPool2d before Conv2d needs kernel == stride and no padding (MLA pool)",
                                  where=before[-1], hint="change the pooling or keep it on the host")
        pool = (int(k[0]), int(k[1]))
        in_shape = _shape(graph, before[-1], "in")
    else:
        in_shape = _shape(graph, conv_name, "in")
    stride = [int(s) for s in np.broadcast_to(conv.stride, 2)]
    return {"in_channels": in_shape[0], "in_height": in_shape[1], "in_width": in_shape[2],
            "pool_y": pool[0], "pool_x": pool[1], "stride_y": stride[0], "stride_x": stride[1],
            "pad_top": pads[0], "pad_bottom": pads[0], "pad_left": pads[1], "pad_right": pads[1]}


def _neuron_params(node, bias: np.ndarray, n: int, dt: float, sem, w_scale: np.ndarray) -> tuple[dict, np.ndarray, str]:
    """Chip parameters of one population; `w_scale` is the per-neuron weight scale."""
    def arr(x):
        return np.broadcast_to(np.asarray(x, dtype=np.float64).reshape(-1) if np.ndim(x) else x, (n,)).astype(np.float64)

    euler = sem.integrator == "euler"
    if isinstance(node, nir.IF):  # v += dt*R*I (neurodeploy semantics; s2_nir's dt = 1 case)
        alpha = np.ones(n)
        scale = w_scale / (dt * arr(node.r))
        i_offset = bias * w_scale
        extra = {}
    elif isinstance(node, nir.LIF):
        tau = arr(node.tau)
        alpha = 1 - dt / tau if euler else np.exp(-dt / tau)
        scale = w_scale / ((1 - alpha) * arr(node.r))
        i_offset = (1 - alpha) * arr(node.v_leak) * scale + bias * w_scale
        extra = {}
    else:  # CubaLIF
        tm, ts = arr(node.tau_mem), arr(node.tau_syn)
        alpha = 1 - dt / tm if euler else np.exp(-dt / tm)
        syn = 1 - dt / ts if euler else np.exp(-dt / ts)
        i_scale = 1 / ((1 - syn) * arr(node.w_in))
        scale = w_scale * i_scale / ((1 - alpha) * arr(node.r))
        i_offset = (1 - alpha) * arr(node.v_leak) * scale + bias * arr(node.w_in) * i_scale * w_scale
        extra = {"exc_decay": syn, "inh_decay": syn}
    v_reset = arr(getattr(node, "v_reset", 0.0)) * scale if sem.reset == "v_reset" else np.zeros(n)
    reset = "reset_by_subtraction" if sem.reset == "subtract" else "reset_to_v_reset"
    params = {"threshold": arr(node.v_threshold) * scale, "alpha_decay": alpha, "i_offset": i_offset,
              "v_reset": v_reset, **extra}
    return {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}, scale, reset


def weight_scales(peak: np.ndarray, mode: str, fixed: float | None, w_max: int) -> np.ndarray:
    """Per-neuron weight scale from each neuron's largest incoming |w| (`peak`; for a conv output, its
    channel's largest kernel weight, so all neurons of a channel share one scale and one int8 kernel)."""
    n = peak.size
    if fixed is not None or mode == "none":
        return np.full(n, 1.0 if fixed is None else fixed)
    top = float(peak.max(initial=0))
    layer = w_max / top if top > 0 else 1.0
    if mode == "per_layer":
        return np.full(n, layer)
    return np.where(peak > 0, w_max / np.where(peak > 0, peak, 1.0), layer)


def _stats(err: np.ndarray, w: np.ndarray, scale: np.ndarray, zeroed: int, mode: str) -> dict:
    norm = float(np.sqrt(np.sum(w * w))) or 1.0
    return {"scaling": mode, "rel_rms_error": float(np.sqrt(np.sum(err * err)) / norm),
            "max_abs_error": float(np.abs(err).max(initial=0)), "w_scale_min": float(scale.min(initial=np.inf)),
            "w_scale_max": float(scale.max(initial=0)), "zeroed": zeroed}


def _csr(w: np.ndarray) -> sp.csr_matrix:
    """float64 CSR of a dense matrix's nonzeros (5x faster than scipy's route through COO)."""
    mask = w != 0
    flat = np.flatnonzero(mask)
    return sp.csr_matrix((w.reshape(-1)[flat].astype(np.float64), (flat % w.shape[1]).astype(np.int32),
                          np.r_[0, np.cumsum(mask.sum(1))]), shape=w.shape)


def _quantize_dense(mat, scale: np.ndarray, w_max: int, mode: str):
    """Rows scaled by their neuron's scale, rounded to nearest: (csr int16 weights with zeros dropped,
    largest magnitude before clipping, error stats)."""
    m = mat.tocsr().astype(np.float64) if sp.issparse(mat) else _csr(np.asarray(mat))
    s = np.repeat(scale, np.diff(m.indptr))
    q = np.rint(m.data * s)
    peak = float(np.abs(q).max(initial=0))
    q = np.clip(q, -w_max, w_max)
    out = sp.csr_matrix((q.astype(np.int16), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    out.eliminate_zeros()
    return out, peak, _stats(q / s - m.data, m.data, scale, int(np.count_nonzero(m.data) - out.nnz), mode)


def _quantize_conv(kernel: np.ndarray, scale_c: np.ndarray, w_max: int, mode: str):
    """MLA kernel (in_c, out_c, kh, kw) scaled per output channel, rounded to nearest, int8."""
    s = scale_c[None, :, None, None]
    q = np.rint(kernel * s)
    peak = float(np.abs(q).max(initial=0))
    q = np.clip(q, -w_max, w_max)
    stats = _stats(q / s - kernel, kernel, scale_c, int(np.count_nonzero(kernel) - np.count_nonzero(q)), mode)
    return q.astype(np.int8), peak, stats


def convert(graph: Graph, opts) -> tuple[Network, dict]:
    """Lower `graph` to a `Network`; also return the largest integer weight magnitude per projection
    before clipping (for the weight-range design rule)."""
    sem = graph.semantics
    if getattr(sem, "reset_timing", "same_step") != "same_step":
        raise InvalidModel(f"reset_timing {sem.reset_timing!r}: SpiNNaker 2 neurons reset in the step they spike",
                           where="semantics", hint="compile with the default reset timing (same_step)")
    delayed = opts.conn_delay > 0
    w_max = 15 if delayed else 127
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
        elif isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            pops[name] = _population(graph, name, node, opts, w_max, projs, peaks, delayed)
        elif not isinstance(node, LINEAR_OPS):
            raise _unsupported(graph, name)
    for name, node in graph.nodes.items():  # a linear op with no neuron after it computes nothing on chip
        if isinstance(node, LINEAR_OPS) and not graph.successors(name):
            raise UnsupportedNode("weight/pooling node with no neuron after it", where=name,
                                  hint=HOST_HINT.format(what="this layer"))
    return Network(pops, projs, outputs), peaks


def _population(graph, name, node, opts, w_max, projs, peaks, delayed) -> Population:
    n = graph.size(name)
    chains = _chains(graph, name)
    convs = [ops for _, ops in chains if any(isinstance(graph.nodes[o], nir.Conv2d) for o in ops)]
    if isinstance(node, nir.CubaLIF):
        if convs:
            raise UnsupportedNode("CubaLIF after Conv2d is not supported by py-spinnaker2", where=name,
                                  hint="use LIF or IF after a convolution")
        model = "lif_curr_exp" if delayed else "lif_curr_exp_no_delay"
    elif convs:
        if len(chains) > 1:
            raise UnsupportedNode(f"a Conv2d-fed population takes no other input on SpiNNaker 2 ({len(chains)} "
                                  "inputs here)", where=name, hint="the MLA computes one Conv2DProjection per "
                                  "population: merge the inputs into one convolution or add a neuron layer")
        if delayed:
            raise UnsupportedNode("Conv2DProjection needs conn_delay 0 (the MLA path has no delay)", where=name,
                                  hint="compile with -O conn_delay=0")
        model = "lif_conv2d"
    else:
        model = "lif" if delayed else "lif_no_delay"
    # weights of every chain, before scaling
    parts = []
    bias = np.zeros(n)
    for src, ops in chains:
        wname = _weight_node(graph, src, name, ops)
        if isinstance(graph.nodes[wname], nir.Conv2d):
            p = _conv_params(graph, ops, wname)
            conv = graph.nodes[wname]
            kernel = np.asarray(conv.weight, dtype=np.float64).swapaxes(0, 1)  # MLA order (in_c, out_c, kh, kw)
            b = np.asarray(conv.bias, dtype=np.float64).reshape(-1) if conv.bias is not None else np.zeros(1)
            out_shape = _shape(graph, wname, "out")
            bias = bias + np.broadcast_to(b.reshape(-1, 1, 1), out_shape).reshape(-1)
            parts.append((src, wname, "conv2d", kernel, p))
        else:
            mat, b = _chain_matrix(graph, ops)
            if mat.shape != (n, graph.size(src)):
                raise InvalidModel(f"weights {mat.shape} do not map {src} ({graph.size(src)}) to {name} ({n})",
                                   where=wname)
            bias = bias + b
            parts.append((src, wname, "dense", mat, None))
    peak = np.zeros(n)
    for *_, kind, mat, _ in parts:
        if kind == "conv2d":
            rows = np.abs(mat).max(axis=(0, 2, 3)).repeat(n // mat.shape[1])
        elif sp.issparse(mat):
            rows = abs(mat).max(axis=1).toarray().ravel()
        else:
            rows = np.abs(mat).max(axis=1, initial=0)
        peak = np.maximum(peak, rows)
    shape = _shape(graph, name, "out")
    w_scale = weight_scales(peak, opts.weight_scaling, opts.weight_scale, w_max)
    params, v_scale, reset = _neuron_params(node, bias, n, graph.semantics.dt, graph.semantics, w_scale)
    mode = "fixed" if opts.weight_scale is not None else opts.weight_scaling
    for src, wname, kind, mat, p in parts:
        if kind == "conv2d":
            kernel, peaks[wname], stats = _quantize_conv(mat, w_scale[::n // shape[0]], w_max, mode)
            projs.append(Projection(wname, src, name, "conv2d", conv_matrix(kernel, p), 0, dict(p, kernel=kernel),
                                    stats))
        else:
            q, peaks[wname], stats = _quantize_dense(mat, w_scale, w_max, mode)
            projs.append(Projection(wname, src, name, "dense", q, opts.conn_delay, None, stats))
    return Population(name, model, shape, params, reset, v_scale.astype(np.float64))
