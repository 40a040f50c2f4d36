"""The memory budget: a stated limit checked *before* an allocation whose size comes from the input.

A 20 KB model can declare a 2**26-wide layer, ``--steps 1e9`` can ask for a 90 GiB trace: sizes
that come from a file or an argument are charged here before the array is made, and a charge over
the budget raises `BudgetExceeded` (exit 2) with needed vs available instead of exhausting memory.

The budget (default `DEFAULT`, 2 GiB) is set by ``--memory-budget SIZE`` on every command, or the
environment variable ``NEURODEPLOY_MEMORY_BUDGET``. Inside `scope()` (the CLI opens one per
command) charges add up, so a command's input-driven allocations together stay below the budget;
outside a scope each charge is checked alone. See docs/artifact.md, "Memory budget".
"""
from __future__ import annotations

import math
import re
from contextlib import contextmanager
from contextvars import ContextVar

from .errors import BudgetExceeded, UsageError
from .settings import Setting

DEFAULT = 2 * 2**30
ENV = "NEURODEPLOY_MEMORY_BUDGET"
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}

_spent: ContextVar[list[int] | None] = ContextVar("memory_spent", default=None)


def parse_size(text: str, *, what: str = "memory budget") -> int:
    """``"512M"``, ``"2G"``, ``"1.5G"``, ``"1000000"`` (bytes) -> bytes; binary units."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise UsageError(f"{what} {text!r} is not a size", hint="e.g. 512M, 2G or a number of bytes")
    n = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not 1 <= n < 2**63:
        raise UsageError(f"{what} {text!r} is out of range [1 byte, 8 EiB)")
    return int(n)


LIMIT = Setting("memory_budget", ENV, DEFAULT, parse_size)


def limit() -> int:
    """The budget in bytes: the one given for this context, else the environment's, else DEFAULT."""
    return LIMIT.get()


@contextmanager
def scope(nbytes: int | None = None):
    """Charges inside add up; `nbytes` (if given) is the budget for the scope."""
    token = _spent.set([0])
    try:
        with LIMIT.given(nbytes):
            yield
    finally:
        _spent.reset(token)


def charge(nbytes: int, what: str, *, where: str | None = None) -> None:
    """Account for an allocation of `nbytes` about to be made; raise if the budget would be exceeded."""
    spent = _spent.get()
    total = int(nbytes) + (spent[0] if spent else 0)
    if total > limit():
        raise BudgetExceeded(what, total, limit(), where=where)
    if spent is not None:
        spent[0] = total


def array_bytes(shape, itemsize: int = 8) -> int:
    """Bytes of an array of `shape` (exact integers: no overflow for absurd declared shapes)."""
    return math.prod(int(d) for d in shape) * int(itemsize)
