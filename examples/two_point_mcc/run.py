"""Two-point cells on the FPGA: a synthetic audio-visual task where vision is context for audio.

Task: 4 classes; each sample has an audio stream and a visual stream, both noisy rate codes of the
same class (the streams are correlated through the class; the audio alone is ambiguous). Inputs
are 32 Bernoulli spike trains (16 audio, 16 visual) over T steps.

Network (MCC-style, Adeel et al. 2023): audio -> "driver" LIF relay (16), vision -> "context" LIF
relay (16), then 4 two-point cells with basal drive from the driver and apical context from the
context relay (Kay-Phillips A = r (k1 + (1-k1) exp(k2 r c)), k1 = 1/2, k2 = 1); class = argmax of
sum_t A_t. Baseline of the same size: the 4 outputs are LIF point neurons fed by both relays
(class = argmax spike count). Both read-outs are trained in float (NumPy, gradient descent on the
per-step rate model), then compiled for fpga-zcu102, run on the golden model, and compared:
agreement with the float reference, accuracy, resources, energy per inference (synaptic events x
80 pJ). Then both are offered to SpiNNaker 2, which reports whether it can take the op.

    .venv/bin/python examples/two_point_mcc/run.py        # writes examples/two_point_mcc/results.md
"""
from __future__ import annotations

import sys
from pathlib import Path

import nir
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from neurodeploy import backend as bk  # noqa: E402
from neurodeploy.errors import NeuroDeployError  # noqa: E402
from neurodeploy.ir.dialect import TwoPointCell  # noqa: E402
from neurodeploy.ir.graph import Graph  # noqa: E402
from neurodeploy.semantics import Semantics  # noqa: E402
from neurodeploy.sim.reference import simulate  # noqa: E402

N_IN, N_OUT, T, K1, K2 = 16, 4, 20, 0.5, 1.0
RELAY_W, TAU, VTH = 1.5, 2e-3, 0.05  # one input spike makes one relay spike (k_x * 1.5 > 0.05)


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, n, 32) spikes, (n,) labels: audio prototypes overlap (ambiguous), vision separates."""
    rng = np.random.default_rng(seed)
    proto = np.random.default_rng(0)
    audio = proto.random((N_OUT, N_IN)) * 0.5 + 0.25
    audio[1] = audio[0] + proto.normal(0, 0.05, N_IN)  # classes 0/1 and 2/3 sound alike
    audio[3] = audio[2] + proto.normal(0, 0.05, N_IN)
    vision = proto.random((N_OUT, N_IN))
    y = rng.integers(0, N_OUT, n)
    ra = np.clip(audio[y] + rng.normal(0, 0.1, (n, N_IN)), 0, 1)
    rv = np.clip(vision[y] + rng.normal(0, 0.2, (n, N_IN)), 0, 1)
    rates = np.concatenate([ra, rv], 1) * 0.6
    return (rng.random((T, n, 2 * N_IN)) < rates).astype(np.float64), y


def transfer(r, c):
    u = K2 * r * c
    return r * (K1 + (1 - K1) * np.exp(u)), u


def train_two_point(x, y, steps=1500, lr=0.5, seed=1, u_max=9.0):
    """Wb, Wc (4 x 16) by gradient descent on softmax(mean_t A_t); a step that would take |k2 r c|
    past u_max on the training data is refused and the learning rate halved (the exp stays in a
    range fixed point can hold; README.md says what tighter bounds do)."""
    rng = np.random.default_rng(seed)
    sd, sc = x[..., :N_IN], x[..., N_IN:]
    wb, wc = rng.normal(0, 0.1, (N_OUT, N_IN)), rng.normal(0, 0.1, (N_OUT, N_IN))
    onehot = np.eye(N_OUT)[y]
    for _ in range(steps):
        r, c = sd @ wb.T, sc @ wc.T  # (T, n, 4)
        a, u = transfer(r, c)
        logits = a.mean(0)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot)[None] / (T * len(y))  # dL/dA_t
        e = np.exp(u)
        dr = g * (K1 + (1 - K1) * e * (1 + u))
        dc = g * (1 - K1) * e * K2 * r * r
        gb, gc = np.einsum("tno,tni->oi", dr, sd), np.einsum("tno,tni->oi", dc, sc)
        norm = max(1.0, float(np.sqrt((gb ** 2).sum() + (gc ** 2).sum())))
        nb, nc = wb - lr * gb / norm, wc - lr * gc / norm
        if np.abs(K2 * (sd @ nb.T) * (sc @ nc.T)).max() <= u_max:
            wb, wc = nb, nc
        else:
            lr *= 0.5
    return wb, wc


def train_point(x, y, steps=400, lr=0.5):
    """W (4 x 32) of a linear read-out of both relays (the point neurons' drive), same loss."""
    w = np.zeros((N_OUT, 2 * N_IN))
    onehot = np.eye(N_OUT)[y]
    for _ in range(steps):
        logits = (x @ w.T).mean(0)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= lr * ((p - onehot).T @ x.mean(0)) / len(y)
    return w


def lif(n, vth=VTH):
    return nir.LIF(tau=np.full(n, TAU), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, vth),
                   v_reset=np.zeros(n))


def relays() -> tuple[dict, list, dict, dict]:
    half = lambda lo: np.hstack([np.zeros((N_IN, lo)), RELAY_W * np.eye(N_IN), np.zeros((N_IN, N_IN - lo))])  # noqa: E731
    nodes = {"in": nir.Input(input_type={"input": np.array([2 * N_IN])}),
             "wd": nir.Affine(weight=half(0), bias=np.zeros(N_IN)), "driver": lif(N_IN),
             "wx": nir.Affine(weight=half(N_IN), bias=np.zeros(N_IN)), "context": lif(N_IN)}
    edges = [("in", "wd"), ("wd", "driver"), ("in", "wx"), ("wx", "context")]
    ins = {"in": (2 * N_IN,), "wd": (2 * N_IN,), "wx": (2 * N_IN,), "driver": (N_IN,), "context": (N_IN,)}
    outs = {"in": (2 * N_IN,), "wd": (N_IN,), "wx": (N_IN,), "driver": (N_IN,), "context": (N_IN,)}
    return nodes, edges, ins, outs


def two_point_graph(wb, wc) -> Graph:
    nodes, edges, ins, outs = relays()
    nodes.update({"wb": nir.Affine(weight=wb, bias=np.zeros(N_OUT)), "wc": nir.Affine(weight=wc, bias=np.zeros(N_OUT)),
                  "tp": TwoPointCell(k1=np.full(N_OUT, K1), k2=np.full(N_OUT, K2), apical=("wc",)),
                  "out": nir.Output(output_type={"output": np.array([N_OUT])})})
    edges += [("driver", "wb"), ("wb", "tp"), ("context", "wc"), ("wc", "tp"), ("tp", "out")]
    ins.update({"wb": (N_IN,), "wc": (N_IN,), "tp": (N_OUT,), "out": (N_OUT,)})
    outs.update({"wb": (N_OUT,), "wc": (N_OUT,), "tp": (N_OUT,), "out": (N_OUT,)})
    return Graph(nodes, edges, ins, outs, semantics=Semantics(dt=1e-4))


def point_graph(w) -> Graph:
    """Same size: the 4 outputs are LIF neurons; the weights scaled so that the drive of one step
    (k_x * W s) sits in the threshold's range."""
    nodes, edges, ins, outs = relays()
    gain = VTH / (1 - np.exp(-1e-4 / TAU)) / max(np.abs(w).max(), 1e-9) * 0.5
    nodes.update({"wb": nir.Affine(weight=gain * w[:, :N_IN], bias=np.zeros(N_OUT)),
                  "wc": nir.Affine(weight=gain * w[:, N_IN:], bias=np.zeros(N_OUT)), "pn": lif(N_OUT),
                  "out": nir.Output(output_type={"output": np.array([N_OUT])})})
    edges += [("driver", "wb"), ("wb", "pn"), ("context", "wc"), ("wc", "pn"), ("pn", "out")]
    ins.update({"wb": (N_IN,), "wc": (N_IN,), "pn": (N_OUT,), "out": (N_OUT,)})
    outs.update({"wb": (N_OUT,), "wc": (N_OUT,), "pn": (N_OUT,), "out": (N_OUT,)})
    return Graph(nodes, edges, ins, outs, semantics=Semantics(dt=1e-4))


def scores(res, name: str) -> np.ndarray:
    out = res.extra.get("outputs", {}).get(name)
    return (res.spikes[name] if out is None else out).sum(0)


def evaluate(graph, name, x, y, calib, out_dir) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "calib.npy", calib)
    art = bk.compile(graph, "fpga-zcu102", out_dir / "art", options={"lanes": "4", "calib": str(out_dir / "calib.npy")},
                     overwrite=True)
    ref = simulate(graph, x, record=[name])
    hw = bk.run(art.path, x, record=[name])
    pf, ph = scores(ref, name).argmax(-1), scores(hw, name).argmax(-1)
    m = art.manifest["fpga"]
    return {"float accuracy": float((pf == y).mean()), "FPGA accuracy": float((ph == y).mean()),
            "agreement FPGA vs float": float((pf == ph).mean()),
            "synaptic events / inference": hw.counters["synaptic_events"] / x.shape[1],
            "energy / inference (80 pJ/event)": hw.counters["synaptic_events"] / x.shape[1] * 80e-12,
            "cycles / step": hw.counters["cycles"] / (x.shape[0] * x.shape[1]),
            **{f"est. {k}": v for k, v in m["resources"]["total"].items()}}


def spinnaker2(graph, out_dir) -> str:
    try:
        bk.compile(graph, "spinnaker2", out_dir / "s2", overwrite=True)
        return "compiled"
    except NeuroDeployError as e:
        return f"refused: {e}"


def main() -> None:
    out_dir = HERE.parents[1] / "out" / "two_point_mcc"
    out_dir.mkdir(parents=True, exist_ok=True)
    xtr, ytr = data(400, 1)
    xte, yte = data(200, 2)
    wb, wc = train_two_point(xtr, ytr)
    w = train_point(xtr, ytr)
    rows = {"two-point (MCC)": evaluate(two_point_graph(wb, wc), "tp", xte, yte, xtr[:, :8], out_dir / "tp"),
            "point-neuron baseline": evaluate(point_graph(w), "pn", xte, yte, xtr[:, :8], out_dir / "pn")}
    s2 = {"two-point (MCC)": spinnaker2(two_point_graph(wb, wc), out_dir / "tp"),
          "point-neuron baseline": spinnaker2(point_graph(w), out_dir / "pn")}
    keys = list(next(iter(rows.values())))
    lines = ["# two_point_mcc results", "", f"Test set: 200 samples x {T} steps; train 400. Generated by run.py.", "",
             "| | " + " | ".join(rows) + " |", "|---|" + "---|" * len(rows)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{r[k]:.4g}" for r in rows.values()) + " |")
    lines += ["", "SpiNNaker 2:", ""] + [f"- {k}: {v}" for k, v in s2.items()]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
