"""Weight scaling: what the chip's integer weights are under each mode (read back from the memory
images), the options that pick the mode, and the py-spinnaker2 export carrying the same weights."""
from __future__ import annotations

import sys
import types

import nir
import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy.artifact import Artifact
from neurodeploy.errors import UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate
from neurodeploy.backends.spinnaker2 import simulator

N_IN, N = 40, 30


def dense(seed=0) -> tuple[Graph, np.ndarray]:
    """in -> Affine -> LIF with rows of very different magnitudes (so per-neuron scales differ) and one
    all-zero row (a neuron with no inputs)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(N, N_IN)) * np.logspace(-2, 0, N)[:, None]
    w[3] = 0
    nodes = {"in": nir.Input(input_type={"input": np.array([N_IN])}),
             "w": nir.Affine(weight=w.astype(np.float32), bias=np.zeros(N, np.float32)),
             "lif": nir.LIF(tau=np.full(N, 2e-3), r=np.ones(N), v_leak=np.zeros(N), v_threshold=np.ones(N)),
             "out": nir.Output(output_type={"output": np.array([N])})}
    shapes = {"in": (N_IN,), "w": (N,), "lif": (N,), "out": (N,)}
    g = Graph(nodes, [("in", "w"), ("w", "lif"), ("lif", "out")], dict(shapes, w=(N_IN,)), shapes,
              semantics=Semantics(dt=1e-4))
    return g, w.astype(np.float32).astype(np.float64)


def chip_weights(path) -> np.ndarray:
    """(post, pre) integer weights as the simulator reads them from the memory images."""
    m = simulator.load(Artifact(path))
    w = sum(m.weights.values()).toarray()  # (neurons, neurons): sources x targets
    return w[:N_IN, N_IN:].T


@pytest.mark.parametrize("mode", ["per_neuron", "per_layer", "none"])
def test_integer_weights_follow_the_documented_rule(tmp_path, mode):
    g, w = dense()
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"weight_scaling": mode, "steps": "5"})
    q = chip_weights(art.path)
    row_max = np.abs(w).max(1, keepdims=True)
    s = {"per_neuron": np.where(row_max > 0, 127 / np.where(row_max > 0, row_max, 1), 127 / row_max.max()),
         "per_layer": np.full_like(row_max, 127 / row_max.max()), "none": np.ones_like(row_max)}[mode]
    assert np.array_equal(q, np.rint(w * s))
    if mode == "per_neuron":  # every neuron with inputs uses the whole int8 range
        assert np.array_equal(np.abs(q).max(1) == 127, row_max.ravel() > 0)
        thr = np.load(art.file("network_s2.npz"))["pop_1_lif/threshold"]
        assert np.unique(thr[row_max.ravel() > 0]).size == N - 1  # thresholds scaled per neuron
    if mode == "none":  # small weights round to 0 and are dropped
        assert np.count_nonzero(q) < np.count_nonzero(w)


def test_per_neuron_scaling_is_exact_and_voltages_come_back_in_nir_units(tmp_path):
    """Weights already on each row's int8 grid (w = k * max_row/127) lose nothing under per-neuron
    scaling: chip spikes equal the float reference's, and recorded v divided by each neuron's own
    scale is the reference's v (float32 on the chip)."""
    g, w = dense(1)
    row_max = np.abs(w).max(1, keepdims=True)
    g.nodes["w"].weight = np.where(row_max > 0, np.rint(w * 127 / np.where(row_max > 0, row_max, 1)) * row_max / 127, 0)
    g.nodes["lif"].v_threshold = np.full(N, 0.02)
    x = (np.random.default_rng(2).random((40, 3, N_IN)) < 0.3).astype(np.float32)
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"steps": "40"})
    chip, ref = bk.run(art.path, x, record=["lif"]), simulate(g, x, record=["lif"])
    assert 0 < ref.spikes["lif"].sum() < ref.spikes["lif"].size / 2
    assert np.array_equal(chip.spikes["lif"], ref.spikes["lif"])
    np.testing.assert_allclose(chip.v["lif"], ref.v["lif"], rtol=1e-4, atol=1e-6)


def test_conv_scale_is_one_per_output_channel(realdata, tmp_path):
    from neurodeploy import ir
    g = ir.load(realdata / "cnn" / "cnn_sinabs.nir", semantics=Semantics(dt=1.0))
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"steps": "5"})
    d = np.load(art.file("network_s2.npz"))
    kernel = next(d[k] for k in d.files if k.endswith("/kernel"))  # first conv, MLA order (in, out, kh, kw)
    assert kernel.dtype == np.int8 and kernel.shape == (2, 16, 5, 5)
    assert np.array_equal(np.abs(kernel.astype(int)).max(axis=(0, 2, 3)), np.full(16, 127))
    thr = next(d[k] for k in d.files if k.startswith("pop_1_") and k.endswith("/threshold")).reshape(16, -1)
    assert np.all(thr == thr[:, :1]) and np.unique(thr[:, 0]).size > 1


@pytest.mark.parametrize("raw,match", [({"weight_scaling": "per_row"}, "weight_scaling"),
                                       ({"weight_scaling": "per_layer", "weight_scale": "2"}, "exclude")])
def test_bad_scaling_options(tmp_path, raw, match):
    with pytest.raises(UsageError, match=match):
        bk.compile(dense()[0], "spinnaker2", tmp_path / "a", options=raw)
    assert not list(tmp_path.iterdir())


def test_network_s2_script_builds_the_same_weights(tmp_path, monkeypatch):
    """Run the generated py-spinnaker2 script against a recording stand-in for the `spinnaker2`
    package: its Projection connections are the images' weights."""
    g, _ = dense()
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"steps": "5"})
    made = []

    class Rec:
        def __init__(self, *args, **kwargs):
            made.append((type(self).__name__, args, kwargs))

        def __getattr__(self, name):
            return lambda *a, **k: None

    snn = types.SimpleNamespace(Population=type("Population", (Rec,), {}), Projection=type("Projection", (Rec,), {}),
                                Conv2DProjection=type("Conv2DProjection", (Rec,), {}), Network=Rec)
    pkg = types.ModuleType("spinnaker2")
    pkg.snn, pkg.hardware = snn, types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "spinnaker2", pkg)
    script = art.file("network_s2.py")
    exec(compile(script.read_text(), str(script), "exec"), {"__name__": "network_s2", "__file__": str(script)})
    conns = next(k["connections"] for kind, _, k in made if kind == "Projection")
    w = np.zeros((N, N_IN))
    for pre, post, weight, delay in conns:
        w[post, pre] += weight
        assert delay == 0
    assert np.array_equal(w, chip_weights(art.path))
