"""How frame and word faults shape Modbus replies, and what they leave alone (docs/faults.md).

Frame faults reshape *read* replies (``padded-frame``, ``wrong-count``, ``empty-frame``) or
*exception* replies (``bad-exception-frame``); a write's echo is not register data and leaves
unchanged. A fault that shaped a reply is named in that request's log entry and counted once;
one that did not is neither. Over a raw socket, every expected byte written out here.
"""

from __future__ import annotations

import struct
from typing import Any

from mock_sungrow import MockSungrowServer
from tests.helpers import RawModbus

FC6 = bytes.fromhex("06 13 8f 01 f4")  # 500 to holding 5008 (power limit 50.0 %)
FC16 = bytes.fromhex("10 13 8e 00 02 04 00 55 02 ee")  # 0x55, 750 to holding 5007-5008


def _port(server: MockSungrowServer) -> int:
    return int(server.get_connection_info("modbus")["port"])


def test_frame_faults_leave_write_echoes_alone(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    padded = server.inject("padded-frame", extra=2)
    counted = server.inject("wrong-count", count=3)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.request(1, FC6) == FC6
        assert c.request(1, FC16) == FC16[:5]
        # a read is reshaped: 3 registers whatever was asked, and 2 more after the byte count
        c.send(c.frame(1, bytes.fromhex("04 13 87 00 01")))
        tid, pid, length, unit = struct.unpack(">HHHB", c.recv_exact(7))
        assert (tid, pid, unit) == (c.tid, 0, 1)
        body = c.recv_exact(length - 1)
        assert (body[0], body[1], len(body)) == (4, 6, 2 + 6 + 4)
        assert body[2:] == bytes.fromhex("01 26 ff ff ff ff 00 00 00 00")  # filler, padding
    assert [(r.function, r.fault) for r in server.requests.all()] == [
        (6, None), (16, None), (4, "padded-frame,wrong-count")]
    assert (padded.fired, counted.fired) == (1, 1)


def test_a_frame_fault_on_exceptions_is_named_only_where_it_shaped_one(
    mock_sungrow_factory: Any,
) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    fault = server.inject("bad-exception-frame")
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(4, 4999, 1) == [0x0126]  # an ordinary reply: not touched
        c.send(c.frame(1, bytes.fromhex("04 00 63 00 01"), tid=7))  # input 100: illegal
        assert c.recv_exact(9) == bytes.fromhex("00 07 00 00 00 02 01 84 02")
        c.send(c.frame(1, bytes.fromhex("06 13 8f 7f ff"), tid=8))  # out of range: exception 4
        assert c.recv_exact(9) == bytes.fromhex("00 08 00 00 00 02 01 86 04")
    assert [(r.outcome, r.fault) for r in server.requests.all()] == [
        ("ok", None), ("exception 2", "bad-exception-frame"),
        ("exception 4", "bad-exception-frame")]
    assert fault.fired == 2


def test_word_faults_name_themselves_only_on_the_registers_they_change(
    mock_sungrow_factory: Any,
) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    fault = server.inject("value", words=[7], table="input", address=5001)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(4, 4999, 1) == [0x0126]  # 5000: not the fault's register
        words = c.read(4, 4999, 3)  # 5000-5002: 5001 reads 7
        assert isinstance(words, list) and words[:2] == [0x0126, 7]
        assert c.read(3, 5000, 1) != 7  # holding 5001: another table
        assert c.request(1, FC6) == FC6  # a write: not a read of 5001
    assert [r.fault for r in server.requests.all()] == [None, "value", None, None]
    assert fault.fired == 1
