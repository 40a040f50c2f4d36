"""FPGA design rules found by fuzzing the options (issue #10): each option value either builds a
design or is refused with exit 4 and a named rule before anything is written.

- ``-O lanes=600``: the lowest-set-bit selector of the spike output was a chain of 600 multiplexers
  that overflowed Python's recursion in Amaranth; it is a balanced tree now, and the design exports.
- a memory word is one Amaranth value, at most ``design.max_signal_bits`` wide (rule ``word_bits``).
- a layer that feeds no other keeps no spike bitmap, so a single layer of more neurons than one
  signal holds (100,000 at ``-O v_bits=40`` in the fuzzing; an assertion inside Amaranth before)
  elaborates.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

from amaranth.hdl import Fragment

from neurodeploy import backend as bk
from neurodeploy import cli, ir
from neurodeploy import targets as tg
from neurodeploy.backends.fpga.design import Core

from tests.test_limits import chain, csr, lif

TARGET = "fpga-zcu102"


def compile_cli(tmp_path: Path, graph, *options: str) -> tuple[int, str, Path]:
    model, out = tmp_path / "m.nir", tmp_path / "out"
    ir.write(model, graph)
    argv = ["compile", str(model), "--target", TARGET, "-o", str(out), "--reset", "zero"]
    for o in options:
        argv += ["-O", o]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = cli.main(argv)
    return code, stderr.getvalue(), out


def test_600_lanes_build_a_design(tmp_path):
    code, err, out = compile_cli(tmp_path, chain(4, (csr(600, 4, 2, 0.5), lif(600))), "lanes=600")
    assert code == 0, err
    assert "fpga_core" in (out / "rtl" / "top.v").read_text()


def test_a_memory_word_wider_than_one_signal_is_refused_before_writing(tmp_path):
    """At -O v_bits=40 a LIF lane's parameter word is A (decay_bits + 1) + bias + theta (40 each)
    bits (docs/fpga.md); one lane more than one signal holds is refused."""
    t = tg.load(TARGET)
    lane_bits = t.v("design.decay_bits") + 1 + 2 * 40
    lanes = t.v("design.max_signal_bits") // lane_bits + 1
    code, err, out = compile_cli(tmp_path, chain(4, (csr(lanes, 4, 2, 0.5), lif(lanes))), f"lanes={lanes}",
                                 "v_bits=40")
    assert code == 4, err
    assert f"design rule 'word_bits' violated: needs {lanes * lane_bits}, target has {t.v('design.max_signal_bits')}" \
        in err
    assert not out.exists()


def test_a_terminal_layer_wider_than_one_signal_elaborates(tmp_path):
    """One signal more than design.max_signal_bits neurons in a layer that feeds no other: the
    plan passes every rule and the design elaborates (where Amaranth's assertion fired; the
    Verilog text of its 10 Mbit of memory contents takes ~50 s more and is left out)."""
    n = tg.load(TARGET).v("design.max_signal_bits") + 64
    ir.write(tmp_path / "m.nir", chain(1, (csr(n, 1, 1, 0.5), lif(n))))
    plan = bk.plan(ir.load(tmp_path / "m.nir", overrides={"reset": "zero"}), TARGET, {"v_bits": "40"})
    assert not plan.violated()
    spec, arrays = plan.decisions.spec, plan.decisions.arrays
    assert spec["layers"][0]["words"] * spec["lanes"] > tg.load(TARGET).v("design.max_signal_bits")
    Fragment.get(Core(spec, arrays), None)
