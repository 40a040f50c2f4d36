"""Sparse (CSR, dialect) weights compile for Loihi and run exactly like their dense twin."""
from __future__ import annotations

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy import backend as bk
from neurodeploy.ir import normalize


def _lsm(rec) -> nir.NIRGraph:
    n = rec.shape[0]
    w_in = np.random.default_rng(0).normal(0, 40.0, (n, 8))
    return nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([8])}),
        "w_in": nir.Affine(weight=w_in, bias=np.zeros(n)),
        "lif": nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, 1.0),
                       v_reset=np.zeros(n)),
        "rec": nir.Linear(weight=rec), "out": nir.Output(output_type={"output": np.array([n])})},
        edges=[("in", "w_in"), ("w_in", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")], type_check=False)


def test_sparse_recurrent_weights_run_like_dense(tmp_path):
    rec = sp.random(60, 60, density=0.1, random_state=1, format="csr", data_rvs=lambda k: np.linspace(-20, 20, k))
    x = (np.random.default_rng(1).random((40, 2, 8)) < 0.3).astype(float)
    runs = []
    for name, w in (("sparse", rec), ("dense", rec.toarray())):
        art = bk.compile(normalize(_lsm(w)), "loihi2", tmp_path / name)
        runs.append(bk.run(art.path, x, record=["lif"]))
    assert runs[0].spikes["lif"].sum() > 0
    np.testing.assert_array_equal(runs[0].spikes["lif"], runs[1].spikes["lif"])
    np.testing.assert_array_equal(runs[0].v["lif"], runs[1].v["lif"])
    assert runs[0].counters == runs[1].counters
