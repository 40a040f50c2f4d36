"""The neurodeploy dialect: node types NIR 1.0.8 lacks, stored in ordinary `.nir` files.

Each type is a dataclass subclassing `nir.NIRNode`, so graphs mix them freely with stock nodes.
Files carrying one are written with the node ``type`` string ``"neurodeploy.<Name>"`` and a
sentinel node that makes a stock ``nir.read`` fail with a message naming neurodeploy (see
docs/dialect.md for the layout, the equations and how to add a type).

Class flags, read by later passes:
- ``is_neuron``: a cell with per-unit state (counted as neurons, placed like neuron layers);
- ``stateful``: carries state across steps (token shift, WKV accumulators, traces);
- ``host``: runs on the host by default (real-valued ops no neuromorphic core has natively);
- ``FIELDS``: field name -> value kind, how the reader checks the stored datasets;
- ``REFS``: fields that hold names of other nodes (prefixed when subgraphs are flattened).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np

from ..errors import InvalidModel

VERSION = 1
TYPE_PREFIX = "neurodeploy."


def _vec(name: str, a: np.ndarray, n: int | None = None) -> int:
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        want = f"({n},)" if n is not None else "a vector"
        raise InvalidModel(f"{name} must be {want}, got shape {a.shape}")
    return a.shape[0]


def _mat(name: str, a: np.ndarray, rows: int | None = None, cols: int | None = None) -> tuple[int, int]:
    if a.ndim != 2 or (rows is not None and a.shape[0] != rows) or (cols is not None and a.shape[1] != cols):
        want = f"({rows if rows is not None else 'any'}, {cols if cols is not None else 'any'})"
        raise InvalidModel(f"{name} must be a matrix {want}, got shape {a.shape}")
    return a.shape


def _types(node: nir.NIRNode, n_in: int, n_out: int) -> None:
    node.input_type = {"input": np.array([n_in])}
    node.output_type = {"output": np.array([n_out])}


class DialectNode:
    """Mixin marking neurodeploy dialect types (the defaults of the class flags)."""

    is_neuron: ClassVar[bool] = False
    stateful: ClassVar[bool] = False
    host: ClassVar[bool] = False
    FIELDS: ClassVar[dict[str, str]] = {}
    REFS: ClassVar[tuple[str, ...]] = ()


@dataclass(eq=False)
class EGRU(DialectNode, nir.NIRNode):
    """Event-based GRU layer (Subramoney et al., ICLR 2023): graded events, subtractive reset.

    Gate rows of W, R, b_W, b_R are ordered [u, r, z], each block ``hidden`` rows.
    """

    W: np.ndarray  # (3h, n_in)
    R: np.ndarray  # (3h, h)
    b_W: np.ndarray  # (3h,)
    b_R: np.ndarray  # (3h,)
    threshold: np.ndarray  # (h,)

    is_neuron: ClassVar[bool] = True
    stateful: ClassVar[bool] = True
    FIELDS: ClassVar[dict[str, str]] = dict.fromkeys(("W", "R", "b_W", "b_R", "threshold"), "array")

    def __post_init__(self):
        h = _vec("threshold", self.threshold)
        _, n_in = _mat("W", self.W, rows=3 * h)
        _mat("R", self.R, rows=3 * h, cols=h)
        _vec("b_W", self.b_W, 3 * h)
        _vec("b_R", self.b_R, 3 * h)
        _types(self, n_in, h)


@dataclass(eq=False)
class RWKVTimeMix(DialectNode, nir.NIRNode):
    """SpikeGPT/RWKV-v4 time-mix: token shift, k/v/r projections, WKV recurrence, output W_o."""

    mu_k: np.ndarray  # (d,)
    mu_v: np.ndarray  # (d,)
    mu_r: np.ndarray  # (d,)
    W_k: np.ndarray  # (a, d)
    W_v: np.ndarray  # (a, d)
    W_r: np.ndarray  # (a, d)
    W_o: np.ndarray  # (d, a)
    time_decay: np.ndarray  # (a,)  w = -exp(time_decay)
    time_first: np.ndarray  # (a,)  u

    stateful: ClassVar[bool] = True
    host: ClassVar[bool] = True
    FIELDS: ClassVar[dict[str, str]] = dict.fromkeys(
        ("mu_k", "mu_v", "mu_r", "W_k", "W_v", "W_r", "W_o", "time_decay", "time_first"), "array")

    def __post_init__(self):
        d = _vec("mu_k", self.mu_k)
        _vec("mu_v", self.mu_v, d)
        _vec("mu_r", self.mu_r, d)
        a, _ = _mat("W_k", self.W_k, cols=d)
        _mat("W_v", self.W_v, a, d)
        _mat("W_r", self.W_r, a, d)
        _mat("W_o", self.W_o, d, a)
        _vec("time_decay", self.time_decay, a)
        _vec("time_first", self.time_first, a)
        _types(self, d, d)


@dataclass(eq=False)
class RWKVChannelMix(DialectNode, nir.NIRNode):
    """SpikeGPT/RWKV-v4 channel-mix (SRFFN): token shift, squared-ReLU key, sigmoid receptance."""

    mu_k: np.ndarray  # (d,)
    mu_r: np.ndarray  # (d,)
    W_k: np.ndarray  # (f, d)
    W_v: np.ndarray  # (d, f)
    W_r: np.ndarray  # (d, d)

    stateful: ClassVar[bool] = True
    host: ClassVar[bool] = True
    FIELDS: ClassVar[dict[str, str]] = dict.fromkeys(("mu_k", "mu_r", "W_k", "W_v", "W_r"), "array")

    def __post_init__(self):
        d = _vec("mu_k", self.mu_k)
        _vec("mu_r", self.mu_r, d)
        f, _ = _mat("W_k", self.W_k, cols=d)
        _mat("W_v", self.W_v, d, f)
        _mat("W_r", self.W_r, d, d)
        _types(self, d, d)


@dataclass(eq=False)
class LayerNorm(DialectNode, nir.NIRNode):
    """Layer normalization over the feature vector (host op)."""

    weight: np.ndarray  # (d,)
    bias: np.ndarray  # (d,)
    eps: float = 1e-5

    host: ClassVar[bool] = True
    FIELDS: ClassVar[dict[str, str]] = {"weight": "array", "bias": "array", "eps": "float"}

    def __post_init__(self):
        d = _vec("weight", self.weight)
        _vec("bias", self.bias, d)
        if not (np.isfinite(self.eps) and self.eps > 0):
            raise InvalidModel(f"eps must be a positive number, got {self.eps!r}")
        self.eps = float(self.eps)
        _types(self, d, d)


@dataclass(eq=False)
class Embedding(DialectNode, nir.NIRNode):
    """Token embedding lookup: input is one token index per step, output its row (host op)."""

    weight: np.ndarray  # (vocab, d)

    host: ClassVar[bool] = True
    FIELDS: ClassVar[dict[str, str]] = {"weight": "array"}

    def __post_init__(self):
        _, d = _mat("weight", self.weight)
        _types(self, 1, d)


@dataclass(eq=False)
class TwoPointCell(DialectNode, nir.NIRNode):
    """Two-point (L5PC) cell, Kay-Phillips transfer A = r * (k1 + (1 - k1) * exp(k2 * r * c)).

    Inputs arriving from the nodes named in ``apical`` sum into the context c; all other inputs
    sum into the basal drive r.
    """

    k1: np.ndarray  # (n,)
    k2: np.ndarray  # (n,)
    apical: tuple[str, ...] = ()

    is_neuron: ClassVar[bool] = True
    FIELDS: ClassVar[dict[str, str]] = {"k1": "array", "k2": "array", "apical": "strs"}
    REFS: ClassVar[tuple[str, ...]] = ("apical",)

    def __post_init__(self):
        n = _vec("k1", self.k1)
        _vec("k2", self.k2, n)
        self.apical = (self.apical,) if isinstance(self.apical, str) else tuple(self.apical)
        if not self.apical or not all(isinstance(a, str) and a for a in self.apical):
            raise InvalidModel("apical must name at least one predecessor node (the context input)")
        _types(self, n, n)


@dataclass(eq=False)
class STDP(DialectNode, nir.NIRNode):
    """Pair-based additive STDP acting on the weight node named ``weight`` (no edges of its own)."""

    weight: str
    tau_plus: float
    tau_minus: float
    a_plus: float
    a_minus: float
    w_min: float
    w_max: float

    stateful: ClassVar[bool] = True
    FIELDS: ClassVar[dict[str, str]] = {"weight": "str", **dict.fromkeys(
        ("tau_plus", "tau_minus", "a_plus", "a_minus", "w_min", "w_max"), "float")}
    REFS: ClassVar[tuple[str, ...]] = ("weight",)

    def __post_init__(self):
        if not isinstance(self.weight, str) or not self.weight:
            raise InvalidModel("weight must name the Affine/Linear node this rule modifies")
        for f in ("tau_plus", "tau_minus", "a_plus", "a_minus", "w_min", "w_max"):
            v = getattr(self, f)
            if not np.isfinite(v):
                raise InvalidModel(f"{f} must be finite, got {v!r}")
            setattr(self, f, float(v))
        if self.tau_plus <= 0 or self.tau_minus <= 0:
            raise InvalidModel("tau_plus and tau_minus must be positive")
        if self.w_min > self.w_max:
            raise InvalidModel(f"w_min {self.w_min} exceeds w_max {self.w_max}")
        # Shapes are the pre/post sizes of the weight node, filled in by shape inference.
        self.input_type = {"input": None}
        self.output_type = {"output": None}


REGISTRY: dict[str, type] = {cls.__name__: cls for cls in
                             (EGRU, RWKVTimeMix, RWKVChannelMix, LayerNorm, Embedding, TwoPointCell, STDP)}


def is_dialect(node) -> bool:
    return isinstance(node, DialectNode)


def type_name(node) -> str:
    """The ``type`` string stored in the file."""
    name = type(node).__name__
    return TYPE_PREFIX + name if is_dialect(node) else name
