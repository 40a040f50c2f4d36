"""Kay & Phillips (arXiv:1803.05897) two-point transfer in PyTorch: A = r (k1 + (1-k1) e^{k2 r c})."""
from __future__ import annotations

import torch


def transfer(r, c, k1, k2):
    return r * (k1 + (1 - k1) * torch.exp(k2 * r * c))
