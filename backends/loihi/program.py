"""The Loihi artifact's network files: what both engines read, and nothing else.

Layout (plain JSON + one .npz, so the Lava runner in Python 3.10 reads it with numpy and json):

    net.json    inputs [{name, shape}], populations [{name, shape, du, dv, vth, cores}],
                synapses [{name, src, dst, weight_exp, num_weight_bits, sign_mode,
                num_message_bits, format}], outputs {output node: population},
                probe {v_at_spike, refractory_probe_unit, refractory_steps}, chips
    params.npz  p<i>_bias_mant, p<i>_bias_exp per population; per synapse group either
                s<j>_weights (n_dst, n_src) dense, or s<j>_rows/_cols/_vals (COO) when sparse

``cores`` lists ``[core, start, stop]`` neuron ranges of the population (see allocate.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from neurodeploy.artifact import dump_json, save_npz

from .quantize import Net

NET, PARAMS = "net.json", "params.npz"
SPARSE_BELOW = 0.25  # store a synapse group as COO when fewer than this fraction is non-zero


def write(net: Net, cores: dict[str, list], chips: int, probe: dict, out: Path) -> None:
    arrays, syn_meta = {}, []
    for i, p in enumerate(net.populations):
        arrays[f"p{i}_bias_mant"] = p.bias_mant.astype(np.int32)
        arrays[f"p{i}_bias_exp"] = p.bias_exp.astype(np.int32)
    for j, s in enumerate(net.synapses):
        sparse = s.weights.nnz < SPARSE_BELOW * np.prod(s.weights.shape)
        if sparse:
            coo = s.weights.tocoo()
            arrays[f"s{j}_rows"], arrays[f"s{j}_cols"] = coo.row.astype(np.int32), coo.col.astype(np.int32)
            arrays[f"s{j}_vals"] = coo.data.astype(np.int16)
        else:
            arrays[f"s{j}_weights"] = s.weights.toarray().astype(np.int16)
        syn_meta.append(dict(name=s.name, src=s.src, dst=s.dst, weight_exp=s.weight_exp, num_weight_bits=8,
                             sign_mode=s.sign_mode, num_message_bits=s.num_message_bits,
                             shape=list(s.weights.shape), format="coo" if sparse else "dense"))
    meta = dict(
        inputs=[dict(name=n, shape=list(sh)) for n, sh in net.inputs.items()],
        populations=[dict(name=p.name, shape=list(p.shape), du=p.du, dv=p.dv, vth=p.vth, cores=cores[p.name])
                     for p in net.populations],
        synapses=syn_meta, outputs=net.outputs, probe=probe, chips=chips)
    (out / NET).write_bytes(dump_json(meta))
    save_npz(out / PARAMS, **arrays)


def read(path: Path) -> tuple[dict, dict]:
    """(meta, arrays); ``arrays["s<j>"]`` holds group j's (n_dst, n_src) mantissas, dense or CSR."""
    meta = json.loads((path / NET).read_text())
    with np.load(path / PARAMS, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for j, s in enumerate(meta["synapses"]):
        if s["format"] == "coo":
            w = sp.csr_matrix((arrays[f"s{j}_vals"].astype(np.int64),
                               (arrays[f"s{j}_rows"], arrays[f"s{j}_cols"])), shape=tuple(s["shape"]))
        else:
            w = arrays[f"s{j}_weights"].astype(np.int64)
        arrays[f"s{j}"] = w
    return meta, arrays
