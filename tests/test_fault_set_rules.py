"""The active faults of a server: ids, removal, listing and the phases a fault acts in
(docs/faults.md: "server.inject(...) returns the fault", "server.clear_faults() removes all",
"GET /faults no longer lists it").

Through ``server.faults`` / ``server.inject`` and the control API over a real socket, and the
answers a raw Modbus TCP client then gets.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus, closed_by_peer, control_call

DEVICE_TYPE = 0x0126


def _kinds(server: MockSungrowServer) -> list[tuple[int, str]]:
    return [(f["id"], f["kind"]) for f in server.faults.describe()]


def test_ids_count_up_and_are_never_reused(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus", control_port=0)
    base = server.get_connection_info("control")["url"].rstrip("/")
    a = server.inject("latency", delay=0.001)
    b = server.inject("zeros", table="holding", address=1)
    assert (a.id, b.id) == (1, 2)
    assert server.faults.remove(1) is True
    assert server.faults.remove(1) is False  # gone already
    assert server.faults.remove(99) is False
    c = server.inject("drop", times=1)
    assert c.id == 3 and _kinds(server) == [(2, "zeros"), (3, "drop")]
    assert len(server.faults) == 2 and bool(server.faults)
    assert list(server.faults) == [b, c]
    status, body = control_call(base, "DELETE", "/faults/2")
    assert (status, body) == (200, {"removed": 2})
    status, body = control_call(base, "DELETE", "/faults/2")
    assert (status, body["error"]) == (404, "no fault with id 2")
    status, body = control_call(base, "DELETE", "/faults")
    assert (status, body) == (200, {"cleared": True})
    assert not server.faults and len(server.faults) == 0 and list(server.faults) == []


def test_a_removed_fault_injected_again_is_active_again(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    fault = server.inject("exception", code=4)
    fault.remove()
    assert fault.ended_at is not None
    again = server.inject(fault)
    assert again is fault and fault.id == 2 and fault.ended_at is None and not fault.expired
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == 4


def test_removal_and_clearing_end_faults_at_that_instant(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc))
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    start = clock.time()
    one = server.inject("drop")
    two = server.inject("silence", duration=100)
    clock.advance(5)
    one.remove()
    assert one.ended_at == start + 5 and not one.expired
    clock.advance(5)
    server.clear_faults()
    assert two.ended_at == start + 10 and not two.expired
    three = server.inject("silence", duration=10)
    clock.advance(10)  # its end, reached by moving the clock
    assert not server.faults
    assert three.ended_at == start + 20 and three.expired


def test_count_limited_faults_stay_listed_once_used_up(mock_sungrow_factory: Any) -> None:
    """A used-up fault stays in the list (to show it fired) but no longer acts."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("exception", code=4, times=2)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert [c.read(4, 4999, 1) for _ in range(3)] == [4, 4, [DEVICE_TYPE]]
    assert [(f["kind"], f["fired"], f["times"]) for f in server.faults.describe()] == [
        ("exception", 2, 2)]
    server.wait(1)  # nothing left to wait for


def test_ordered_faults_wait_for_their_turn_whatever_they_match(mock_sungrow_factory: Any
                                                                ) -> None:
    """Only the first ordered fault not yet used up acts; unordered ones act meanwhile."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("exception", code=3, times=1, ordered=True, table="holding")
    server.inject("exception", code=4, times=1, ordered=True)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]  # the first's turn: it matches no input read
        assert c.read(3, 4999, 1) == 3
        assert c.read(3, 4999, 1) == 4
        assert isinstance(c.read(3, 4999, 1), list)  # both used up


def test_phases_are_asked_in_order_whatever_the_injection_order(mock_sungrow_factory: Any
                                                                ) -> None:
    """A connection fault (night-shutdown) decides before a request fault injected first."""
    clock = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc))  # 23:00 Sydney
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]  # admitted before the faults
        server.inject("exception", code=4)
        server.inject("night-shutdown")
        server.inject("latency", delay=0.01)  # settled before it: not counted either
        c.send(c.frame(1, bytes.fromhex("04 13 87 00 01")))
        assert closed_by_peer(c.sock)  # dropped, not answered with exception 4
    assert [(r.outcome, r.fault) for r in server.requests.all()] == [
        ("ok", None), ("dropped", "night-shutdown")]
    assert [(f["kind"], f["fired"]) for f in server.faults.describe()] == [
        ("exception", 0), ("night-shutdown", 1), ("latency", 0)]



def test_by_day_the_night_shutdown_leaves_requests_to_the_other_faults(
    mock_sungrow_factory: Any,
) -> None:
    """At noon (Sydney) the night shutdown does nothing: an exception fault injected after it
    still answers, and only that fault is counted."""
    clock = ManualClock(datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc))  # 13:00 Sydney
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    server.inject("night-shutdown")
    server.inject("exception", code=4)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == 4
    assert [(f["kind"], f["fired"]) for f in server.faults.describe()] == [
        ("night-shutdown", 0), ("exception", 1)]

def test_the_version_changes_with_every_change(mock_sungrow_factory: Any) -> None:
    """``FaultSet.version`` lets a caller cache "no faults": every change gives a new one."""
    server = mock_sungrow_factory(server_type="modbus")
    seen = [server.faults.version]
    fault = server.inject("drop")
    seen.append(server.faults.version)
    server.inject("silence")
    seen.append(server.faults.version)
    fault.remove()
    seen.append(server.faults.version)
    server.clear_faults()
    seen.append(server.faults.version)
    assert len(set(seen)) == len(seen), seen


def test_clearing_a_trip_lets_the_inverter_restart(mock_sungrow_factory: Any) -> None:
    """``clear_faults`` ends an inverter fault as removing it does: fault code 0, no Fault.

    Input 5038 (work state 1, spec B.5): 0x5500 Fault, 0x1600 Starting after it.
    """
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=ManualClock())
    server.inject("inverter-fault", code=37)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 5037, 1) == [0x5500] and c.read(4, 5044, 1) == [37]
        server.clear_faults()
        assert c.read(4, 5037, 1) == [0x1600] and c.read(4, 5044, 1) == [0]
    assert not server.faults
