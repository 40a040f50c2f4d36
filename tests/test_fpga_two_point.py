"""FPGA two-point (L5PC) layers: the golden model, the Amaranth design and the Verilog agree cycle
for cycle and value for value; the golden model agrees with the float reference (the dialect's
Kay-Phillips cell) within the stated table and weight error; a layer fed by a two-point cell and
per-neuron k1/k2 are refused with their rule."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy.artifact import Artifact
from neurodeploy.backends.fpga import iverilog, layout
from neurodeploy.errors import UnsupportedNode
from neurodeploy.ir.dialect import TwoPointCell
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

from tests.test_fpga_backend import TARGET, amaranth_trace, golden_trace, needs_iverilog, spikes


def two_point_net(n_in=16, hidden=12, n_out=6, seed=0, k1=0.5, k2=1.0) -> Graph:
    """input -> two LIF populations (driver stream, context stream) -> two-point cells: basal from
    the first, apical from the second."""
    rng = np.random.default_rng(seed)
    lif = lambda n: nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n),  # noqa: E731
                            v_threshold=np.full(n, 0.05), v_reset=np.zeros(n))
    w = lambda o, i, s: nir.Affine(weight=(rng.normal(0, s, (o, i))).astype(np.float32),  # noqa: E731
                                   bias=np.zeros(o, np.float32))
    nodes = {"in": nir.Input(input_type={"input": np.array([n_in])}),
             "wd": w(hidden, n_in, 1.0), "driver": lif(hidden), "wx": w(hidden, n_in, 1.0), "context": lif(hidden),
             "wb": w(n_out, hidden, 0.5), "wc": w(n_out, hidden, 0.5),
             "tp": TwoPointCell(k1=np.full(n_out, k1), k2=np.full(n_out, k2), apical=("wc",)),
             "out": nir.Output(output_type={"output": np.array([n_out])})}
    edges = [("in", "wd"), ("wd", "driver"), ("in", "wx"), ("wx", "context"), ("driver", "wb"), ("wb", "tp"),
             ("context", "wc"), ("wc", "tp"), ("tp", "out")]
    ins = {"in": (n_in,), "wd": (n_in,), "wx": (n_in,), "driver": (hidden,), "context": (hidden,), "wb": (hidden,),
           "wc": (hidden,), "tp": (n_out,), "out": (n_out,)}
    outs = {**ins, "in": (n_in,), "wd": (hidden,), "wx": (hidden,), "wb": (n_out,), "wc": (n_out,)}
    return Graph(nodes, edges, ins, outs, semantics=Semantics(dt=1e-4))


@pytest.fixture(scope="module")
def tp_art(tmp_path_factory):
    return bk.compile(two_point_net(), TARGET, tmp_path_factory.mktemp("tp") / "a", options={"lanes": "2"})


def test_amaranth_equals_golden_cycle_by_cycle(tp_art):
    spec, arrays = layout.read(tp_art.path)
    x = spikes((10, 2, 16), 0.3, 3)
    want, out = golden_trace(spec, arrays, x)
    assert any(beat[4] != 0 for beat in want)  # valued two-point beats are in the trace
    assert amaranth_trace(spec, arrays, x) == want


@needs_iverilog
def test_verilog_equals_golden_cycle_by_cycle(tp_art):
    spec, arrays = layout.read(tp_art.path)
    x = spikes((30, 2, 16), 0.3, 4)
    want, _ = golden_trace(spec, arrays, x)
    log = iverilog.run_rtl(Artifact(tp_art.path), x)
    assert [tuple(int(v) for v in row) for row in log] == want
    res = bk.run(tp_art.path, x, record=["tp"], engine="rtl")
    ref = bk.run(tp_art.path, x, record=["tp"])
    assert np.array_equal(res.extra["outputs"]["tp"], ref.extra["outputs"]["tp"])


def test_golden_agrees_with_the_float_reference_within_the_stated_error(tp_art):
    """Same driver/context spikes (the LIF layers match the quantized float model exactly); the
    two-point outputs within the table's stated relative error plus the weight rounding."""
    x = spikes((50, 3, 16), 0.3, 5).astype(np.float64)
    q = bk.get("fpga").quantized_graph(Artifact(tp_art.path))
    ref = simulate(q, x, record=["driver", "context", "tp"])
    res = bk.run(tp_art.path, x, record=["driver", "context", "tp"])
    for n in ("driver", "context"):
        assert np.array_equal(res.spikes[n] != 0, ref.spikes[n] != 0)
    got, want = res.extra["outputs"]["tp"], ref.extra["outputs"]["tp"]
    fmt = Artifact(tp_art.path).manifest["fpga"]["formats"]["tp"]
    assert np.abs(want).max() > 0
    tol = fmt["transfer_max_rel_error"] * np.abs(want) + fmt["value_lsb"] * (1 + np.abs(want))
    assert np.all(np.abs(got - want) <= tol)


def test_a_layer_fed_by_a_two_point_cell_is_refused(tmp_path):
    g = two_point_net()
    g.nodes["w2"] = nir.Affine(weight=np.ones((3, 6), np.float32), bias=np.zeros(3, np.float32))
    g.nodes["n2"] = nir.LIF(tau=np.full(3, 2e-3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.full(3, 0.05),
                            v_reset=np.zeros(3))
    g2 = Graph(g.nodes, g.edges + [("tp", "w2"), ("w2", "n2")], {**g.in_shape, "w2": (6,), "n2": (3,)},
               {**g.out_shape, "w2": (3,), "n2": (3,)}, semantics=g.semantics)
    with pytest.raises(UnsupportedNode, match="^n2: .*two_point_terminal"):
        bk.compile(g2, TARGET, tmp_path / "a")


def test_per_neuron_k_is_refused(tmp_path):
    g = two_point_net()
    g.nodes["tp"].k1[0] = 0.7
    with pytest.raises(UnsupportedNode, match="^tp: .*uniform_k"):
        bk.compile(g, TARGET, tmp_path / "a")
