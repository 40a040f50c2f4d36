"""Energy estimation: counted events x sourced per-target coefficients (see docs/energy.md)."""
from .baseline import baseline
from .compare import compare_targets, estimate_artifact
from .counters import check_counters, implied_counters
from .model import Coefficient, EnergyReport, Joules, Line, estimate
from .neurobench import neurobench_metrics

__all__ = ["baseline", "compare_targets", "estimate_artifact", "check_counters", "implied_counters",
           "Coefficient", "EnergyReport", "Joules", "Line", "estimate", "neurobench_metrics"]
