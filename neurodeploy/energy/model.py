"""Energy = Σ counted events × per-event energy + static power × units × simulated time.

Every coefficient comes from the target's TOML (``[energy.dynamic]``, ``[energy.static]``) with
its source and confidence; counts come from the Result the target's simulator produced. Where a
coefficient is a range (two sources disagree), the range is carried through as low/point/high:
low and high add up worst-case (the coefficients' errors are treated as fully correlated, which
never understates the spread); point uses each coefficient's point value (geometric middle).
Nothing is guessed: a counter without a coefficient, a coefficient without a counter, a static
power whose unit count is unknown are listed in the report rather than silently priced.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .. import targets as tg
from ..errors import TargetError, UsageError
from ..result import Result

PJ = {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "uJ": 1e-6, "J": 1.0}
WATT = {"uW": 1e-6, "mW": 1e-3, "W": 1.0}
STATIC_SEP = "_power_per_"


@dataclass(frozen=True)
class Joules:
    """An energy with its uncertainty: low <= point <= high, in joules."""

    low: float = 0.0
    point: float = 0.0
    high: float = 0.0

    def __add__(self, other: "Joules") -> "Joules":
        return Joules(self.low + other.low, self.point + other.point, self.high + other.high)

    def __truediv__(self, k: float) -> "Joules":
        return Joules(self.low / k, self.point / k, self.high / k)

    def scale(self, k: float) -> "Joules":
        return Joules(self.low * k, self.point * k, self.high * k)


def total(items) -> Joules:
    return sum(items, Joules())


@dataclass(frozen=True)
class Coefficient:
    """One priced quantity of the target: per event (dynamic) or per unit and second (static)."""

    name: str
    kind: str  # "dynamic" (J per event) or "static" (W per unit)
    low: float
    point: float
    high: float
    unit: str  # as written in the TOML
    source: str
    confidence: str

    def energy(self, count: float) -> Joules:
        return Joules(self.low * count, self.point * count, self.high * count)


@dataclass
class Line:
    """One row of the breakdown: what was counted, how often, and what it cost."""

    name: str
    count: float
    energy: Joules
    coefficient: Coefficient


@dataclass
class EnergyReport:
    target: str
    description: str
    total: Joules
    dynamic: Joules
    static: Joules
    by_event: dict[str, Line]
    static_lines: dict[str, Line]
    per_layer: dict[str, dict[str, Joules]]
    per_unit: dict[str, Joules]
    layer_counters: dict[str, dict[str, float]]
    unit_counters: dict[str, dict[str, float]]
    batch: int | None
    steps: int | None
    inferences: int | None
    per_inference: Joules | None
    per_step: Joules | None
    per_token: Joules | None
    sim_time_s: float
    assumptions: dict[str, str]
    not_priced: list[str]
    not_modelled: list[str]
    warnings: list[str] = field(default_factory=list)
    neurobench: dict | None = None
    baseline: dict | None = None
    accuracy: float | None = None
    unit_xy: dict[str, tuple[int, int]] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def coefficients(target: tg.Target) -> tuple[dict[str, Coefficient], dict[str, Coefficient]]:
    """The target's dynamic (J/event) and static (W/unit) coefficients, converted to SI."""
    dyn, sta = {}, {}
    for name, q in target.section("energy.dynamic").items():
        if q.unit not in PJ:
            raise TargetError(f"energy.dynamic.{name} has unit {q.unit!r}; expected one of {list(PJ)} per event",
                              where=str(target.path))
        k = PJ[q.unit]
        dyn[name] = Coefficient(name, "dynamic", q.low * k, q.value * k, q.high * k, q.unit, q.source, q.confidence)
    for name, q in target.section("energy.static").items():
        if STATIC_SEP not in name or not name.split(STATIC_SEP)[1]:
            raise TargetError(f"energy.static.{name} must be named <what>{STATIC_SEP}<unit> "
                              "(e.g. idle_power_per_chip)", where=str(target.path))
        if q.unit not in WATT:
            raise TargetError(f"energy.static.{name} has unit {q.unit!r}; expected one of {list(WATT)}",
                              where=str(target.path))
        k = WATT[q.unit]
        sta[name] = Coefficient(name, "static", q.low * k, q.value * k, q.high * k, q.unit, q.source, q.confidence)
    return dyn, sta


def run_shape(result: Result) -> tuple[int | None, int | None]:
    """(steps, batch) of the run: stated in Result.extra, else read off any recorded trace."""
    steps, batch = result.extra.get("steps"), result.extra.get("batch")
    for trace in list(result.spikes.values()) + list(result.v.values()):
        if trace.ndim >= 2:
            steps = trace.shape[0] if steps is None else steps
            batch = trace.shape[1] if batch is None else batch
            break
    if steps is None and "ticks" in result.counters:
        steps = int(result.counters["ticks"])
    return steps, batch


def _inferences(per, steps, batch) -> int | None:
    if per in (None, "sample"):
        return batch
    if per == "run":
        return 1
    if per == "token":
        return None if steps is None or batch is None else steps * batch
    if isinstance(per, int) and not isinstance(per, bool) and per > 0:
        return per
    raise UsageError(f"per must be 'sample', 'run', 'token' or a positive int, got {per!r}")


def unmatched(dyn: dict, result: Result) -> tuple[list[str], list[str]]:
    """(counters with no coefficient, coefficients with no counter); ``ticks`` is not an event."""
    return sorted(set(result.counters) - set(dyn) - {"ticks"}), sorted(set(dyn) - set(result.counters))


def assumptions(target: tg.Target, dyn: dict, sta: dict, result: Result) -> dict[str, str]:
    """The report header: timing, voltage and what is and is not counted, in plain words."""
    head = {f"timing.{k}": (f"{q.low:g} {q.unit}" if q.low == q.high else
                            f"{q.low:g} – {q.high:g} {q.unit} (point {q.value:.3g})") + f" ({q.confidence}: {q.source})"
            for k, q in target.section("timing").items()}
    stated = target.get("energy.assumptions", {}) or {}
    head.update({k: str(v) for k, v in stated.items() if not isinstance(v, dict)})
    counted = sorted(set(dyn) & set(result.counters))
    head["counted"] = ", ".join(counted) or "nothing"
    head["static"] = ", ".join(sorted(sta)) or "none in the target file"
    not_priced, not_modelled = unmatched(dyn, result)
    head["not counted"] = "; ".join(
        ([f"counted but unpriced: {', '.join(not_priced)}"] if not_priced else [])
        + ([f"priced but not counted by this simulator: {', '.join(not_modelled)}"] if not_modelled else [])
        + ["host I/O, off-chip input delivery, board power beyond the static figures, learning"])
    head["ranges"] = ("low/high add worst-case (coefficient errors fully correlated); "
                      "point = geometric middle of each coefficient's range")
    return head


def estimate(result: Result, target: str | tg.Target, *, per=None, graph=None, inputs=None,
             activity: Result | None = None, labels=None) -> "EnergyReport":
    """Price `result`'s counters with `target`'s coefficients.

    per: what one inference is: ``"sample"`` (default, one batch sample over all steps), ``"run"``,
    ``"token"`` (one sample-step, the LM convention) or an explicit count. With `graph`, the
    report also carries NeuroBench metrics (from `activity`, default `result`, plus `inputs`) and
    the dense CPU/GPU baseline; with `labels`, the accuracy of the recorded output.
    """
    from .baseline import baseline
    from .neurobench import accuracy, neurobench_metrics

    t = target if isinstance(target, tg.Target) else tg.load(target)
    dyn, sta = coefficients(t)
    warnings: list[str] = []

    by_event = {n: Line(n, float(result.counters[n]), c.energy(result.counters[n]), c)
                for n, c in dyn.items() if n in result.counters}
    units = result.extra.get("units_used", {}) or {}
    static_lines = {}
    for n, c in sta.items():
        unit = n.split(STATIC_SEP)[1]
        if unit not in units:
            warnings.append(f"static power {n} not counted: the result does not say how many '{unit}' "
                            "units were used (Result.extra['units_used'])")
            continue
        count = float(units[unit]) * result.sim_time_s
        static_lines[n] = Line(n, count, c.energy(count), c)
    if static_lines and result.sim_time_s <= 0:
        warnings.append("static energy is zero: the result has no simulated run time (Result.sim_time_s)")

    def price(counters: dict) -> dict[str, Joules]:
        return {n: dyn[n].energy(v) for n, v in counters.items() if n in dyn}

    per_layer = {name: price(c) for name, c in result.per_layer.items()}
    per_unit = {name: total(price(c).values()) for name, c in result.per_unit.items()}

    dynamic = total(l.energy for l in by_event.values())
    static = total(l.energy for l in static_lines.values())
    whole = dynamic + static
    steps, batch = run_shape(result)
    n_inf = _inferences(per, steps, batch)
    if n_inf is None:
        warnings.append("run shape unknown (no recorded trace, no Result.extra steps/batch): "
                        "no per-inference figures")
    samples_steps = steps * batch if steps and batch else None

    rep = EnergyReport(
        target=t.name, description=t.description, total=whole, dynamic=dynamic, static=static,
        by_event=by_event, static_lines=static_lines, per_layer=per_layer, per_unit=per_unit,
        layer_counters={k: dict(v) for k, v in result.per_layer.items()},
        unit_counters={k: dict(v) for k, v in result.per_unit.items()},
        batch=batch, steps=steps, inferences=n_inf,
        per_inference=whole / n_inf if n_inf else None,
        per_step=whole / samples_steps if samples_steps else None,
        per_token=whole / samples_steps if samples_steps and per == "token" else None,
        sim_time_s=result.sim_time_s, assumptions=assumptions(t, dyn, sta, result),
        not_priced=unmatched(dyn, result)[0], not_modelled=unmatched(dyn, result)[1],
        warnings=warnings, unit_xy=result.extra.get("unit_xy"),
    )
    if graph is not None:
        rep.neurobench = neurobench_metrics(graph, activity or result, inputs=inputs)
        rep.baseline = baseline(graph, steps=steps, batch=batch, energy=whole)
        if labels is not None:
            rep.accuracy = accuracy(graph, activity or result, labels)
    return rep
