"""The EGRU character language model in PyTorch (training only; deployment reads the NIR file).

EGRU cell as Subramoney et al. (ICLR 2023) and EvNN's EGRUScript define it (docs/equations.md):
gate blocks [u, r, z], graded events y = e * c, subtractive reset, threshold per unit. Training
uses EvNN's surrogate gradient for the Heaviside, dampening * max(0, 1 - |c - theta| / width).
Layers: Embedding(96, E) -> EGRU(E, H) -> ... -> Linear(H, 96) on the last layer's events y.
"""
from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from spike import heaviside

DAMPENING, WIDTH = 0.7, 0.5


# EvNN's pseudo-derivative: dampening * max(0, 1 - |c - theta| / width)
spike = heaviside(lambda x: DAMPENING * torch.clamp(1 - x.abs() / WIDTH, min=0))


class EGRULayer(nn.Module):
    def __init__(self, n_in: int, h: int, theta: float):
        super().__init__()
        self.h = h
        self.W = nn.Parameter(torch.empty(3 * h, n_in).uniform_(-1, 1) / n_in ** 0.5)
        self.R = nn.Parameter(torch.empty(3 * h, h).uniform_(-1, 1) / h ** 0.5)
        self.b_W = nn.Parameter(torch.zeros(3 * h))
        self.b_R = nn.Parameter(torch.zeros(3 * h))
        self.theta = nn.Parameter(torch.full((h,), theta))
        self.register_buffer("mask_W", torch.ones_like(self.W))
        self.register_buffer("mask_R", torch.ones_like(self.R))

    def forward(self, x, state):
        """x (T, B, n); state (c, y) -> (y (T, B, h), events (T, B, h), state)."""
        c, y = state
        h, W, R = self.h, self.W * self.mask_W, self.R * self.mask_R
        vxs = x @ W.T + self.b_W
        ys, es = [], []
        theta = self.theta.abs()
        for t in range(x.shape[0]):
            vx_u, vx_r, vx_z = vxs[t].split(h, dim=1)
            vh_u, vh_r, vh_z = (y @ R.T + self.b_R).split(h, dim=1)
            u = torch.sigmoid(vx_u + vh_u)
            r = torch.sigmoid(vx_r + vh_r)
            z = torch.tanh(vx_z + r * vh_z)
            c = u * c + (1 - u) * z
            e = spike(c - theta)
            y = e * c
            c = c - e * theta
            ys.append(y)
            es.append(e)
        return torch.stack(ys), torch.stack(es), (c, y)


class EGRULM(nn.Module):
    def __init__(self, vocab: int, emb: int, hidden: tuple[int, ...], theta: float = 0.1):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        sizes = (emb, *hidden)
        self.layers = nn.ModuleList(EGRULayer(a, b, theta) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(hidden[-1], vocab)

    def zero_state(self, batch: int):
        return [(torch.zeros(batch, l.h), torch.zeros(batch, l.h)) for l in self.layers]

    def forward(self, tokens, state):
        """tokens (T, B) -> logits (T, B, V), events per layer, state."""
        x = self.emb(tokens)
        events, new = [], []
        for layer, s in zip(self.layers, state):
            x, e, s = layer(x, s)
            events.append(e)
            new.append(s)
        return self.head(x), events, new

    def prune(self, fraction: float) -> None:
        """Magnitude pruning of every W and R to `fraction` zeros (per matrix); masks kept."""
        with torch.no_grad():
            for l in self.layers:
                for w, m in ((l.W, l.mask_W), (l.R, l.mask_R)):
                    k = int(round(fraction * w.numel()))
                    cut = (w * m).abs().flatten().kthvalue(k).values if k else -1
                    m.copy_(((w * m).abs() > cut).float())

    def arrays(self) -> dict[str, np.ndarray]:
        """Deployable float32 parameters (masks applied, thresholds made positive)."""
        out = {"emb": self.emb.weight, "head.weight": self.head.weight, "head.bias": self.head.bias}
        for i, l in enumerate(self.layers):
            out.update({f"egru{i}.W": l.W * l.mask_W, f"egru{i}.R": l.R * l.mask_R, f"egru{i}.b_W": l.b_W,
                        f"egru{i}.b_R": l.b_R, f"egru{i}.threshold": l.theta.abs()})
        return {k: v.detach().numpy().astype(np.float32) for k, v in out.items()}


def to_nir(p: dict[str, np.ndarray]) -> nir.NIRGraph:
    """tokens -> Embedding (host) -> EGRU layers (neuromorphic) -> Affine head (host) -> logits."""
    from neurodeploy.ir import dialect

    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    vocab = p["emb"].shape[0]
    n_layers = sum(1 for k in p if k.endswith(".threshold"))
    nodes = {"tokens": nir.Input(input_type={"input": np.array([1])}),
             "emb": dialect.Embedding(weight=f64(p["emb"]))}
    edges, prev = [("tokens", "emb")], "emb"
    for i in range(n_layers):
        nodes[f"egru{i}"] = dialect.EGRU(W=f64(p[f"egru{i}.W"]), R=f64(p[f"egru{i}.R"]), b_W=f64(p[f"egru{i}.b_W"]),
                                         b_R=f64(p[f"egru{i}.b_R"]), threshold=f64(p[f"egru{i}.threshold"]))
        edges.append((prev, f"egru{i}"))
        prev = f"egru{i}"
    nodes["head"] = nir.Affine(weight=f64(p["head.weight"]), bias=f64(p["head.bias"]))
    nodes["logits"] = nir.Output(output_type={"output": np.array([vocab])})
    edges += [(prev, "head"), ("head", "logits")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
