"""snnTorch -> NIR export that keeps what the stock exporter loses.

    graph, sem = export(net, sample)        # nir.NIRGraph (batch-free, scalars broadcast, biases kept)
                                            # and the Semantics under which it reproduces `net`;
                                            # the graph's metadata carries them (ir.write stores them)
    sem = semantics_for(net)                # the same Semantics alone (one convention for all layers)

Stock snnTorch 1.0 + nir 1.0.8 fails on its own documented example (a scalar ``beta`` becomes a
0-d LIF, the batch dimension leaks into the Input type) and nirtorch 2.6 drops Affine biases on
import. Here every parameter is written as a full per-neuron array and the sample's batch axis is
removed.

Supported layers: ``nn.Linear`` (Affine, or Linear without bias), ``nn.Conv1d``/``nn.Conv2d``
(zero padding), ``nn.AvgPool2d`` (count_include_pad, no ceil_mode), ``nn.Flatten`` (start/end dim
shifted to batch-free), ``nn.Identity``/``nn.Dropout`` (skipped, inference), and snnTorch
``Leaky`` -> LIF (IF when beta = 1), ``Synaptic`` -> CubaLIF, ``RLeaky``/``RSynaptic`` -> the NIR
RNN convention: flat nodes ``<name>.lif`` and ``<name>.w_rec`` (a Linear; the recurrent bias,
which snnTorch adds every step, is folded into the bias of the Affine feeding the neuron).
Parameters follow snnTorch's own NIR conventions (nir.md §4): tau = dt/(1-beta), r = tau/dt,
tau_syn = dt/(1-alpha), w_in = tau_syn/dt, v_leak = 0, v_reset = 0; with the euler integrator
these give exactly v' = beta*v + x and i' = alpha*i + x.

Conventions (docs/semantics.md derives each from snnTorch's code): reset_mechanism subtract/zero
and reset_delay map to `Semantics.reset`/``reset_timing``: reset_delay=True -> ``next_step``
(``next_step_hold`` for reset to zero in all but Leaky); reset_delay=False -> ``same_step`` (zero)
or ``same_step_double`` (subtract, snnTorch's "avoid double reset" rule). RSynaptic ignores
reset_delay=False in snnTorch 1.0 (its same-step reset updates a local variable), so it maps as
reset_delay=True. A model whose layers differ gets the first spiking layer's convention as the
graph's and the others stored on their nodes (per-node semantics, `neurodeploy.ir.meta`).
``reset_mechanism="none"`` on the last neuron layer is a readout read as a membrane potential: a
leaky integrator (NIR ``LI``; ``I`` when beta = 1; ``CubaLI`` for Synaptic) whose v is the output.

Limits: the model must be an ``nn.Sequential`` or a module whose forward applies its children
once each, in registration order (nested Sequentials are walked); anything else (branches, skip
connections, time loops with extra logic) is not seen. Unknown layers, max pooling, recurrent
convolutions, inhibition, graded spikes, state quantization and ``reset_mechanism="none"`` on a
layer whose spikes feed another layer raise `UnsupportedNode` naming the layer, instead of being
dropped.
"""
from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

import snntorch as snn

from ..errors import InvalidModel, UnsupportedNode, UsageError
from ..ir.meta import with_node_fields
from ..semantics import Semantics
from . import Export, exported

NEURONS = (snn.Leaky, snn.Synaptic, snn.RLeaky, snn.RSynaptic)
SKIPPED = (nn.Identity, nn.Dropout)


def export(module: nn.Module, sample: torch.Tensor, *, dt: float = 1e-4) -> Export:
    """NIR graph of `module` and its semantics; `sample` is one time step of input with a batch
    axis, (B, *in_shape)."""
    if not isinstance(sample, torch.Tensor) or sample.ndim < 2:
        raise UsageError("sample must be a torch tensor shaped (batch, *input_shape)")
    param = next(module.parameters(), None)
    x = sample.detach().to(param.dtype if param is not None else sample.dtype)  # shapes only
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(x.shape[1:]))}
    edges: list[tuple[str, str]] = []
    last = "input"
    sem = _graph_semantics(module, dt)
    layers = [(n, l) for n, l in _layers(module) if not isinstance(l, SKIPPED)]
    with torch.no_grad():
        for pos, (name, layer) in enumerate(layers):
            shape = tuple(x.shape[1:])
            if isinstance(layer, NEURONS):
                key, new, loop = _neuron(name, layer, shape, dt, nodes.get(last), _is_readout(layers, pos))
                edges += loop
                own = _own_fields(name, layer, sem)
                if own:
                    new[key] = with_node_fields(new[key], own)
            else:
                key, new = name, {name: _stateless(name, layer, shape)}
                x = layer(x)
            for node in new.values():  # types from the traced shapes (nir's own inference ignores groups)
                node.input_type = {"input": np.array(shape)}
                node.output_type = {"output": np.array(x.shape[1:])}
            nodes.update(new)
            edges.append((last, key))
            last = key
    nodes["output"] = nir.Output(output_type=np.array(x.shape[1:]))
    edges.append((last, "output"))
    return exported(nodes, edges, sem, "snntorch")


def semantics_for(module: nn.Module, *, dt: float = 1e-4) -> Semantics:
    """The one Semantics under which `export(module)` reproduces snnTorch's forward pass exactly;
    `InvalidModel` when its layers need different conventions (`export` stores those per node)."""
    seen = _conventions(module)
    if len(seen) > 1:
        detail = "; ".join(f"{n}: reset={r}, reset_timing={t}" for (r, t), n in seen.items())
        raise InvalidModel(f"neuron layers need different reset conventions ({detail}); one graph runs "
                           "under one Semantics", hint="use the same reset_mechanism and reset_delay "
                           "(and, for reset to zero with reset_delay=True, only Leaky or only the others)")
    return _graph_semantics(module, dt)


def _conventions(module: nn.Module) -> dict[tuple[str, str], str]:
    """(reset, reset_timing) -> first layer that uses it, over the resetting neuron layers."""
    seen: dict[tuple[str, str], str] = {}
    for name, layer in _layers(module):
        if isinstance(layer, NEURONS) and layer.reset_mechanism != "none":
            seen.setdefault(_reset(name, layer), name)
    return seen


def _graph_semantics(module: nn.Module, dt: float) -> Semantics:
    """The first resetting layer's convention (reset to zero, same step, if there is none)."""
    seen = _conventions(module)
    reset, timing = next(iter(seen)) if seen else ("zero", "same_step")
    return Semantics(dt=dt, reset=reset, integrator="euler", reset_timing=timing)


def _own_fields(name: str, layer, sem: Semantics) -> dict:
    """The layer's reset fields where they differ from the graph's (stored on its node)."""
    if layer.reset_mechanism == "none":
        return {}
    reset, timing = _reset(name, layer)
    return {k: v for k, v in (("reset", reset), ("reset_timing", timing)) if v != getattr(sem, k)}


def _is_readout(layers: list, pos: int) -> bool:
    """No neuron layer and no weight layer after `pos`: its output is the model's output."""
    return not any(not isinstance(l, nn.Flatten) for _, l in layers[pos + 1:])


def _layers(module: nn.Module, prefix: str = ""):
    children = list(module.named_children())
    if not children or isinstance(module, NEURONS):
        yield prefix.rstrip("_") or type(module).__name__, module
        return
    for name, child in children:
        yield from _layers(child, f"{prefix}{name}_")


def _reset(name: str, layer) -> tuple[str, str]:
    mode = layer.reset_mechanism
    if mode not in ("subtract", "zero"):
        raise UnsupportedNode(f"reset_mechanism={mode!r} cannot be expressed in NIR", where=name,
                              hint="use 'subtract', 'zero', or 'none' on the readout layer")
    if not layer.reset_delay and not isinstance(layer, snn.RSynaptic):
        return mode, "same_step_double" if mode == "subtract" else "same_step"
    hold = mode == "zero" and not isinstance(layer, snn.Leaky)
    return mode, "next_step_hold" if hold else "next_step"


def _arr(t, shape, name, what) -> np.ndarray:
    a = torch.as_tensor(t).detach().double().cpu().numpy()
    try:
        return np.ascontiguousarray(np.broadcast_to(a, shape))
    except ValueError:
        raise InvalidModel(f"{what} of shape {a.shape} does not fit the neuron shape {shape}", where=name) from None


def _neuron(name, layer, shape, dt, pred, readout):
    for flag, what in ((layer.inhibition, "inhibition"), (layer.state_quant, "state_quant")):
        if flag:
            raise UnsupportedNode(f"snnTorch {what} has no NIR equivalent", where=name)
    if float(getattr(layer, "graded_spikes_factor", 1.0)) != 1.0:
        raise UnsupportedNode("graded_spikes_factor != 1 has no NIR equivalent", where=name)
    if layer.reset_mechanism == "none" and not readout:
        raise UnsupportedNode("reset_mechanism='none' feeds its spikes to later layers; NIR has no spiking "
                              "neuron without a reset", where=name,
                              hint="use 'none' only on the last (readout) layer, read as a membrane potential")
    if layer.reset_mechanism != "none":
        _reset(name, layer)
    beta = np.clip(_arr(layer.beta, shape, name, "beta"), 0, 1)
    theta = _arr(layer.threshold, shape, name, "threshold")
    zero = np.zeros(shape)
    recurrent = isinstance(layer, (snn.RLeaky, snn.RSynaptic))
    key = f"{name}.lif" if recurrent else name
    if isinstance(layer, (snn.Synaptic, snn.RSynaptic)):
        alpha = np.clip(_arr(layer.alpha, shape, name, "alpha"), 0, 1)
        if np.any(alpha >= 1) or np.any(beta >= 1):
            raise UnsupportedNode("alpha = 1 or beta = 1 (no decay) has no CubaLIF time constant", where=name)
        ts, tm = dt / (1 - alpha), dt / (1 - beta)
        if layer.reset_mechanism == "none":
            node = nir.CubaLI(tau_syn=ts, tau_mem=tm, r=tm / dt, v_leak=zero, w_in=ts / dt)
        else:
            node = nir.CubaLIF(tau_syn=ts, tau_mem=tm, r=tm / dt, v_leak=zero, v_threshold=theta,
                               v_reset=zero, w_in=ts / dt)
    elif np.all(beta == 1):
        node = (nir.I(r=np.full(shape, 1 / dt)) if layer.reset_mechanism == "none" else
                nir.IF(r=np.full(shape, 1 / dt), v_threshold=theta, v_reset=zero))
    elif np.any(beta == 1):
        raise UnsupportedNode("beta = 1 for some neurons and < 1 for others (mixed IF/LIF layer)", where=name)
    else:
        tau = dt / (1 - beta)
        node = (nir.LI(tau=tau, r=tau / dt, v_leak=zero) if layer.reset_mechanism == "none" else
                nir.LIF(tau=tau, r=tau / dt, v_leak=zero, v_threshold=theta, v_reset=zero))
    if not recurrent:
        return key, {key: node}, []
    w, b = _recurrent(name, layer, shape)
    if np.any(b):
        if not isinstance(pred, nir.Affine):
            raise UnsupportedNode("the recurrent bias can only be folded into a preceding nn.Linear",
                                  where=name, hint="put an nn.Linear before it or build the recurrent layer without bias")
        pred.bias = pred.bias + b.astype(pred.bias.dtype)
    w_rec = f"{name}.w_rec"
    return key, {key: node, w_rec: nir.Linear(weight=w)}, [(key, w_rec), (w_rec, key)]


def _recurrent(name, layer, shape):
    n = int(np.prod(shape))
    rec = layer.recurrent
    if isinstance(rec, nn.Linear) and len(shape) == 1:
        w = rec.weight.detach().double().numpy()
        b = rec.bias.detach().double().numpy() if rec.bias is not None else np.zeros(n)
        return w, b
    if not layer.all_to_all:
        return np.diag(_arr(layer.V, shape, name, "V").ravel()), np.zeros(n)
    raise UnsupportedNode(f"recurrent {type(rec).__name__} connections are not supported (only linear)", where=name)


def _stateless(name, layer, shape):
    p = lambda t: t.detach().double().cpu().numpy()  # noqa: E731
    if isinstance(layer, nn.Linear):
        if layer.bias is None:
            return nir.Linear(weight=p(layer.weight))
        return nir.Affine(weight=p(layer.weight), bias=p(layer.bias))
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        if layer.padding_mode != "zeros":
            raise UnsupportedNode(f"padding_mode={layer.padding_mode!r} (only zero padding)", where=name)
        bias = p(layer.bias) if layer.bias is not None else np.zeros(layer.out_channels)
        nd = 1 if isinstance(layer, nn.Conv1d) else 2
        cls = nir.Conv1d if nd == 1 else nir.Conv2d
        spatial = shape[1:] if nd == 2 else shape[1]
        return cls(input_shape=spatial, weight=p(layer.weight), stride=layer.stride, padding=layer.padding,
                   dilation=layer.dilation, groups=layer.groups, bias=bias)
    if isinstance(layer, nn.AvgPool2d):
        if layer.ceil_mode or not layer.count_include_pad or layer.divisor_override:
            raise UnsupportedNode("AvgPool2d needs ceil_mode=False, count_include_pad=True, no divisor_override",
                                  where=name)
        pair = lambda v: np.array(v if isinstance(v, (tuple, list)) else (v, v))  # noqa: E731
        return nir.AvgPool2d(kernel_size=pair(layer.kernel_size), stride=pair(layer.stride or layer.kernel_size),
                             padding=pair(layer.padding))
    if isinstance(layer, nn.Flatten):
        nd = len(shape) + 1
        start, end = (d % nd for d in (layer.start_dim, layer.end_dim))
        if start == 0 or end == 0:
            raise UnsupportedNode("Flatten over the batch dimension", where=name)
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start - 1, end_dim=end - 1)
    if isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)):
        raise UnsupportedNode("NIR 1.0.8 has no max pooling", where=name, hint="use AvgPool2d")
    raise UnsupportedNode(f"layer type {type(layer).__name__} is not supported by the snnTorch exporter",
                          where=name)
