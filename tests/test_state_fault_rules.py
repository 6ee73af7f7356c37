"""Plant faults change the inverter while the newest of their kind is active, and count once
(docs/faults.md: ``inverter-fault`` "work state Fault (0x5500), fault code in 5045",
``grid-outage`` "string inverters trip with fault 10"; the restart is Standby/Starting 0x1600
then Run).

Raw Modbus TCP reads of input 5038 (work state 1, spec B.5) and 5045 (fault code) on a
manual clock.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mock_sungrow import ManualClock
from tests.helpers import RawModbus

RUN, STARTING, FAULT = 0x0000, 0x1600, 0x5500
GRID_FAULT_CODE = 10


def _state(c: RawModbus) -> tuple[int, int]:
    """(work state 5038, fault code 5045)."""
    state, code = c.read(4, 5037, 1), c.read(4, 5044, 1)
    assert isinstance(state, list) and isinstance(code, list)
    return state[0], code[0]


def test_the_newest_inverter_fault_shows_and_the_last_one_restarts_it(
    mock_sungrow_factory: Any,
) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc))
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert _state(c) == (RUN, 0)
        older = server.inject("inverter-fault", code=37)
        assert _state(c) == (FAULT, 37)
        newer = server.inject("inverter-fault", code=12)
        assert _state(c) == (FAULT, 12)
        assert (older.fired, newer.fired) == (1, 1)  # each counted once, when it acted
        newer.remove()
        assert _state(c) == (FAULT, 37)  # the older one is still active
        older.remove()
        assert _state(c) == (STARTING, 0)  # restarting
        assert (older.fired, newer.fired) == (1, 1)  # an end is no firing
        clock.advance(3600)
        assert _state(c)[0] == RUN


def test_the_grid_stays_down_while_any_outage_lasts(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc))
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        first = server.inject("grid-outage")
        second = server.inject("grid-outage", duration=60)
        assert _state(c) == (FAULT, GRID_FAULT_CODE)
        first.remove()
        assert _state(c) == (FAULT, GRID_FAULT_CODE)
        clock.advance(60)  # the second one's end
        assert _state(c) == (STARTING, 0)
        assert (first.fired, second.fired) == (1, 1)


def test_faults_that_only_restart_timers_are_not_counted(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    idle = server.inject("idle-timeout", seconds=300)
    assert idle.fired == 0
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == [0x0126]
    assert idle.fired == 0


def test_a_grid_outage_naming_a_device_trips_that_inverter_only() -> None:
    """Two string inverters, each with its LAN port: the outage named by the second one's
    serial trips it (fault 10) and leaves the first running."""
    from mock_sungrow import MockSungrowServer

    clock = ManualClock(datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc))
    site = {"inverter": [{"model": "SG5K-D", "ports": {"modbus": 0}},
                         {"model": "SG5K-D", "ports": {"modbus": 0}}]}
    with MockSungrowServer(installation=site, clock=clock) as server:
        second = server.inverters[1]
        ports = [server.get_connection_info("modbus", device=f"inverter[{i}]")["port"]
                 for i in (1, 2)]
        server.inject("grid-outage", device=second.serial)
        with RawModbus("127.0.0.1", ports[0]) as first_c, \
                RawModbus("127.0.0.1", ports[1]) as second_c:
            assert _state(second_c) == (FAULT, GRID_FAULT_CODE)
            assert _state(first_c) == (RUN, 0)
