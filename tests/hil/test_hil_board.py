"""The board's output equals the simulator's, bit for bit, on a clean line and under every fault
the issue names (emulator only); a spent retry budget ends in a LinkError with a partial file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy.errors import LinkError, TargetError
from neurodeploy.hil import commands as cmd
from neurodeploy.hil.record import exchanges, tick_records

from hil_examples import T, assert_same, examples  # noqa: F401 (fixture)


def run_hil(examples, target, port, **options):
    d, x, sim = examples[target]
    return bk.run(d, x, engine="hil", engine_options={"port": port, **options}), sim


@pytest.mark.hil
@pytest.mark.parametrize("hil_target", ["spinnaker2", "loihi2"])
def test_board_equals_simulator(examples, hil_target, hil_port):
    res, sim = run_hil(examples, hil_target, hil_port)
    assert_same(res, sim)
    assert res.counters["spikes"] == sim.counters["spikes"]


@pytest.mark.hil(board="spinnaker2", target="spinnaker2")
def test_spinnaker2_one_tick_output_lag_is_removed(examples, hil_port, tmp_path):
    """On the wire the board's outputs come one tick late (the chip's quirk); the host drops it."""
    rec = tmp_path / "link.jsonl"
    res, sim = run_hil(examples, "spinnaker2", hil_port, record_file=str(rec))
    assert_same(res, sim)
    fields, wire = None, {}
    for kind, _, answer in exchanges(rec):
        if kind == cmd.RUN:
            fields = [cmd.Field(f["name"], f["kind"], tuple(f["shape"]), f["dtype"])
                      for f in cmd.jload(answer[1:])["fields"]]
        elif kind == cmd.TICKS and answer:
            wire.update(tick_records(answer[1:], fields))
    assert sorted(wire) == list(range(T + 1))
    name = next(f.name for f in fields if f.kind == "spikes")
    i = [f.name for f in fields].index(name)
    on_wire = np.stack([cmd.decode_outputs(wire[t], 0, fields)[0][i] for t in range(T + 1)])
    assert not on_wire[0].any()
    assert np.array_equal(on_wire[1:], sim.spikes[name])


FAULTS = {  # name: (emulator faults, proof that the fault fired)
    "corrupted bytes": (["corrupt=0.003", "seed=1"], lambda e: e["link"]["retransmits"] > 0),
    "dropped bytes": (["drop=0.003", "seed=2"], lambda e: e["link"]["retransmits"] > 0),
    "duplicated bytes": (["duplicate=0.003", "seed=3"], lambda e: e["link"]["retransmits"] > 0),
    "delayed bytes": (["delay=0.0005", "delay_s=0.2", "seed=4"], lambda e: e["link"]["timeouts"] > 0),
    "reset mid-run": (["reset_at=25"], lambda e: e["recoveries"] == 1),
    "reset after outputs arrived": (["reset_after_output=40"], lambda e: e["recoveries"] == 1),
    "port vanishes and returns": (["unplug_at=20", "unplug_s=0.3"], lambda e: e["link"]["reopens"] == 1),
}


@pytest.mark.parametrize("fault", [pytest.param(k, marks=pytest.mark.hil(faults=f, board="loihi2", target="loihi2"))
                                   for k, (f, _) in FAULTS.items()])
def test_recovers_with_no_lost_or_duplicated_spike(examples, hil_port, fault):
    res, sim = run_hil(examples, "loihi2", hil_port, max_payload=24)  # 6 ticks a frame: outputs flow mid-run
    assert_same(res, sim)
    assert FAULTS[fault][1](res.extra), res.extra


@pytest.mark.hil(faults=["reset_after_output=40"], target="loihi2")
def test_reset_after_outputs_resumes_from_the_first_missing_tick(examples, hil_port, tmp_path):
    rec = tmp_path / "link.jsonl"
    # 24-byte frames carry one output tick each, so the answer that would carry tick 40 starts at 40
    res, sim = run_hil(examples, "loihi2", hil_port, record_file=str(rec), max_payload=24)
    assert_same(res, sim)
    runs = [cmd.jload(p) for kind, p, _ in exchanges(rec) if kind == cmd.RUN]
    assert [r["resume_from"] for r in runs] == [0, 40]


@pytest.mark.hil(faults=["protocol=2.0"], target="loihi2")
def test_other_firmware_version_is_refused_at_once(examples, hil_port, tmp_path):
    rec = tmp_path / "link.jsonl"
    with pytest.raises(LinkError, match=r"protocol 2\.0.*this host speaks 1\.0"):
        run_hil(examples, "loihi2", hil_port, record_file=str(rec))
    events = [json.loads(line) for line in rec.read_text().splitlines()]
    answered = next(i for i, e in enumerate(events) if e["dir"] == "rx" and e["name"] == "HELLO")
    assert not [e for e in events[answered:] if e["dir"] == "tx"]  # nothing sent after HELLO's answer


@pytest.mark.hil(faults=["stuck_words=3"], target="loihi2")
def test_state_that_does_not_clear_stops_the_run(examples, hil_port):
    with pytest.raises(TargetError, match="3 of 4096 words still set"):
        run_hil(examples, "loihi2", hil_port)


@pytest.mark.hil(faults=["unplug_at=59", "unplug_s=5"], target="loihi2")
def test_spent_budget_is_a_link_error_with_an_incomplete_file(examples, hil_port, tmp_path):
    out = tmp_path / "out.npz"
    with pytest.raises(LinkError, match="did not come back within 0.5 s"):
        run_hil(examples, "loihi2", hil_port, reconnect_s=0.5, max_payload=24, partial_out=str(out))
    assert not out.exists()
    with np.load(tmp_path / "out.incomplete.npz") as z:
        assert bool(z["incomplete"]) and int(z["ticks_requested"]) == T
        n = int(z["ticks_received"])  # outputs lag inputs by the board's pipeline: some, not all
        assert n < T
        _, _, sim = examples["loihi2"]
        for k, v in sim.spikes.items():
            assert np.array_equal(z[f"{k}.spikes"], v[:n])
