"""One exception family. Every message says what was wrong, where (node or file), and what to do.

The CLI maps `exit_code` straight to the process exit status (see the CLI contract in README.md).
"""
from __future__ import annotations


class NeuroDeployError(Exception):
    """Base of every error neurodeploy raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.where = where
        self.hint = hint
        text = message
        if where:
            text = f"{where}: {text}"
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class UsageError(NeuroDeployError):
    """Wrong command-line use or API arguments."""

    exit_code = 2


class InvalidModel(NeuroDeployError):
    """The model file or graph is malformed, inconsistent or has bad parameters."""

    exit_code = 3


class UnsupportedNode(InvalidModel):
    """A node type the chosen target (or neurodeploy) cannot carry."""


class UnsupportedSemantics(UnsupportedNode):
    """A semantics option (reset, integrator, ...) or neuron type the target does not model."""


class ResourceExceeded(NeuroDeployError):
    """The network does not fit the target: a named design rule with needed vs available."""

    exit_code = 4

    def __init__(self, rule: str, needed, available, *, where: str | None = None, hint: str | None = None):
        self.rule, self.needed, self.available = rule, needed, available
        super().__init__(f"design rule '{rule}' violated: needs {needed}, target has {available}",
                         where=where, hint=hint)


class TargetError(NeuroDeployError):
    """The target, its engine or its data could not be used (missing engine, bad artifact, ...)."""

    exit_code = 5


class LinkError(TargetError):
    """A hardware or engine link failed (serial rig, runner process)."""


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


class BudgetExceeded(UsageError):
    """An allocation sized by the input (a declared shape, a step count) is over the memory budget."""

    def __init__(self, what: str, needed: int, available: int, *, where: str | None = None):
        self.rule, self.needed, self.available = "memory_budget", needed, available
        super().__init__(f"{what} needs {_bytes(needed)}, above the memory budget of {_bytes(available)}",
                         where=where, hint="raise it with --memory-budget SIZE or $NEURODEPLOY_MEMORY_BUDGET, "
                                           "or shrink the input")


class Busy(UsageError):
    """Another neurodeploy process holds the lock of the artifact directory for longer than the timeout."""
