"""Every .nir file in ../shared/realdata/wild/ (written by real tools, see its README) gets its stated
outcome: it loads, with every repair listed (what `inspect` prints), or it is refused with a reason a
user can act on. Each repair is a general rule of the reader (neurodeploy/ir/reader.py, repair.py),
named here with the exporter habit it undoes."""
from __future__ import annotations

import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy import fidelity, ir
from neurodeploy.errors import UnsupportedNode
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

from conftest import SHARED

WILD = SHARED / "realdata" / "wild"

# file -> (input shape, output shape, repairs that must be listed (substrings), why)
LOADS = {
    "nir-history-eaac1c5_braille_v2.nir": (
        (12,), (7,), ["lif1: edges name the flattened subgraph lif1.*; out of it read as its Output node 'lif1.output'",
                      "lif1: edges name the flattened subgraph lif1.*; into it read as its Input node 'lif1.input'",
                      "input: dropped leaked batch dimension"],
        "NIR 0.2 flattened the recurrent subgraph into dotted names but kept edges to the group name"),
    "nir-paper_braille_noDelay_bias_zero_subgraph.nir": (
        (12,), (7,), ["lif1.lif1: the edges name 'lif', which is no node, and no edge names this node: read 'lif' as 'lif1'"],
        "the subgraph's neuron was renamed after its edges were written"),
    "nir-history-ce078e7_scnn_mnist_batches.nir": (
        (2, 34, 34), (10,), ["8: input_type (0, 0, 0, 0) is all zeros",
                             "input: dropped leaked batch dimension: input shape (1, 2, 34, 34) -> (2, 34, 34)",
                             "8: Flatten dims 1..-1 counted the leaked batch dimension: 0..-1",
                             "1: dropped leaked batch dimension: parameters (1, 16, 16, 16) -> (16, 16, 16)",
                             "output: dropped leaked batch dimension: output shape (1, 10) -> (10,)"],
        "nirtorch traced with a batch of 1 and wrote zeros for the Flatten type it did not know"),
    "nir-paper_lif_rockpool.nir": (
        (1,), (1,), ["output: declared output shape (1, 1, 1), but '1_LIFNeuronTorch' delivers (1,) "
                     "(same elements, other unit axes): took (1,)"],
        "Rockpool wrote the Output with extra unit axes"),
    "rockpool_tests_braille.nir": (
        (12,), (7,), ["hidden.input: declared input shape (12,), but 'fc1' delivers (38,) "
                      "(a subgraph's port passes on what reaches it): took (38,)"],
        "Rockpool gave the subgraph's Input port the network's input shape"),
    "nir-history-7ddac06_lif_norse_1000.nir": ((1000,), (1000,), [], "stock NIR 1.0 content"),
    "nir-paper_two_lif_neurons.nir": ((1,), (1,), [], "stock NIR 1.0 content"),
}


def test_every_wild_file_has_a_stated_outcome():
    assert sorted(p.name for p in WILD.glob("*.nir")) == sorted(LOADS)


@pytest.mark.parametrize("name", sorted(LOADS))
def test_loads_with_every_repair_listed_and_runs(name):
    shape_in, shape_out, repairs, _why = LOADS[name]
    g = ir.load(WILD / name, semantics=Semantics(dt=1.0))
    listed = g.metadata["repairs"]
    for r in repairs:
        assert any(r in line for line in listed), (r, listed)
    assert g.out_shape[g.inputs[0]] == shape_in and g.out_shape[g.outputs[0]] == shape_out
    x = (np.random.default_rng(0).random((5, 2) + shape_in) < 0.5).astype(np.float32)
    res = simulate(g, x)
    assert res.spikes[g.outputs[0]].shape == (5, 2) + shape_out


def test_scnn_shapes_follow_the_convolution_arithmetic():
    """Independent of the repair: conv k5 s2 p1 on 34 -> 16; k3 s1 p1 keeps 16; pool 2 -> 8; conv keeps
    8 channels x 8; pool 2 -> 4; Flatten 8*4*4 = 128 = the Affine's fan-in."""
    g = ir.load(WILD / "nir-history-ce078e7_scnn_mnist_batches.nir")
    assert [g.out_shape[n] for n in ("0", "3", "4", "6", "7", "8")] == \
        [(16, 16, 16), (16, 16, 16), (16, 8, 8), (8, 8, 8), (8, 4, 4), (128,)]
    assert np.asarray(g.nodes["9"].weight).shape == (256, 128)


def test_norse_input_driving_neurons_is_refused_by_spinnaker2_with_the_fix(tmp_path):
    """Loads and simulates (above); Loihi 2 compiles it; SpiNNaker 2 refuses, naming the fix (a weight
    layer between populations, which py-spinnaker2 needs)."""
    g = ir.load(WILD / "nir-history-7ddac06_lif_norse_1000.nir")
    bk.compile(g, "loihi2", tmp_path / "l", options={"steps": "10"})
    with pytest.raises(UnsupportedNode, match="insert an identity nir.Linear"):
        bk.compile(g, "spinnaker2", tmp_path / "s", options={"steps": "10"})


def test_two_lif_neurons_timing_explained(tmp_path):
    """lif1 is driven by its leak alone (v_leak 1.2 > threshold 1); the reference fires at step 179.
    Loihi 2 fires where the float model with Loihi's own 12-bit decay and bias fires (spike-exact
    against the quantized reference): the step it moves is quantization. SpiNNaker 2 fires at 179 too:
    lif1 runs one tick behind, and its population starts at that tick (backends/spinnaker2/simulator.py,
    "start tick"), so its leak does not integrate a tick early."""
    g = ir.load(WILD / "nir-paper_two_lif_neurons.nir")
    x = np.zeros((300, 1))
    ref = simulate(g, x, record=["lif1"]).spikes["lif1"][:, 0, 0]
    assert np.flatnonzero(ref)[0] == 179
    loihi = bk.compile(g, "loihi2", tmp_path / "l", options={"steps": "300", "record": "all"})
    rep = fidelity.validate(loihi.path, x)
    assert all(l.agreement == 1.0 for l in rep.against_quantized.layers)
    s2 = bk.compile(g, "spinnaker2", tmp_path / "s", options={"steps": "300", "record": "all"})
    chip = bk.run(s2.path, x, record=["lif1"])
    assert chip.extra["lag_ticks"]["lif1"] == 1
    assert np.flatnonzero(chip.spikes["lif1"][:, 0, 0])[0] == 179
