"""lava-dl netx export (``model.net``, HDF5 via h5py) for chain-shaped networks.

netx (lava-dl 0.6.0 ``lava/lib/dl/netx/hdf5.py``) builds sequential blocks: ``layer/<i>`` groups
with ``type`` (S10), ``shape`` (reversed to x, y, z on read), and for ``dense`` ``weight``
(out, in), optional ``bias`` and ``neuron/{type, iDecay, vDecay, vThMant, refDelay, gradedSpike}``
from which it makes ``LIF(vth=vThMant, du=iDecay - 1, dv=vDecay, bias_exp=6)`` and re-derives the
weight exponent itself (``optimize_weight_bits``). Convolutions are folded into matrices by the
compiler, so they are written as dense layers. Recurrent or branching graphs have no netx form.
netx has no sparse layer: a network whose dense weights would exceed the memory budget
(`neurodeploy.budget`; a 983,040-neuron sparse layer is 7 TiB dense) is not exported, and the
note names the rule ``loihi.netx_dense_weights`` with needed vs available bytes.
lava-dl itself needs torch 2.3 and Python 3.10, so the file is checked by structure, not loaded.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from neurodeploy import budget

from .quantize import Net

ROLE = "compile"
NETX_BIAS_EXP = 6  # format: netx builds every LIF with bias_exp = 6 (hdf5.py)


def exportable(net: Net) -> str:
    """'' when `net` is a chain input -> pop -> pop ... with one synapse group into each; else why not."""
    if len(net.inputs) != 1:
        return "netx networks have exactly one input"
    prev = next(iter(net.inputs))
    for p in net.populations:
        into = [s for s in net.synapses if s.dst == p.name]
        if len(into) != 1 or into[0].src != prev:
            return f"{p.name} is not fed by exactly the previous layer (recurrent or branching graph)"
        prev = p.name
    if len(net.synapses) != len(net.populations):
        return "a synapse group leaves the chain"
    dense = sum(budget.array_bytes(s.weights.shape) for s in net.synapses)
    if dense > budget.limit():
        return (f"design rule 'loihi.netx_dense_weights' violated: netx stores dense weights, needs {dense} B, "
                f"memory budget has {budget.limit()} B (the artifact itself keeps them sparse)")
    return ""


def export(net: Net, path: Path, dt: float) -> str:
    """Write `path` when possible; return the file name or the reason it was not written."""
    why = exportable(net)
    if why:
        return f"not written: {why}"
    with h5py.File(path, "w") as f:
        _ds(f.create_group("simulation"), "Ts", dt)
        for i, p in enumerate(net.populations):
            (s,) = [s for s in net.synapses if s.dst == p.name]
            g = f.create_group(f"layer/{i}")
            _ds(g, "type", np.bytes_("dense").astype("S10"))
            _ds(g, "shape", np.asarray(p.shape[::-1], dtype=np.int64))
            _ds(g, "inFeatures", s.weights.shape[1])
            _ds(g, "outFeatures", s.weights.shape[0])
            _ds(g, "weight", s.weights.toarray() * 2.0**s.weight_exp)
            if np.any(p.bias_mant):
                _ds(g, "bias", p.bias_mant * 2.0**(p.bias_exp - NETX_BIAS_EXP))
            n = g.create_group("neuron")
            _ds(n, "type", np.bytes_("CUBA").astype("S10"))
            _ds(n, "iDecay", p.du + 1)
            _ds(n, "vDecay", p.dv)
            _ds(n, "vThMant", p.vth)
            _ds(n, "refDelay", 1)
            _ds(n, "gradedSpike", False)
    return path.name


def _ds(group, name, data):
    group.create_dataset(name, data=data, track_times=False)  # no timestamps: byte-identical artifacts
