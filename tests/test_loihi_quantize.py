"""Fixed-point helpers and Loihi quantization rules, checked against hand-computed values.

Expected numbers come from the rules as Lava and the NIR paper state them (loihi.md §2-3, §7),
worked out by hand here, never from the code under test.
"""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy.cli import main
from neurodeploy.errors import InvalidModel, ResourceExceeded, UnsupportedNode, UsageError
from neurodeploy.quant.fixed import round_half_away, saturate, shift, shift_toward_zero, split_mantissa_exponent, wrap
from neurodeploy.backends.loihi.bitsim import effective_weights, lava_wrap

from test_loihi_support import build

DT = 1e-4


def test_shifts_round_toward_zero_vs_floor():
    assert shift_toward_zero(np.array([-5, 5, -1]), 1).tolist() == [-2, 2, 0]
    assert shift(np.array([-5, 5, 3]), np.array([-1, -1, 2])).tolist() == [-3, 2, 12]
    assert saturate(np.array([2**23, -2**23]), 24).tolist() == [2**23 - 1, -(2**23 - 1)]
    assert wrap(np.array([2**23, -2**23 - 1]), 24).tolist() == [-2**23, 2**23 - 1]
    assert lava_wrap(np.array([2**23, 2**23 + 1, -2**23]), 24).tolist() == [2**23, -2**23 + 1, 2**23]
    assert round_half_away(np.array([0.5, -0.5, 1.49])).tolist() == [1, -1, 1]


def test_mantissa_exponent_split():
    mant, e = split_mantissa_exponent(np.array([1000.0, -3.0]), 255, -8, 7)
    assert e == 2 and mant.tolist() == [250, -1]
    assert split_mantissa_exponent(np.array([1e6]), 255, -8, 7) == (None, 12)


def test_lava_weight_truncation_rules():
    # mixed sign: clip to [-256, 255], drop 1 LSB by arithmetic shift (odd -> even, negatives down)
    assert effective_weights([-3, 3, 255, -300, 7], 1, 8, 8).tolist() == [-4, 2, 254, -256, 6]
    assert effective_weights([3, 300], 2, 8, 8).tolist() == [3, 255]  # excitatory keeps all 8 bits
    assert effective_weights([-3, -300], 3, 8, 8).tolist() == [-3, -255]  # inhibitory mirrors it


def _lif_graph(tau=20 * DT, w=None, v_th=1.0, bias=0.0, node=None):
    w = np.array([[0.5, -0.25], [0.3, 0.2]]) if w is None else w
    n = w.shape[0]
    neuron = node or nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / DT), v_leak=np.zeros(n),
                             v_threshold=np.full(n, v_th))
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([w.shape[1]])),
                               "fc": nir.Affine(weight=w, bias=np.full(n, bias)), "lif": neuron,
                               "output": nir.Output(np.array([n]))},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


def test_auto_mapping_even_mixed_weights_and_decays(tmp_path):
    art = bk.compile(build(_lif_graph()), "loihi2", tmp_path / "a")
    q = art.manifest["loihi"]["quantization"]["lif"]
    assert q["dv"] == round(DT / (20 * DT) * 4096) == 205 and q["du"] == 4095
    w = np.load(art.file("params.npz"))["s0_weights"]
    assert (w % 2 == 0).all()  # chosen even, so Lava's mixed-sign LSB drop loses nothing
    e = q["weights"]["input"]["weight_exp"]
    # effective weight / threshold ratio equals the model's (0.5 / 1.0) to 8-bit precision
    assert abs(w[0, 0] * 2.0**e / (q["vth"]) - 0.5) < 2 ** -7
    assert q["weights"]["input"]["rel_error"] < 2 ** -7


@pytest.mark.parametrize("graph, sem, rule, error", [  # a decay over the 12-bit width is a design rule (#10)
    (_lif_graph(tau=1e6 * DT), {}, "rounds to no decay", ResourceExceeded),
    (_lif_graph(tau=DT), {}, "exceeds 4095", ResourceExceeded),
    (_lif_graph(v_th=-1.0), {}, "v_threshold must be positive", InvalidModel),
])
def test_unrepresentable_parameters_are_refused(graph, sem, rule, error, tmp_path):
    with pytest.raises(error, match=rule) as e:
        bk.compile(build(graph, **sem), "loihi2", tmp_path / "a")
    assert e.value.where == "lif" and not (tmp_path / "a").exists()


def test_paper_mapping_refuses_weights_over_8_bits(tmp_path):
    with pytest.raises(ResourceExceeded, match="> 255 with weight_exp 0"):  # a design rule since #10
        bk.compile(build(_lif_graph(w=np.array([[2.0]]))), "loihi2", tmp_path / "a", options={"mapping": "paper"})


def test_unsupported_nodes_and_semantics(tmp_path):
    li = nir.LI(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2))
    with pytest.raises(UnsupportedNode, match="non-spiking LI") as e:
        bk.compile(build(_lif_graph(node=li)), "loihi2", tmp_path / "a")
    assert e.value.where == "lif" and e.value.exit_code == 3
    with pytest.raises(UnsupportedNode, match="subtract"):
        bk.compile(build(_lif_graph(), reset="subtract"), "loihi2", tmp_path / "b")
    with pytest.raises(UsageError, match="mapping"):
        bk.compile(build(_lif_graph()), "loihi2", tmp_path / "c", options={"mapping": "best"})


def test_cli_exit_codes(tmp_path):
    nir.write(tmp_path / "bad.nir", _lif_graph(tau=DT))
    assert main(["compile", str(tmp_path / "bad.nir"), "--target", "loihi2", "-o", str(tmp_path / "o"),
                 "--integrator", "euler"]) == 4  # decay 1.0 needs 13 bits: a design rule since #10
    assert main(["compile", str(tmp_path / "bad.nir"), "--target", "loihi2", "-o", str(tmp_path / "o"),
                 "-O", "v_probe=maybe"]) == 2
    nir.write(tmp_path / "ok.nir", _lif_graph())
    assert main(["compile", str(tmp_path / "ok.nir"), "--target", "loihi1", "-o", str(tmp_path / "ok"),
                 "--report"]) == 0


def test_compile_is_byte_identical(tmp_path):
    g = build(_lif_graph())
    a, b = (bk.compile(g, "loihi2", tmp_path / d) for d in ("a", "b"))
    assert a.manifest["files"] == b.manifest["files"]
