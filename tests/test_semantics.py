"""`Semantics`: defaults, validation of every field, times as whole steps, backward-compatible dicts."""
from __future__ import annotations

import pytest

from neurodeploy.errors import InvalidModel, UsageError
from neurodeploy.semantics import Semantics, to_steps

OLD_MANIFEST = {"dt": 0.001, "reset": "subtract", "integrator": "euler", "reset_timing": "next_step"}


def test_defaults_are_unchanged():
    s = Semantics()
    assert (s.dt, s.reset, s.integrator, s.reset_timing) == (1e-4, "v_reset", "exact", "same_step")
    assert (s.refractory, s.synaptic_delay) == (0.0, 0.0)
    assert s.non_default() == {}


def test_old_manifest_dict_loads_and_round_trips_byte_for_byte():
    s = Semantics.from_dict(OLD_MANIFEST)
    assert (s.refractory, s.synaptic_delay) == (0.0, 0.0)
    assert s.to_dict() == OLD_MANIFEST  # new fields at their defaults are not written
    assert list(s.to_dict()) == ["dt", "reset", "integrator", "reset_timing"]


def test_new_fields_are_written_when_set():
    s = Semantics(dt=1e-3, refractory=2e-3, synaptic_delay=1e-3)
    assert s.to_dict() == {"dt": 1e-3, "reset": "v_reset", "integrator": "exact", "reset_timing": "same_step",
                           "refractory": 2e-3, "synaptic_delay": 1e-3}
    assert Semantics.from_dict(s.to_dict()) == s
    assert s.non_default() == {"dt": 1e-3, "refractory": 2e-3, "synaptic_delay": 1e-3}
    assert (s.refractory_steps, s.delay_steps) == (2, 1)


def test_seconds_to_steps():
    assert to_steps(3e-4, 1e-4, "delay") == 3  # 3e-4 / 1e-4 = 2.9999999999999996 in floating point
    assert to_steps(0.0, 1e-4, "delay") == 0
    assert to_steps(2e-3, 1e-3, "delay") == 2
    with pytest.raises(InvalidModel, match=r"proj: delay 0.00015 s is not a whole number of steps of dt "
                                           r"0.0001 s \(1.5 steps\).*use 0.0001 s or 0.0002 s"):
        to_steps(1.5e-4, 1e-4, "delay", where="proj")
    with pytest.raises(InvalidModel, match="non-negative"):
        to_steps(-1e-4, 1e-4, "delay")


@pytest.mark.parametrize("kw, message", [
    (dict(dt=-1e-3), "dt must be a positive"),
    (dict(dt=0), "dt must be a positive"),
    (dict(dt=float("nan")), "dt must be a positive"),
    (dict(dt="1e-3"), "dt must be a positive"),
    (dict(dt=True), "dt must be a positive"),
    (dict(reset="sideways"), "reset must be one of"),
    (dict(integrator="rk4"), "integrator must be one of"),
    (dict(reset_timing="later"), "reset_timing must be one of"),
    (dict(refractory=-1e-4), "refractory must be a non-negative"),
    (dict(refractory=1.5e-4), r"refractory 0.00015 s is not a whole number of steps of dt 0.0001 s"),
    (dict(synaptic_delay=float("inf")), "synaptic_delay must be a non-negative"),
    (dict(dt=1e-3, synaptic_delay=1e-4), r"synaptic_delay 0.0001 s is not a whole number .* \(0.1 steps\)"),
])
def test_every_field_is_validated(kw, message):
    with pytest.raises(UsageError, match=message):
        Semantics(**kw)


def test_with_keeps_unset_fields():
    s = Semantics(dt=1e-3, refractory=1e-3).with_(reset="zero", dt=None)
    assert (s.dt, s.reset, s.refractory) == (1e-3, "zero", 1e-3)
