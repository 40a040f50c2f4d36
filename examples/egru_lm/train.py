"""Train the EGRU language model on the docstring corpus, prune its recurrent core and fine-tune,
then write the committed checkpoint (``checkpoint.npz``), ``model.nir`` and ``train.json``.

    python examples/egru_lm/train.py                # a few minutes on 2 CPU cores

Truncated BPTT over B parallel streams of the training text (state carried across windows), Adam.
An activity penalty on the events keeps the layers sparse (EGRU's point: work only per event).
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
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402
from corpus import streams  # noqa: E402
from model import EGRULM, to_nir  # noqa: E402

CONFIG = dict(emb=64, hidden=(128, 128), theta=0.1, batch=32, window=64, lr=3e-3, dense_steps=1500,
              prune=0.9, finetune_steps=600, activity_penalty=0.5, seed=0)


def evaluate(model: EGRULM, tokens: np.ndarray, batch: int = 16, window: int = 256) -> tuple[float, float]:
    """(perplexity, event rate) over `tokens` as `batch` streams."""
    data = streams(tokens, batch)
    state, nll, count, ev, units = model.zero_state(batch), 0.0, 0, 0.0, 0
    with torch.no_grad():
        for i in range(0, len(data) - 1, window):
            x, y = data[i:i + window], data[i + 1:i + 1 + window]
            x = x[: len(y)]
            logits, events, state = model(x, state)
            nll += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                                     reduction="sum").item()
            count += y.numel()
            ev += sum(e.sum().item() for e in events)
            units += sum(e.numel() for e in events)
    return math.exp(nll / count), ev / units


def train_phase(model, data, steps, cfg, opt, log, tag):
    state = model.zero_state(cfg["batch"])
    pos, t0 = 0, time.time()
    for step in range(steps):
        if pos + cfg["window"] + 1 >= len(data):
            pos, state = 0, model.zero_state(cfg["batch"])
        x, y = data[pos:pos + cfg["window"]], data[pos + 1:pos + 1 + cfg["window"]]
        pos += cfg["window"]
        state = [(c.detach(), h.detach()) for c, h in state]
        logits, events, state = model(x, state)
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        rate = torch.stack([e.mean() for e in events]).mean()
        loss = ce + cfg["activity_penalty"] * rate
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log.append({"phase": tag, "step": step, "ce": ce.item(), "event_rate": rate.item(),
                        "seconds": round(time.time() - t0, 1)})
            print(log[-1], flush=True)


def main(out: Path = HERE) -> dict:
    cfg = CONFIG
    torch.manual_seed(cfg["seed"])
    torch.set_num_threads(1)  # per-op overhead dominates; a second thread only contends
    train, valid = corpus.load()
    model = EGRULM(len(corpus.VOCAB), cfg["emb"], cfg["hidden"], cfg["theta"])
    data = streams(train, cfg["batch"])
    log: list = []
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    train_phase(model, data, cfg["dense_steps"], cfg, opt, log, "dense")
    dense_ppl, dense_rate = evaluate(model, valid)
    model.prune(cfg["prune"])
    pruned_ppl, _ = evaluate(model, valid)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"] / 3)
    train_phase(model, data, cfg["finetune_steps"], cfg, opt, log, "finetune")
    ppl, rate = evaluate(model, valid)
    arrays = model.arrays()
    np.savez_compressed(out / "checkpoint.npz", **arrays)
    from neurodeploy import ir

    ir.write(out / "model.nir", to_nir(arrays))
    weights = [a for k, a in arrays.items() if k.endswith((".W", ".R"))]
    summary = {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
               "valid_ppl_dense": dense_ppl, "valid_event_rate_dense": dense_rate,
               "valid_ppl_pruned_before_finetune": pruned_ppl, "valid_ppl": ppl, "valid_event_rate": rate,
               "weight_sparsity_core": 1 - sum(np.count_nonzero(w) for w in weights) / sum(w.size for w in weights),
               "log": log}
    (out / "train.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    s = main()
    print({k: v for k, v in s.items() if k != "log"})
