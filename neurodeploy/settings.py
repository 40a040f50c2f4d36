"""A setting a command-line flag gives for one command, else an environment variable, else a default
(the memory budget, the artifact lock timeout)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Setting(Generic[T]):
    def __init__(self, name: str, env: str, default: T, parse: Callable[..., T]):
        self.env, self.default, self.parse = env, default, parse
        self._var: ContextVar[T | None] = ContextVar(name, default=None)

    def get(self) -> T:
        given = self._var.get()
        if given is not None:
            return given
        text = os.environ.get(self.env)
        return self.parse(text, what=f"${self.env}") if text else self.default

    @contextmanager
    def given(self, value: T | None):
        """Within the block the setting is `value` (None: unchanged)."""
        token = self._var.set(self._var.get() if value is None else value)
        try:
            yield
        finally:
            self._var.reset(token)
