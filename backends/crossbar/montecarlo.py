"""Monte Carlo summaries: how far device draws move a network's outputs from the ideal devices.

Per draw: ``spike_agreement`` (fraction of output (step, sample, neuron) entries equal to the ideal
run's), ``decision_agreement`` (fraction of samples whose class, the output neuron with the most
spikes, equals the ideal run's), and with labels ``accuracy``. Each statistic gets its mean, the
95 % confidence interval of the mean (Student t) and the 2.5/97.5 % quantiles over draws.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from neurodeploy.errors import UsageError

ROLE = "simulate"

LEVEL = 0.95  # format: the summary's interval level, a reporting convention (not hardware)


def decisions(res, outs) -> np.ndarray:
    """Class per sample: argmax of the total output activity (outputs concatenated)."""
    total = np.concatenate([res.spikes[o].sum(0).reshape(res.spikes[o].shape[1], -1) for o in outs], axis=1)
    return total.argmax(1)


def interval(values) -> dict:
    v = np.asarray(values, np.float64)
    mean = float(v.mean())
    if v.size > 1 and v.std() > 0:
        lo, hi = stats.t.interval(LEVEL, v.size - 1, loc=mean, scale=stats.sem(v))
        lo, hi = max(lo, 0.0), min(hi, 1.0)  # every statistic here is a fraction
    else:
        lo = hi = mean
    q = np.quantile(v, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return {"mean": mean, "ci95": [float(lo), float(hi)], "quantiles95": [float(q[0]), float(q[1])],
            "values": v.tolist()}


def check_labels(labels, batch: int) -> np.ndarray | None:
    """The labels as one class per sample, refused before any draw runs if they do not fit the batch."""
    if labels is None:
        return None
    y = np.asarray(labels).reshape(-1)
    if y.size != batch:
        raise UsageError(f"labels have {y.size} entries, the batch has {batch} samples", where="labels")
    return y


def scorer(ideal, outs, labels=None):
    """draw -> its statistics against the ideal run (and the labels): all a draw hands back."""
    ref = decisions(ideal, outs)

    def score(draw) -> dict:
        got = decisions(draw, outs)
        s = {"spike": float(np.mean([np.mean((draw.spikes[o] != 0) == (ideal.spikes[o] != 0)) for o in outs])),
             "decision": float(np.mean(got == ref)), "seed": draw.extra["seed"]}
        if labels is not None:
            s["accuracy"] = float(np.mean(got == labels))
        return s
    return score


def summarise(ideal, scores: list[dict], outs, labels=None) -> dict:
    out = {"samples": len(scores), "spike_agreement": interval([s["spike"] for s in scores]),
           "decision_agreement": interval([s["decision"] for s in scores]), "seeds": [s["seed"] for s in scores]}
    if labels is not None:
        out["ideal_accuracy"] = float(np.mean(decisions(ideal, outs) == labels))
        out["accuracy"] = interval([s["accuracy"] for s in scores])
    return out
