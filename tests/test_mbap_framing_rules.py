"""Modbus TCP framing at its edges (Modbus Messaging on TCP/IP, MBAP header), over raw sockets.

The MBAP header is transaction id, protocol id (always 0), length (the unit id plus the PDU,
so 2..254 for a PDU of 1..253 bytes), unit id. The server reads a frame whether it arrives
alone in one segment, with others, or split; a header no client sends closes that connection
and is named in the diagnostics. Every frame and every expected byte is written out here.
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from tests.helpers import RawModbus, closed_by_peer, modbus_view, wait_until

READ_5000 = bytes.fromhex("00 07 00 00 00 06 01 04 13 87 00 01")
TYPE_CODE_REPLY = bytes.fromhex("00 07 00 00 00 05 01 04 02 01 26")


@pytest.fixture
def server(mock_sungrow_factory: Any) -> MockSungrowServer:
    s: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    return s


def _client(server: MockSungrowServer) -> RawModbus:
    return RawModbus("127.0.0.1", int(server.get_connection_info("modbus")["port"]))


def _peer(client: RawModbus) -> str:
    host, port = client.sock.getsockname()[:2]
    return f"{host}:{port}"


def _send_split(server: MockSungrowServer, c: RawModbus, frame: bytes, at: int) -> None:
    """Send ``frame`` in two segments, the second once the server holds the first."""
    c.send(frame[:at])
    wait_until(lambda: (modbus_view(server, "modbus", _peer(c)) or {}).get("unanswered") == at,
               what=f"the server buffering the first {at} bytes")
    c.send(frame[at:])


# The longest frame: length 254, a 253-byte PDU (an unsupported function 0x2b and 252 bytes).
LONGEST = bytes.fromhex("00 09 00 00 00 fe 01 2b") + bytes(252)
LONGEST_REPLY = bytes.fromhex("00 09 00 00 00 03 01 ab 01")
# The shortest: length 2, a PDU of one function code (FC4 without address or count).
SHORTEST = bytes.fromhex("00 0a 00 00 00 02 01 04")
SHORTEST_REPLY = bytes.fromhex("00 0a 00 00 00 03 01 84 02")


@pytest.mark.parametrize("how", ["alone", "split", "after another"])
def test_the_longest_and_shortest_frames_are_answered(server: MockSungrowServer,
                                                      how: str) -> None:
    with _client(server) as c:
        for frame, reply in ((LONGEST, LONGEST_REPLY), (SHORTEST, SHORTEST_REPLY)):
            if how == "alone":
                c.send(frame)
                assert c.recv_exact(len(reply)) == reply
            elif how == "split":
                _send_split(server, c, frame, 7)
                assert c.recv_exact(len(reply)) == reply
            else:
                c.send(READ_5000 + frame)
                assert c.recv_exact(len(TYPE_CODE_REPLY) + len(reply)) == TYPE_CODE_REPLY + reply
    assert server.problems == []


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("how", ["alone", "split", "after another"])
@pytest.mark.parametrize(
    ("frame", "header"),
    [
        # length 255: one more byte than any PDU may have
        (bytes.fromhex("00 01 00 00 00 ff 01 2b") + bytes(253), "00 01 00 00 00 ff 01"),
        # length 1: a unit id and no function code
        (bytes.fromhex("00 01 00 00 00 01 01"), "00 01 00 00 00 01 01"),
        # length 0
        (bytes.fromhex("00 01 00 00 00 00 01"), "00 01 00 00 00 00 01"),
        # protocol id 0x0100 with a well-formed rest
        (bytes.fromhex("00 01 01 00 00 06 01 04 13 87 00 01"), "00 01 01 00 00 06 01"),
    ],
)
def test_a_header_no_client_sends_closes_the_connection_and_is_named(
    server: MockSungrowServer, frame: bytes, header: str, how: str
) -> None:
    with _client(server) as c:
        if how == "alone":
            c.send(frame)
        elif how == "split":
            _send_split(server, c, frame, 3)
        else:
            c.send(READ_5000 + frame)
            assert c.recv_exact(len(TYPE_CODE_REPLY)) == TYPE_CODE_REPLY
        assert closed_by_peer(c.sock)
        peer = _peer(c)
    (problem,) = server.problems
    assert (problem.front_end, problem.peer, problem.kind, problem.message) == (
        "modbus", peer, "bad-frame", f"malformed MBAP header {header}")
    server.diagnostics.clear()
