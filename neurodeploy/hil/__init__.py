"""Hardware-in-the-loop: the host side of the serial protocol in hil/PROTOCOL.md.

Layers, bottom up: `framing` (COBS + CRC32 frames, resync after garbage), `link` (sequence numbers,
ACK/NAK, retransmission with timeouts, port reopen, record), `commands` (payload formats),
`client` (HELLO/INFO, LOAD, ZERO, RUN, COUNTERS, RESET and recovery from board resets),
`engine` (the core's ``hil`` engine) and `cli` (``neurodeploy hil ...``). The board side, the
emulator CI uses in place of a board, is hil/emulator.py.
"""
