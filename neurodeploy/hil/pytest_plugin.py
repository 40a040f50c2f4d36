"""pytest plugin for the HIL suite: ``--hil-port PORT --hil-target T`` and the ``hil`` marker.

With ``--hil-port`` the suite talks to that board (a real one); without it, each test that asks
for `hil_port` gets the board emulator on a fresh pty (faults from the ``hil_faults`` marker
argument list, e.g. ``@pytest.mark.hil(faults=["corrupt=0.01"], target="loihi2")``). Registered for the suite in
tests/conftest.py (``pytest_plugins``)."""
from __future__ import annotations

import pytest


def pytest_addoption(parser) -> None:
    g = parser.getgroup("hil", "hardware in the loop")
    g.addoption("--hil-port", help="serial port of a board; without it the board emulator runs on a pty")
    g.addoption("--hil-target", help="target of the board on --hil-port (runs only that target's examples)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "hil(faults=[], board=NAME, target=T): a test against a board; faults "
                                       "and board apply to the emulator only, target says which board it needs")


def pytest_collection_modifyitems(config, items) -> None:
    """Against a real board: skip what needs the emulator (faults) or another target."""
    if not config.getoption("--hil-port"):
        return
    target = config.getoption("--hil-target")
    for item in items:
        marker = item.get_closest_marker("hil")
        if marker is None:
            continue
        wanted = marker.kwargs.get("target") or getattr(item, "callspec", None) and item.callspec.params.get("hil_target")
        if marker.kwargs.get("faults"):
            item.add_marker(pytest.mark.skip(reason="fault injection needs the emulator"))
        elif target and wanted and wanted != target:
            item.add_marker(pytest.mark.skip(reason=f"the board on --hil-port is a {target}, this test needs {wanted}"))


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
