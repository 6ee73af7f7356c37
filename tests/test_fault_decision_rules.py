"""Which faults shape an answer when several are active (docs/faults.md, "Several faults").

A request goes past the deciding faults in phase order (connect, request, session), each phase
in injection order. A fault that settles the request (night-shutdown's drop, min-gap's drop or
lock-up) ends the turn: no later fault acts on it or is counted for it. A fault that does not act
(a silence fault behind an exception that already decided, key-silent on an ordinary read)
leaves every later fault, word and frame faults included, to act as if it were not there.

Raw Modbus TCP sockets against the LAN port; the request log's ``fault`` column names every
fault that shaped an answer, and each fault's ``fired`` count says how often it acted.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import GET_KEY, RawModbus, closed_by_peer, recv_upto, wait_until

DEVICE_TYPE = 0x0126  # input 5000 of the default SG5K-D (../shared/spec/models.csv)
READ_5000 = struct.pack(">BHH", 4, 4999, 1)
NOON = datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("Australia/Sydney"))


def _port(server: MockSungrowServer) -> int:
    port: int = server.get_connection_info("modbus")["port"]
    return port


def _fired(server: MockSungrowServer) -> dict[str, int]:
    return {f["kind"]: f["fired"] for f in server.faults.describe()}


def test_a_night_shutdown_drop_is_the_only_fault_of_its_request(mock_sungrow_factory: Any
                                                                 ) -> None:
    """By day the latency fault delays the answer; at night the drop settles the request."""
    clock = ManualClock(NOON)
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=clock)
    server.inject("night-shutdown")
    server.inject("latency", delay=0.01)
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert client.read(4, 4999, 1) == [DEVICE_TYPE]  # noon: delayed, answered
        clock.advance(11 * 3600)  # 23:00
        client.send(client.frame(1, READ_5000))
        assert closed_by_peer(client.sock)
    assert [(r.outcome, r.fault) for r in server.requests.all()] == [
        ("ok", "latency"), ("dropped", "night-shutdown")]
    assert _fired(server) == {"night-shutdown": 1, "latency": 1}


@pytest.mark.parametrize(("overload", "outcome"), [("drop", "dropped"), ("lockup", "silence")])
def test_a_min_gap_overload_is_the_only_fault_of_its_request(
        mock_sungrow_factory: Any, overload: str, outcome: str) -> None:
    """The second read comes too soon: min-gap drops or ignores it, and nothing delays it."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("min-gap", gap=3600, overload=overload)
    server.inject("latency", delay=0.01)  # after it, in the same phase
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert client.read(4, 4999, 1) == [DEVICE_TYPE]  # the first: delayed, answered
        client.send(client.frame(1, READ_5000))
        wait_until(lambda: len(server.requests.all()) == 2, what="the second request settled")
        if overload == "drop":
            assert closed_by_peer(client.sock)
    assert [(r.outcome, r.fault) for r in server.requests.all()] == [
        ("ok", "latency"), (outcome, "min-gap")]
    assert _fired(server) == {"min-gap": 1, "latency": 1}


def test_a_silence_fault_that_did_not_act_leaves_the_frame_faults_alone(
        mock_sungrow_factory: Any) -> None:
    """The exception decided first; silence does nothing; bad-exception-frame still reframes.

    The reply is exception 2 whose MBAP length says 2 while unit, code and exception code
    (3 bytes) follow (docs/faults.md's ``bad-exception-frame`` row).
    """
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("exception", code=2)
    server.inject("silence")
    server.inject("bad-exception-frame")
    with RawModbus("127.0.0.1", _port(server)) as client:
        client.send(bytes.fromhex("00 07 00 00 00 06 01") + READ_5000)
        assert recv_upto(client.sock, 9) == bytes.fromhex("00 07 00 00 00 02 01 84 02")
    assert [(r.outcome, r.fault) for r in server.requests.all()] == [
        ("exception 2", "exception,bad-exception-frame")]
    assert _fired(server) == {"exception": 1, "silence": 0, "bad-exception-frame": 1}


def test_key_silent_leaves_an_ordinary_read_to_the_word_faults(mock_sungrow_factory: Any
                                                               ) -> None:
    """key-silent swallows the key request only; a read still gets the zeros fault's zeros."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("key-silent")
    server.inject("zeros", table="input", address=5000)
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert client.read(4, 4999, 1) == [0]
        assert client.read(4, 5000, 1) == [50]  # 5001 (5.0 kW nominal), outside the fault
        client.send(GET_KEY)
        wait_until(lambda: server.requests.find(outcome="silence"), what="the ignored key request")
    assert [r.fault for r in server.requests.all()] == ["zeros", None, "key-silent"]
