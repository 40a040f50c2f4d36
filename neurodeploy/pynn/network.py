"""Populations, views, assemblies and projections: what a PyNN script builds.

Each object registers with the current simulation (`neurodeploy.pynn.state`). Cells are named by
(population serial, index) pairs, so views and assemblies of the same cells compare equal (for
``allow_self_connections``). The sPyNNaker dialect is accepted: ``Population.set(v=...)`` sets the
initial voltage, inhibitory weights may be positive magnitudes, and ``range`` objects select views.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidModel, UsageError
from . import model, state

RECORDABLE = ("spikes", "v")


class _Cells:
    """Anything made of cells: pieces = [(Population, indices)]."""

    label: str

    @property
    def size(self) -> int:
        return sum(len(ix) for _, ix in self.pieces)

    def __len__(self):
        return self.size

    @property
    def ids(self) -> np.ndarray:
        return np.concatenate([np.stack([np.full(len(ix), p.serial), ix], 1) for p, ix in self.pieces])

    def __getitem__(self, selector):
        return PopulationView(self, selector)

    def __add__(self, other):
        return Assembly(self, other)

    def record(self, variables, sampling_interval=None, to_file=None):
        names = [variables] if isinstance(variables, str) else list(variables)
        if names == ["all"]:
            names = list(RECORDABLE)
        for p, ix in self.pieces:
            for n in names:
                if n not in RECORDABLE or (n == "v" and p.celltype.is_source):
                    raise UsageError(f"cannot record {n!r} of {p.label!r}",
                                     hint=f"recordable: {', '.join(RECORDABLE)} (spikes only for sources)")
                p.recorded.setdefault(n, set()).update(int(i) for i in ix)

    def get_data(self, variables="all", gather=True, clear=False):
        from .results import block
        return block(self, variables, clear)

    def set(self, **parameters):
        for p, ix in self.pieces:
            p._set(ix, parameters)

    def initialize(self, **initial_values):
        for p, ix in self.pieces:
            p._initialize(ix, initial_values)


class Population(_Cells):
    def __init__(self, size, cellclass, cellparams=None, structure=None, initial_values=None, label=None,
                 constraints=None, additional_parameters=None):
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise UsageError(f"Population size must be a positive integer, got {size!r}", where=label)
        sim = state.current()
        self.celltype = cellclass if isinstance(cellclass, model.CellType) else cellclass(**(cellparams or {}))
        self.serial = len(sim.populations)
        self.label = label or f"population{self.serial}"
        if self.label in {p.label for p in sim.populations}:
            raise UsageError(f"two populations are labelled {self.label!r}", where=self.label,
                             hint="labels name nodes in the exported graph: make them unique")
        self.pieces = [(self, np.arange(size))]
        self.params = {k: _per_cell(v, size, k, self.label) for k, v in self.celltype.parameters.items()
                       if k != "spike_times"}
        if "spike_times" in self.celltype.parameters:
            self.spike_times = _spike_lists(self.celltype.parameters["spike_times"], size, self.label)
        self.initial = {k: np.full(size, float(v)) for k, v in self.celltype.default_initial_values.items()}
        if "v_rest" in self.params:
            self.initial["v"] = self.params["v_rest"].copy()  # PyNN: v starts at v_rest unless set
        self.recorded: dict[str, set] = {}
        self._initialize(np.arange(size), initial_values or {})
        sim.add_population(self)

    @property
    def all_cells(self):
        return self.ids

    def _set(self, ix, parameters):
        state.current().changed(self.label)
        for k, v in parameters.items():
            if k == "v":  # sPyNNaker dialect: set(v=...) is the initial voltage
                self._initialize(ix, {"v": v})
            elif k == "spike_times" and hasattr(self, "spike_times"):
                lists = _spike_lists(v, len(ix), self.label)
                for i, s in zip(ix, lists):
                    self.spike_times[i] = s
            elif k in self.params:
                self.params[k][ix] = _per_cell(v, len(ix), k, self.label)
            else:
                raise UsageError(f"{self.celltype.name} has no parameter {k!r}", where=self.label,
                                 hint=f"parameters: {', '.join(self.celltype.parameters)}")

    def _initialize(self, ix, values):
        for k, v in values.items():
            if k not in self.initial:
                raise UsageError(f"{self.celltype.name} has no state variable {k!r} to initialize",
                                 where=self.label)
            self.initial[k][ix] = _per_cell(v, len(ix), k, self.label)

    def get(self, name):
        return self.params[name].copy()

    def __repr__(self):
        return f"Population({self.size}, {self.celltype.name}, label={self.label!r})"


class PopulationView(_Cells):
    """Cells of a population, view or assembly chosen by an int, slice, ``range``, list or mask."""

    def __init__(self, parent, selector, label=None):
        n = parent.size
        if isinstance(selector, (int, np.integer)):
            idx = np.array([selector])
        elif isinstance(selector, slice):
            idx = np.arange(n)[selector]
        else:
            sel = np.asarray(list(selector) if isinstance(selector, range) else selector)
            idx = np.nonzero(sel)[0] if sel.dtype == bool else sel.astype(np.int64).ravel()
        if len(idx) == 0 or idx.min() < -n or idx.max() >= n:
            raise UsageError(f"view selector {selector!r} is out of range for {n} cells", where=parent.label)
        idx = idx % n
        flat = [(p, i) for p, ix in parent.pieces for i in ix]
        self.parent, self.mask = parent, idx
        self.label = label or f"view of {parent.label}"
        self.pieces = [(p, np.array(list(ix))) for p, ix in _group([flat[i] for i in idx])]
        self.celltype = self.pieces[0][0].celltype

    def __repr__(self):
        return f"PopulationView({self.parent.label!r}, {list(self.mask)})"


class Assembly(_Cells):
    def __init__(self, *populations, label=None):
        self.populations = list(populations)
        self.label = label or "assembly(" + ", ".join(p.label for p in populations) + ")"
        self.pieces = [piece for p in populations for piece in p.pieces]


class Projection:
    def __init__(self, presynaptic_population, postsynaptic_population, connector, synapse_type=None,
                 source=None, receptor_type="excitatory", space=None, label=None):
        sim = state.current()
        pre, post = presynaptic_population, postsynaptic_population
        self.pre, self.post = pre, post
        self.label = label or f"{pre.label}->{post.label}#{len(sim.projections)}"
        self.synapse_type = synapse_type or model.StaticSynapse()
        if receptor_type not in ("excitatory", "inhibitory"):
            raise UsageError(f"receptor_type must be 'excitatory' or 'inhibitory', got {receptor_type!r}",
                             where=self.label)
        for p, _ in post.pieces:
            if p.celltype.is_source:
                raise InvalidModel(f"cannot project onto the spike source {p.label!r}", where=self.label)
        self.receptor_type = receptor_type
        try:
            rows, w, d = connector.connect(pre.ids, post.ids, sim.rng)
        except InvalidModel as e:
            raise InvalidModel(e.message, where=self.label) from None
        self.connector, self.rows = connector, rows
        self.weights = self._fill(w, self.synapse_type.weight, "weight")
        self.delays = self._fill(d, self.synapse_type.delay if self.synapse_type.delay is not None else sim.dt,
                                 "delay")
        self._check()
        sim.add_projection(self)

    def _fill(self, column, default, what):
        values = np.full(len(self.rows), np.nan) if column is None else np.array(column, float)
        base = _per_cell(default, len(self.rows), what, self.label)
        return np.where(np.isnan(values), base, values)

    def _check(self):
        if self.receptor_type == "excitatory" and np.any(self.weights < 0):
            raise InvalidModel("excitatory weights must be >= 0 (an inhibitory connection takes "
                               "receptor_type='inhibitory')", where=self.label)
        if np.any(self.delays <= 0):
            raise InvalidModel(f"delays must be positive (ms), got min {self.delays.min():g}", where=self.label)

    @property
    def sign(self) -> float:
        return -1.0 if self.receptor_type == "inhibitory" else 1.0

    def size(self, gather=True):
        return len(self.rows)

    def __len__(self):
        return len(self.rows)

    def get(self, attribute_names, format="list", gather=True, with_address=True, multiple_synapses="sum"):
        names = [attribute_names] if isinstance(attribute_names, str) else list(attribute_names)
        columns = {"weight": state.current().current_weights(self), "delay": self.delays}
        for n in names:
            if n not in columns:
                raise UsageError(f"Projection.get: unknown attribute {n!r}", where=self.label,
                                 hint="attributes: weight, delay")
        if format == "array":
            out = []
            for n in names:
                a = np.full((self.pre.size, self.post.size), np.nan)
                for (i, j), v in zip(self.rows, columns[n]):
                    a[i, j] = v if np.isnan(a[i, j]) or multiple_synapses == "last" else a[i, j] + v
                out.append(a)
            return out[0] if len(out) == 1 else out
        if format != "list":
            raise UsageError(f"Projection.get: format must be 'list' or 'array', got {format!r}", where=self.label)
        cols = ([self.rows[:, 0], self.rows[:, 1]] if with_address else []) + [columns[n] for n in names]
        return [tuple(float(c[k]) if c.dtype.kind == "f" else int(c[k]) for c in cols) for k in range(len(self.rows))]

    def set(self, **attributes):
        state.current().changed(self.label)
        for k, v in attributes.items():
            if k not in ("weight", "delay"):
                raise UsageError(f"Projection.set: unknown attribute {k!r}", where=self.label)
            setattr(self, k + "s", _per_cell(v, len(self.rows), k, self.label).astype(float))
        self._check()

    def __repr__(self):
        return f"Projection({self.label!r}, {len(self.rows)} connections)"


def _per_cell(value, n, what, where):
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return np.full(n, float(a))
    if a.shape != (n,):
        raise UsageError(f"{what}: expected a scalar or {n} values, got shape {a.shape}", where=where)
    if not np.all(np.isfinite(a)):
        raise InvalidModel(f"{what} must be finite", where=where)
    return a.copy()


def _spike_lists(value, n, where):
    """One sorted list of spike times (ms) per cell: a flat list is shared by every cell."""
    items = list(value)
    nested = items and all(np.ndim(x) == 1 for x in items)
    lists = [list(map(float, x)) for x in items] if nested else [list(map(float, items))] * n
    if len(lists) != n:
        raise UsageError(f"spike_times: expected one list per cell ({n}), got {len(lists)}", where=where)
    for s in lists:
        if any(t < 0 for t in s):
            raise InvalidModel("spike_times must be >= 0 ms", where=where)
    return [sorted(s) for s in lists]


def _group(cells):
    """[(pop, i)] -> [(pop, [i, ...])] keeping order, one group per run of the same population."""
    out = []
    for p, i in cells:
        if out and out[-1][0] is p:
            out[-1][1].append(i)
        else:
            out.append((p, [i]))
    return out
