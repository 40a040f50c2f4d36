"""The Loihi artifact's network files, read side: what both engines read, and nothing else.

Layout (plain JSON + one .npz, so the Lava runner in Python 3.10 reads it with numpy and json):

    net.json    inputs [{name, shape}], populations [{name, shape, du, dv, vth, cores}],
                synapses [{name, src, dst, via, weight_exp, num_weight_bits, sign_mode,
                num_message_bits, format, shape}], outputs {output node: population},
                probe {v_at_spike, refractory_probe_unit, refractory_steps}, chips,
                chip {decay_bits, state_bits, state_shift, weight_mant_bits}: the run spec, the
                target's fixed-point widths copied from its TOML so no engine reads the TOML
    params.npz  p<i>_bias_mant, p<i>_bias_exp per population; per synapse group either
                s<j>_weights (n_dst, n_src) dense, or s<j>_rows/_cols/_vals (COO) when sparse

``cores`` lists ``[core, start, stop]`` neuron ranges of the population; ``via`` names the graph's
linear nodes folded into the group (for reports and `quantized_graph`).

Import boundary: this module is the artifact format. Engines (bitsim.py, engine.py) import it and
the core; they import no compiler module (quantize, allocate, program, netx). The writer is
program.py; lava_runner.py decodes the same files with its own code (it cannot import neurodeploy).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from neurodeploy.errors import UsageError
from neurodeploy.sim.inputs import as_batched

ROLE = "format"
NET, PARAMS = "net.json", "params.npz"
MIXED, EXCITATORY, INHIBITORY = 1, 2, 3  # format: lava.utils.weightutils.SignMode values
RUN_SPEC = ("decay_bits", "state_bits", "state_shift", "weight_mant_bits")


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


def record_names(meta: dict, record: list[str]) -> list[str]:
    """Populations to record: Output names map to the population feeding them; default: outputs."""
    names = [p["name"] for p in meta["populations"]]
    record = [meta["outputs"].get(r, r) for r in record] or list(dict.fromkeys(meta["outputs"].values()))
    unknown = [r for r in record if r not in names]
    if unknown:
        raise UsageError(f"cannot record {', '.join(unknown)}: not a neuron population of this artifact",
                         hint=f"populations: {', '.join(names)}")
    return list(dict.fromkeys(record))


def prepare_inputs(meta: dict, inputs) -> dict[str, np.ndarray]:
    """Inputs as {input name: (T, B, n) int64}, checked against the artifact's input spec."""
    specs = meta["inputs"]
    if not isinstance(inputs, dict):
        if len(specs) != 1:
            raise UsageError(f"the network has {len(specs)} inputs; pass a dict name -> array")
        inputs = {specs[0]["name"]: inputs}
    xs = {}
    for spec in specs:
        x = as_batched(inputs[spec["name"]], spec["shape"], where=spec["name"])
        if not np.all(x == np.round(x)):
            raise UsageError("Loihi inputs are integer events (spikes or graded payloads)", where=spec["name"])
        xs[spec["name"]] = x.reshape(x.shape[0], x.shape[1], -1).astype(np.int64)
    binary = {s["src"] for s in meta["synapses"] if s["num_message_bits"] == 0}
    for name, x in xs.items():
        if name in binary and not np.isin(x, (0, 1)).all():
            raise UsageError("input has values other than 0/1 but the artifact expects binary spikes",
                             where=name, hint="compile with -O input_bits=8 for graded input events")
    return xs


def padded(x: np.ndarray, steps: int | None) -> np.ndarray:
    """(T, ...) input cut or zero-padded to `steps` rows (None: as given)."""
    T = x.shape[0] if steps is None else steps
    return np.concatenate([x, np.zeros((max(0, T - x.shape[0]),) + x.shape[1:], x.dtype)])[:T]


def v_at_spike(meta: dict) -> int:
    """What a recorded voltage reads at a spike step under the artifact's probe convention."""
    probe = meta["probe"]
    return probe["refractory_probe_unit"] * probe["refractory_steps"] if probe["v_at_spike"] == "chip" else 0
