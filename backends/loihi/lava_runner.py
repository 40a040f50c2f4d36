"""Run Loihi artifacts in Lava (lava-nc 0.10.0, Loihi2SimCfg fixed_pt). Runs INSIDE .venv-lava.

Python 3.10 only (Lava's limit): imports lava, numpy and the standard library, never neurodeploy,
so it decodes the artifact (layout.py's format) with its own code. Started by
`neurodeploy.runner.run_jobs` as ``python lava_runner.py JOBS.json`` with JOBS a list of
``{"artifact": DIR, "inputs": X.npy (T, B, n_in) int, "out": OUT.npz, "steps": T, "record": [pop]}``
(one input per network; several jobs per call amortize Lava's start-up). Lava's bit-accurate
models have Loihi's widths built in: an artifact whose run spec (``chip``, the widths of its target
file) differs from them is refused (`check_run_spec`) rather than run with other arithmetic. Each sample of the batch
is a fresh Lava network (state zero), run for T steps; recorded spikes come from sink RingBuffers,
voltages from Monitors. OUT.npz holds ``<pop>.spikes`` and ``<pop>.v`` arrays shaped (T, B, n),
with the artifact's probe convention applied to v exactly as the NumPy engine applies it.
"""
import json
import sys
from pathlib import Path

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.models import PyLifModelBitAcc
from lava.proc.lif.process import LIF
from lava.proc.monitor.process import Monitor
from lava.utils.weightutils import SignMode

ROLE = "simulate"


def load(path):
    meta = json.loads((path / "net.json").read_text())
    with np.load(path / "params.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays


def check_run_spec(meta):
    """Exit with a message if the artifact's fixed-point widths are not those of Lava's LIF model."""
    model = PyLifModelBitAcc({})  # its vth_shift equals act_shift, as state_shift stands for both
    lava = {"decay_bits": model.decay_shift, "state_bits": model.uv_bitwidth, "state_shift": model.act_shift}
    spec = meta["chip"]
    for key, value in lava.items():
        if spec[key] != value:
            raise SystemExit(f"the artifact's target has {key} = {spec[key]} but Lava's bit-accurate LIF "
                             f"implements {value}: run it with --engine sim")


def weights(arrays, j, syn):
    if syn["format"] == "dense":
        return arrays[f"s{j}_weights"].astype(np.int32)
    w = np.zeros(syn["shape"], dtype=np.int32)
    w[arrays[f"s{j}_rows"], arrays[f"s{j}_cols"]] = arrays[f"s{j}_vals"]
    return w


def run_sample(meta, arrays, x, steps, record):
    """One sample: x is (T, n_in); returns {pop: (spikes (T, n), v (T, n))}."""
    (spec,) = meta["inputs"]
    src = Source(data=x.T.astype(np.int32))
    procs = {spec["name"]: src}
    for i, p in enumerate(meta["populations"]):
        n = int(np.prod(p["shape"]))
        procs[p["name"]] = LIF(shape=(n,), du=p["du"], dv=p["dv"], vth=p["vth"],
                               bias_mant=arrays[f"p{i}_bias_mant"].astype(np.int32),
                               bias_exp=arrays[f"p{i}_bias_exp"].astype(np.int32), name=p["name"])
    for j, s in enumerate(meta["synapses"]):
        dense = Dense(weights=weights(arrays, j, s), weight_exp=s["weight_exp"],
                      num_weight_bits=s["num_weight_bits"], sign_mode=SignMode(s["sign_mode"]),
                      num_message_bits=s["num_message_bits"])
        procs[s["src"]].s_out.connect(dense.s_in)
        dense.a_out.connect(procs[s["dst"]].a_in)
    sinks, monitors = {}, {}
    for name in record:
        lif = procs[name]
        sinks[name] = Sink(shape=lif.s_out.shape, buffer=steps)
        lif.s_out.connect(sinks[name].a_in)
        monitors[name] = Monitor()
        monitors[name].probe(lif.v, steps)
    src.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    try:
        out = {}
        for name in record:
            spikes = sinks[name].data.get().T.astype(np.uint8)
            v = monitors[name].get_data()[name]["v"].astype(np.int64)
            out[name] = (spikes, v)
    finally:
        src.stop()
    return out


def run_job(job):
    meta, arrays = load(Path(job["artifact"]))
    check_run_spec(meta)
    if len(meta["inputs"]) != 1:
        raise SystemExit("the Lava runner drives exactly one graph input")
    x = np.load(job["inputs"], allow_pickle=False)
    steps, record = int(job["steps"]), job["record"]
    probe = meta["probe"]
    marker = probe["refractory_probe_unit"] * probe["refractory_steps"] if probe["v_at_spike"] == "chip" else 0
    res = {}
    for b in range(x.shape[1]):
        for name, (s, v) in run_sample(meta, arrays, x[:steps, b], steps, record).items():
            res.setdefault(f"{name}.spikes", []).append(s)
            res.setdefault(f"{name}.v", []).append(np.where(s > 0, marker, v))
    np.savez(job["out"], **{k: np.stack(v, axis=1) for k, v in res.items()})


def main():
    for job in json.loads(Path(sys.argv[1]).read_text()):
        run_job(job)


if __name__ == "__main__":
    main()
