"""pytest plugin for the HIL suite: ``--hil-port PORT --hil-target T`` and the ``hil`` marker.

With ``--hil-port`` the suite talks to that board (a real one); without it, each test that asks
for `hil_port` gets the board emulator on a fresh pty (faults from the ``hil_faults`` marker
argument list, e.g. ``@pytest.mark.hil(faults=["corrupt=0.01"])``). Registered for the suite in
tests/conftest.py (``pytest_plugins``)."""
from __future__ import annotations

import pytest


def pytest_addoption(parser) -> None:
    g = parser.getgroup("hil", "hardware in the loop")
    g.addoption("--hil-port", help="serial port of a board; without it the board emulator runs on a pty")
    g.addoption("--hil-target", help="target of the board on --hil-port (runs only that target's examples)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "hil(faults=[], board=NAME): a test against a board; faults and "
                                       "board apply to the emulator only (a real board gets none)")


def pytest_collection_modifyitems(config, items) -> None:
    target = config.getoption("--hil-target")
    if not config.getoption("--hil-port") or not target:
        return
    skip = pytest.mark.skip(reason=f"--hil-port board is a {target}")
    for item in items:
        t = item.callspec.params.get("hil_target") if hasattr(item, "callspec") else None
        if t and t != target:
            item.add_marker(skip)
        if item.get_closest_marker("hil") and item.get_closest_marker("hil").kwargs.get("faults"):
            item.add_marker(pytest.mark.skip(reason="fault injection needs the emulator"))


@pytest.fixture
def hil_port(request):
    """The port of the board under test: --hil-port, or a fresh emulator on a pty."""
    port = request.config.getoption("--hil-port")
    if port:
        yield port
        return
    from .rig import emulator

    marker = request.node.get_closest_marker("hil")
    kw = marker.kwargs if marker else {}
    with emulator(kw.get("board", "spinnaker2"), list(kw.get("faults", []))) as p:
        yield p
