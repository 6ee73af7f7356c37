"""Word faults change the words of the registers they cover, and only those (docs/faults.md,
"scale", "sentinel", "value", "stale", "stale-after-write").

Raw Modbus TCP reads on a manual clock (the plant stands still unless the test moves it);
expected words are the documented register contents of the default SG5K-D (input 5000 device
type 0x0126, 5001 nominal power 5.0 kW = 50) and the sentinels of the Sungrow protocol
(U16 0xFFFF, S16 0x7FFF, U32 0xFFFFFFFF: the survey's §5.4).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus

NOON_SYDNEY = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)


def _served(factory: Any) -> tuple[MockSungrowServer, ManualClock, RawModbus]:
    clock = ManualClock(NOON_SYDNEY)
    server: MockSungrowServer = factory(server_type="modbus", clock=clock)
    return server, clock, RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"])


def _fired(server: MockSungrowServer) -> list[int]:
    return [f["fired"] for f in server.faults.describe()]


def test_scale_multiplies_rounds_and_saturates(mock_sungrow_factory: Any) -> None:
    server, _clock, c = _served(mock_sungrow_factory)
    with c:
        assert c.read(4, 4999, 2) == [0x0126, 50]
        with server.inject("scale", factor=0.99, table="input", address=5001):
            assert c.read(4, 4999, 2) == [0x0126, 50]  # 49.5 rounds to 50
        with server.inject("scale", factor=0.5, table="input", address=5001):
            assert c.read(4, 4999, 2) == [0x0126, 25]
        with server.inject("scale", factor=2000, table="input", address=5001):
            assert c.read(4, 4999, 2) == [0x0126, 0xFFFF]  # saturates at 16 bits
        with server.inject("scale", factor=223, table="input", address=5000):
            assert c.read(4, 4999, 1) == [0xFFFF]  # 294 * 223 = 65562 > 65535
        with server.inject("scale", factor=222, table="input", address=5000):
            assert c.read(4, 4999, 1) == [65268]  # 294 * 222 fits


def test_sentinel_words_follow_each_register_type(mock_sungrow_factory: Any) -> None:
    server, _clock, c = _served(mock_sungrow_factory)
    with c, server.inject("sentinel", table="input", address="5001-5008"):
        # 5001 U16, 5002 U16, 5003 U16, 5004-5005 U32, 5006-5007 U32, 5008 S16 temperature.
        words = c.read(4, 5000, 8)
        assert words == [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0x7FFF]


def test_value_repeats_its_pattern_from_the_start_of_its_range(mock_sungrow_factory: Any
                                                                ) -> None:
    server, _clock, c = _served(mock_sungrow_factory)
    with c:
        plain = c.read(4, 4999, 8)  # documented 5000-5007
        assert isinstance(plain, list)
        with server.inject("value", words=[1, 2, 3], table="input", address="5002-5006"):
            assert c.read(4, 4999, 8) == [plain[0], plain[1], 1, 2, 3, 1, 2, plain[7]]
            assert c.read(4, 5003, 2) == [3, 1]  # 5004-5005: still counted from 5002
        with server.inject("value", words=[1, 2, 3], table="input"):
            assert c.read(4, 5002, 4) == [1, 2, 3, 1]  # no range: from the read's start
        with server.inject("value", words=[9], table="input", address=6000):
            assert c.read(4, 4999, 8) == plain  # outside the read: nothing changes
    assert [r.fault for r in server.requests.all()] == [None, "value", "value", "value", None]


def test_stale_keeps_the_first_word_it_saw_per_register(mock_sungrow_factory: Any) -> None:
    server, clock, c = _served(mock_sungrow_factory)
    with c:
        server.inject("stale", table="input", address=(5031, 5032))
        first = c.read(4, 5030, 1)  # 5031 is seen first; 5032 not yet
        assert first == server.read_registers("input", 5031)  # the live word, then frozen
        clock.advance(3 * 3600)
        now = c.read(4, 5031, 1)  # 5032's first word is the one seen now: its own
        assert now == server.read_registers("input", 5032) and now != first
        clock.advance(3600)
        assert c.read(4, 5030, 2) == first + now
    assert _fired(server) == [3]


def test_stale_after_write_holds_the_replaced_words_it_covers(mock_sungrow_factory: Any
                                                               ) -> None:
    server, clock, c = _served(mock_sungrow_factory)
    with c:
        assert c.read(3, 5006, 2) == [0xAA, 1000]  # 5007 switch, 5008 power limit
        server.inject("stale-after-write", hold=60, table="holding", address=5008)
        assert c.read(3, 5006, 2) == [0xAA, 1000]
        assert _fired(server) == [0]  # nothing held: nothing changed, nothing counted
        assert c.write(5006, [0x55, 500]) is None
        assert c.read(3, 5006, 2) == [0x55, 1000]  # 5007 is outside the fault's range
        clock.advance(59.5)
        assert c.read(3, 5007, 1) == [1000]
        clock.advance(0.5)  # the hold is over at exactly 60 s
        assert c.read(3, 5006, 2) == [0x55, 500]
    assert _fired(server) == [2]


def test_stale_after_write_leaves_a_broadcast_write_alone(mock_sungrow_factory: Any) -> None:
    """A broadcast (unit 0) write reaches every device unanswered, as no device's own write:
    the fault, which holds what a client's write to a unit replaced, has nothing to hold."""
    server, _clock, c = _served(mock_sungrow_factory)
    with c:
        server.inject("stale-after-write", hold=60, table="holding", address=5008)
        c.send(c.frame(0, bytes.fromhex("06 13 8f 01 f4")))  # unit 0: holding 5008 = 500
        assert c.read(3, 5007, 1) == [500]  # the next request is answered after it, applied
    assert _fired(server) == [0]


def test_a_word_fault_matching_another_request_leaves_the_words_alone(
    mock_sungrow_factory: Any,
) -> None:
    """Front end, function, unit and client are matched before any word is touched."""
    server, _clock, c = _served(mock_sungrow_factory)
    with c:
        plain = c.read(4, 4999, 2)
        assert plain == [0x0126, 50]
        for other in ({"front_end": "http"}, {"function": 3}, {"unit": 2},
                      {"client": "127.0.0.2"}):
            with server.inject("zeros", table="input", address=5001, **other):
                assert c.read(4, 4999, 2) == plain, other
        with server.inject("zeros", table="input", address=5001, function=4, unit=1,
                           client="127.0.0.1", front_end="modbus"):
            assert c.read(4, 4999, 2) == [0x0126, 0]
