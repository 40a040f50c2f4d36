"""The crossbar artifact's files, which the compiler writes and the simulator decodes:

- ``crossbar.json`` (the run spec): format version, semantics (dt, reset), the device and circuit
  parameters in SI units (copied from the target TOML, so a run needs nothing else), the default
  effects, and per neuron layer: kind, shape, sources (name, first row, size, delayed), tiles,
  reservoir flag and the ADC range;
- ``crossbar.npz``: per layer ``<layer>.gp`` / ``<layer>.gn`` the target conductances (siemens,
  float32, rows x neurons) of the positive and negative device of each differential pair, and the
  digital periphery's fixed-point integers (int64, one per neuron): ``A`` (membrane decay),
  ``K``/``Ka`` (gain per ADC count, ideal / real ADC), ``C`` (constant input: leak and bias),
  ``As``, ``Ks``/``Ksa``, ``Cs`` (synaptic current, CubaLIF only), ``R`` (reset value), and
  ``theta`` (float64, the threshold the fixed-point state is scaled by).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from neurodeploy.artifact import Artifact, dump_json, save_npz
from neurodeploy.errors import TargetError

ROLE = "format"

SPEC, ARRAYS = "crossbar.json", "crossbar.npz"
VERSION = 1
PERIPHERY = ("A", "K", "Ka", "C", "As", "Ks", "Ksa", "Cs", "R")
KINDS = ("LIF", "IF", "CubaLIF", "LI", "I", "CubaLI")
SPIKING = ("LIF", "IF", "CubaLIF")


def write(out: Path, spec: dict, arrays: dict[str, np.ndarray]) -> None:
    (out / SPEC).write_bytes(dump_json({**spec, "version": VERSION}))
    save_npz(out / ARRAYS, **arrays)


def read(artifact: Artifact) -> tuple[dict, dict[str, np.ndarray]]:
    """The run spec and arrays, each layer's arrays checked against its declared shape."""
    path = artifact.file(SPEC)
    if not path.is_file():
        raise TargetError(f"no {SPEC}: not a crossbar artifact", where=str(artifact.path))
    spec = artifact.json(SPEC)
    if spec.get("version") != VERSION:
        raise TargetError(f"{SPEC} version {spec.get('version')} is not {VERSION}", where=str(path),
                          hint="recompile the artifact")
    arrays = artifact.npz(ARRAYS)
    for layer in spec["layers"]:
        name, n, rows = layer["name"], layer["size"], layer["rows"]
        if layer["kind"] not in KINDS:
            raise TargetError(f"unknown neuron kind {layer['kind']!r}", where=f"{path}: {name}")
        for key, shape in [("gp", (rows, n)), ("gn", (rows, n)), ("theta", (n,))] + [(k, (n,)) for k in PERIPHERY]:
            a = arrays.get(f"{name}.{key}")
            if a is None or a.shape != shape:
                raise TargetError(f"array {name}.{key} missing or not of shape {shape}", where=str(artifact.file(ARRAYS)))
        if rows != sum(s["size"] for s in layer["sources"]):
            raise TargetError("layer rows differ from its sources' sizes", where=f"{path}: {name}")
    return spec, arrays
