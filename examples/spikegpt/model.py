"""A small SpikeGPT (Zhu et al., TMLR 2024; code ridgerchu/SpikeGPT) in PyTorch, training only.

tokens -> binary embedding (Heaviside of the row, ATan surrogate) -> LN0 -> blocks -> LN_out -> head,
block: x += LIF1(TimeMix(LN1(x)));  x += LIF2(ChannelMix(LN2(x)))   (models.md §2)
LIF as spikingjelly's MultiStepLIFNode(tau 2, v_th 1, hard reset to 0, decay_input) with one step
per token: v = v + (x - v)/2, spike when v > 1, then v = 0. Time-mix: token shift, k/v/r, the WKV
recurrence in its stable running-max form (docs/equations.md), W_o(σ(r) ⊙ wkv); channel-mix:
σ(W_r xr) ⊙ W_v relu(W_k xk)². Training runs the recurrences step by step (T is small).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import nir
import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "egru_lm"))
from spike import heaviside  # noqa: E402  (examples/egru_lm/spike.py)

TAU, V_TH = 2.0, 1.0


# spikingjelly's ATan surrogate (alpha 2): 1 / (1 + (pi x)^2)
spike = heaviside(lambda x: 1 / (1 + (math.pi * x) ** 2))


def lif(x):
    """(T, B, d) currents -> spikes, v = v + (x - v)/tau, fire v > v_th, hard reset to 0."""
    v, out = torch.zeros_like(x[0]), []
    for t in range(x.shape[0]):
        v = v + (x[t] - v) / TAU
        s = spike(v - V_TH)
        v = v * (1 - s)
        out.append(s)
    return torch.stack(out)


def shift(x):
    return torch.cat([torch.zeros_like(x[:1]), x[:-1]])


class TimeMix(nn.Module):
    def __init__(self, d: int, layer: int, n_layers: int):
        super().__init__()
        ratio = layer / max(1, n_layers - 1)
        ramp = torch.arange(d) / d
        self.mu_k = nn.Parameter(ramp ** (1 - ratio))
        self.mu_v = nn.Parameter(ramp ** (1 - ratio) + 0.3 * ratio)
        self.mu_r = nn.Parameter(ramp ** (0.5 * (1 - ratio)))
        self.time_decay = nn.Parameter(-5 + 8 * (torch.arange(d) / (d - 1)) ** (0.7 + 1.3 * ratio))
        self.time_first = nn.Parameter(torch.full((d,), math.log(0.3)))
        self.k, self.v, self.r, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x):
        xx = shift(x)
        k = self.k(x * self.mu_k + xx * (1 - self.mu_k))
        v = self.v(x * self.mu_v + xx * (1 - self.mu_v))
        r = self.r(x * self.mu_r + xx * (1 - self.mu_r))
        w, u = -torch.exp(self.time_decay), self.time_first
        aa = bb = torch.zeros_like(k[0])
        pp = torch.full_like(k[0], -1e30)
        out = []
        for t in range(x.shape[0]):
            p = torch.maximum(pp, u + k[t])
            e1, e2 = torch.exp(pp - p), torch.exp(u + k[t] - p)
            out.append((e1 * aa + e2 * v[t]) / (e1 * bb + e2))
            p2 = torch.maximum(pp + w, k[t])
            f1, f2 = torch.exp(pp + w - p2), torch.exp(k[t] - p2)
            aa, bb, pp = f1 * aa + f2 * v[t], f1 * bb + f2, p2
        return self.o(torch.sigmoid(r) * torch.stack(out))


class ChannelMix(nn.Module):
    def __init__(self, d: int, hidden: int, layer: int, n_layers: int):
        super().__init__()
        ratio = layer / max(1, n_layers - 1)
        ramp = torch.arange(d) / d
        self.mu_k = nn.Parameter(ramp ** (1 - ratio))
        self.mu_r = nn.Parameter(ramp ** (1 - ratio))
        self.k, self.v, self.r = nn.Linear(d, hidden, bias=False), nn.Linear(hidden, d, bias=False), \
            nn.Linear(d, d, bias=False)

    def forward(self, x):
        xx = shift(x)
        k = torch.square(torch.relu(self.k(x * self.mu_k + xx * (1 - self.mu_k))))
        return torch.sigmoid(self.r(x * self.mu_r + xx * (1 - self.mu_r))) * self.v(k)


class SpikeGPT(nn.Module):
    def __init__(self, vocab: int, d: int, n_layers: int, hidden: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.ln0 = nn.LayerNorm(d)
        self.ln1 = nn.ModuleList(nn.LayerNorm(d) for _ in range(n_layers))
        self.ln2 = nn.ModuleList(nn.LayerNorm(d) for _ in range(n_layers))
        self.att = nn.ModuleList(TimeMix(d, i, n_layers) for i in range(n_layers))
        self.ffn = nn.ModuleList(ChannelMix(d, hidden, i, n_layers) for i in range(n_layers))
        self.ln_out = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens):
        """tokens (T, B) -> logits (T, B, V), spike rate of the LIF layers."""
        x = self.ln0(spike(self.emb(tokens)))
        rates = []
        for ln1, att, ln2, ffn in zip(self.ln1, self.att, self.ln2, self.ffn):
            s = lif(att(ln1(x)))
            x = x + s
            s2 = lif(ffn(ln2(x)))
            x = x + s2
            rates += [s.mean(), s2.mean()]
        return self.head(self.ln_out(x)), torch.stack(rates).mean()

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().astype(np.float32) for k, v in self.state_dict().items()}


def to_nir(p: dict[str, np.ndarray]) -> tuple[nir.NIRGraph, dict]:
    """The NIR graph (neurodeploy dialect for embedding, norms, time/channel mix) and its semantics
    fields: LIF under forward Euler with dt = 1 and tau = 2 is v = v/2 + x/2, reset to zero."""
    from neurodeploy.ir import dialect

    f = lambda k: np.asarray(p[k], np.float64)  # noqa: E731
    d = p["emb.weight"].shape[1]
    n_layers = sum(1 for k in p if k.startswith("att.") and k.endswith(".time_decay"))
    ln = lambda k: dialect.LayerNorm(weight=f(f"{k}.weight"), bias=f(f"{k}.bias"))  # noqa: E731
    LIF = lambda: nir.LIF(tau=np.full(d, TAU), r=np.ones(d), v_leak=np.zeros(d), v_threshold=np.full(d, V_TH))  # noqa: E731
    nodes = {"tokens": nir.Input(input_type={"input": np.array([1])}),
             "emb": dialect.Embedding(weight=(f("emb.weight") > 0).astype(np.float64)),  # the binary embedding
             "ln0": ln("ln0")}
    edges, x = [("tokens", "emb"), ("emb", "ln0")], "ln0"
    for i in range(n_layers):
        a = f"att.{i}"
        nodes.update({
            f"b{i}.ln1": ln(f"ln1.{i}"),
            f"b{i}.att": dialect.RWKVTimeMix(mu_k=f(f"{a}.mu_k"), mu_v=f(f"{a}.mu_v"), mu_r=f(f"{a}.mu_r"),
                                             W_k=f(f"{a}.k.weight"), W_v=f(f"{a}.v.weight"), W_r=f(f"{a}.r.weight"),
                                             W_o=f(f"{a}.o.weight"), time_decay=f(f"{a}.time_decay"),
                                             time_first=f(f"{a}.time_first")),
            f"b{i}.lif1": LIF(), f"b{i}.res1": nir.Scale(scale=np.ones(d)),
            f"b{i}.ln2": ln(f"ln2.{i}"),
            f"b{i}.ffn": dialect.RWKVChannelMix(mu_k=f(f"ffn.{i}.mu_k"), mu_r=f(f"ffn.{i}.mu_r"),
                                                W_k=f(f"ffn.{i}.k.weight"), W_v=f(f"ffn.{i}.v.weight"),
                                                W_r=f(f"ffn.{i}.r.weight")),
            f"b{i}.lif2": LIF(), f"b{i}.res2": nir.Scale(scale=np.ones(d))})
        edges += [(x, f"b{i}.ln1"), (f"b{i}.ln1", f"b{i}.att"), (f"b{i}.att", f"b{i}.lif1"),
                  (x, f"b{i}.res1"), (f"b{i}.lif1", f"b{i}.res1"),
                  (f"b{i}.res1", f"b{i}.ln2"), (f"b{i}.ln2", f"b{i}.ffn"), (f"b{i}.ffn", f"b{i}.lif2"),
                  (f"b{i}.res1", f"b{i}.res2"), (f"b{i}.lif2", f"b{i}.res2")]
        x = f"b{i}.res2"
    vocab = p["head.weight"].shape[0]
    nodes.update({"ln_out": ln("ln_out"), "head": nir.Affine(weight=f("head.weight"), bias=f("head.bias")),
                  "logits": nir.Output(output_type={"output": np.array([vocab])})})
    edges += [(x, "ln_out"), ("ln_out", "head"), ("head", "logits")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), {"dt": 1.0, "integrator": "euler",
                                                                     "reset": "zero"}
