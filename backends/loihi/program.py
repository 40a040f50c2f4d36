"""Write the Loihi artifact's network files (layout and reader: layout.py).

Compiler side: engines never import this module (they read the files through layout.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from neurodeploy.artifact import dump_json, save_npz

from .layout import NET, PARAMS
from .quantize import Net

ROLE = "compile"
SPARSE_BELOW = 0.25  # format: store a synapse group as COO when fewer than this fraction is non-zero


def write(net: Net, cores: dict[str, list], chips: int, probe: dict, run_spec: dict, out: Path) -> None:
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
        syn_meta.append(dict(name=s.name, src=s.src, dst=s.dst, via=list(s.via), weight_exp=s.weight_exp,
                             num_weight_bits=run_spec["weight_mant_bits"], sign_mode=s.sign_mode,
                             num_message_bits=s.num_message_bits, shape=list(s.weights.shape),
                             format="coo" if sparse else "dense"))
    meta = dict(
        inputs=[dict(name=n, shape=list(sh)) for n, sh in net.inputs.items()],
        populations=[dict(name=p.name, shape=list(p.shape), du=p.du, dv=p.dv, vth=p.vth, cores=cores[p.name])
                     for p in net.populations],
        synapses=syn_meta, outputs=net.outputs, probe=probe, chips=chips, chip=run_spec)
    (out / NET).write_bytes(dump_json(meta))
    save_npz(out / PARAMS, **arrays)
