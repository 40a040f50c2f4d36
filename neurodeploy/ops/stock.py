"""Op definitions of the NIR 1.0.8 node types (the registry: `neurodeploy.ops`).

The rules themselves stay next to their kin (shape rules in `neurodeploy.ir.shapes`, NumPy
functions in `neurodeploy.sim.ops`, neuron coefficients in `neurodeploy.sim.neurons`, NeuroBench
fan-out in `neurodeploy.energy.neurobench`); this module says which belongs to which type.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from functools import partial

import nir
import numpy as np

from ..energy import neurobench
from ..ir import sparse
from ..ir import shapes as sh
from ..sim import neurons, ops as fn
from . import OpDef, register


def _neuron_state(name, node, in_shapes, out_shape, sem, batch, dtype):
    return neurons.Neuron(name, node, tuple(out_shape), sem, batch, dtype)


def _delay_state(name, node, in_shapes, out_shape, sem, batch, dtype):
    return neurons.Delay(name, node, tuple(out_shape), sem, batch, dtype)


def _range(a) -> str:
    a = np.asarray(a)
    lo, hi = (a.min(), a.max()) if a.size else (0, 0)
    return f"{lo:.4g}" if lo == hi else f"{lo:.4g}..{hi:.4g}"


def params_summary(node) -> str:
    """`name=value` (or `min..max`) for each signal-shaped parameter."""
    return ", ".join(f"{p}={_range(getattr(node, p))}" for p in sh.elementwise_params(node))


# --- weights ------------------------------------------------------------------------------------

def _matrix_synapses(node, in_shape, out_shape) -> int:
    """A dense matrix connects every pair; a sparse one only the pairs it stores non-zero."""
    w = node.weight
    return int(w.count_nonzero()) if sparse.is_sparse(w) else int(w.size)


def _matrix_summary(node) -> str:
    w = node.weight
    kind = f"sparse, {w.nnz:,} stored" if sparse.is_sparse(w) else "dense"
    return f"weight {w.shape[0]}x{w.shape[1]} ({kind})" + (", bias" if getattr(node, "bias", None) is not None else "")


def _conv_synapses(node, in_shape, out_shape) -> int:
    """Each output element applies Cin/groups x kernel taps."""
    return math.prod(out_shape) * math.prod(node.weight.shape[1:])


def _conv_summary(node) -> str:
    k = "x".join(str(s) for s in node.weight.shape[2:])
    return f"{node.weight.shape[0]} filters {k}, stride {node.stride}, padding {node.padding}, groups {node.groups}"


def _conv_complete(node, shape, out, nsp: int):
    if node.input_shape is not None:
        return None
    value = shape[1] if nsp == 1 else shape[1:]
    return dataclasses.replace(node, input_shape=value), f"inferred input_shape {value}"


def _pool_complete(node, shape, out):
    if node.output_type["output"] is not None:
        return None
    new = copy.copy(node)  # NIR leaves pool types to graph inference by design: not a repair
    new.input_type, new.output_type = {"input": np.array(shape)}, {"output": np.array(out)}
    return new, ""


def _flatten_complete(node, shape, out):
    if node.input_type["input"] is not None:
        return None
    return dataclasses.replace(node, input_type={"input": np.array(shape)}), f"inferred input_type {shape}"


def _pool_summary(node) -> str:
    return f"kernel {node.kernel_size}, stride {node.stride}, padding {node.padding}"


register(OpDef(nir.Input, identity=True, declared=sh.input_declared, stateless=fn.identity))
register(OpDef(nir.Output, identity=True, pass_through=True, declared=sh.output_declared,
               stateless=fn.identity))
for _cls in (nir.Affine, nir.Linear):
    register(OpDef(_cls, declared=sh.matrix_declared, output=sh.matrix_output, stateless=fn.matrix,
                   fanout=neurobench.matrix_fanout, synapses=_matrix_synapses, summary=_matrix_summary))
for _cls, _nsp in ((nir.Conv1d, 1), (nir.Conv2d, 2)):
    register(OpDef(_cls, declared=partial(sh.conv_declared, nsp=_nsp), output=sh.conv_output,
                   complete=partial(_conv_complete, nsp=_nsp), stateless=fn.conv,
                   fanout=neurobench.conv_fanout, synapses=_conv_synapses, summary=_conv_summary))
register(OpDef(nir.SumPool2d, declared=sh.pool_declared, output=sh.pool_output, complete=_pool_complete,
               stateless=fn.pool, summary=_pool_summary))
register(OpDef(nir.AvgPool2d, declared=sh.pool_declared, output=sh.pool_output, complete=_pool_complete,
               stateless=partial(fn.pool, average=True), summary=_pool_summary))
register(OpDef(nir.Flatten, identity=True, pass_through=True, declared=sh.flatten_declared,
               output=sh.flatten_output, complete=_flatten_complete, stateless=fn.reshape,
               summary=lambda node: f"dims {node.start_dim}..{node.end_dim}"))
register(OpDef(nir.Scale, params=sh.NEURON_PARAMS[nir.Scale], declared=sh.params_declared,
               stateless=fn.scale, summary=params_summary))
register(OpDef(nir.Threshold, binary=True, params=sh.NEURON_PARAMS[nir.Threshold],
               declared=sh.params_declared, stateless=fn.threshold, summary=params_summary))
register(OpDef(nir.Delay, stateful=True, pass_through=True, params=sh.NEURON_PARAMS[nir.Delay],
               declared=sh.params_declared, state=_delay_state, summary=params_summary))

# --- neurons ------------------------------------------------------------------------------------
for _cls, _rule, _spiking in ((nir.LI, neurons.leaky, False), (nir.LIF, neurons.leaky, True),
                              (nir.I, neurons.integrator, False), (nir.IF, neurons.integrator, True),
                              (nir.CubaLI, neurons.current_based, False),
                              (nir.CubaLIF, neurons.current_based, True)):
    register(OpDef(_cls, is_neuron=True, stateful=True, spiking=_spiking, binary=_spiking,
                   out_is_v=not _spiking, params=sh.NEURON_PARAMS[_cls], declared=sh.params_declared,
                   state=_neuron_state, discretise=_rule, summary=params_summary))
