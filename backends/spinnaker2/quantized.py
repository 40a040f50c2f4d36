"""The float model a SpiNNaker 2 artifact realises, read back from it (`Backend.quantized_graph`).

Built in chip units from ``network_s2.npz`` (the integer weights and float32 neuron parameters the
compiler handed to py-spinnaker2) and the manifest's projection list, never from the simulator's
decoding of the images, so the reference run on it checks the simulator. Each population becomes a
neuron whose reference step is the chip's (`neurodeploy.sim.neurons`, under the artifact's own
semantics): per input an Affine of the integer weights, with unit gain into v, then

- ``lif*`` models: LIF with a_m = alpha_decay, (1 - a_m)*R = 1 and i_offset as its leak term c
  (IF when alpha_decay is 1: dt*R = 1, i_offset as the first Affine's bias);
- ``lif_curr_exp*``: CubaLIF with a_s = exc_decay, g_s = 1, dt/tau_mem*R = 1 and i_offset as c,
  under Euler, whose reference step is the chip's current-first step (convert.py). An artifact with
  a second tap (the exact CubaLIF) is therefore read back under Euler as a whole (LIF's time
  constants converted alike), its tap-1 projections behind a one-step nir.Delay.

Neurons are flat vectors of the population's size.
"""
from __future__ import annotations

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics

ROLE = "compile"


def _tau(alpha: np.ndarray, dt: float, integrator: str) -> np.ndarray:
    """The time constant whose reference decay under `integrator` is `alpha`."""
    return -dt / np.log(alpha) if integrator == "exact" else dt / (1.0 - alpha)


def _neuron(model: str, d, var: str, sem: Semantics, n: int):
    """(neuron node, bias its inputs must carry)."""
    f = lambda k: np.asarray(d[f"{var}/{k}"], np.float64)  # noqa: E731
    alpha, theta, v_reset, offset = f("alpha_decay"), f("threshold"), f("v_reset"), f("i_offset")
    if model.startswith("lif_curr_exp"):
        a_s = f("exc_decay")
        tau_syn, tau_mem = _tau(a_s, sem.dt, "euler"), _tau(alpha, sem.dt, "euler")
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / sem.dt, v_leak=offset * tau_mem / sem.dt,
                           v_threshold=theta, v_reset=v_reset, w_in=tau_syn / sem.dt), np.zeros(n)
    if np.all(alpha == 1):
        return nir.IF(r=np.full(n, 1.0 / sem.dt), v_threshold=theta, v_reset=v_reset), offset
    tau = _tau(alpha, sem.dt, sem.integrator)
    gain = 1.0 - alpha if sem.integrator == "exact" else sem.dt / tau
    return nir.LIF(tau=tau, r=1.0 / gain, v_leak=offset / gain, v_threshold=theta, v_reset=v_reset), np.zeros(n)


def _weights(d, proj: dict, post_size: int, pre_size: int, conv: dict | None):
    var = proj["arrays"]
    if conv is not None:
        from .convert import mla_matrix

        return mla_matrix(np.asarray(d[f"{var}/kernel"]), conv).astype(np.float64)
    if f"{var}/w_dense" in d:  # stored dense where that is smaller: kept dense
        return np.asarray(d[f"{var}/w_dense"], np.float64)
    return sp.csr_matrix((np.asarray(d[f"{var}/data"], np.float64), d[f"{var}/indices"], d[f"{var}/indptr"]),
                         shape=(post_size, pre_size))


def quantized_graph(artifact) -> Graph:
    info, spec = artifact.manifest["spinnaker2"], artifact.json("runspec.json")
    sem = Semantics.from_dict(artifact.manifest["semantics"])
    if any(pr["tap"] for pr in info["projections"]) or any(p["model"].startswith("lif_curr_exp")
                                                            for p in spec["populations"]):
        sem = sem.with_(integrator="euler")  # the chip's current-first step is the Euler CubaLIF's
    d = artifact.npz("network_s2.npz")
    pops = {p["name"]: p for p in spec["populations"]}
    size = {name: int(np.prod(p["shape"], dtype=np.int64)) for name, p in pops.items()}
    nodes, edges, ins, outs, biases = {}, [], {}, {}, {}
    for name, p in pops.items():
        if p["model"] == "spike_list":
            nodes[name] = nir.Input(input_type={"input": np.array(p["shape"])})
            ins[name] = outs[name] = tuple(p["shape"])
        else:
            nodes[name], biases[name] = _neuron(p["model"], d, info["populations"][name], sem, size[name])
            ins[name] = outs[name] = (size[name],)
    biased = set()
    for pr in info["projections"]:
        post, pre = pr["post"], pr["pre"]
        w = _weights(d, pr, size[post], size[pre], pr.get("conv"))
        bias = np.zeros(size[post]) if post in biased else biases[post]
        biased.add(post)
        nodes[pr["name"]] = nir.Affine(weight=w, bias=bias)
        ins[pr["name"]], outs[pr["name"]] = (size[pre],), (size[post],)
        src = pre
        if pr["tap"]:  # the previous step's spikes
            src = f"{pr['name']}.delay"
            nodes[src] = nir.Delay(delay=np.full(size[pre], sem.dt))
            ins[src] = outs[src] = (size[pre],)
            edges.append((pre, src))
        edges += [(src, pr["name"]), (pr["name"], post)]
    for out, pop in spec["outputs"].items():
        nodes[out] = nir.Output(output_type={"output": np.array([size[pop]])})
        ins[out] = outs[out] = (size[pop],)
        edges.append((pop, out))
    return Graph(nodes, edges, ins, outs, semantics=sem)
