"""`make demo`: compile a real trained model to SpiNNaker 2 and print its resource and energy report.

The model is the NIR paper's N-MNIST CNN (`cnn_sinabs.nir`, trained in Sinabs, run on a SpiNNaker 2
chip by the paper's authors at 98.2 % accuracy). The N-MNIST data set is not shipped, so the demo
drives it with synthetic sparse events; the fidelity line compares the chip model with the exact
float reference on those same inputs.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from rich.console import Console

from neurodeploy import backend as bk
from neurodeploy import energy, ir, report
from neurodeploy.report import terminal
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NEURODEPLOY_SHARED", REPO.parent / "shared"))
MODEL = SHARED / "realdata" / "nir-paper" / "cnn" / "cnn_sinabs.nir"
OUT = REPO / "out" / "demo-spinnaker2"


def events(shape, steps: int, batch: int, rate: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((steps, batch, *shape)) < rate).astype(np.float32)


def main() -> int:
    con = Console()
    if not MODEL.is_file():
        con.print(f"[red]model not found:[/] {MODEL} (../shared must sit beside the repository)")
        return 1
    # Sinabs' IF neuron adds its input once per step (v += x): in NIR terms dt = 1 with r = 1.
    graph = ir.load(MODEL, semantics=Semantics(dt=1.0))
    con.rule(f"compile {MODEL.name} -> spinnaker2")
    OUT.parent.mkdir(exist_ok=True)  # compile creates no missing parent directory (docs/artifact.md)
    art = bk.compile(graph, "spinnaker2", OUT, overwrite=True)
    con.print(bk.get(art.backend).report(art))

    x = events(graph.in_shape[graph.inputs[0]], steps=30, batch=8, rate=0.05)
    out_node = graph.outputs[0]
    chip = bk.run(OUT, x, record=[out_node])
    ref = simulate(graph, x, record=[out_node])
    agree = float(np.mean(chip.spikes[out_node] == ref.spikes[out_node]))
    con.rule("fidelity (chip model vs exact float reference, 8 synthetic samples x 30 steps)")
    con.print(f"output spike agreement: {agree:.2%} of (sample, step, neuron)")

    con.rule("energy estimate")
    rep = energy.estimate(chip, art.target, graph=graph, inputs=x)
    con.print(terminal.summary(rep))
    path = report.write(rep, "html", OUT.parent / "demo-energy.html")
    con.print(f"full report with figures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
