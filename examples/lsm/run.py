"""Liquid state machines on digits-as-events, deployed on a crossbar, Loihi 2 and SpiNNaker 2.

    .venv/bin/python examples/lsm/run.py [--draws 100] [--out examples/lsm/results.md]

1. Data: scikit-learn's digits through simulated saccades (saccades.py), 2/3 train, 1/3 test.
2. Float liquids: Maass's column and the NALSM-tuned one (liquid.py: NALSM's astrocyte-modulated
   STDP, one pass over the training set, then frozen); branching factor of Maass's liquid, of
   NALSM's starting point (all weights at the bound) and of the tuned one, by two estimators (the
   silent tail's sum A(t+1) / sum A(t), and NALSM's own per-neuron one during input), and the liquid's spikes
   per step during input against the input's (what NALSM's astrocyte balances); a ridge readout on
   each (readout.py); test accuracy.
3. Crossbar (crossbar-rram): the Maass liquid with its weights drawn from the devices
   (``-O reservoir=liquid``: connectivity and signs from the graph, magnitudes from one programming
   pulse per device, recorded in the artifact). The readout is trained on the ideal-device run of
   the training set (the zero-shot LSM's recipe: only the digital head learns), then tested over
   `--draws` device draws with faults, drift (1 day), read noise, ADC and IR drop: mean and 95 %
   interval. The NALSM liquid is mapped with quantized levels instead (its tuned weights matter).
4. Loihi 2 and SpiNNaker 2: the float Maass graph compiled and run on each backend's simulator,
   a readout trained on that target's own training run, tested.
5. Energy per inference (one test sample) from each target's counters (neurodeploy.energy).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import liquid  # noqa: E402
import readout  # noqa: E402
import saccades  # noqa: E402

from neurodeploy import backend as bk  # noqa: E402
from neurodeploy.energy.model import estimate  # noqa: E402
from neurodeploy.sim.reference import simulate  # noqa: E402

EFFECTS = "faults,drift,read_noise,adc,ir_drop"
DRIFT_TIME = 86400.0
TAIL = 12


def feats(spikes, T):
    return readout.features(spikes, liquid.DT, {T // 3 - 1, 2 * T // 3 - 1, T - 1})


def fit(train_spikes, y_train, test_spikes, y_test, T):
    W = readout.train(feats(train_spikes, T), y_train)
    return W, readout.accuracy(W, feats(test_spikes, T), y_test)


def energy_uj(res, target) -> float:
    return estimate(res, target, per="sample").per_inference.point * 1e6


def branching_section(net: dict, spikes: dict, T: int) -> list[str]:
    """The branching factor table: spikes maps Maass, start, tuned to their test-set spikes."""
    labels = {"Maass": "Maass column",
              "start": f"NALSM start (every liquid synapse at the bound {liquid.weight_bound(net):.3f})",
              "tuned": "NALSM tuned (astrocyte-modulated STDP, one pass over the training set)"}
    w = liquid.NALSM_BF_WINDOW
    ms = liquid.DT * 1e3
    bf = {k: (liquid.branching(s, T), liquid.branching_nalsm(s, net['rec'], T),
              liquid.branching_nalsm(s, net['rec'], T, window=2 * w)) for k, s in spikes.items()}
    rows = [f"| {labels[k]} | " + " | ".join(f"{b:.3f}" for b in v) + " |" for k, v in bf.items()]
    moves = [f"{name} {abs(a - 1):.3f} -> {abs(b - 1):.3f} ({'towards' if abs(b - 1) < abs(a - 1) else 'away from'} 1)"
             for name, a, b in zip(("silent tail", f"NALSM's, {w * ms:g} ms", f"NALSM's, {2 * w * ms:g} ms"),
                                   bf["start"], bf["tuned"])]
    return ["## Branching factor (test set; critical = 1)", "",
            f"| liquid | silent tail: sum A(t+1) / sum A(t) | NALSM's estimator during input, {w * ms:g} ms windows "
            f"(nearest their 4 ms) | same, {2 * w * ms:g} ms windows |", "|---|---|---|---|",
            *rows, "",
            f"Silent tail: `liquid.branching` over the {TAIL} silent steps after the input, pooled over samples. "
            "NALSM's estimator: `liquid.branching_nalsm` (combra-lab/NALSM compute_branching_factor.py): for each "
            "spike of a neuron, the spikes of its postsynaptic liquid neurons in the window after it over those of "
            "its presynaptic ones in the window before (at least 1), averaged over its spikes, then over the "
            f"neurons that spiked, then over samples; spikes of input steps {liquid.NALSM_BF_BUFFER}.."
            f"{T - liquid.NALSM_BF_BUFFER - 1} only. Synapses: the untuned "
            "structure (a synapse pruned to 0 still counts, as in their W_mask).", "",
            "Distance from critical |b - 1|, NALSM start -> tuned: " + "; ".join(moves) + "."]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results.md"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    (xtr, ytr), (xte, yte) = saccades.load()
    T = xtr.shape[0]
    # a silent tail after the saccades: the branching factor is measured on the liquid's own activity
    tail = lambda x: np.concatenate([x.reshape(T, x.shape[1], -1), np.zeros((TAIL, x.shape[1], x[0, 0].size),  # noqa: E731
                                                                              np.float32)])
    xtr, xte = tail(xtr), tail(xte)
    n_in = xtr.shape[-1]

    net = liquid.maass(n_in)
    g = liquid.graph(net, n_in)
    ref_tr = simulate(g, xtr, record=["liquid"]).spikes["liquid"]
    ref_te = simulate(g, xte, record=["liquid"]).spikes["liquid"]
    _, acc_float = fit(ref_tr, ytr, ref_te, yte, T)

    start_te = simulate(liquid.graph(liquid.at_bound(net), n_in), xte, record=["liquid"]).spikes["liquid"]
    tuned = liquid.nalsm_tune(net, xtr)
    gn = liquid.graph(tuned, n_in)
    nal_tr = simulate(gn, xtr, record=["liquid"]).spikes["liquid"]
    nal_te = simulate(gn, xte, record=["liquid"]).spikes["liquid"]
    _, acc_nalsm = fit(nal_tr, ytr, nal_te, yte, T)
    per_step = {k: float(v[:T].sum(-1).mean()) for k, v in
                (("input", xte), ("Maass", ref_te), ("start", start_te), ("tuned", nal_te))}
    row = lambda *r: "| " + " | ".join(r) + " |"  # noqa: E731
    rows = [row("float (reference simulator)", "Maass", f"{acc_float:.2%}", "", ""),
            row("float (reference simulator)", "NALSM-tuned", f"{acc_nalsm:.2%}", "", "")]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        xbar_rows, other_rows = [], []
        art = bk.compile(g, "crossbar-rram", tmp / "xbar", options={"reservoir": "liquid", "seed": "0"})
        ideal_tr = bk.run(art.path, xtr, record=["liquid"]).spikes["liquid"]
        ideal = bk.run(art.path, xte, record=["liquid"])
        W, acc_ideal = fit(ideal_tr, ytr, ideal.spikes["liquid"], yte, T)
        accs, accs_chip, res = [], [], None
        for k in range(args.draws):
            opts = {"seed": k, "effects": EFFECTS, "drift_time": DRIFT_TIME}
            res = bk.run(art.path, xte, record=["liquid"], engine_options=opts)
            accs.append(readout.accuracy(W, feats(res.spikes["liquid"], T), yte))
            chip_tr = bk.run(art.path, xtr, record=["liquid"], engine_options=opts).spikes["liquid"]
            accs_chip.append(fit(chip_tr, ytr, res.spikes["liquid"], yte, T)[1])
        a, c = np.array(accs), np.array(accs_chip)
        xbar_rows.append(row("crossbar-rram, ideal devices (reservoir from device draw)", "Maass",
                             f"{acc_ideal:.2%}", "", f"{energy_uj(ideal, 'crossbar-rram'):.3g}"))
        for label, v, note in ((f"readout trained on ideal devices", a, ""),
                               ("readout trained on each chip's own training run", c,
                                "the zero-shot recipe: the digital head is trained on the hardware")):
            lo, hi = np.quantile(v, [0.025, 0.975])
            xbar_rows.append(row(f"crossbar-rram, {args.draws} device draws ({EFFECTS}, 1 day), {label}", "Maass",
                                 f"{v.mean():.2%} (95 % of draws {lo:.2%}..{hi:.2%})", note,
                                 f"{energy_uj(res, 'crossbar-rram'):.3g}"))
        gap = (f"Crossbar gap: ideal devices {acc_ideal:.2%} vs float {acc_float:.2%} "
               f"({(acc_ideal - acc_float) * 100:+.2f} points; the seed paper reports about 0.5); "
               f"device draws: {a.mean():.2%} ({(a.mean() - acc_float) * 100:+.2f} points) with the ideal-device "
               f"readout, {c.mean():.2%} ({(c.mean() - acc_float) * 100:+.2f} points) with a readout trained per chip.")
        for target in ("loihi2", "spinnaker2"):
            try:
                at = bk.compile(g, target, tmp / target)
                tr = bk.run(at.path, xtr, record=["liquid"]).spikes["liquid"]
                te = bk.run(at.path, xte, record=["liquid"])
                _, acc = fit(tr, ytr, te.spikes["liquid"], yte, T)
                other_rows.append(row(target, "Maass", f"{acc:.2%}", "", f"{energy_uj(te, target):.3g}"))
            except Exception as e:  # a target that cannot take this graph says why in the table
                other_rows.append(row(target, "Maass", "not run", f"{type(e).__name__}: {e}", ""))
        artn = bk.compile(gn, "crossbar-rram", tmp / "xbarn")
        ntr = bk.run(artn.path, xtr, record=["liquid"]).spikes["liquid"]
        nte = bk.run(artn.path, xte, record=["liquid"])
        _, acc_n = fit(ntr, ytr, nte.spikes["liquid"], yte, T)
        nalsm_xbar = row("crossbar-rram, ideal devices (quantized levels)", "NALSM-tuned", f"{acc_n:.2%}", "",
                         f"{energy_uj(nte, 'crossbar-rram'):.3g}")

    lines = ["# Liquid state machines on digits-as-events", "",
             f"Data: scikit-learn digits ({len(ytr)} train / {len(yte)} test) through simulated saccades, "
             f"{T} steps of {liquid.DT * 1e3:g} ms (+{TAIL} silent), {n_in} event channels; liquid 135 LIF (15x3x3).", "",
             *branching_section(net, {"Maass": ref_te, "start": start_te, "tuned": nal_te}, T), "",
             f"Spikes per step during input: input {per_step['input']:.1f}; liquid: Maass {per_step['Maass']:.1f}, "
             f"NALSM start {per_step['start']:.1f}, NALSM tuned {per_step['tuned']:.1f} (NALSM's astrocyte "
             "depresses while the liquid fires more than its input).", "",
             gap, "",
             "| run | liquid | test accuracy | note | energy per inference (uJ) |", "|---|---|---|---|---|",
             *rows, *xbar_rows, nalsm_xbar, *other_rows,
             "", f"Wall time {time.perf_counter() - t0:.0f} s."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
