"""The ``rtl`` engine: the artifact's exported Verilog (rtl/top.v) in Icarus Verilog.

A generated testbench drives the core's input stream from a beat file (layout.beats: per sample
its events and step ends, a ``restart`` pulse between samples) with ``out_ready`` held high, and
logs every output beat as ``sample cycle id last value`` (cycle 0 = the first cycle of the sample). The
spikes are decoded from that log; `run_rtl` also returns the log itself, which the tests compare
with the golden model's `trace`, cycle for cycle. Needs ``iverilog`` and ``vvp`` on PATH (or
$NEURODEPLOY_IVERILOG); without them a `TargetError` says to run `make rtl-tools`. Imports no
compiler module.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from neurodeploy.artifact import Artifact
from neurodeploy.errors import LinkError, TargetError
from neurodeploy.result import Result
from neurodeploy.runner import TAIL_LINES

from .layout import RTL, SAMPLE_END, STEP_END, beats, prepare_inputs, read_spec, record_layers

ROLE = "simulate"
KIND_SHIFT = 32  # format: beat word = kind << 32 | id
LOG_FIELDS = 5  # format: sample cycle id last value
TB = """`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1, in_valid = 0, in_last = 0, restart = 0, out_ready = 1, armed = 0, fresh = 0;
  reg [{ib}:0] in_data = 0;
  wire in_ready, out_valid, out_last;
  wire [{ib}:0] out_data;
  wire signed [{vb}:0] out_value;
  reg [63:0] beats [0:{last}];
  integer i = 0, cyc = 0, sample = 0, f, guard = 0;
  reg [31:0] kind, id;
  always #5 clk = ~clk;
  fpga_core dut(.clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
                .in_last(in_last), .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data),
                .out_last(out_last), .out_value(out_value), .restart(restart));
  initial begin
    $readmemh("beats.hex", beats);
    f = $fopen("out.txt", "w");
    @(negedge clk); rst = 0;
    while (i <= {last}) begin
      kind = beats[i] >> {shift}; id = beats[i];
      in_valid = kind != {sample_end}; in_last = kind == {step_end}; in_data = id;
      restart = kind == {sample_end} && armed;
      #1;
      if (out_valid) $fwrite(f, "%0d %0d %0d %0d %0d\\n", sample, cyc, out_data, out_last, out_value);
      if (kind == {sample_end}) begin
        if (armed) begin i = i + 1; armed = 0; fresh = 1; end
        else if (in_ready) armed = 1;
      end else if (in_ready) i = i + 1;
      @(negedge clk);
      if (fresh) begin cyc = 0; sample = sample + 1; fresh = 0; end else cyc = cyc + 1;
      guard = guard + 1;
      if (guard > {max_cycles}) begin $display("timeout"); $finish; end
    end
    $fclose(f);
    $finish;
  end
endmodule
"""


def tool(name: str) -> str:
    path = os.environ.get("NEURODEPLOY_IVERILOG_BIN")
    found = str(Path(path) / name) if path else shutil.which(name)
    if not found or not os.access(found, os.X_OK):
        raise TargetError(f"the rtl engine needs Icarus Verilog ({name}), which is not installed",
                          hint="run `make rtl-tools` (apt-get install iverilog), or point "
                               "$NEURODEPLOY_IVERILOG_BIN at its bin directory, or use --engine sim")
    return found


def run_rtl(artifact: Artifact, x: np.ndarray, *, timeout_s: float | None = None) -> np.ndarray:
    """The output-beat log (rows: sample, cycle, id, last) of the Verilog run on x (T, B, n)."""
    iverilog, vvp = tool("iverilog"), tool("vvp")
    spec = read_spec(artifact.path)
    bs = beats(x)
    words = [(kind << KIND_SHIFT) | i for kind, i in bs]
    lays = spec["layers"]
    max_cycles = 2 * len(bs) * (spec["input"]["size"] + sum(lay["size"] for lay in lays) + 2) * \
        (2 * sum(lay["words"] for lay in lays) + 2)  # every beat and neuron touching every word, twice
    with tempfile.TemporaryDirectory(prefix="nd-rtl-") as tmp:
        Path(tmp, "beats.hex").write_text("".join(f"{w:x}\n" for w in words))
        Path(tmp, "tb.v").write_text(TB.format(ib=spec["index_bits"] - 1, vb=spec["value_bits"] - 1, last=len(words) - 1, shift=KIND_SHIFT,
                                               sample_end=SAMPLE_END, step_end=STEP_END, max_cycles=max_cycles))
        for argv in ([iverilog, "-o", "sim.vvp", "tb.v", str(artifact.path / RTL)], [vvp, "-n", "sim.vvp"]):
            try:
                proc = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise LinkError(f"{Path(argv[0]).name} timed out", where=str(artifact.path)) from None
            if proc.returncode != 0 or "timeout" in proc.stdout:
                tail = "\n".join((proc.stderr + proc.stdout).splitlines()[-TAIL_LINES:])
                raise LinkError(f"{Path(argv[0]).name} failed: {tail}", where=str(artifact.path / RTL))
        text = Path(tmp, "out.txt").read_text()
    return np.array([[int(v) for v in line.split()] for line in text.splitlines()], np.int64).reshape(-1, LOG_FIELDS)


class RtlEngine:
    name = "rtl"
    options: tuple[str, ...] = ()

    def run(self, artifact: Artifact, inputs, *, steps: int | None, record: list[str]) -> Result:
        spec = read_spec(artifact.path)
        x = prepare_inputs(spec, inputs)
        if steps is not None:
            x = np.concatenate([x, np.zeros((max(0, steps - x.shape[0]),) + x.shape[1:], x.dtype)])[:steps]
        log = run_rtl(artifact, x)
        T, B = x.shape[:2]
        res = Result(extra={"engine": "rtl"}, counters={"ticks": T})
        step = np.zeros(B, np.int64)
        layers = record_layers(spec, record)
        spikes = {i: np.zeros((T, B, spec["layers"][i]["size"]), np.float64) for i in layers}
        for sample, _, ident, last, value in log:
            if last:
                step[sample] += 1
                continue
            for i in layers:
                lay = spec["layers"][i]
                if lay["offset"] <= ident < lay["offset"] + lay["size"]:
                    two_point = lay["kind"] == "two_point"
                    spikes[i][step[sample], sample, ident - lay["offset"]] = \
                        value / lay["transfer"]["value_scale"] if two_point else 1
        if not np.all(step == T):
            raise LinkError(f"the Verilog core ended {step.tolist()} steps of {T}", where=str(artifact.path / RTL))
        for i in layers:
            lay = spec["layers"][i]
            out = spikes[i].reshape((T, B) + tuple(lay["shape"]))
            if lay["kind"] == "two_point":
                res.extra.setdefault("outputs", {})[lay["name"]] = out
            else:
                res.spikes[lay["name"]] = out.astype(np.float32)
        res.counters["spikes"] = int(sum(s.sum() for s in res.spikes.values()))
        return res


ENGINE = RtlEngine()
