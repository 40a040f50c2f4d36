"""The FPGA artifact's file layout, shared by the writer, the golden model and the Verilog engine.

    design.json        the fixed-point spec: widths (``lanes`` P, ``weight_bits``, ``acc_bits``,
                       ``v_bits``, ``j_bits`` and ``gain_bits`` (CubaLIF current and its gain G; 0
                       without CubaLIF layers), ``frac_bits`` F, ``decay_bits`` D, ``index_bits``),
                       ``reset``, the graph input, the layers (name, ``kind`` lif / cuba /
                       two_point, size N, words W = ceil(N/P), global ``offset`` of its neuron ids,
                       ``sources`` [{src, row0, rows, via}], ``consumers``), the outputs, the
                       formats report
    l<i>_w.mem         layer i's weight memory, one hex word per line ($readmemh): row r (a source
                       neuron) x word k, lane p at bits [p*wb, (p+1)*wb), two's complement
    l<i>_p.mem         layer i's parameter memory, W words: per lane the fields of `param_fields`
                       (LIF/IF: A D+1 bits unsigned, bias and theta v_bits signed; CubaLIF adds
                       As D+1 bits unsigned, G gain_bits and bias_j j_bits signed; two-point:
                       bias_b and bias_a, acc_bits signed), low bits first
    l<i>_lut.mem       two-point layer i's exp table, 2**lut_bits unsigned entries (twopoint.py)
    rtl/top.v          the exported Verilog (memories initialised with the same words)

The stream protocol (AXI-Stream style, valid/ready/data/last): an input beat carries one event, the
global id of the source neuron; a beat with ``last`` ends the time step and carries no event. The
core answers with one output beat per spike (the global id ``offset + index`` of the neuron; a
two-point cell's beat also carries its value A on ``out_value``, sent when A != 0) and a ``last``
beat when the step is done. Beats are encoded for the Verilog testbench by `beats`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurodeploy.errors import TargetError, UsageError
from neurodeploy.sim.inputs import as_batched

ROLE = "format"
DESIGN = "design.json"
RTL = "rtl/top.v"
HEX_DIGIT_BITS = 4  # format: one hex digit per 4 bits
HEX = 16  # format: .mem files are hexadecimal
EVENT, STEP_END, SAMPLE_END = 0, 1, 2  # format: testbench beat kinds


def wfile(i: int) -> str:
    return f"l{i}_w.mem"


def pfile(i: int) -> str:
    return f"l{i}_p.mem"


def lutfile(i: int) -> str:
    return f"l{i}_lut.mem"


def param_fields(spec: dict, layer: dict) -> list[tuple[str, int, bool]]:
    """(name, width, signed) of one lane of a layer's parameter word, low bits first."""
    if layer["kind"] == "two_point":
        return [("bias_b", spec["acc_bits"], True), ("bias_a", spec["acc_bits"], True)]
    lif = [("A", spec["decay_bits"] + 1, False), ("bias", spec["v_bits"], True), ("theta", spec["v_bits"], True)]
    if layer["kind"] == "cuba":
        return lif + [("As", spec["decay_bits"] + 1, False), ("G", spec["gain_bits"], True),
                      ("bias_j", spec["j_bits"], True)]
    return lif


def lut_width(layer: dict) -> int:
    t = layer["transfer"]
    return max(1, (t["k1_int"] + max(t["lut_max"], 0)).bit_length())


def pack(fields: list[np.ndarray], widths: list[int]) -> list[int]:
    """Per field a (words, P) int array -> one int per word: lane p holds its fields, low first."""
    lane = sum(widths)
    words = [0] * len(fields[0])
    for f, width in enumerate(widths):
        lo, mask = sum(widths[:f]), (1 << width) - 1
        for i, row in enumerate(np.asarray(fields[f], dtype=np.int64).tolist()):
            for p, x in enumerate(row):
                words[i] |= (int(x) & mask) << (p * lane + lo)
    return words


def unpack(words: list[int], lanes: int, fields: list[tuple[int, bool]]) -> list[np.ndarray]:
    """Inverse of `pack`: per field a (words, lanes) int64 array."""
    lane = sum(w for w, _ in fields)
    out = [np.zeros((len(words), lanes), dtype=np.int64) for _ in fields]
    for i, word in enumerate(words):
        for p in range(lanes):
            lo = p * lane
            for f, (width, signed) in enumerate(fields):
                x = (word >> lo) & ((1 << width) - 1)
                out[f][i, p] = x - ((x >> (width - 1)) << width) if signed else x
                lo += width
    return out


def write_mem(path: Path, words: list[int], width: int) -> None:
    digits = max(1, -(-width // HEX_DIGIT_BITS))
    path.write_text("".join(f"{w:0{digits}x}\n" for w in words))


def read_mem(path: Path, depth: int) -> list[int]:
    words = [int(line, HEX) for line in path.read_text().split()]
    if len(words) != depth:
        raise TargetError(f"memory file has {len(words)} words, the design says {depth}", where=str(path),
                          hint="recompile the artifact")
    return words


def read_spec(path: Path) -> dict:
    return json.loads((path / DESIGN).read_text())


def read(path: Path) -> tuple[dict, list[dict]]:
    """(spec, per layer {"w": (rows, W*P) int64 weights, and per parameter field (`param_fields`) a
    (W*P,) int64 array})."""
    spec = read_spec(path)
    P, arrays = spec["lanes"], []
    for i, layer in enumerate(spec["layers"]):
        W, fields = layer["words"], param_fields(spec, layer)
        (w,) = unpack(read_mem(path / wfile(i), layer["rows"] * W), P, [(spec["weight_bits"], True)])
        params = unpack(read_mem(path / pfile(i), W), P, [(width, signed) for _, width, signed in fields])
        arrays.append({"w": w.reshape(layer["rows"], W * P),
                       **{name: a.ravel() for (name, _, _), a in zip(fields, params)}})
        if layer["kind"] == "two_point":
            (lut,) = unpack(read_mem(path / lutfile(i), 1 << spec["lut_bits"]), 1, [(lut_width(layer), False)])
            arrays[-1]["lut"] = lut.ravel()
    return spec, arrays


def layer_of(spec: dict, name: str) -> int:
    """Index of the layer recorded as `name` (a layer or an Output fed by one)."""
    name = spec["outputs"].get(name, name)
    names = [lay["name"] for lay in spec["layers"]]
    if name not in names:
        raise UsageError(f"cannot record {name!r}: not a neuron layer of this artifact",
                         hint=f"layers: {', '.join(names)}")
    return names.index(name)


def record_layers(spec: dict, record: list[str]) -> list[int]:
    names = record or list(dict.fromkeys(spec["outputs"].values()))
    return list(dict.fromkeys(layer_of(spec, n) for n in names))


def prepare_inputs(spec: dict, inputs) -> np.ndarray:
    """(T, B, n) int64 binary events of the one graph input, checked."""
    inp = spec["input"]
    if isinstance(inputs, dict):
        if set(inputs) != {inp["name"]}:
            raise UsageError(f"the design has one input, {inp['name']!r}", hint="pass that array")
        inputs = inputs[inp["name"]]
    x = as_batched(inputs, inp["shape"], where=inp["name"])
    x = x.reshape(x.shape[0], x.shape[1], -1)
    if not np.isin(x, (0, 1)).all():
        raise UsageError("FPGA inputs are binary spike events (0/1)", where=inp["name"])
    return x.astype(np.int64)


def beats(x: np.ndarray) -> list[tuple[int, int]]:
    """(kind, id) beats of one run: per sample, per step its events then STEP_END; SAMPLE_END after
    each sample."""
    out = []
    T, B = x.shape[:2]
    for b in range(B):
        for t in range(T):
            out += [(EVENT, int(j)) for j in np.flatnonzero(x[t, b])]
            out.append((STEP_END, 0))
        out.append((SAMPLE_END, 0))
    return out
