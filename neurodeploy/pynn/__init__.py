"""A PyNN-compatible front-end: ``import neurodeploy.pynn as sim`` (docs/pynn.md).

    sim.setup(timestep=1.0, target="reference")     # or target="spinnaker2"
    pop = sim.Population(10, sim.IF_curr_exp(tau_m=3.0), label="exc")
    sim.Projection(src, pop, sim.OneToOneConnector(), sim.StaticSynapse(weight=6.0, delay=1.0))
    pop.record("spikes"); sim.run(90.0); block = pop.get_data()       # a neo.Block
    sim.export("net.nir")                                              # NIR + Semantics

The API surface follows PyNN 0.13 (PyPI ``PyNN``) for what published SpiNNaker models use, and
accepts the sPyNNaker dialect (``Population.set(v=...)``, positive inhibitory weights, ``range``
view selectors). The classes are this package's own: PyNN's need a simulator backend module and
lazyarray machinery that a graph compiler does not use. Network -> NIR: `build`; runs: `runner`.
"""
from __future__ import annotations

from .. import ir
from .model import (AdditiveWeightDependence, AllToAllConnector, FixedProbabilityConnector, FromListConnector,
                    IF_cond_exp, IF_curr_exp, MultiplicativeWeightDependence, OneToOneConnector,
                    SpikePairRule, SpikeSourceArray, SpikeSourcePoisson, STDPMechanism, StaticSynapse)
from .network import Assembly, Population, PopulationView, Projection
from . import build, state

__all__ = ["setup", "run", "run_until", "end", "get_current_time", "get_time_step", "export", "export_graph", "last_result",
           "Population", "PopulationView", "Assembly", "Projection", "IF_curr_exp", "IF_cond_exp",
           "SpikeSourceArray", "SpikeSourcePoisson", "StaticSynapse", "STDPMechanism", "SpikePairRule",
           "AdditiveWeightDependence", "MultiplicativeWeightDependence", "OneToOneConnector",
           "AllToAllConnector", "FromListConnector", "FixedProbabilityConnector"]


def setup(timestep=1.0, min_delay="auto", max_delay=None, target="reference", seed=None, dialect="spynnaker",
          **extra):
    """Start a new simulation (ms); `target` picks where `run` executes; `dialect` how STDP
    amplitudes read: ``"spynnaker"`` (default) Δw = A± x trace in weight units, as sPyNNaker
    writes A± (weight_dependence_additive.py: A_plus x the weight scale); ``"pynn"`` Δw = w_max x
    A± x trace (PyNN's definition, pyNN.brian2 and NEST)."""
    state.start(timestep, target, seed, dialect)
    return 0


def run(simtime, callbacks=None):
    return state.current().run(float(simtime))


def run_until(time_point, callbacks=None):
    sim = state.current()
    return sim.run(float(time_point) - sim.t)


def end(compatible_output=True):
    state.end()


def get_current_time() -> float:
    return state.current().t


def get_time_step() -> float:
    return state.current().dt


def last_result():
    """The target's `Result` of the last run (counters, cycles, energy inputs): a neurodeploy extension."""
    run = state.current().last
    return None if run is None else run.extra["result"]


def export_graph():
    """The network as `frontends.Export(graph, semantics)`."""
    return build.export(state.current())


def export(path) -> None:
    """Write the network to a `.nir` file (semantics in its metadata: compiles with no flags)."""
    ir.write(path, export_graph().graph)
