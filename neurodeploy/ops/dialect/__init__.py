"""Step functions of the dialect nodes (`neurodeploy.ir.dialect`) for the reference simulator.

`STATES` maps a dialect class name to its state class, constructed as
``State(name, node, in_shapes: {port: shape}, out_shape, sem, batch, dtype)``. ``state.step(x)``
takes a dict port -> (B, *shape) array (a bare array is the first port's input; a missing port
reads zeros) and returns the output (B, *out_shape); ``state.ports`` lists the ports (first =
default); ``state.counters()`` gives the events so far; ``state.v``, where present, is the
recordable internal state (EGRU: c). STDP acts on another node's weights and is built apart:
``STDPState(name, node, w0 (out, in), sem, batch, dtype)`` with ``step(pre, post) -> (B, out, in)``.
Equations and sources: docs/equations.md.
"""
from __future__ import annotations

from .egru import EGRUState
from .embedding import EmbeddingState
from .layernorm import LayerNormState
from .rwkv import ChannelMixState, TimeMixState
from .stdp import STDPState
from .two_point import TwoPointState

STATES = {
    "EGRU": EGRUState,
    "RWKVTimeMix": TimeMixState,
    "RWKVChannelMix": ChannelMixState,
    "LayerNorm": LayerNormState,
    "Embedding": EmbeddingState,
    "TwoPointCell": TwoPointState,
}

__all__ = ["STATES", "STDPState", "EGRUState", "TimeMixState", "ChannelMixState", "LayerNormState",
           "EmbeddingState", "TwoPointState"]
