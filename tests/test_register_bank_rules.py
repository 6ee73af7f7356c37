"""A device's registers as a client sees them change: pins, and writes the plant refuses.

The plant stands still here (a manual clock), so whatever a read answers differently is the
pin or the write, not the sun: a pinned word must show on the next read of the same span, every
time it changes (a front end may keep a reply for as long as the device's words cannot have
changed, and a pin changes them). A write the register limits accept but the plant cannot carry
out is exception 4, with the plant's reason. Documented register N is wire address N - 1.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mock_sungrow import ManualClock
from tests.helpers import RawModbus, control_call

NOON = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)


def test_each_pin_shows_on_the_next_read_of_the_same_span(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus", model="SG10RT", clock=ManualClock(NOON))
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        plant = c.read(4, 5019, 3)          # input 5020-5022: the plant's words, standing still
        assert isinstance(plant, list)
        assert c.read(4, 5019, 3) == plant
        server.set_register("input", 5021, [0x1111])
        assert c.read(4, 5019, 3) == [plant[0], 0x1111, plant[2]]
        server.set_register("input", 5021, [0x2222])   # a second pin of the same word
        assert c.read(4, 5019, 3) == [plant[0], 0x2222, plant[2]]
        server.clear_registers()
        assert c.read(4, 5019, 3) == plant
        server.set_register("input", 5021, [0x3333])   # pinned again after the clear
        assert c.read(4, 5019, 3) == [plant[0], 0x3333, plant[2]]
        server.clear_registers()
        assert c.read(4, 5019, 3) == plant
        server.set_register("input", 5022, [0x4444])
        assert c.read(4, 5019, 3) == [plant[0], plant[1], 0x4444]
        server.clear_registers()                       # a clear and a pin, no read between
        server.set_register("input", 5020, [0x5555])
        assert c.read(4, 5019, 3) == [0x5555, plant[1], plant[2]]


def test_a_clock_write_the_plant_refuses_is_exception_4_with_its_reason(
    mock_sungrow_factory: Any,
) -> None:
    # the server's clock in 2990 (UTC): 2026 is a year holding 5001 accepts (2000..2099), but
    # an inverter clock may be set at most 900 years from the server's
    server = mock_sungrow_factory(server_type="modbus", model="SG10RT", control_port=0,
                                  clock=ManualClock(NOON.replace(year=2990)))
    base = server.get_connection_info("control")["url"].rstrip("/")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        before = c.read(3, 4999, 6)
        assert isinstance(before, list) and before[0] == 2990
        assert c.write(4999, [2026]) == 4
        status, err = control_call(base, "POST", "/registers/holding/write",
                                   {"address": 5000, "values": [2026]})
        assert (status, err["modbus_exception"]) == (409, 4)
        assert err["error"] == ("the inverter clock may be set at most 900 years from the "
                                "server clock; got 2026-01-10T13:00:00+11:00")
        assert c.read(3, 4999, 6) == before


def test_a_low_voltage_pack_s_size_is_the_inverter_s_battery_settings(
    mock_sungrow_factory: Any,
) -> None:
    # An SH*K hybrid's 48 V pack is configured in holding 13056 (nominal voltage, 0.1 V) and
    # 13057 (capacity, Ah), SHproto V1.0.23. The default pack is 6.4 kWh of LFP: 16 cells
    # of 3.2 V nominal = 51.2 V, and 6400 Wh / 51.2 V = 125 Ah, not holding.csv's blank-unit
    # defaults (48.0 V, 200 Ah).
    server = mock_sungrow_factory(server_type="modbus", model="SH5K-V13",
                                  clock=ManualClock(NOON))
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(3, 13055, 2) == [512, 125]
        assert c.write(13056, [200]) is None       # a client writes 200 Ah: kept, as on a unit
        assert c.read(3, 13055, 2) == [512, 200]
