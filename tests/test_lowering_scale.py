"""Per-row scaling and rounding (hand-computed cases) and the one semantics check."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import scipy.sparse as sp

from neurodeploy.errors import UnsupportedNode, UnsupportedSemantics, UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.lowering import Support, check, quantize_rows, round_scaled, row_peaks, row_scales
from neurodeploy.semantics import Semantics

W = np.array([[0.5, -0.25, 0.0], [0.0, 0.0, 0.0], [2.0, 0.01, -1.0]])


def test_row_scales_by_mode():
    peak = row_peaks(sp.csr_matrix(W))
    assert peak.tolist() == [0.5, 0.0, 2.0]
    assert row_scales(peak, 127, "per_neuron").tolist() == [254.0, 63.5, 63.5]  # empty row: the layer's scale
    assert row_scales(peak, 127, "per_layer").tolist() == [63.5] * 3
    assert row_scales(peak, 127, "none").tolist() == [1.0] * 3
    assert row_scales(peak, 127, fixed=3.0).tolist() == [3.0] * 3
    with pytest.raises(UsageError):
        row_scales(peak, 127, "per_row")


def test_quantize_rows_rounds_to_nearest_and_reports_the_error():
    m = sp.csr_matrix(W)
    q, r = quantize_rows(m, np.array([254.0, 63.5, 63.5]), 127)
    # 0.5*254 = 127, -0.25*254 = -63.5 -> -64 (ties to even), 2*63.5 = 127, 0.01*63.5 = 0.635 -> 1, -63.5 -> -64
    assert q.toarray().tolist() == [[127, -64, 0], [0, 0, 0], [127, 1, -64]]
    assert r.peak == 127 and r.stats["zeroed"] == 0
    err = np.array([-64 / 254 + 0.25, 1 / 63.5 - 0.01, -64 / 63.5 + 1.0])
    assert r.stats["max_abs_error"] == pytest.approx(np.abs(err).max())
    assert r.stats["rel_rms_error"] == pytest.approx(np.sqrt((err ** 2).sum() / (W ** 2).sum()))
    assert (r.stats["scale_min"], r.stats["scale_max"]) == (63.5, 254.0)


def test_clipping_and_truncation():
    r = round_scaled(np.array([3.9, -3.9, 0.2]), 10.0, 15)
    assert r.q.tolist() == [15, -15, 2] and r.peak == 39
    t = round_scaled(np.array([3.9, -3.9, 0.05]), 1.0, 15, "trunc")
    assert t.q.tolist() == [3, -3, 0] and t.stats["zeroed"] == 1


def tiny(sem: Semantics, neuron=None) -> Graph:
    sh = {"in": (1,), "w": (1,), "n": (1,)}
    n = neuron or nir.LIF(tau=np.ones(1), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.ones(1))
    return Graph({"in": nir.Input(input_type={"input": np.array([1])}), "w": nir.Linear(weight=np.ones((1, 1))),
                  "n": n}, [("in", "w"), ("w", "n")], sh, sh, semantics=sem)


SUPPORT = Support("chipX", values={"dt": None, "reset": ("zero", "v_reset"), "integrator": ("exact", "euler")},
                  neurons=(nir.LIF, nir.CubaLIF), per_type={nir.CubaLIF: {"integrator": ("euler",)}})


def test_declared_values_pass_and_others_are_refused():
    check(tiny(Semantics(dt=1e-3, reset="zero")), SUPPORT)
    with pytest.raises(UnsupportedSemantics, match="reset") as e:
        check(tiny(Semantics(reset="subtract")), SUPPORT)
    assert "--reset zero" in str(e.value) and isinstance(e.value, UnsupportedNode)


def test_an_undeclared_field_must_keep_its_default():
    check(tiny(Semantics(reset_timing="same_step")), SUPPORT)
    with pytest.raises(UnsupportedSemantics, match="reset_timing"):
        check(tiny(Semantics(reset_timing="next_step")), SUPPORT)


def test_per_type_narrowing_and_neuron_types():
    cuba = nir.CubaLIF(tau_syn=np.ones(1), tau_mem=np.ones(1), r=np.ones(1), v_leak=np.zeros(1),
                       v_threshold=np.ones(1))
    check(tiny(Semantics(integrator="euler"), cuba), SUPPORT)
    with pytest.raises(UnsupportedSemantics, match="CubaLIF") as e:
        check(tiny(Semantics(integrator="exact"), cuba), SUPPORT)
    assert e.value.where == "n"
    with pytest.raises(UnsupportedSemantics, match="IF neurons"):
        check(tiny(Semantics(), nir.IF(r=np.ones(1), v_threshold=np.ones(1))), SUPPORT)
