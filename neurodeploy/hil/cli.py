"""`neurodeploy hil info|run|replay`: a board (or the emulator) over a serial port."""
from __future__ import annotations

import json

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import UsageError
from .client import Board, Incomplete, save_partial
from .link import Link
from .record import Recorder, replay

out = Console()
err = Console(stderr=True)


def cmd_info(args) -> None:
    link = Link(args.port, baud=args.baud)
    try:
        board = Board(link)
        info = board.connect()
    finally:
        link.close()
    out.print_json(json.dumps({"hello": board.hello, "info": info}))


def cmd_run(args) -> None:
    from .. import artifact as art
    from ..cli import _load_input

    a = art.Artifact(args.artifact)
    x = _load_input(args.input)
    rec = Recorder(args.record) if args.record else None
    link = Link(args.port, baud=args.baud, recorder=rec)
    try:
        with Progress(TextColumn("[bold]board"), BarColumn(), TextColumn("{task.completed}/{task.total} ticks"),
                      TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task("run", total=None)
            res = Board(link).run(a.path, x, record=args.record_node, steps=args.steps,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    except Incomplete as e:
        err.print(f"[yellow]partial output ({e.ticks} of {e.total} ticks) -> {save_partial(args.out, e)}")
        raise
    finally:
        link.close()
        if rec:
            rec.close()
    res.save_npz(args.out)
    out.print(f"ran {args.artifact} on {res.extra.get('board')} ({res.extra['link']['retransmits']} retransmits, "
              f"{res.extra['recoveries']} recoveries) -> {args.out}")


def cmd_replay(args) -> None:
    from contextlib import nullcontext

    from .rig import emulator

    with (nullcontext(args.port) if args.port else emulator(args.board)) as port:
        link = Link(port, baud=args.baud)
        try:
            rep = replay(args.file, link)
        finally:
            link.close()
    out.print(f"{rep.sent} requests re-sent, {rep.same} answers as recorded, {rep.ticks} output ticks compared")
    for what, before, now in rep.differ[:20]:
        out.print(f"[red]differs[/] {what}: recorded {before} / now {now}")
    if rep.differ:
        raise UsageError(f"{len(rep.differ)} answer(s) differ from the recording", where=args.file)


def add_parsers(sub, parents: list) -> None:
    """Register ``hil`` and its subcommands on the main parser's subparsers (`parents`: the flags
    every command takes)."""
    hil = sub.add_parser("hil", help="hardware-in-the-loop: a board over a serial port",
                         parents=parents).add_subparsers(dest="hil_command", required=True)

    def add(name, help):  # noqa: A002 (argparse's name)
        return hil.add_parser(name, help=help, parents=parents)

    def port_args(sp, required=True):
        sp.add_argument("--port", required=required, help="serial device of the board, e.g. /dev/ttyACM0")
        sp.add_argument("--baud", type=int, default=3000000)

    sp = add("info", help="HELLO and INFO: target, firmware, capabilities, limits")
    port_args(sp)
    sp.set_defaults(fn=cmd_info)

    sp = add("run", help="run an artifact on the board, ticks streamed both ways")
    sp.add_argument("artifact")
    port_args(sp)
    sp.add_argument("--input", required=True)
    sp.add_argument("--steps", type=int)
    sp.add_argument("--record-node", nargs="+", metavar="NODE", default=[], help="nodes to record (default outputs)")
    sp.add_argument("--record", metavar="FILE", help="record every exchange over the link to FILE (JSON lines)")
    sp.add_argument("--out", required=True, help="OUT.npz; on a link failure OUT.incomplete.npz holds what arrived")
    sp.set_defaults(fn=cmd_run)

    sp = add("replay", help="re-send a recorded exchange to a board (default: a fresh emulator)")
    sp.add_argument("file")
    port_args(sp, required=False)
    sp.add_argument("--board", default="spinnaker2", help="emulator board profile when no --port is given")
    sp.set_defaults(fn=cmd_replay)
