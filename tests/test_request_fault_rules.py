"""Request and connection faults: which one decides, what it counts, when it lets go
(docs/faults.md's catalogue rows for ``exception``, ``silence``, ``drop``, ``latency``,
``write-scale``, ``freeze-after-illegal-reads``, ``max-clients``, ``block-after-bad-reads``,
``reconnect-cooldown``).

Raw Modbus TCP sockets; device time on a manual clock; the request log says which fault
shaped each answer.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer, SungrowModbusDataBlock
from mock_sungrow.faults import FaultSpecError
from tests.helpers import RawModbus, closed_by_peer, wait_until

#: The endpoint a single inverter's LAN port is (docs/faults.md: ``inverter[2].modbus``).
LAN_PORT = "inverter[1].modbus"
DEVICE_TYPE = 0x0126  # input 5000 (wire 4999) of the default SG5K-D
READ_5000 = struct.pack(">BHH", 4, 4999, 1)


def _port(server: MockSungrowServer) -> int:
    port = server.get_connection_info("modbus")["port"]
    assert isinstance(port, int)
    return port


def _fired(server: MockSungrowServer) -> list[tuple[str, int]]:
    return [(f["kind"], f["fired"]) for f in server.faults.describe()]


def _refused(port: int) -> bool:
    """Whether a new connection is reset (or closed) without an answer to a read."""
    try:
        client = RawModbus("127.0.0.1", port)
    except ConnectionResetError:
        return True
    with client:
        try:
            client.send(client.frame(1, READ_5000))
            return client.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False


def _answers(port: int) -> bool:
    with RawModbus("127.0.0.1", port) as c:
        return c.read(4, 4999, 1) == [DEVICE_TYPE]


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "exception", "code": 0},
     "exception: code must be a Modbus exception code 1..255; got 0"),
    ({"kind": "exception", "code": 256},
     "exception: code must be a Modbus exception code 1..255; got 256"),
    ({"kind": "winet-result", "code": 0}, "winet-result: code must be > 0; got 0"),
    ({"kind": "latency", "jitter": -0.1}, "latency: jitter must be >= 0; got -0.1"),
    ({"kind": "min-gap", "overload": "crash"},
     "min-gap: overload must be one of drop, lockup; got 'crash'"),
    ({"kind": "max-clients", "limit": 0}, "max-clients: limit must be > 0; got 0"),
    ({"kind": "max-clients", "policy": "evict"},
     "max-clients: policy must be one of refuse, kick-oldest; got 'evict'"),
    ({"kind": "write-scale", "factor": 1.5}, "write-scale: factor must be an integer; got 1.5"),
])
def test_request_fault_parameters_are_checked(spec: dict[str, Any], message: str) -> None:
    server = MockSungrowServer(modbus_port=0, server_type="modbus+http")
    with pytest.raises(FaultSpecError) as e:
        server.inject(spec)
    assert str(e.value) == message


def test_the_widest_exception_codes_are_accepted(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", _port(server)) as c:
        for code in (1, 255):
            with server.inject("exception", code=code):
                assert c.read(4, 4999, 1) == code


# ----------------------------------------------------------------------------- deciding


def test_the_first_fault_that_decides_wins_and_only_it_is_counted(mock_sungrow_factory: Any
                                                                  ) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", _port(server)) as c:
        server.inject("exception", code=3)
        server.inject("drop")
        server.inject("silence")
        assert c.read(4, 4999, 1) == 3
        assert _fired(server) == [("exception", 1), ("drop", 0), ("silence", 0)]
        server.clear_faults()
        server.inject("silence", times=1)
        server.inject("exception", code=4)
        c.send(c.frame(1, READ_5000))
        wait_until(lambda: server.requests.find(outcome="silence"), what="the silent read")
        assert _fired(server) == [("silence", 1), ("exception", 0)]
        assert [r.fault for r in server.requests.all()] == ["exception", "silence"]


def test_latencies_add_up(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("latency", delay=0.2)
    server.inject("latency", delay=0.15)
    with RawModbus("127.0.0.1", _port(server), timeout=10) as c:
        started = time.monotonic()
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
        assert time.monotonic() - started >= 0.35
    assert _fired(server) == [("latency", 1), ("latency", 1)]
    assert server.requests.all()[0].fault == "latency,latency"


def test_jitter_adds_to_the_delay(mock_sungrow_factory: Any) -> None:
    """``delay`` plus a uniform draw from [0, ``jitter``]: never less than the delay."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("latency", delay=0.3, jitter=0.3)
    with RawModbus("127.0.0.1", _port(server), timeout=10) as c:
        for _ in range(3):
            started = time.monotonic()
            assert c.read(4, 4999, 1) == [DEVICE_TYPE]
            assert time.monotonic() - started >= 0.3


# ----------------------------------------------------------------------------- write-scale




class _HeldHolding(SungrowModbusDataBlock):
    """Holding reads wait 0.5 s in the data block (no fault, no random draw)."""

    async def async_getValues(self, address: int, count: int = 1) -> list[int]:
        if self.table == "holding":
            await asyncio.sleep(0.5)
        return self.getValues(address, count)


def test_latency_jitter_is_drawn_from_the_seeded_generator(mock_sungrow_factory: Any) -> None:
    """``seed`` makes network faults reproducible: with seed 7608 the first six jitter draws
    from [0, 1 s] are all below 0.15 s (Python's ``random.Random(7608 ^ 0x1A7E)``). Each
    round sends a jittered input read on one connection and, with it, a holding read that the
    data block holds 0.5 s on another: the jittered one is answered first every time. A draw
    from an unseeded generator, or from a range that does not start at 0, is over 0.5 s in
    some round. The order is the request log's, which records each answer as it is sent."""
    server = mock_sungrow_factory(server_type="modbus", seed=7608,
                                  datablock_class=_HeldHolding)
    server.inject("latency", jitter=1.0, table="input")
    with RawModbus("127.0.0.1", _port(server)) as jittered, \
            RawModbus("127.0.0.1", _port(server)) as held:
        for _ in range(6):
            jittered.send(jittered.frame(1, READ_5000))
            held.send(held.frame(1, struct.pack(">BHH", 3, 4999, 1)))
            assert jittered.recv_frame()[2] == bytes((4, 2, 0x01, 0x26))
            assert held.recv_frame()[2][:2] == bytes((3, 2))
    assert [r.table for r in server.requests.all()] == ["input", "holding"] * 6


def test_latency_jitter_alone_delays_the_answers(mock_sungrow_factory: Any) -> None:
    """``jitter`` without a ``delay``: each answer waits a random 0-0.2 s. Ten of them wait
    about a second in all; a jitter that is ignored would wait nothing (a lower bound only:
    how much longer a loaded machine takes is not this test's business)."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("latency", jitter=0.2)
    with RawModbus("127.0.0.1", _port(server)) as c:
        started = time.monotonic()
        for _ in range(10):
            assert c.read(4, 4999, 1) == [0x0126]
        assert time.monotonic() - started >= 0.3  # below 0.3 s: odds of 1.6 in 100,000

def test_write_scale_leaves_the_answer_to_the_faults_after_it(mock_sungrow_factory: Any
                                                              ) -> None:
    """write-scale only rewrites words: an exception fault injected after it still answers
    the write (and nothing is written)."""
    server = mock_sungrow_factory(server_type="modbus", clock=ManualClock())
    server.inject("write-scale", factor=10, table="holding", address=5008)
    error = server.inject("exception", code=4, function=16)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.write(5007, [50]) == 4
        assert c.read(3, 5007, 1) == [1000]  # unchanged
    assert error.fired == 1

def test_write_scale_multiplies_written_words_before_the_range_check(
    mock_sungrow_factory: Any,
) -> None:
    """holding 5008 (power limitation, 0..1100): 100 is applied as 1000, 111 as 1110 (too big)."""
    server = mock_sungrow_factory(server_type="modbus", clock=ManualClock())
    server.inject("write-scale", factor=10, table="holding", address=5008)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(3, 5007, 1) == [1000]
        assert _fired(server) == [("write-scale", 0)]  # reads are not rewritten
        assert c.write(5007, [100]) is None
        assert c.read(3, 5007, 1) == [1000]
        assert c.write_single(5007, 50) is None
        assert c.read(3, 5007, 1) == [500]
        assert c.write(5007, [111]) == 4  # 1110 > 1100
        assert c.write(5007, [6553]) == 4  # 65530: a word, but out of range
        assert c.write(5007, [6554]) == 4  # 65540: no word at all
        assert c.read(3, 5007, 1) == [500]
    assert _fired(server) == [("write-scale", 5)]
    assert [(r.function, r.outcome) for r in server.requests.find(fault="write-scale")] == [
        (16, "ok"), (6, "ok"), (16, "exception 4"), (16, "exception 4"), (16, "exception 4")]


def test_write_scale_keeps_a_product_of_exactly_0xffff(mock_sungrow_factory: Any) -> None:
    """holding 13080 (EMS heartbeat, 0..65535 s): 13107 x 5 = 65535 is the largest word."""
    server = mock_sungrow_factory(model="SH10RT", server_type="modbus", clock=ManualClock())
    server.inject("write-scale", factor=5, table="holding", address=13080)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.write(13079, [13107]) is None
        assert c.read(3, 13079, 1) == [0xFFFF]
        assert c.write(13079, [13108]) == 4  # 65540: no word at all
        assert c.read(3, 13079, 1) == [0xFFFF]


# ----------------------------------------------------------------------------- freezing


def test_only_illegal_reads_count_towards_a_freeze(mock_sungrow_factory: Any) -> None:
    clock = ManualClock()
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    freeze = server.inject("freeze-after-illegal-reads", reads=2, recover=100)
    port = _port(server)
    with RawModbus("127.0.0.1", port) as c:
        assert c.read(4, 100, 1) == 2  # illegal: one
        with server.inject("exception", code=4):
            assert c.read(4, 4999, 1) == 4  # another exception: not counted
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
        assert freeze.fired == 0
        assert c.read(4, 100, 1) == 2  # illegal: two, it freezes
        assert freeze.fired == 1
    assert _refused_or_silent(port)
    clock.advance(99)
    assert _refused_or_silent(port)
    clock.advance(1)  # recovered at exactly ``recover`` seconds
    with RawModbus("127.0.0.1", port) as c:
        assert c.read(4, 100, 1) == 2  # the count starts again: one
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
        assert c.read(4, 100, 1) == 2  # two: frozen again
    assert freeze.fired == 2
    assert _refused_or_silent(port)


def _refused_or_silent(port: int) -> bool:
    """A frozen dongle answers nothing: the read times out (the connection stays)."""
    with RawModbus("127.0.0.1", port, timeout=0.3) as c:
        c.send(c.frame(1, READ_5000))
        try:
            return c.sock.recv(1) == b""
        except TimeoutError:
            return True


# ----------------------------------------------------------------------------- connections


def test_max_clients_refuses_beyond_its_limit_and_counts_closes(mock_sungrow_factory: Any
                                                               ) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    fault = server.inject("max-clients", limit=2)
    port = _port(server)
    with RawModbus("127.0.0.1", port) as a, RawModbus("127.0.0.1", port) as b:
        assert a.read(4, 4999, 1) == [DEVICE_TYPE] and b.read(4, 4999, 1) == [DEVICE_TYPE]
        assert fault.fired == 0
        assert _refused(port)
        assert fault.fired == 1
    # Both closed: their slots are free again (the server notices the close on its loop).
    wait_until(lambda: not server.traffic.open_connections(LAN_PORT), what="the closes")
    with RawModbus("127.0.0.1", port) as a, RawModbus("127.0.0.1", port) as b:
        assert a.read(4, 4999, 1) == [DEVICE_TYPE] and b.read(4, 4999, 1) == [DEVICE_TYPE]
    assert [r.outcome for r in server.requests.find(fault="max-clients")] == ["refused"]


def test_kick_oldest_closes_just_enough_of_the_oldest(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("max-clients", limit=2, policy="kick-oldest")
    port = _port(server)
    with RawModbus("127.0.0.1", port) as first, RawModbus("127.0.0.1", port) as second:
        assert first.read(4, 4999, 1) == [DEVICE_TYPE]
        assert second.read(4, 4999, 1) == [DEVICE_TYPE]
        with RawModbus("127.0.0.1", port) as third:
            assert third.read(4, 4999, 1) == [DEVICE_TYPE]
            assert closed_by_peer(first.sock, timeout=10)
            assert second.read(4, 4999, 1) == [DEVICE_TYPE]  # still served


def test_block_after_bad_reads_blocks_the_client_on_the_server_clock(
    mock_sungrow_factory: Any,
) -> None:
    clock = ManualClock()
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    block = server.inject("block-after-bad-reads", reads=2, seconds=600)
    port = _port(server)
    with RawModbus("127.0.0.1", port) as c:
        assert c.read(4, 100, 1) == 2  # one refused read
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]  # answered reads do not count
        assert block.fired == 0
        assert c.read(3, 100, 1) == 2  # two: blocked from the next connection on
        assert block.fired == 1
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]  # this connection stays
    assert _refused(port)
    clock.advance(599)
    assert _refused(port)
    clock.advance(1)
    assert _answers(port)
    with RawModbus("127.0.0.1", port) as c:  # the count started again
        assert c.read(4, 100, 1) == 2
    assert _answers(port)
    assert [r.outcome for r in server.requests.find(fault="block-after-bad-reads")] == [
        "refused", "refused"]


def test_reconnect_cooldown_refuses_a_quick_return_then_lets_it_in(
    mock_sungrow_factory: Any,
) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    port = _port(server)
    before_close = time.monotonic()  # the server notes the close after this instant
    assert _answers(port)  # closed before the fault: a close the fault can see
    wait_until(lambda: not server.traffic.open_connections(LAN_PORT), what="the close")
    server.inject("reconnect-cooldown", seconds=1.0)
    assert _refused(port)  # back at once
    # Poll until it lets the client in: never sooner than a second after the close.

    def let_in() -> bool:
        try:
            return _answers(port)
        except (ConnectionError, AssertionError):
            return False

    wait_until(let_in, timeout=10, interval=0.05, what="the client let in again")
    assert time.monotonic() - before_close >= 1.0
