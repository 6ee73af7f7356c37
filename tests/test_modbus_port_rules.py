"""What the Modbus ports say about themselves: connection info and the errors that name them.

``get_connection_info`` is how a test finds its port (README, "Connection info"): host, port,
connection type, and for the WiNet-S Modbus port its encryption. A port that cannot bind
says which front end failed (the label a user reads), and a port whose key request stays
silent keeps answering everything else on the same connection.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from tests.helpers import GET_KEY, RawModbus


@pytest.mark.parametrize("encryption", ["aes", "none", "lan"])
def test_connection_info_of_each_modbus_port(mock_sungrow_factory: Any, encryption: str) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus+sungrow",
                                                     encryption=encryption)
    plain = server.get_connection_info("modbus")
    sungrow = server.get_connection_info("sungrow")
    assert plain == {"host": "127.0.0.1", "port": plain["port"], "connection_type": "modbus"}
    assert sungrow == {"host": "127.0.0.1", "port": sungrow["port"],
                       "connection_type": "sungrow", "encryption": encryption}
    with RawModbus("127.0.0.1", plain["port"]) as c:  # the ports given are the ones serving
        assert c.read(4, 4999, 1) == [0x0126]
    with RawModbus("127.0.0.1", sungrow["port"]) as c:
        c.send(GET_KEY)  # answered on every kind of sungrow port: a key, zeros or exception 2
        assert c.recv_exact(7)[:5] == bytes.fromhex("68 68 00 00 00")


@pytest.fixture
def taken_port() -> Iterator[int]:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        yield blocker.getsockname()[1]
    finally:
        blocker.close()


@pytest.mark.parametrize(("encryption", "label"), [
    ("aes", "Sungrow encrypted Modbus front end"),
    ("none", "Sungrow Modbus front end"),
    ("lan", "Sungrow Modbus front end"),
])
def test_a_port_in_use_names_the_front_end(taken_port: int, encryption: str,
                                           label: str) -> None:
    server = MockSungrowServer(server_type="sungrow", sungrow_port=taken_port,
                               encryption=encryption)
    with pytest.raises(OSError) as failure:
        server.start()
    assert failure.value.errno == errno.EADDRINUSE
    assert str(failure.value.strerror).startswith(f"{label} cannot bind 127.0.0.1:{taken_port}: ")
    assert not server.running


def test_a_silent_key_request_leaves_the_connection_serving(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", encryption="lan",
                                                     lan_key_reply="silence")
    port = int(server.get_connection_info("sungrow")["port"])
    with RawModbus("127.0.0.1", port) as c:
        for _ in range(3):  # each time: no reply to the key request, the read answered
            c.send(GET_KEY)
            assert c.read(4, 4999, 1) == [0x0126]
    assert [r.outcome for r in server.requests.all()] == ["no reply", "ok"] * 3
    assert server.problems == []
