"""What the plant-derived input registers read, as a monitoring client sees them over Modbus.

Each expectation is a literal word from the protocol's enumerations (spec §B.5: output type,
work states, running state, power-flow bits, grid state, country) or a relation between two
readings of independent servers (a 3P3L model's line voltage is √3 times the phase voltage a
3P4L model of the same seed reads), never a value computed with the product's encoder.
Documented register N is wire address N - 1.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus

SYDNEY = ZoneInfo("Australia/Sydney")
#: A summer day at 13:00 in Sydney: every string inverter runs.
NOON = datetime(2026, 1, 10, 13, 0, tzinfo=SYDNEY)


def _read(server: MockSungrowServer, doc: int, count: int = 1, fc: int = 4,
          unit: int = 1) -> list[int]:
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        words = r.read(fc, doc - 1, count, unit)
    assert isinstance(words, list), f"exception {words} reading {doc} x {count}"
    return words


# ----------------------------------------------------------------------------- identity


@pytest.mark.parametrize(
    ("timezone", "code"),
    [
        ("Europe/London", 0),       # GB
        ("Europe/Berlin", 1),       # DE
        ("Australia/Sydney", 6),    # AU
        ("Australia/Perth", 20),    # AU-West
        ("America/New_York", 61),   # US
        ("America/Toronto", 60),    # CA
        ("Asia/Tokyo", 16),         # other 50 Hz: not in the list
        ("Africa/Nairobi", 16),
    ],
)
def test_present_country_follows_the_site(mock_sungrow_factory: Any, timezone: str,
                                          code: int) -> None:
    server = mock_sungrow_factory(server_type="modbus", timezone=timezone,
                                  clock=ManualClock(NOON))
    assert _read(server, 5114) == [code]  # input 5114 country (spec B.5)


@pytest.mark.parametrize(
    ("model", "output_type"),
    [("SG5K-D", 0), ("SG3.0RS", 0), ("SG10RT", 1), ("SG250HX", 2)],
)
def test_output_type_follows_phases_and_size(mock_sungrow_factory: Any, model: str,
                                             output_type: int) -> None:
    # 5002: 0 single phase, 1 three-phase 3P4L, 2 three-phase 3P3L (spec B.5); models.csv
    # gives SG5K-D and SG3.0RS one phase, SG10RT three at 10 kW, SG250HX three at 250 kW.
    server = mock_sungrow_factory(model=model, server_type="modbus", clock=ManualClock(NOON))
    assert _read(server, 5002) == [output_type]


def test_a_three_wire_output_reads_line_voltages(mock_sungrow_factory: Any) -> None:
    four_wire = mock_sungrow_factory(model="SG10RT", server_type="modbus",
                                     clock=ManualClock(NOON))
    three_wire = mock_sungrow_factory(model="SG250HX", server_type="modbus",
                                      clock=ManualClock(NOON))
    single = mock_sungrow_factory(model="SG5K-D", server_type="modbus", clock=ManualClock(NOON))
    phase = _read(four_wire, 5019, 3)   # 0.1 V: phase-to-neutral, about 230 V
    line = _read(three_wire, 5019, 3)   # 0.1 V: phase-to-phase, about 400 V
    assert all(2000 < w < 2600 for w in phase), phase
    assert all(3500 < w < 4500 for w in line), line
    assert line[0] == pytest.approx(phase[0] * 3**0.5, abs=2)
    # a single-phase model has no phase B or C: U16 unavailable (spec B.2)
    assert _read(single, 5019, 3)[1:] == [0xFFFF, 0xFFFF]


def test_ratings_and_the_seeded_insulation_resistance(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SG10RT", server_type="modbus", seed=7,
                                  clock=ManualClock(NOON))
    # 5001 nominal active power (0.1 kW) and 5049 nominal reactive power (0.1 kvar): a 10 kW
    # model, whose reactive capability the project sets at 60 % of its rating.
    assert _read(server, 5001) == [100]
    assert _read(server, 5049) == [60]
    # 5071 insulation resistance (kOhm): a plausible 1200..1599, fixed by the seed.
    assert _read(server, 5071) == [1207]
    other = mock_sungrow_factory(model="SG10RT", server_type="modbus", seed=401,
                                 clock=ManualClock(NOON))
    assert _read(other, 5071) == [1201]


def test_the_heart_beat_counts_seconds(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(NOON)
    server = mock_sungrow_factory(model="SG10RT", server_type="modbus", clock=clock)
    # input 5143 heart beat: the Unix time in seconds, modulo 2**16
    assert _read(server, 5143) == [int(NOON.timestamp()) % 65536]
    clock.advance(65536 + 5)
    assert _read(server, 5143) == [(int(NOON.timestamp()) + 5) % 65536]


# ----------------------------------------------------------------------------- state words


def _string_states(server: MockSungrowServer) -> tuple[int, list[int]]:
    """(work state 1 at 5038, work state 2 at 5081-5082 low word first)."""
    return _read(server, 5038)[0], _read(server, 5081, 2)


def test_string_work_states_follow_the_plant(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(NOON)
    server = mock_sungrow_factory(model="SG10RT", server_type="modbus", clock=clock)
    # Run: 5038 0x0000; 5081 bit 0 run and bit 17 grid-connected
    assert _string_states(server) == (0x0000, [0x0001, 0x0002])
    assert _read(server, 5039, 7) == [0] * 7  # fault time and code: 0 while healthy
    # Stop (holding 5006 = 0xCE): 0x8000; bit 1
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.write(5005, [0xCE]) is None
    assert _string_states(server) == (0x8000, [0x0002, 0x0000])
    # Start (0xCF): Starting 0x1600, bit 6
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.write(5005, [0xCF]) is None
    assert _string_states(server) == (0x1600, [0x0040, 0x0000])
    clock.advance(60)
    assert _string_states(server) == (0x0000, [0x0001, 0x0002])
    # Emergency stop (Python API: string inverters have no register for it): 0x1500, bit 5
    server.plant.emergency_stop()
    assert _string_states(server) == (0x1500, [0x0020, 0x0000])


def test_a_fault_sets_state_time_and_code(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 13, 4, 5, tzinfo=SYDNEY))
    server = mock_sungrow_factory(model="SG10RT", server_type="modbus", clock=clock)
    server.inject("inverter-fault", code=37)
    clock.advance(70)
    # Fault 0x5500; 5081 bit 9 fault and bit 18 fault stop
    assert _string_states(server) == (0x5500, [0x0200, 0x0004])
    # 5039-5044 fault time (local Y M D h m s, when it tripped), 5045 fault code
    assert _read(server, 5039, 7) == [2026, 1, 10, 13, 4, 5, 37]


def test_night_is_standby(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SG10RT", server_type="modbus",
                                  clock=ManualClock(datetime(2026, 1, 10, 1, 0, tzinfo=SYDNEY)))
    assert _string_states(server) == (0x1400, [0x0010, 0x0000])  # Standby, bit 4


def test_hybrid_state_words(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(NOON)
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, server_type="modbus",
                                  clock=clock)
    assert _read(server, 13000) == [0x0040]  # Running
    assert _read(server, 13030) == [0xFFFF]  # 0xFFFF: what every recorded SH*RT sends
    flow = _read(server, 13001)[0]
    # 13001: bit 0 PV generating and bit 3 load active at noon; never bits 6-15
    assert flow & 0b1001 == 0b1001 and flow < 0x40, hex(flow)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.write(12999, [0xBB]) is None  # holding 13000: 0xBB emergency stop
    assert _read(server, 13000) == [0x0002]   # stop, in the set every client knows
    assert _read(server, 13001)[0] & 0b1 == 0  # no PV while stopped
    server.inject("grid-outage")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.write(12999, [0xCF]) is None
    clock.advance(60)
    assert _read(server, 13000) == [0x1000]  # off-grid running
    assert _read(server, 13030) == [0xFFFF]


def test_grid_state_word_of_a_family_nobody_recorded(mock_sungrow_factory: Any) -> None:
    """SHproto V1.0.23's grid state at input 13030 (0x55 on-grid, 0xAA off-grid) on an
    SH5.0RS: no recording of an RS says otherwise (the SH*RT's read 0xFFFF)."""
    clock = ManualClock(NOON)
    server = mock_sungrow_factory(model="SH5.0RS", battery_kwh=9.6, server_type="modbus",
                                  clock=clock)
    assert _read(server, 13030) == [0x55]
    server.inject("grid-outage")
    clock.advance(60)
    assert _read(server, 13030) == [0xAA]


# ----------------------------------------------------------------------------- derived values


def test_string_currents_split_their_tracker(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SG250HX", server_type="modbus",
                                  clock=ManualClock(NOON))
    strings = _read(server, 7013, 32)  # input 7013-7044: string 1-32 currents, 0.01 A
    assert server.plant.strings_per_mppt == 2
    for mppt in range(1, 13):          # 12 trackers, two strings each: half the current
        amps = server.read(f"mppt_{mppt}_current")
        for word in strings[2 * mppt - 2: 2 * mppt]:
            assert word / 100 == pytest.approx(amps / 2, abs=0.06), (mppt, word, amps)
    assert strings[24:] == [0] * 8     # no string there: 0 A, not "unavailable"


def test_battery_pack_words(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH5K-20", battery_kwh=9.6, server_type="modbus",
                                  clock=ManualClock(NOON))
    snap = server.snapshot()
    cycles, average, highest, lowest = _read(server, 13111, 4)
    # 13111 cycle count: charge plus discharge throughput over twice the 9.6 kWh capacity
    assert cycles == round((snap.total_charge_kwh + snap.total_discharge_kwh) / (2 * 9.6))
    # 13112-13114 cell voltages (mV): the pack voltage over its cells, then a small spread
    assert server.plant.battery is not None
    cells = server.plant.battery.cells
    assert average == round(snap.battery_voltage_v / cells * 1000)
    assert lowest < average < highest


def test_self_consumption_and_alarm_words(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, server_type="modbus",
                                  clock=ManualClock(NOON))
    snap = server.snapshot()
    # 13029: today's PV used on site, 0.1 %
    share = 100 * (1 - snap.daily_export_pv_kwh / snap.daily_pv_kwh)
    assert _read(server, 13029) == [round(share * 10)]
    assert 0 < share < 100
    assert _read(server, 13050, 2) == [0, 0]  # with a meter: no alarm
    flow = _read(server, 13001)[0]
    expect = 0b1 | 0b1000                     # PV generating, load active
    if snap.grid_power_w < -10:
        expect |= 1 << 4                      # feeding the grid
    if snap.grid_power_w > 10:
        expect |= 1 << 5                      # importing
    if snap.battery_power_w > 10:
        expect |= 1 << 1                      # charging
    if snap.battery_power_w < -10:
        expect |= 1 << 2                      # discharging
    assert flow == expect, (bin(flow), snap.grid_power_w, snap.battery_power_w)

    no_meter = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, meter=False,
                                    server_type="modbus", clock=ManualClock(NOON))
    # 13050-13051 inverter alarm (U32, low word first): bit 30 "meter communication alarm"
    assert _read(no_meter, 13050, 2) == [0, 0x4000]
    # and every meter reading is S32 unavailable: 0x7FFFFFFF
    assert _read(no_meter, 5601, 8) == [0xFFFF, 0x7FFF] * 4


def test_self_consumption_is_full_before_sunrise(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, server_type="modbus",
                                  clock=ManualClock(datetime(2026, 1, 10, 0, 30,
                                                             tzinfo=SYDNEY)))
    assert server.snapshot().daily_pv_kwh == 0
    assert _read(server, 13029) == [1000]     # no PV yet today: 100.0 %
    assert _read(server, 13001)[0] & 0b1 == 0  # and no PV bit


def _u32s(words: list[int]) -> list[int]:
    """Sungrow's U32: the low word at the lower address (field survey: "low word first")."""
    return [lo | hi << 16 for lo, hi in zip(words[::2], words[1::2], strict=True)]


@pytest.mark.parametrize(("address", "monthly"),  # PV, direct use, export, battery charge
                         [(6250, 6227), (6429, 6417), (6608, 6596), (6787, 6775)])
def test_the_yearly_arrays_are_a_calendar_from_2015_as_recorded(mock_sungrow_factory: Any,
                                                               address: int,
                                                               monthly: int) -> None:
    # The SH8.0RT-20 recorded in January 2024 (../shared/dumps): U32 x 20, entry 0 is 2015,
    # 2023 at entry 8 and 2024 at entry 9, zeros in entries 10-14 (years to come), and
    # 0xFFFF in every word of entries 15-19 (the firmware keeps fifteen years). The mock's
    # plant was installed two years before its clock: 2015-2021 read zero. Each array has
    # a monthly twin (U16 x 12, 0.1 kWh, January first, registers.csv): in January, this
    # year's energy is January's.
    server = mock_sungrow_factory(model="SH10RT", server_type="modbus",
                                  clock=ManualClock(datetime(2024, 1, 10, 13, 0,
                                                             tzinfo=SYDNEY)))
    years = _u32s(_read(server, address, 40))
    january = _read(server, monthly, 12)
    assert years[:7] == [0] * 7, years
    assert all(0 < y < 0xFFFFFFFF for y in years[7:10]), years
    assert years[9] == january[0] > 0 and january[1:] == [0] * 11
    assert years[9] < years[8]                 # ten days of 2024 against all of 2023
    assert years[10:15] == [0] * 5
    assert years[15:] == [0xFFFFFFFF] * 5
