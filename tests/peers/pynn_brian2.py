"""PyNN peer: PyNN 0.13's Brian2 backend (pyNN.brian2) with the sPyNNaker dialect, for scripts
written for sPyNNaker. Run with the Brian2 interpreter (.venv-brian2), not imported by tests:

    python pynn_brian2.py SCRIPT.py FUNCTION ARGS.json OUT.npz

imports SCRIPT, calls FUNCTION(sim, **ARGS) with `sim` = this dialect module and saves the dict of
arrays it returns. The dialect, as sPyNNaker defines it, on top of pyNN.brian2:
- ``Population.set(v=...)`` sets the initial voltage (pyNN: ``initialize``);
- inhibitory weights are given as positive magnitudes (pyNN.brian2 wants them negative);
- ``range`` objects select views (pyNN wants arrays or slices);
- ``tau_refrac`` holds v for tau_refrac/dt steps after the spike step (sPyNNaker, NEST; Brian2's
  test `t - lastspike < tau_refrac` holds one step fewer, so dt is added);
- STDP amplitudes A± are in weight units (sPyNNaker writes A± x the weight scale; pyNN.brian2
  multiplies them by w_max, so they are divided by w_max here);
- STDP delays: pyNN.brian2 runs axonal delays only (it refuses PyNN's default
  dendritic_delay_fraction = 1, which sPyNNaker uses), so a script that does not say gets axonal
  delays here; tests run neurodeploy.pynn the same way for the comparison.
Brian2 runs with the numpy code generator (no compiler needed).
"""
from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pyNN.brian2 as _p
from brian2 import defaultclock, ms, prefs

prefs.codegen.target = "numpy"
_skip = {"setup", "Population", "PopulationView", "Projection", "STDPMechanism", "end"}
globals().update({k: getattr(_p, k) for k in dir(_p) if not k.startswith("_") and k not in _skip})


def setup(timestep=1.0, **kw):
    kw.pop("target", None)
    defaultclock.dt = timestep * ms  # pyNN.brian2 leaves spike generators on Brian2's 0.1 ms default
    return _p.setup(timestep=timestep, min_delay=timestep, **kw)


def end():
    return _p.end()


def _view_selector(sel):
    return np.array(list(sel)) if isinstance(sel, range) else sel


class Population(_p.Population):
    def __init__(self, size, cellclass, cellparams=None, **kw):
        if "tau_refrac" in getattr(cellclass, "parameter_space", {}).keys():
            ps = cellclass.parameter_space  # sPyNNaker/NEST: tau_refrac/dt whole steps after the spike's
            ps["tau_refrac"] = ps["tau_refrac"].base_value + _p.get_time_step()  # (Brian2: one fewer)
        super().__init__(size, cellclass, cellparams, **kw)

    def set(self, **kw):
        if "v" in kw:
            self.initialize(v=kw.pop("v"))
        if kw:
            super().set(**kw)

    def __getitem__(self, sel):
        return super().__getitem__(_view_selector(sel))


def PopulationView(parent, selector, label=None):
    return _p.PopulationView(parent, _view_selector(selector), label=label)


def STDPMechanism(timing_dependence=None, weight_dependence=None, **kw):
    kw.setdefault("dendritic_delay_fraction", 0)
    w_max = weight_dependence.parameter_space["w_max"].base_value
    ps = timing_dependence.parameter_space  # sPyNNaker's A± are weight units; pyNN.brian2 multiplies by w_max
    for a in ("A_plus", "A_minus"):
        ps[a] = ps[a].base_value / w_max
    return _p.STDPMechanism(timing_dependence=timing_dependence, weight_dependence=weight_dependence, **kw)


def Projection(pre, post, connector, synapse_type=None, source=None, receptor_type="excitatory", **kw):
    if receptor_type == "inhibitory" and isinstance(synapse_type, _p.StaticSynapse):
        w = synapse_type.parameter_space["weight"].base_value
        synapse_type = _p.StaticSynapse(weight=-abs(w), delay=synapse_type.parameter_space["delay"].base_value)
    if isinstance(connector, _p.FromListConnector) and receptor_type == "inhibitory":
        connector.conn_list[:, 2] = -np.abs(connector.conn_list[:, 2])
    return _p.Projection(pre, post, connector, synapse_type=synapse_type, source=source,
                         receptor_type=receptor_type, **kw)


def main(script, function, args, dst):
    spec = importlib.util.spec_from_file_location("peer_script", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with open(args) as f:
        kw = json.load(f)
    out = getattr(mod, function)(sys.modules[__name__], **kw)
    np.savez(dst, **{k: np.asarray(v) for k, v in out.items()})


if __name__ == "__main__":
    sys.modules.setdefault("pynn_brian2", sys.modules[__name__])
    main(*sys.argv[1:])
