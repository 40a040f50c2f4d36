"""Issue #10: "a 983,040-neuron sparse network that fits loihi2 crashes: the netx export densifies the
sparse matrix (7 TiB)". It compiles now; the optional netx file (dense weights only) is refused by
name with needed vs available bytes, and the artifact runs."""
from __future__ import annotations

import json

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy import backend as bk
from neurodeploy import cli, ir


def test_full_loihi2_sparse_layer_compiles_without_densifying(tmp_path, capsys):
    n = 120 * 8192  # the 983,040 neurons of the issue: every neuron slot of loihi2's 120 cores
    g = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([n])}),
        "w": nir.Linear(weight=sp.identity(n, format="csr") * 200.0),
        "lif": nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                       v_reset=np.zeros(n)),
        "out": nir.Output(output_type={"output": np.array([n])})},
        edges=[("in", "w"), ("w", "lif"), ("lif", "out")], type_check=False)
    ir.write(tmp_path / "big.nir", g)
    art = tmp_path / "art"
    code = cli.main(["compile", str(tmp_path / "big.nir"), "--target", "loihi2", "--reset", "zero", "-o", str(art),
                     "--memory-budget", "1G"])
    assert code == 0, capsys.readouterr().err
    note = json.loads((art / "manifest.json").read_text())["loihi"]["netx"]
    # n x n float64 = 7,730,941,132,800 bytes (the 7 TiB) against the 1 GiB budget given
    assert note.startswith("not written: design rule 'loihi.netx_dense_weights' violated")
    assert f"needs {n * n * 8} B, memory budget has {2**30} B" in note
    assert not (art / "model.net").exists()
    x = np.zeros((3, 1, n))
    x[0, 0, [0, 5]] = 1.0  # weight 200 x gain dt/tau = 10 thresholds: the identity's two neurons fire once
    s = bk.run(art, x, record=["lif"]).spikes["lif"].reshape(3, n)
    assert sorted(np.nonzero(s.sum(axis=0))[0].tolist()) == [0, 5] and s.sum() == 2
