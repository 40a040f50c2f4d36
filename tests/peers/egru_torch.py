"""EGRU in PyTorch, straight from Subramoney et al. (ICLR 2023) Sec. 2 / EvNN's EGRUScript:
whole sequences, gate blocks [u, r, z], graded events y = e * c, subtractive reset."""
from __future__ import annotations

import torch


def egru(x, W, R, b_W, b_R, thr):
    """x (T, B, n) -> (y (T, B, h), c after reset (T, B, h)); parameters as float64 tensors."""
    T, B, _ = x.shape
    h = thr.shape[0]
    c = torch.zeros(B, h, dtype=x.dtype)
    y = torch.zeros(B, h, dtype=x.dtype)
    ys, cs = [], []
    for t in range(T):
        vx_u, vx_r, vx_z = torch.split(x[t] @ W.T + b_W, h, dim=1)
        vh_u, vh_r, vh_z = torch.split(y @ R.T + b_R, h, dim=1)
        u = torch.sigmoid(vx_u + vh_u)
        r = torch.sigmoid(vx_r + vh_r)
        z = torch.tanh(vx_z + r * vh_z)
        c = u * c + (1 - u) * z
        e = torch.heaviside(c - thr, torch.zeros(()).to(c))  # H(0) = 0
        y = e * c
        c = c - e * thr
        ys.append(y)
        cs.append(c)
    return torch.stack(ys), torch.stack(cs)
