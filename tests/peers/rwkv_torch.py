"""SpikeGPT (Zhu et al., TMLR 2024) time-mix and channel-mix in PyTorch over whole sequences, in
the paper's naive WKV form (explicit sums of exponentials over the past; fine in float64 for
moderate k), with the token shift done as SpikeGPT's `nn.ZeroPad2d((0, 0, 1, -1))`."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def shift(x):
    """(B, T, C): x_prev[t] = x[t-1], zeros at t = 0."""
    return F.pad(x, (0, 0, 1, -1))


def time_mix(x, mu_k, mu_v, mu_r, W_k, W_v, W_r, W_o, time_decay, time_first):
    """x (B, T, d) -> (B, T, d).
    wkv_t = (sum_{i<t} e^{(t-1-i) w + k_i} v_i + e^{u + k_t} v_t) / (same sums without v_i),
    with w = -exp(time_decay), u = time_first."""
    xx = shift(x)
    k = (x * mu_k + xx * (1 - mu_k)) @ W_k.T
    v = (x * mu_v + xx * (1 - mu_v)) @ W_v.T
    r = (x * mu_r + xx * (1 - mu_r)) @ W_r.T
    w = -torch.exp(time_decay)
    T = x.shape[1]
    t = torch.arange(T)
    lag = (t[:, None] - 1 - t[None, :]).to(x.dtype)[None, :, :, None]  # (1, t, i, 1): t - 1 - i
    k_i = k[:, None, :, :]  # (B, 1, i, a)
    expo = torch.where((t[:, None] == t[None, :])[None, :, :, None], time_first + k_i, lag * w + k_i)
    expo = torch.where((t[:, None] >= t[None, :])[None, :, :, None], expo, -torch.inf)
    weights = torch.exp(expo)  # (B, t, i, a)
    wkv = (weights * v[:, None, :, :]).sum(2) / weights.sum(2)
    return (torch.sigmoid(r) * wkv) @ W_o.T


def channel_mix(x, mu_k, mu_r, W_k, W_v, W_r):
    """x (B, T, d) -> sigmoid(W_r xr) * (W_v relu(W_k xk)^2)."""
    xx = shift(x)
    k = torch.square(torch.relu((x * mu_k + xx * (1 - mu_k)) @ W_k.T))
    return torch.sigmoid((x * mu_r + xx * (1 - mu_r)) @ W_r.T) * (k @ W_v.T)
