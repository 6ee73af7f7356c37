"""What the request log records and how its queries and assertions answer (docs/faults.md,
"The request log").

Real traffic over raw Modbus TCP sockets and the control API's ``GET /requests``; the
expectations are the requests the test itself sent (documented address = wire address + 1)
and the assertion messages docs/faults.md shows a user.
"""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.faults.requestlog import LoggedRequest, RequestLog, summarise
from tests.helpers import RawModbus, control_call

START = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def traffic(mock_sungrow_factory: Any) -> tuple[MockSungrowServer, ManualClock, str]:
    """A server that has seen a known sequence of requests, one second of clock apart.

    t+0 read input 5001-5038; t+1 read input 5001-5038; t+2 read holding 5000-5009;
    t+3 write holding 5007-5008 (0xAA, 700); t+4 read input 5031 answered exception 2
    (a fault); t+5 write holding 5008 (900) with FC6. Returns (server, clock, the client's
    peer ``host:port``).
    """
    clock = ManualClock(START)
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=clock,
                                                     control_port=0)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        host, port = c.sock.getsockname()[:2]
        assert isinstance(c.read(4, 5000, 38), list)
        clock.advance(1)
        assert isinstance(c.read(4, 5000, 38), list)
        clock.advance(1)
        assert isinstance(c.read(3, 4999, 10), list)
        clock.advance(1)
        assert c.write(5006, [0xAA, 700]) is None
        clock.advance(1)
        with server.inject("exception", code=2, table="input", address=5031, times=1):
            assert c.read(4, 5030, 1) == 2
        clock.advance(1)
        assert c.write_single(5007, 900) is None
    return server, clock, f"{host}:{port}"


def _spans(found: list[LoggedRequest]) -> list[tuple[str | None, int | None, int]]:
    return [(r.table, r.address, r.count) for r in found]


def test_each_request_is_logged_as_the_client_sent_it(
    traffic: tuple[MockSungrowServer, ManualClock, str],
) -> None:
    server, clock, peer = traffic
    t0 = clock.time() - 5
    assert [(r.time - t0, r.front_end, r.peer, r.unit, r.function, r.table, r.address,
             r.count, r.outcome, r.fault, r.values) for r in server.requests.all()] == [
        (0, "modbus", peer, 1, 4, "input", 5001, 38, "ok", None, None),
        (1, "modbus", peer, 1, 4, "input", 5001, 38, "ok", None, None),
        (2, "modbus", peer, 1, 3, "holding", 5000, 10, "ok", None, None),
        (3, "modbus", peer, 1, 16, "holding", 5007, 2, "ok", None, (0xAA, 700)),
        (4, "modbus", peer, 1, 4, "input", 5031, 1, "exception 2", "exception", None),
        (5, "modbus", peer, 1, 6, "holding", 5008, 1, "ok", None, (900,)),
    ]
    assert len(server.requests) == 6
    first = server.requests.all()[0]
    assert first.client == "127.0.0.1" and first.is_read and not first.is_write


def test_find_filters_by_every_field(traffic: tuple[MockSungrowServer, ManualClock, str]
                                     ) -> None:
    server, clock, peer = traffic
    log = server.requests
    t0 = clock.time() - 5
    assert _spans(log.find(table="holding")) == [("holding", 5000, 10), ("holding", 5007, 2),
                                                 ("holding", 5008, 1)]
    assert _spans(log.find(function=3)) == [("holding", 5000, 10)]
    assert _spans(log.find(function=16)) == [("holding", 5007, 2)]
    assert _spans(log.find(reads=True)) == [("input", 5001, 38), ("input", 5001, 38),
                                            ("holding", 5000, 10), ("input", 5031, 1)]
    assert _spans(log.find(reads=False)) == [("holding", 5007, 2), ("holding", 5008, 1)]
    assert _spans(log.find(writes=True)) == [("holding", 5007, 2), ("holding", 5008, 1)]
    assert len(log.find(writes=False)) == 4
    assert _spans(log.find(outcome="exception 2")) == [("input", 5031, 1)]
    assert _spans(log.find(fault="exception")) == [("input", 5031, 1)]
    assert log.find(fault="silence") == [] and log.find(outcome="silence") == []
    assert len(log.find(front_end="modbus")) == 6 and log.find(front_end="http") == []
    assert len(log.find(peer=peer)) == 6 and len(log.find(peer="127.0.0.1")) == 6
    assert log.find(peer="127.0.0.2") == []
    assert _spans(log.find(since=t0 + 4)) == [("input", 5031, 1), ("holding", 5008, 1)]
    assert _spans(log.find(since=t0 + 4.5)) == [("holding", 5008, 1)]
    assert len(log.find(since=t0)) == 6
    # The filters combine.
    assert _spans(log.find(table="input", since=t0 + 1, reads=True)) == [
        ("input", 5001, 38), ("input", 5031, 1)]
    serial = server.device.serial
    assert len(log.find(device=serial)) == 6 and len(log.find(device=server.device)) == 6
    assert log.find(device="A0000000000") == []


def test_address_finds_the_requests_whose_span_holds_it(
    traffic: tuple[MockSungrowServer, ManualClock, str],
) -> None:
    log = traffic[0].requests
    assert _spans(log.find(table="input", address=5001)) == [("input", 5001, 38)] * 2
    assert _spans(log.find(table="input", address=5038)) == [("input", 5001, 38)] * 2
    assert log.find(table="input", address=5039) == []
    assert log.find(table="input", address=5000) == []
    assert _spans(log.find(table="input", address=5031)) == [
        ("input", 5001, 38), ("input", 5001, 38), ("input", 5031, 1)]
    assert _spans(log.find(table="holding", address=5009)) == [("holding", 5000, 10)]
    assert _spans(log.find(address=5008)) == [("input", 5001, 38), ("input", 5001, 38),
                                              ("holding", 5000, 10), ("holding", 5007, 2),
                                              ("holding", 5008, 1)]
    assert log.find(table="holding", address=5010) == []


def test_the_control_api_lists_the_same_requests(
    traffic: tuple[MockSungrowServer, ManualClock, str],
) -> None:
    server, clock, peer = traffic
    base = server.get_connection_info("control")["url"].rstrip("/")
    status, entries = control_call(base, "GET", "/requests?table=holding&function=16")
    assert status == 200
    assert entries == [{"time": clock.time() - 2, "front_end": "modbus", "peer": peer,
                        "unit": 1, "function": 16, "table": "holding", "address": 5007,
                        "count": 2, "outcome": "ok", "fault": None, "values": [0xAA, 700],
                        "device": server.device.serial}]
    status, entries = control_call(base, "GET", "/requests?address=5031&table=input")
    assert status == 200 and [e["count"] for e in entries] == [38, 38, 1]
    assert [e["values"] for e in entries] == [None, None, None]


def test_assert_read_explains_what_was_read_instead(
    traffic: tuple[MockSungrowServer, ManualClock, str],
) -> None:
    log = traffic[0].requests
    serial = traffic[0].device.serial
    assert _spans(log.assert_read("input", 5038)) == [("input", 5001, 38)] * 2
    assert len(log.assert_read("input", 5031, times=3)) == 3
    assert len(log.assert_read("holding", 5000, front_end="modbus", device=serial)) == 1
    assert len(log.assert_read("holding", 5008, times=1)) == 1  # the block read, no write
    seen = ("reads of input 5001-5038 (2x), 5031 and reads of holding 5000-5009 and "
            "writes of holding 5007-5008, 5008")
    with pytest.raises(AssertionError) as e:
        log.assert_read("input", 5039)
    assert str(e.value) == f"expected a read of input 5039, saw {seen}"
    with pytest.raises(AssertionError) as e:
        log.assert_read("input", 5031, times=2)
    assert str(e.value) == f"expected 2 read(s) of input 5031 (got 3), saw {seen}"
    with pytest.raises(AssertionError) as e:
        log.assert_read("holding", 5010)  # just after the holding block read
    assert str(e.value) == f"expected a read of holding 5010, saw {seen}"
    with pytest.raises(AssertionError) as e:
        log.assert_read("input", 5001, front_end="http")
    assert str(e.value) == "expected a read of input 5001, saw no requests at all"
    with pytest.raises(AssertionError) as e:
        log.assert_read("input", 5001, device="A0000000000")
    assert str(e.value) == ("expected a read of input 5001 on device A0000000000, saw no "
                            "requests at all")
    with pytest.raises(AssertionError) as e:
        log.assert_read("input", 5001, times=1, device=traffic[0].device)
    assert str(e.value) == (f"expected 1 read(s) of input 5001 on device {serial} (got 2), "
                            f"saw {seen}")


def test_assert_written_finds_the_latest_write_of_the_value(
    traffic: tuple[MockSungrowServer, ManualClock, str],
) -> None:
    server = traffic[0]
    log = server.requests
    assert log.assert_written(5008).values == (900,)  # the latest write of 5008
    assert log.assert_written(5008, 700).values == (0xAA, 700)  # an earlier one, by value
    assert log.assert_written(5008, 900).function == 6
    assert log.assert_written(5007, 0xAA).address == 5007
    assert log.assert_written(5007, front_end="modbus", device=server.device).count == 2
    seen = "writes of holding 5007-5008, 5008"
    with pytest.raises(AssertionError) as e:
        log.assert_written(5008, 800)
    assert str(e.value) == f"expected a write of 800 to holding 5008, saw {seen}"
    with pytest.raises(AssertionError) as e:
        log.assert_written(5007, 700)  # 700 went to 5008
    assert str(e.value) == f"expected a write of 700 to holding 5007, saw {seen}"
    with pytest.raises(AssertionError) as e:
        log.assert_written(5009)
    assert str(e.value) == f"expected a write to holding 5009, saw {seen}"
    with pytest.raises(AssertionError, match="expected a write to holding 5008"):
        log.assert_written(5008, front_end="http")  # written over Modbus only
    with pytest.raises(AssertionError) as e:
        log.assert_written(5008, device="A0000000000")
    assert str(e.value) == (f"expected a write to holding 5008 on device A0000000000, saw "
                            f"{seen}")
    with pytest.raises(AssertionError) as e:
        log.assert_written(5008, 0, front_end="http")
    assert str(e.value) == f"expected a write of 0 to holding 5008, saw {seen}"


def test_assert_written_on_a_log_without_writes() -> None:
    log = RequestLog()
    with pytest.raises(AssertionError) as e:
        log.assert_written(5008, 1)
    assert str(e.value) == "expected a write of 1 to holding 5008, saw no requests at all"
    log.append(LoggedRequest(0.0, "modbus", "127.0.0.1:1", 1, 3, "holding", 5008, 1, "ok"))
    with pytest.raises(AssertionError) as e:
        log.assert_written(5008)
    assert str(e.value) == "expected a write to holding 5008, saw no requests at all"


def test_assert_not_requested(traffic: tuple[MockSungrowServer, ManualClock, str]) -> None:
    log = traffic[0].requests
    log.assert_not_requested("input", 5039)
    log.assert_not_requested("holding", 5010)
    with pytest.raises(AssertionError) as e:
        log.assert_not_requested("holding", 5008)
    assert str(e.value) == ("expected no request of holding 5008, saw reads of holding "
                            "5000-5009 and writes of holding 5007-5008, 5008")


def test_summaries_group_by_verb_and_table() -> None:
    def entry(table: str | None, address: int | None, count: int, *,
              values: tuple[int, ...] | None = None, function: int | str | None = 4,
              front_end: str = "modbus") -> LoggedRequest:
        return LoggedRequest(0.0, front_end, "p", 1, function, table, address, count, "ok",
                             None, values)

    assert summarise([]) == "no requests at all"
    assert summarise([entry("input", 5031, 1)]) == "reads of input 5031"
    assert summarise([entry("input", 5031, 0)]) == "reads of input 5031"
    assert summarise([entry("input", 5031, 2)] * 3) == "reads of input 5031-5032 (3x)"
    assert summarise([entry("holding", 5008, 1, values=(5,))]) == "writes of holding 5008"
    assert summarise([entry(None, None, 0, function="real", front_end="http"),
                      entry(None, None, 0, function="real", front_end="http"),
                      entry(None, None, 0, function="connect", front_end="http")]) == (
        "requests of http real (2x), connect")
    # A request naming a table but no address is no read.
    assert summarise([entry("input", None, 0, function="direct")]) == "requests of input direct"


def test_to_dict_is_json_ready() -> None:
    r = LoggedRequest(1.5, "modbus", "127.0.0.1:9", 1, 16, "holding", 5007, 2, "ok", None,
                      (1, 2), "A1")
    assert r.to_dict() == {"time": 1.5, "front_end": "modbus", "peer": "127.0.0.1:9",
                           "unit": 1, "function": 16, "table": "holding", "address": 5007,
                           "count": 2, "outcome": "ok", "fault": None, "values": [1, 2],
                           "device": "A1"}
    assert r.is_write and not r.is_read and r.client == "127.0.0.1"
    assert LoggedRequest(0, "http", "-", None, "real", None, None, 0, "ok").client == "-"


def test_listeners_hear_every_request_as_it_is_logged(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    heard: list[tuple[Any, ...]] = []
    server.requests.add_listener(lambda r: heard.append((r.function, r.address, r.count)))
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == [0x0126]
        assert c.write(5007, [500]) is None
    assert heard == [(4, 5000, 1), (16, 5008, 1)]
    assert [(r.function, r.address) for r in server.requests.all()] == [(4, 5000), (16, 5008)]


def test_the_log_keeps_the_newest_requests_up_to_its_size(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus",
                                                     request_log_size=3)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        for wire in range(5000, 5005):
            assert isinstance(c.read(4, wire, 1), list)
    assert [r.address for r in server.requests.all()] == [5003, 5004, 5005]
    assert len(server.requests) == 3
    server.requests.clear()
    assert len(server.requests) == 0 and server.requests.all() == []


def test_a_writes_words_are_logged_as_sent(mock_sungrow_factory: Any) -> None:
    """An FC6 word over 0x7FFF is logged unsigned, an FC16 of no registers carries no words
    (an empty tuple: it is a write), an FC6 with bytes after its word carries none we read."""
    server = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.write_single(5007, 0x8001) == 4           # out of holding 5008's range
        assert r.request(1, struct.pack(">BHHB", 16, 5007, 0, 0)) == bytes((0x90, 2))
        assert r.request(1, struct.pack(">BHHH", 6, 5007, 900, 0)) == bytes((0x86, 2))
    assert [(r.function, r.address, r.count, r.outcome, r.values)
            for r in server.requests.all()] == [
        (6, 5008, 1, "exception 4", (0x8001,)),
        (16, 5008, 0, "exception 2", ()),
        (6, 5008, 1, "exception 2", None),
    ]


def test_find_looks_past_every_entry_a_filter_turns_down() -> None:
    """Each filter skips the entries it does not match and goes on to the next ones."""
    log = RequestLog()
    first = LoggedRequest(1.0, "modbus", "127.0.0.1:1", 1, 4, "input", 5000, 1, "ok")
    last = LoggedRequest(2.0, "http", "127.0.0.2:2", 1, 3, "holding", 5008, 1, "exception 2",
                         "exception", (5,), "A2")
    log.append(first)
    log.append(last)
    for filters in ({"front_end": "http"}, {"device": "A2"}, {"function": 3},
                    {"table": "holding"}, {"address": 5008}, {"peer": "127.0.0.2"},
                    {"outcome": "exception 2"}, {"fault": "exception"}, {"reads": False},
                    {"writes": True}, {"since": 1.5}):
        assert log.find(**filters) == [last], filters
