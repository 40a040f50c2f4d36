"""PyNN's standard cell, synapse and connector types, as plain descriptions (no simulator state).

Units are PyNN's: ms, mV, nA, nF, Hz. A connector turns (pre, post) selections into
(i, j, weight, delay) rows in the selections' own indices; the projection fills missing weights
and delays from its synapse type. Only what neurodeploy can map is here; anything else raises
`UnsupportedNode` when used (`neurodeploy.pynn.build`).
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidModel, UsageError


class CellType:
    default_parameters: dict = {}
    default_initial_values: dict = {}
    is_source = False

    def __init__(self, **parameters):
        unknown = set(parameters) - set(self.default_parameters)
        if unknown:
            raise UsageError(f"{type(self).__name__} has no parameter(s) {sorted(unknown)}",
                             hint=f"parameters: {', '.join(self.default_parameters)}")
        self.parameters = {**self.default_parameters, **parameters}

    @property
    def name(self) -> str:
        return type(self).__name__


class IF_curr_exp(CellType):
    """Current-based LIF with exponential synaptic currents (PyNN's defaults)."""
    default_parameters = {"cm": 1.0, "tau_m": 20.0, "tau_syn_E": 5.0, "tau_syn_I": 5.0, "tau_refrac": 0.1,
                          "v_rest": -65.0, "v_reset": -65.0, "v_thresh": -50.0, "i_offset": 0.0}
    default_initial_values = {"v": -65.0}


class IF_cond_exp(CellType):
    """Conductance-based LIF: described so that a script using it gets a clear refusal."""
    default_parameters = {"cm": 1.0, "tau_m": 20.0, "tau_syn_E": 5.0, "tau_syn_I": 5.0, "tau_refrac": 0.1,
                          "v_rest": -65.0, "v_reset": -65.0, "v_thresh": -50.0, "i_offset": 0.0,
                          "e_rev_E": 0.0, "e_rev_I": -70.0}
    default_initial_values = {"v": -65.0}


class SpikeSourceArray(CellType):
    default_parameters = {"spike_times": ()}
    is_source = True


class SpikeSourcePoisson(CellType):
    default_parameters = {"rate": 1.0, "start": 0.0, "duration": 1e10}
    is_source = True


class StaticSynapse:
    def __init__(self, weight=0.0, delay=None):
        self.weight, self.delay = weight, delay

    plastic = False


class SpikePairRule:
    def __init__(self, tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.01):
        self.tau_plus, self.tau_minus, self.A_plus, self.A_minus = tau_plus, tau_minus, A_plus, A_minus


class AdditiveWeightDependence:
    """Δw = A±·trace (sPyNNaker) or w_max·A±·trace (PyNN, ``setup(dialect="pynn")``), clipped to
    [w_min, w_max]."""

    def __init__(self, w_min=0.0, w_max=1.0):
        self.w_min, self.w_max = w_min, w_max


class MultiplicativeWeightDependence(AdditiveWeightDependence):
    """Δw⁺ = A+·(w_max - w), Δw⁻ = -A-·(w - w_min): accepted by the API, refused by the targets."""


class STDPMechanism:
    plastic = True

    def __init__(self, timing_dependence=None, weight_dependence=None, voltage_dependence=None,
                 dendritic_delay_fraction=1.0, weight=0.0, delay=None):
        if voltage_dependence is not None:
            raise UsageError("STDPMechanism: voltage-dependent rules are not supported")
        if dendritic_delay_fraction not in (0, 1):
            raise UsageError(f"STDPMechanism: dendritic_delay_fraction must be 0 (axonal) or 1 (dendritic), "
                             f"got {dendritic_delay_fraction!r}")
        self.dendritic = dendritic_delay_fraction == 1
        self.timing_dependence, self.weight_dependence = timing_dependence, weight_dependence
        self.weight, self.delay = weight, delay


def _pairs(i, j):
    return np.stack([np.asarray(i, np.int64).ravel(), np.asarray(j, np.int64).ravel()], axis=1)


class Connector:
    """Rows (i, j) plus optional per-row weight and delay (NaN = the synapse type's)."""

    def connect(self, pre_ids, post_ids, rng):
        raise NotImplementedError


class OneToOneConnector(Connector):
    def connect(self, pre_ids, post_ids, rng):
        if len(pre_ids) != len(post_ids):
            raise InvalidModel(f"OneToOneConnector needs equal sizes, got {len(pre_ids)} -> {len(post_ids)}")
        n = len(pre_ids)
        return _pairs(np.arange(n), np.arange(n)), None, None


class AllToAllConnector(Connector):
    def __init__(self, allow_self_connections=True):
        self.allow_self_connections = allow_self_connections

    def connect(self, pre_ids, post_ids, rng):
        i, j = np.meshgrid(np.arange(len(pre_ids)), np.arange(len(post_ids)), indexing="ij")
        keep = np.ones(i.shape, bool) if self.allow_self_connections else _not_self(pre_ids, post_ids)
        return _pairs(i[keep], j[keep]), None, None


class FixedProbabilityConnector(AllToAllConnector):
    def __init__(self, p_connect, allow_self_connections=True, rng=None):
        super().__init__(allow_self_connections)
        if not 0 <= p_connect <= 1:
            raise UsageError(f"FixedProbabilityConnector: p_connect must be in [0, 1], got {p_connect!r}")
        self.p_connect, self.rng = p_connect, rng

    def connect(self, pre_ids, post_ids, rng):
        keep = (rng.random((len(pre_ids), len(post_ids))) < self.p_connect)
        if not self.allow_self_connections:
            keep &= _not_self(pre_ids, post_ids)
        i, j = np.nonzero(keep)
        return _pairs(i, j), None, None


class FromListConnector(Connector):
    def __init__(self, conn_list, column_names=None, safe=True):
        rows = [tuple(r) for r in conn_list]
        widths = {len(r) for r in rows}
        if len(widths) > 1 or (widths and widths.pop() not in (2, 3, 4)):
            raise UsageError("FromListConnector: every row must be (i, j[, weight[, delay]])")
        self.rows = np.array(rows, float).reshape(len(rows), -1)
        names = column_names or ("weight", "delay")[: max(0, self.rows.shape[1] - 2)]
        self.columns = {n: self.rows[:, 2 + k] for k, n in enumerate(names)}

    def connect(self, pre_ids, post_ids, rng):
        ij = self.rows[:, :2]
        if len(ij) and (np.any(ij != np.round(ij)) or ij[:, 0].min() < 0 or ij[:, 1].min() < 0
                        or ij[:, 0].max() >= len(pre_ids) or ij[:, 1].max() >= len(post_ids)):
            raise InvalidModel(f"FromListConnector: indices must be integers within {len(pre_ids)} x "
                               f"{len(post_ids)}")
        return ij.astype(np.int64), self.columns.get("weight"), self.columns.get("delay")


def _not_self(pre_ids, post_ids):
    """True where the pre and post cells differ (ids are (population id, index) pairs)."""
    return ~np.all(pre_ids[:, None, :] == post_ids[None, :, :], axis=2)
