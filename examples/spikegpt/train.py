"""Train the small SpikeGPT on the docstring corpus (examples/egru_lm/corpus.py, same fixed split) and
write ``checkpoint.npz``, ``model.nir`` and ``train.json`` here.

    python examples/spikegpt/train.py               # a few minutes on one CPU core

Windows of the training text from B random positions (SpikeGPT trains on fixed-length contexts;
the state starts at zero per window, as in its GPT mode), Adam, cross-entropy.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "egru_lm")]
import corpus  # noqa: E402
from model import SpikeGPT, to_nir  # noqa: E402

CONFIG = dict(d=128, layers=2, hidden=256, batch=16, window=48, lr=3e-3, steps=600, seed=0)


def evaluate(model, tokens: np.ndarray, window: int = 128, batch: int = 16) -> float:
    """Perplexity over non-overlapping windows of `tokens` (state from zero per window)."""
    n = (len(tokens) - 1) // window
    nll, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, n, batch):
            idx = np.arange(i, min(n, i + batch)) * window
            x = torch.from_numpy(np.stack([tokens[j:j + window] for j in idx]).T)
            y = torch.from_numpy(np.stack([tokens[j + 1:j + 1 + window] for j in idx]).T)
            logits, _ = model(x)
            nll += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                                     reduction="sum").item()
            count += y.numel()
    return math.exp(nll / count)


def main(out: Path = HERE) -> dict:
    cfg = CONFIG
    torch.manual_seed(cfg["seed"])
    torch.set_num_threads(1)  # per-op overhead dominates; a second thread only contends
    rng = np.random.default_rng(cfg["seed"])
    train, valid = corpus.load()
    model = SpikeGPT(len(corpus.VOCAB), cfg["d"], cfg["layers"], cfg["hidden"])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"])
    log, t0 = [], time.time()
    for step in range(cfg["steps"]):
        pos = rng.integers(0, len(train) - cfg["window"] - 1, cfg["batch"])
        x = torch.from_numpy(np.stack([train[p:p + cfg["window"]] for p in pos]).T)
        y = torch.from_numpy(np.stack([train[p + 1:p + 1 + cfg["window"]] for p in pos]).T)
        logits, rate = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == cfg["steps"] - 1:
            log.append({"step": step, "ce": loss.item(), "spike_rate": rate.item(), "seconds": round(time.time() - t0, 1)})
            print(log[-1], flush=True)
    ppl = evaluate(model, valid)
    arrays = model.arrays()
    np.savez_compressed(out / "checkpoint.npz", **arrays)
    from neurodeploy import ir
    from neurodeploy.semantics import Semantics

    graph, sem = to_nir(arrays)
    ir.write(out / "model.nir", ir.normalize(graph, Semantics(**sem)))
    summary = {"config": cfg, "valid_ppl": ppl, "log": log}
    (out / "train.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    s = main()
    print({k: v for k, v in s.items() if k != "log"})
