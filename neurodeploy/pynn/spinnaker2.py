"""``target="spinnaker2"``: compile the network with the SpiNNaker 2 backend (plastic networks:
backends/spinnaker2/plasticity.py) into a directory and run its cycle-level ``sim`` engine."""
from __future__ import annotations

from .. import backend


def run(graph, inputs, steps: int, record: list, out_dir: str):
    backend.compile(graph, "spinnaker2", out_dir, options={"steps": steps}, overwrite=True)
    return backend.run(out_dir, inputs, steps=steps, record=record)
