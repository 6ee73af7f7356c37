"""The active faults of a server: ids, removal, listing and the phases a fault acts in
(docs/faults.md: "server.inject(...) returns the fault", "server.clear_faults() removes all",
"GET /faults no longer lists it").

Through ``server.faults`` / ``server.inject`` and the control API over a real socket, and the
answers a raw Modbus TCP client then gets; the set's own clock rules (what ends when, and who
is told) on a ``FaultSet`` whose clock only the test moves.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.faults.faultset import FaultSet
from mock_sungrow.faults.spec import Fault, fault_from
from tests.helpers import RawModbus, closed_by_peer, control_call
from tests.winet_client import Winet, run

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
    assert again is fault and fault.id == 2 and fault.ended_at is None
    assert fault.expired is False  # a bool, as the attribute says, not just falsy
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


def test_unordered_faults_act_behind_ordered_ones_that_wait(mock_sungrow_factory: Any
                                                            ) -> None:
    """An ordered fault that does not match, and one whose turn has not come, leave the
    faults injected after them to act (docs/faults.md: "unordered faults act meanwhile")."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("exception", code=3, times=1, ordered=True, table="holding")
    server.inject("exception", code=2, times=1, ordered=True)
    server.inject("exception", code=4, table="input")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == 4  # the first's turn, no match; the second waits
        assert c.read(3, 4999, 1) == 3  # the first's turn, and it matches
        assert c.read(4, 4999, 1) == 2  # the second's turn: it comes before the third
        assert c.read(4, 4999, 1) == 4


def test_a_modbus_fault_leaves_the_winet_api_alone(mock_sungrow_factory: Any) -> None:
    """``exception`` acts on Modbus front ends only: on a server with both, a WiNet-S
    getParam of the same register meets the WiNet-S fault injected after it, then reads
    the device type (spec B.1: 0x0126; winet-protocol.md: param_value is space-separated
    hex bytes with a trailing space)."""
    server = mock_sungrow_factory(server_type="both")
    server.inject("exception", code=4)

    async def go(after: str | None = None) -> tuple[int, str, str]:
        async with Winet(server) as w:
            s = await w.session()
            if after:  # the session has its token: now a WiNet-S fault, after the exception
                server.inject(after, code=106, times=1)
            return await w.raw("GET", "/device/getParam", params={
                "dev_id": 1, "type": 3, "param_addr": 5000, "param_num": 1, "param_type": 0,
                "token": s.token})

    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == 4
    status, _, body = run(go("winet-result"))
    reply = json.loads(body)
    assert (status, reply["result_code"]) == (200, 106), reply
    assert [(f["kind"], f["fired"]) for f in server.faults.describe()] == [
        ("exception", 1), ("winet-result", 1)]
    status, _, body = run(go())
    assert json.loads(body)["result_data"] == {"param_value": "01 26 "}  # used up


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


class _Clock:
    """A clock that moves only when told, and tells nobody (unlike ManualClock)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _watched(clock: _Clock) -> tuple[FaultSet, list[tuple[int, bool, float | None]]]:
    faults = FaultSet(clock)
    seen: list[tuple[int, bool, float | None]] = []
    faults.add_listener(lambda f, added: seen.append((f.id, added, f.ended_at)))
    return faults, seen


def _timed(seconds: float) -> Fault:
    return fault_from("silence", duration=seconds)


def test_a_listing_ends_a_fault_whose_time_is_over() -> None:
    """Listing the set (and asking it for a phase's faults) ends what is over, at its end:
    the listeners hear of it then, with no clock move and no request to trigger it."""
    clock = _Clock()
    faults, seen = _watched(clock)
    one = faults.inject(_timed(5))
    clock.t += 6
    assert faults.live() == [] and seen == [(1, True, None), (1, False, 105.0)]
    assert one.expired is True
    faults.inject(_timed(5))
    clock.t += 6
    assert faults.active("request") == []
    assert seen[-1] == (2, False, 111.0)


def test_expire_ends_what_is_over_by_the_instant_given() -> None:
    """``expire(now)`` uses ``now``, not the clock (a manual clock tells its new time)."""
    clock = _Clock()
    faults, seen = _watched(clock)
    faults.inject(_timed(5))
    faults.expire(104.0)
    assert faults.next_end() == 105.0 and len(seen) == 1
    faults.expire(105.0)
    assert faults.next_end() is None and seen[-1] == (1, False, 105.0)
    other = faults.inject(fault_from("drop"))
    assert faults.remove(other.id) and seen[-1] == (2, False, 100.0)  # removed: now


def test_a_listener_that_looks_at_the_set_does_not_reenter_expiry() -> None:
    """Two faults due at once end one after the other: the first one's listeners have all
    run, even one that lists the set meanwhile, before the second is removed."""
    clock = _Clock()
    faults = FaultSet(clock)
    order: list[tuple[int, str]] = []

    def listener(fault: Fault, added: bool) -> None:
        if not added:
            order.append((fault.id, "in"))
            faults.live()
            order.append((fault.id, "out"))

    faults.add_listener(listener)
    faults.inject(_timed(5))
    faults.inject(_timed(6))
    clock.t += 10
    faults.expire()
    assert order == [(1, "in"), (1, "out"), (2, "in"), (2, "out")]


def test_live_at_an_instant_lists_what_was_active_then() -> None:
    """``live(at)`` answers for that instant without ending anything: a fault counts from
    its injection up to (not including) its end."""
    clock = _Clock()
    faults = FaultSet(clock)
    first = faults.inject(_timed(5))  # 100 to 105
    clock.t = 102.0
    second = faults.inject(fault_from("drop"))  # from 102, no end
    assert faults.live(99.0) == []  # before either was injected
    assert faults.live(101.0) == [first]
    assert faults.live(104.5) == [first, second]
    assert faults.live(105.0) == [second]  # its end: over
    assert faults.live(106.0) == [second] and faults.next_end() == 105.0  # nothing ended
