"""One busy client cannot stall the others (issue 10, item 11).

A read of 256 KiB holds ~21,800 pipelined Modbus requests; they used to be answered in one go,
without the loop serving anybody else, for as long as the kernel's send buffer took the
replies. Twenty such clients that never read held another client's reply for seconds. Now a
connection yields after a slice of requests (``RequestPath.SLICE``) and reads no more until its
next turn. The deadline below is generous (a loaded two-core machine); what it rules out is a
reply waiting for whole reads of every flooder.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from tests.helpers import RawModbus

FLOODERS = 20
#: Per flooder: 2 MiB of pipelined one-register reads (~175,000 requests), never read.
FLOOD = struct.pack(">HHHBBHH", 1, 0, 6, 1, 4, 4999, 1) * (2 * 1024 * 1024 // 12)
DEADLINE_S = 5.0


@pytest.mark.slow
def test_a_reading_client_is_answered_while_twenty_pipeliners_flood(
        mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    info = server.get_connection_info("modbus")
    address = (info["host"], info["port"])
    hogs = [socket.create_connection(address, timeout=30) for _ in range(FLOODERS)]
    sent = threading.Barrier(FLOODERS + 1)

    def flood(sock: socket.socket) -> None:
        sock.sendall(FLOOD[:256 * 1024])  # the server is busy with this one already...
        sent.wait()
        with contextlib.suppress(OSError):  # closed by the test when it is done
            sock.sendall(FLOOD[256 * 1024:])  # ...and this never all fits: nobody reads

    threads = [threading.Thread(target=flood, args=(s,), daemon=True) for s in hogs]
    for thread in threads:
        thread.start()
    try:
        sent.wait(30)
        with RawModbus(*address, timeout=30) as reader:
            started = time.monotonic()
            words = reader.read(4, 4999, 1)
            waited = time.monotonic() - started
            assert words == [0x0126]  # device type code of the SG5K-D (models.csv)
    finally:
        for sock in hogs:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(30)
    assert waited < DEADLINE_S, f"the reply waited {waited:.2f} s behind the flooders"
