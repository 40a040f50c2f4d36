"""Plasticity in the reference: a learning rule (the dialect's STDP) acting on a weight node.

What the rule sees (docs/dialect.md, "STDP"), per step t and per batch sample:
- pre = the weight node's input at step t (the sum of its incoming edges), (B, in);
- post = the output at step t of the node the weight node feeds; that node must be the weight
  node's only successor and a spiking neuron (anything else is ambiguous: `InvalidModel`);
- Delay nodes right after the weight node are dendritic: the post spikes reach the rule that
  many steps late (`dendritic_steps`; PyNN's default for STDP, sPyNNaker's and NEST's); a delay
  before the weight node is axonal (the pre signal is the spike's arrival);
- the weight node's step first applies the pre side (``STDPState.arrive(pre)``: an arriving spike
  is transmitted with the weight its own depression left, as Brian2's on_pre does); after every
  node of step t ran, ``STDPState.depart(post)`` applies the post side; those weights act from
  step t+1. (A rule with only ``step(pre, post)`` runs it whole after the step.) Each sample learns on its own copy of the weights.
The weight node's synaptic events count every synapse of an active input (plastic weights are
all stored, whatever their value).
"""
from __future__ import annotations

import nir
import numpy as np

from ..errors import InvalidModel, UnsupportedNode
from ..ir import sparse
from ..ir.graph import Graph
from .ops import Fan


class Rule:
    """One learning rule with the per-sample weights of the node it modifies."""

    def __init__(self, name: str, graph: Graph, batch: int, dtype):
        from ..ops.extensions import dynamics

        node = graph.nodes[name]
        w = graph.nodes[node.weight]
        w0 = np.asarray(w.weight, dtype=dtype)
        self.name, self.shape = name, (batch,) + w0.shape
        self.state = dynamics("STDP", name)(name, node, w0, graph.semantics, batch, dtype)
        self.w = np.ascontiguousarray(np.broadcast_to(w0, self.shape))
        self.b = None if getattr(w, "bias", None) is None else np.asarray(w.bias, dtype=dtype)
        self.pre = np.zeros((batch, w0.shape[1]), dtype)
        self.fan = Fan(np.full(w0.shape[1], w0.shape[0], np.int64), int(w0.size))
        k = dendritic_steps(graph, node.weight)
        self.posts = np.zeros((k + 1, batch, w0.shape[0]), dtype)  # post spikes on their way back
        self.t = 0

    def fn(self, x: np.ndarray) -> np.ndarray:
        """The weight node's step: y[b] = W[b] x[b] (+ bias), remembering x as the pre signal."""
        np.copyto(self.pre, x.reshape(self.pre.shape))
        if hasattr(self.state, "arrive"):  # the pre side first: arriving spikes carry depressed weights
            self.w = np.asarray(self.state.arrive(self.pre))
        y = np.matmul(self.w, self.pre[:, :, None])[:, :, 0]
        if self.b is not None:
            y += self.b
        return y

    def update(self, post: np.ndarray) -> np.ndarray:
        n = len(self.posts)  # a dendritic delay of k steps: the rule sees the post spikes of step t - k
        self.posts[self.t % n] = post.reshape(len(post), -1)
        self.t += 1
        post = self.posts[self.t % n]
        self.w = np.asarray(self.state.depart(post) if hasattr(self.state, "arrive") else self.state.step(self.pre, post))
        return self.w

    def counters(self) -> dict:
        return dict(self.state.counters()) if hasattr(self.state, "counters") else {}


def post_node(graph: Graph, w: str) -> str | None:
    """The neuron node `w` feeds, through any Delay and LI nodes (a synaptic current that acts
    after a delay: the rule's pre signal is the spike's arrival at the weights); None if not one
    path."""
    succ = graph.successors(w)
    while len(succ) == 1 and isinstance(graph.nodes[succ[0]], (nir.Delay, nir.LI)):
        succ = graph.successors(succ[0])
    return succ[0] if len(succ) == 1 else None


def dendritic_steps(graph: Graph, w: str) -> int:
    """Steps of the Delay nodes right after the weight node: a delay on the dendrite, which the
    post spikes travel back too (PyNN's dendritic delay), so the rule sees them that much later."""
    steps, succ = 0, graph.successors(w)
    while len(succ) == 1 and isinstance(graph.nodes[succ[0]], nir.Delay):
        d = np.rint(np.asarray(graph.nodes[succ[0]].delay) / graph.semantics.dt).astype(np.int64)
        if d.min() != d.max():
            raise InvalidModel("a dendritic delay (a Delay right after a plastic weight node) must be "
                               "one value", where=succ[0])
        steps += int(d.max())
        succ = graph.successors(succ[0])
    return steps


def rules(graph: Graph, defs: dict, batch: int, dtype) -> dict[str, Rule]:
    """Weight node -> the rule acting on it, after checking the graph makes pre and post clear."""
    out: dict[str, Rule] = {}
    for n in graph.order:
        if not defs[n].plastic:
            continue
        w = graph.nodes[n].weight
        if w in out:
            raise InvalidModel(f"weight node {w!r} already has the learning rule {out[w].name!r}; one rule "
                               f"per weight node", where=n)
        if sparse.is_sparse(graph.nodes[w].weight):
            raise UnsupportedNode(f"learning on the sparse weight of {w!r} is not supported by the reference",
                                  where=n, hint="store that weight dense")
        succ = [post_node(graph, w)]
        if not succ[0] or not defs[succ[0]].spiking or graph.out_shape[succ[0]] != graph.out_shape[w]:
            raise InvalidModel(f"the post-synaptic spikes of {w!r} are ambiguous: it must feed exactly one "
                               f"spiking neuron node of its output shape, through Delay/LI nodes only (it feeds "
                               f"{graph.successors(w)})", where=n)
        out[w] = Rule(n, graph, batch, dtype)
    return out
