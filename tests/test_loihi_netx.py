"""The lava-dl netx export (model.net), checked by structure: lava-dl cannot be installed here
(it pins torch 2.3 and Python 3.10), so the groups and datasets netx's hdf5.py reads are checked,
and the LIF parameters netx would derive from them (vth = vThMant, du = iDecay - 1, dv = vDecay)
are compared with the artifact's own network file."""
from __future__ import annotations

import h5py
import numpy as np

from neurodeploy import backend as bk

from test_loihi_support import build, random_graph


def test_chain_network_exports_netx(tmp_path):
    g, pops = random_graph(np.random.default_rng(3), recurrent=False, cuba=True, n_in=8, sizes=[12, 5],
                           w_scale=0.5, bias=True)
    art = bk.compile(build(g), "loihi2", tmp_path / "a")
    assert art.manifest["loihi"]["netx"] == "model.net"
    meta = art.json("net.json")
    params = np.load(art.file("params.npz"))
    with h5py.File(art.file("model.net"), "r") as f:
        assert sorted(f["layer"].keys()) == ["0", "1"]
        for i, p in enumerate(meta["populations"]):
            layer, syn = f[f"layer/{i}"], meta["synapses"][i]
            assert layer["type"][()] == b"dense"
            w = layer["weight"][()]
            assert w.shape == (layer["outFeatures"][()], layer["inFeatures"][()]) == tuple(syn["shape"])
            assert np.array_equal(w, params[f"s{i}_weights"] * 2.0 ** syn["weight_exp"])
            n = layer["neuron"]
            assert n["type"][()] == b"CUBA"
            assert (n["vThMant"][()], n["iDecay"][()] - 1, n["vDecay"][()]) == (p["vth"], p["du"], p["dv"])
            assert int(np.prod(layer["shape"][()])) == int(np.prod(p["shape"]))


def test_recurrent_network_has_no_netx(tmp_path):
    g, _ = random_graph(np.random.default_rng(3), recurrent=True, cuba=False, n_in=8, sizes=[6],
                        w_scale=0.5, bias=False)
    art = bk.compile(build(g), "loihi2", tmp_path / "a")
    assert art.manifest["loihi"]["netx"].startswith("not written") and not art.file("model.net").exists()
