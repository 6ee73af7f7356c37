"""A fault's ``duration`` ends it at its end time, whether or not anything is looking.

Plant faults change the inverter when they end: it restarts from that instant (Standby,
Starting for 20 s, then Run with the PV soft start; docs/faults.md), so what a client reads
after the end must not depend on when the first request after the end arrived. Session faults
give their setting back at the end (``winet-profile``), and a fault list (``server.faults``,
``GET /faults``) no longer shows an ended fault.

Expected values come from the protocol (work states, spec B.5), from the documented restart,
and from a reference server with the same configuration whose fault a test removes by hand
at the end instant: a fault with ``duration=d`` must be indistinguishable from one removed
``d`` seconds after it was injected.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus, control_call, wait_until
from tests.winet_client import Winet, run

#: Input 5038 work state 1 (spec B.5) and hybrid running state 13000.
RUN, STARTING, FAULT = 0x0000, 0x1600, 0x5500
HYBRID_FAULT = 0x0100
#: The restart after a fault: Starting lasts this long before Run (docs/faults.md).
STARTING_S = 20.0
#: Input blocks a monitoring client reads, as (documented first register, count).
STRING_BLOCKS = ((5001, 50), (5051, 50))
HYBRID_BLOCKS = ((5001, 50), (13001, 50), (13051, 50))


def _port(server: MockSungrowServer) -> int:
    return int(server.get_connection_info("modbus")["port"])


def _control(server: MockSungrowServer, method: str, path: str, body: Any = None
             ) -> tuple[int, Any]:
    return control_call(server.get_connection_info("control")["url"].rstrip("/"), method,
                        path, body)


def _blocks(client: RawModbus, blocks: tuple[tuple[int, int], ...]) -> list[list[int]]:
    out = []
    for first, count in blocks:
        words = client.read(4, first - 1, count)
        assert isinstance(words, list), f"input {first} x{count}: exception {words}"
        out.append(words)
    return out


def _state(client: RawModbus, hybrid: bool) -> int:
    words = client.read(4, 12999 if hybrid else 5037, 1)
    assert isinstance(words, list)
    return words[0]


# ----------------------------------------------------------------------------- plant faults


def test_inverter_fault_ends_at_its_end_time_without_any_traffic(
    mock_sungrow_factory: Any,
) -> None:
    clock = ManualClock()  # 10:00 in Sydney: the sun is up, the inverter runs
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", control_port=0,
                                                     clock=clock)
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert _state(client, False) == RUN
        server.inject("inverter-fault", code=37, duration=60)
        assert _state(client, False) == FAULT
        assert client.read(4, 5044, 1) == [37]  # fault code 5045
        clock.advance(120)  # no request on any front end meanwhile
        assert list(server.faults) == [] and len(server.faults) == 0 and not server.faults
        assert server.faults.describe() == []
        assert _control(server, "GET", "/faults") == (200, [])
        # The fault ended 60 s ago: Starting from then for 20 s, then Run (not "Starting,
        # from this read on", which is what timing the restart from the read gives).
        assert _state(client, False) == RUN
        assert client.read(4, 5044, 1) == [0]
        assert server.snapshot().active_power_w > 0


def test_restart_is_timed_from_the_end_not_from_the_next_read(mock_sungrow_factory: Any) -> None:
    clock = ManualClock()
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=clock)
    server.inject("inverter-fault", duration=60)
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert _state(client, False) == FAULT
        clock.advance(60 + STARTING_S - 5)  # inside the Starting phase that began at the end
        assert _state(client, False) == STARTING
        clock.advance(10)  # Starting is over 20 s after the end
        assert _state(client, False) == RUN



def _fault_time(client: RawModbus) -> datetime:
    """Input 5039-5044: the fault time as year, month, day, hour, minute, second."""
    words = client.read(4, 5038, 6)
    assert isinstance(words, list)
    return datetime(*words)  # type: ignore[arg-type]


def test_the_trip_left_by_an_ending_fault_is_dated_at_that_end(
    mock_sungrow_factory: Any,
) -> None:
    """Two trips, the newer one for 60 s: at its end the older code shows, with that time.

    The clock then moves on to 120 s with no request: the fault time says when the older
    trip took over (60 s after the injection), not when someone next looked.
    """
    clock = ManualClock()
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=clock)
    with RawModbus("127.0.0.1", _port(server)) as client:
        server.inject("inverter-fault", code=37)
        server.inject("inverter-fault", code=39, duration=60)
        assert client.read(4, 5044, 1) == [39]
        tripped = _fault_time(client)
        clock.advance(120)
        assert client.read(4, 5044, 1) == [37]
        assert _state(client, False) == FAULT
        assert _fault_time(client) - tripped == timedelta(seconds=60)


def test_a_fault_of_another_kind_does_not_keep_an_ending_trip(mock_sungrow_factory: Any) -> None:
    """At a trip's end only trips still active keep the inverter down, not other kinds.

    The exception fault carries a ``code`` too (4, on a register this test never reads): the
    inverter still restarts and input 5045 reads 0 again.
    """
    clock = ManualClock()
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=clock)
    server.inject("exception", code=4, table="holding", address=13000)
    server.inject("inverter-fault", code=37, duration=60)
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert client.read(4, 5044, 1) == [37]
        clock.advance(60 + STARTING_S + 5)
        assert _state(client, False) == RUN
        assert client.read(4, 5044, 1) == [0]
    assert [f.kind.name for f in server.faults] == ["exception"]


Move = Callable[[MockSungrowServer, ManualClock, float], None]


def _advance(server: MockSungrowServer, clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)


def _server_advance(server: MockSungrowServer, clock: ManualClock, seconds: float) -> None:
    server.advance(seconds)


def _set(server: MockSungrowServer, clock: ManualClock, seconds: float) -> None:
    clock.set(clock.time() + seconds)


def _control_advance(server: MockSungrowServer, clock: ManualClock, seconds: float) -> None:
    assert _control(server, "POST", "/clock", {"advance": seconds})[0] == 200


def _control_set(server: MockSungrowServer, clock: ManualClock, seconds: float) -> None:
    when = datetime.fromtimestamp(clock.time() + seconds, timezone.utc)
    assert _control(server, "POST", "/clock", {"set": when.isoformat()})[0] == 200


#: Without a battery a hybrid off the grid neither imports nor exports, and on it it does.
NO_BATTERY = {"battery_kwh": 0, "house_load": 6000.0}
CASES = [
    pytest.param("SG5K-D", {}, [("inverter-fault", {"code": 37}, 60)], _advance,
                 id="string-trip"),
    pytest.param("SG5K-D", {}, [("grid-outage", {}, 90)], _set, id="string-outage-clock-set"),
    pytest.param("SH10RT", {}, [("inverter-fault", {"code": 37}, 60)], _server_advance,
                 id="hybrid-trip-server-advance"),
    pytest.param("SH10RT", NO_BATTERY, [("grid-outage", {}, 300)], _control_advance,
                 id="hybrid-off-grid-control-api"),
    pytest.param("SG5K-D", {}, [("inverter-fault", {"code": 37}, 60),
                                ("inverter-fault", {"code": 39}, 150)], _control_set,
                 id="two-trips-overlapping"),
]
#: How long after the last end the registers are compared.
AFTER_S = 600.0


@pytest.mark.parametrize(("model", "options", "faults", "move"), CASES)
def test_a_duration_fault_is_a_fault_removed_at_its_end(
    mock_sungrow_factory: Any, model: str, options: dict[str, Any],
    faults: list[tuple[str, dict[str, Any], float]], move: Move,
) -> None:
    """Registers after the end equal those of a server whose faults were removed at the end."""
    hybrid = model.startswith("SH")
    blocks = HYBRID_BLOCKS if hybrid else STRING_BLOCKS
    timed_clock, reference_clock = ManualClock(), ManualClock()
    timed = mock_sungrow_factory(model=model, server_type="modbus", control_port=0,
                                 clock=timed_clock, **options)
    reference = mock_sungrow_factory(model=model, server_type="modbus", clock=reference_clock,
                                     **options)
    last_end = max(duration for _kind, _params, duration in faults)
    with RawModbus("127.0.0.1", _port(timed)) as a, RawModbus("127.0.0.1", _port(reference)) as b:
        assert _blocks(a, blocks) == _blocks(b, blocks)  # same configuration, same instant
        by_hand = []
        for kind, params, duration in faults:
            timed.inject(kind, duration=duration, **params)
            by_hand.append((duration, reference.inject(kind, **params)))
        assert _blocks(a, blocks) == _blocks(b, blocks)
        # The reference: its clock stops at each end, and the fault is removed there.
        elapsed = 0.0
        for duration, fault in sorted(by_hand, key=lambda item: item[0]):
            reference_clock.advance(duration - elapsed)
            elapsed = duration
            fault.remove()
        reference_clock.advance(last_end + AFTER_S - elapsed)
        # The timed server: one move, far past every end, with no request in between.
        move(timed, timed_clock, last_end + AFTER_S)
        assert timed_clock.time() == reference_clock.time()
        assert len(timed.faults) == 0
        after = _blocks(a, blocks)
        assert after == _blocks(b, blocks)
        assert _state(a, hybrid) != (HYBRID_FAULT if hybrid else FAULT)


# ----------------------------------------------------------------------------- session faults


def test_winet_profile_with_a_duration_gives_the_profile_back_on_time(
    mock_sungrow_factory: Any,
) -> None:
    clock = ManualClock()
    server: MockSungrowServer = mock_sungrow_factory(server_type="http", clock=clock,
                                                     control_port=0)
    server.inject("winet-profile", profile="login", duration=60)
    assert server.get_connection_info("http")["winet_profile"] == "login"

    async def real_without_login() -> int:
        async with Winet(server) as w:
            session = await w.session()
            reply = await session.call("real", dev_id="1")
            return int(reply["result_code"])

    assert run(real_without_login()) == 401  # login firmware: services need a login
    clock.advance(61)
    # No request arrived: the profile is back anyway, and nothing lists the fault.
    assert server.get_connection_info("http")["winet_profile"] == "legacy"
    assert server.winet_settings.profile == "legacy"
    assert _control(server, "GET", "/faults") == (200, [])
    assert run(real_without_login()) == 1


def test_the_newest_winet_profile_fault_wins_and_the_older_one_returns(
    mock_sungrow_factory: Any,
) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="http")

    async def real_without_login() -> int:
        async with Winet(server) as w:
            session = await w.session()
            reply = await session.call("real", dev_id="1")
            return int(reply["result_code"])

    older = server.inject("winet-profile", profile="login")
    newer = server.inject("winet-profile", profile="legacy")
    assert run(real_without_login()) == 1  # the newer legacy firmware: no login needed
    newer.remove()
    assert run(real_without_login()) == 401  # the older fault's login firmware is back
    older.remove()
    assert server.get_connection_info("http")["winet_profile"] == "legacy"  # the configured


# ----------------------------------------------------------------------------- the real clock


def test_idle_timeout_with_a_duration_stops_closing_connections_when_it_ends(
    mock_sungrow_factory: Any,
) -> None:
    """On the real clock a timer ends the fault: the idle timer it armed is taken back."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert client.read(4, 4999, 1) == [0x0126]
        # Idle connections would be closed after 1 s, but the fault lasts 0.3 s only.
        server.inject("idle-timeout", seconds=1.0, duration=0.3)
        client.sock.settimeout(2.5)
        with pytest.raises(socket.timeout):  # nothing arrives: no close at 1 s
            client.sock.recv(1)
        client.sock.settimeout(2.0)
        assert client.read(4, 4999, 1) == [0x0126]
    assert [r.outcome for r in server.requests.all()] == ["ok", "ok"]


def test_wait_returns_once_duration_faults_have_ended_and_they_are_gone(
    mock_sungrow_factory: Any,
) -> None:
    clock = ManualClock()
    manual: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=clock)
    manual.inject("inverter-fault", duration=60)
    clock.advance(61)
    manual.wait(1)
    assert len(manual.faults) == 0
    with RawModbus("127.0.0.1", _port(manual)) as client:
        assert _state(client, False) != FAULT

    real: MockSungrowServer = mock_sungrow_factory(server_type="modbus", control_port=0)
    real.inject("inverter-fault", duration=0.3)
    with RawModbus("127.0.0.1", _port(real)) as client:
        assert _state(client, False) == FAULT
        status, body = _control(real, "POST", "/faults/wait", {"timeout": 10})
        assert (status, body) == (200, {"done": True})
        assert _control(real, "GET", "/faults") == (200, [])
        assert _state(client, False) != FAULT


def test_ended_faults_are_logged_with_their_own_time(mock_sungrow_factory: Any) -> None:
    """The request log's times are the server clock: a request after the end shows no fault."""
    clock = ManualClock()
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=clock)
    server.inject("exception", code=4, duration=60)
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert client.read(4, 4999, 1) == 4
        clock.advance(60)  # exactly at the end: over
        assert not server.faults
        assert client.read(4, 4999, 1) == [0x0126]
    first, second = server.requests.all()
    assert (first.fault, second.fault) == ("exception", None)
    assert second.time - first.time == 60


def test_a_duration_fault_ends_on_the_real_clock_with_nothing_looking(
    mock_sungrow_factory: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing reads, lists or connects: the server's own timer ends the fault on time.

    ``get_connection_info`` only reports the dongle's profile (it ends no fault), so the
    profile coming back shows the end was timed on the loop. Stopping with a longer fault
    still pending takes its timer back without an error in the loop's log.
    """
    caplog.set_level(logging.ERROR, logger="asyncio")
    server: MockSungrowServer = mock_sungrow_factory(server_type="http")

    def profile() -> str:
        return str(server.get_connection_info("http")["winet_profile"])

    server.inject("winet-profile", profile="login", duration=0.2)
    assert profile() == "login"
    wait_until(lambda: profile() != "login", timeout=10, what="the 0.2 s fault's end")
    assert profile() == "legacy"  # the configured one
    server.inject("winet-profile", profile="login", duration=60)
    server.stop()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_stopping_with_a_fault_still_timed_leaves_no_loop_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The timer for a duration fault's end is cancelled as the server stops, cleanly: the
    loop logs no failed callback. Unlike the end of the test above, a read answered first
    makes sure the loop has armed the timer, so the cancel is what stop() takes back."""
    server = MockSungrowServer(server_type="modbus", modbus_port=0)
    server.start()
    try:
        server.inject("latency", delay=0.001, duration=60)
        with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
            # Answered on the loop after the timer was armed there (call_soon runs in order).
            assert c.read(4, 4999, 1) == [0x0126]
    finally:
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            server.stop()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
