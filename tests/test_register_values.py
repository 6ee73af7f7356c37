"""What the plant-derived registers read at their edges, as a Modbus client decodes them.

tests/test_register_reads_rules.py covers the enumerations and the common case; this file sets
the plant to the instants where a reading changes meaning (a flow exactly at the 10 W threshold
of its power-flow bit, a single-phase meter's absent phases, a plant without meter or battery,
a 50 kW output) and checks the words a client decodes there. Every expectation is a literal
from the protocol (spec §B.2 sentinels, §B.5 bit meanings), the register's scale from
registers.csv applied by hand, or a physical relation between readings (current = power /
voltage); values of the plant itself come from its engineering-unit snapshot, never from the
product's encoder. Documented register N is wire address N - 1; 32-bit values arrive low word
first (spec §B.2).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.plant.ems import BatteryCommand, EmsMode, EmsSettings
from tests.helpers import RawModbus

SYDNEY = ZoneInfo("Australia/Sydney")
#: A summer day at 13:00 in Sydney: the array gives far more than any load here.
NOON = datetime(2026, 1, 10, 13, 0, tzinfo=SYDNEY)
#: 01:00 the same night: no PV at all.
NIGHT = datetime(2026, 1, 10, 1, 0, tzinfo=SYDNEY)

#: Spec §B.2: the words an unavailable quantity reads, per type.
U16_NA = [0xFFFF]
S16_NA = [0x7FFF]
U32_NA = [0xFFFF, 0xFFFF]
S32_NA = [0xFFFF, 0x7FFF]  # 0x7FFFFFFF, low word first

#: Input 13001 power-flow bits (spec §B.5).
PV, CHARGING, DISCHARGING, LOAD, EXPORTING, IMPORTING = (1 << i for i in range(6))


def _read(server: MockSungrowServer, doc: int, count: int = 1) -> list[int]:
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        words = r.read(4, doc - 1, count, 1)
    assert isinstance(words, list), f"exception {words} reading {doc} x {count}"
    return words


def _s32(words: list[int]) -> int:
    """A signed 32-bit value from its two words, low word first (spec §B.2)."""
    raw = words[0] | (words[1] << 16)
    return raw - (1 << 32) if raw & 0x80000000 else raw


def _u32(words: list[int]) -> int:
    return words[0] | (words[1] << 16)


def _s16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


# ----------------------------------------------------------------------------- power flow


def _forced(command: BatteryCommand, watts: float) -> Callable[[MockSungrowServer], None]:
    """Put the battery under a forced charge or discharge of ``watts`` (SoC mid-window)."""

    def setup(server: MockSungrowServer) -> None:
        server.set_battery_soc(50.0)
        server.plant.configure_ems(EmsSettings(mode=EmsMode.FORCED, command=command,
                                               command_w=watts))

    return setup


def _power_limit(watts: float) -> Callable[[MockSungrowServer], None]:
    def setup(server: MockSungrowServer) -> None:
        server.plant.set_power_limit(watts)

    return setup


def _nothing(server: MockSungrowServer) -> None:
    pass


# Each case: the clock, the plant's options and set-up, the flow it leads to (engineering
# units, checked on the snapshot first so the case cannot drift unseen) and the bits read.
FLOW_CASES: dict[str, tuple[datetime, dict[str, float], Callable[[MockSungrowServer], None],
                           dict[str, float], int]] = {
    # a forced 10 W charge is not above the 10 W threshold: no "charging" bit
    "charge-at-threshold": (NOON, {"battery_kwh": 9.6}, _forced(BatteryCommand.CHARGE, 10),
                            {"battery_power_w": 10.0}, PV | LOAD | EXPORTING),
    "discharge-at-threshold": (NOON, {"battery_kwh": 9.6},
                               _forced(BatteryCommand.DISCHARGE, 10),
                               {"battery_power_w": -10.0}, PV | LOAD | EXPORTING),
    # charging and discharging beside PV: every bit that holds is set, not just the last
    "charging-with-pv": (NOON, {"battery_kwh": 9.6}, _forced(BatteryCommand.CHARGE, 2000),
                         {"battery_power_w": 2000.0}, PV | CHARGING | LOAD | EXPORTING),
    # (under a light sky: at full sun the converter's rating would stop the discharge)
    "discharging-with-pv": (NOON, {"battery_kwh": 9.6, "cloud_factor": 0.3},
                            _forced(BatteryCommand.DISCHARGE, 2000),
                            {"battery_power_w": -2000.0}, PV | DISCHARGING | LOAD | EXPORTING),
    # SH10RT: a 5000 W discharge leaves 4930 W on the AC side (0.4 % no-load and 1.2 %
    # resistive loss at half rating: 70 W), so a 4920 W house exports exactly 10 W and a
    # 4940 W house imports exactly 10 W: neither passes the threshold.
    "export-at-threshold": (NIGHT, {"battery_kwh": 9.6, "house_load": 4920.0},
                            _forced(BatteryCommand.DISCHARGE, 5000),
                            {"grid_power_w": -10.0}, DISCHARGING | LOAD),
    "import-at-threshold": (NIGHT, {"battery_kwh": 9.6, "house_load": 4940.0},
                            _forced(BatteryCommand.DISCHARGE, 5000),
                            {"grid_power_w": 10.0}, DISCHARGING | LOAD),
    # a night without battery: the house imports its 500 W
    "importing": (NIGHT, {"battery_kwh": 0, "house_load": 500.0}, _nothing,
                  {"grid_power_w": 500.0}, LOAD | IMPORTING),
    # no load at all: no load bit; a 1 W load: the bit (the threshold is 0 W)
    "no-load": (NOON, {"battery_kwh": 0, "house_load": 0.0}, _nothing,
                {"load_power_w": 0.0}, PV | EXPORTING),
    "one-watt-load": (NOON, {"battery_kwh": 0, "house_load": 1.0}, _nothing,
                      {"load_power_w": 1.0}, PV | LOAD | EXPORTING),
}


@pytest.mark.parametrize("case", list(FLOW_CASES))
def test_power_flow_bits_at_their_thresholds(mock_sungrow_factory: Any, case: str) -> None:
    when, plant, setup, flows, bits = FLOW_CASES[case]
    clock = ManualClock(when)
    server = mock_sungrow_factory(model="SH10RT", server_type="modbus", clock=clock, **plant)
    setup(server)
    clock.advance(60)  # past every ramp
    snap = server.snapshot()
    for name, value in flows.items():
        assert getattr(snap, name) == value, (name, getattr(snap, name))
    assert _read(server, 13001) == [bits], (bin(_read(server, 13001)[0]), bin(bits))


def test_a_fraction_of_a_watt_of_pv_sets_the_pv_bit(mock_sungrow_factory: Any) -> None:
    # A 0.5 W power limit curtails the array to what the converter needs for 0.5 W AC: less
    # than a watt of PV, still "PV generating" (the PV bit's threshold is 0 W).
    clock = ManualClock(NOON)
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=0, server_type="modbus",
                                  clock=clock, house_load=100.0)
    _power_limit(0.5)(server)
    clock.advance(120)
    snap = server.snapshot()
    assert 0.0 < snap.dc_power_w < 1.0, snap.dc_power_w
    assert _read(server, 13001) == [PV | LOAD | IMPORTING]
    # 5017 total DC power (U32, W): rounds to the watt
    assert _u32(_read(server, 5017, 2)) in (0, 1)


# ----------------------------------------------------------------------------- meter


def _meter_powers_match_the_plant(server: Any, address: int) -> tuple[int, list[int]]:
    """The meter's total and phase powers (four S32 words, W) at ``address``, each checked
    against the plant's own figures to the watt."""
    snap = server.snapshot()
    words = _read(server, address, 8)
    total, *phases = (_s32(words[i:i + 2]) for i in range(0, 8, 2))
    assert total == pytest.approx(snap.grid_power_w, abs=1)
    for word, watts in zip(phases, snap.meter_phase_power_w, strict=True):
        assert word == pytest.approx(watts, abs=1)
    return total, phases


def test_a_three_phase_meter_reads_each_phase(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, server_type="modbus",
                                  clock=ManualClock(NOON))
    # 5601 meter active power, 5603-5607 phases A-C (S32, W, + importing)
    total, phases = _meter_powers_match_the_plant(server, 5601)
    assert all(abs(p) > 10 for p in phases), phases  # every phase carries current
    assert sum(phases) == pytest.approx(total, abs=3)
    # 5741-5743 meter phase voltages (S16, 0.1 V), 5744-5746 currents (U16, 0.01 A): at
    # unity power factor a phase's current is its power over its voltage
    volts = [_s16(w) / 10 for w in _read(server, 5741, 3)]
    amps = [w / 100 for w in _read(server, 5744, 3)]
    for p, v, i in zip(phases, volts, amps, strict=True):
        assert 200 < v < 260, volts
        assert i == pytest.approx(abs(p) / v, abs=0.02), (p, v, i)


def test_a_single_phase_meter_reads_nothing_on_b_and_c(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH5.0RS", battery_kwh=9.6, server_type="modbus",
                                  clock=ManualClock(NOON))
    words = _read(server, 5601, 8)
    total, a, _b, _c = (_s32(words[i:i + 2]) for i in range(0, 8, 2))
    assert abs(a) > 10 and a == total  # the one phase carries the whole grid power
    assert words[4:] == [0, 0, 0, 0]  # B and C: 0 W, not "unavailable" (a meter is there)
    amps = _read(server, 5744, 3)     # 0.01 A
    volts = _s16(_read(server, 5741)[0]) / 10
    assert amps[0] / 100 == pytest.approx(abs(a) / volts, abs=0.02)
    assert amps[1:] == [0, 0]


def test_without_a_meter_every_meter_reading_is_unavailable(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, meter=False,
                                  server_type="modbus", clock=ManualClock(NOON))
    assert _read(server, 5601, 8) == S32_NA * 4
    assert _read(server, 5744, 3) == U16_NA * 3
    assert _read(server, 5741, 3) == S16_NA * 3


def test_a_string_inverter_with_a_meter(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SG10KTL-M", meter=True, server_type="modbus",
                                  clock=ManualClock(NOON))
    # 5083 meter power, 5085-5089 phases A-C (S32, W)
    _meter_powers_match_the_plant(server, 5083)
    without = mock_sungrow_factory(model="SG10KTL-M", meter=False, server_type="modbus",
                                   clock=ManualClock(NOON))
    assert _read(without, 5083, 8) == S32_NA * 4


# ----------------------------------------------------------------------------- AC and DC


def test_a_single_phase_output_has_no_phase_b_or_c(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SG5K-D", server_type="modbus", clock=ManualClock(NOON))
    volts = _read(server, 5019)[0] / 10          # 0.1 V
    power = _u32(_read(server, 5031, 2))         # W
    pf = abs(_s16(_read(server, 5035)[0])) / 1000
    currents = _read(server, 5022, 3)            # 0.1 A
    assert power > 1000
    # one phase carries it all: I = P / (pf * V)
    assert currents[0] / 10 == pytest.approx(power / pf / volts, abs=0.15)
    assert currents[1:] == U16_NA * 2


def test_tracker_readings(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SG10KTL-M", server_type="modbus",
                                  clock=ManualClock(NOON))
    snap = server.snapshot()
    words = _read(server, 5011, 4)  # MPPT 1 and 2: voltage (0.1 V), current (0.1 A)
    for k in range(2):
        assert words[2 * k] / 10 == pytest.approx(snap.mppt_voltage_v[k], abs=0.06)
        assert words[2 * k + 1] / 10 == pytest.approx(snap.mppt_current_a[k], abs=0.06)
        assert words[2 * k] > 1000 and words[2 * k + 1] > 10  # producing at noon


def test_a_single_phase_hybrid_backs_up_one_phase(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH5.0RS", battery_kwh=9.6, server_type="modbus",
                                  clock=ManualClock(NOON))
    grid = _read(server, 5019)[0]
    # 5731-5733 backup phase voltages (U16, 0.1 V): phase A follows the grid, B and C are
    # not there on a single-phase unit
    backup = _read(server, 5731, 3)
    assert 2070 < backup[0] < 2530 and backup[0] == pytest.approx(grid, abs=1)
    assert backup[1:] == U16_NA * 2


@pytest.mark.parametrize(("model", "output_type"), [("SG40CX", 1), ("SG50CX", 2)])
def test_output_type_turns_three_wire_at_fifty_kilowatts(mock_sungrow_factory: Any,
                                                         model: str, output_type: int) -> None:
    # models.csv: SG40CX 40 kW, SG50CX exactly 50 kW, both three-phase. The project wires
    # commercial models from 50 kW up as 3P3L (5002 = 2), and a 3P3L unit reports line voltages.
    server = mock_sungrow_factory(model=model, server_type="modbus", clock=ManualClock(NOON))
    assert _read(server, 5002) == [output_type]
    volts = [w / 10 for w in _read(server, 5019, 3)]
    if output_type == 2:
        assert all(360 < v < 440 for v in volts), volts  # 230 V * sqrt 3
    else:
        assert all(207 < v < 253 for v in volts), volts


# ----------------------------------------------------------------------------- battery


#: (documented address, words, what "unavailable" reads) of battery quantities on an SH*RT:
#: 5214 battery power (S32), 5631 battery current (S16), 5639 capacity (U16), 13012 charge
#: from PV today (U16), 13020 voltage, 13023 level, 13024 health (U16), 13025 temperature
#: (S16), 13039 capacity (U16).
BATTERY_ROWS = [(5214, S32_NA), (5631, S16_NA), (5639, U16_NA), (13012, U16_NA),
                (13020, U16_NA), (13021, U16_NA), (13022, U16_NA), (13023, U16_NA),
                (13024, U16_NA), (13025, S16_NA), (13039, U16_NA)]


def test_battery_registers_follow_the_pack(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, server_type="modbus",
                                  clock=ManualClock(NOON))
    server.set_battery_soc(42.0)
    snap = server.snapshot()
    assert _read(server, 13023) == [round(snap.battery_soc_pct * 10)]   # 0.1 %
    assert _read(server, 13020) == [round(snap.battery_voltage_v * 10)]  # 0.1 V
    assert _read(server, 13024) == [round(snap.battery_soh_pct * 10)]
    assert _read(server, 13039) == [96]                                   # 0.1 kWh
    assert _read(server, 5639) == [960]                                   # 0.01 kWh
    assert _s32(_read(server, 5214, 2)) == pytest.approx(snap.battery_power_w, abs=1)
    assert 400 < _read(server, 13023)[0] < 440


def test_without_a_battery_battery_registers_are_unavailable(mock_sungrow_factory: Any
                                                             ) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=0, server_type="modbus",
                                  clock=ManualClock(NOON))
    for doc, na in BATTERY_ROWS:
        assert _read(server, doc, len(na)) == na, doc
    # the SH*K low-voltage BMS block too (SH5K-20: 13101 status ... 13110 voltage)
    small = mock_sungrow_factory(model="SH5K-20", battery_kwh=0, server_type="modbus",
                                 clock=ManualClock(NOON))
    assert _read(small, 13109, 2) == U16_NA * 2


# ----------------------------------------------------------------------------- fault words


#: 13052-13077: the hybrid fault and alarm words (U32 each), grid side fault first.
FAULT_WORDS = 13052


def test_hybrid_fault_words_are_zero_until_a_fault(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(NOON)
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, server_type="modbus",
                                  clock=clock)
    assert _read(server, FAULT_WORDS, 26) == [0] * 26
    server.inject("inverter-fault", code=37)
    clock.advance(10)
    words = _read(server, FAULT_WORDS, 26)
    # 13054-13055 system fault 1 (U32, low word first): bit 0 while the inverter is tripped
    assert words[2:4] == [1, 0]
    assert words[:2] == [0, 0] and words[4:] == [0] * 22


def test_a_grid_outage_sets_the_grid_side_fault(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(NOON)
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, server_type="modbus",
                                  clock=clock)
    server.inject("grid-outage")
    clock.advance(10)
    words = _read(server, FAULT_WORDS, 26)
    assert _u32(words[:2]) == 1 << 8  # 13052 grid side fault: bit 8, grid lost
    assert words[2:] == [0] * 24


# ----------------------------------------------------------------------------- history


def test_todays_pv_history_adds_up_to_todays_pv(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, server_type="modbus",
                                  clock=ManualClock(NOON))
    snap = server.snapshot()
    # 6100-6195: today's PV power per quarter hour (W); energy = sum of powers x 1/4 h
    curve = _read(server, 6100, 96)
    assert sum(curve) / 4 / 1000 == pytest.approx(snap.daily_pv_kwh, rel=0.02, abs=0.05)
    assert curve[52:] == [0] * 44  # from 13:00 on: nothing yet
    assert curve[48] > 1000        # 12:00-12:15 produced
    # 6196-6226 PV energy per day of this month (0.1 kWh): the 10th is today's
    days = _read(server, 6196, 31)
    assert days[9] == pytest.approx(snap.daily_pv_kwh * 10, abs=1)
    assert days[10:] == [0] * 21
    # 6227-6238 per month (0.1 kWh): January so far holds today and the days before
    months = _read(server, 6227, 12)
    assert months[0] == pytest.approx(sum(days), abs=2)
    # 6648-6743: today's battery charge power per quarter hour (W)
    assert len(_read(server, 6648, 96)) == 96


# ----------------------------------------------------------------------------- self-consumption


def test_self_consumption_early_in_the_day(mock_sungrow_factory: Any) -> None:
    # 07:00, no battery and no house load: almost all of the first kWh is exported; what is
    # not is the converter's loss. 13029 (U16, 0.1 %) = 100 % x (1 - exported / produced).
    clock = ManualClock(datetime(2026, 1, 10, 7, 0, tzinfo=SYDNEY))
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=0, house_load=0.0,
                                  server_type="modbus", clock=clock)
    snap = server.snapshot()
    assert 0.0 < snap.daily_pv_kwh < 1.0, snap.daily_pv_kwh
    share = 100 * (1 - snap.daily_export_pv_kwh / snap.daily_pv_kwh)
    assert 1 < share < 20, share
    assert _read(server, 13029) == [round(share * 10)]


# ----------------------------------------------------------------------------- words <-> values


@pytest.fixture(scope="module")
def pinned_hybrid() -> Any:
    """One SH10RT for the decoding checks (each test pins its own words, then unpins)."""
    with MockSungrowServer(model="SH10RT", battery_kwh=9.6, server_type="modbus",
                           modbus_port=0, serial="SH10RT-X", clock=ManualClock(NOON)) as server:
        yield server


#: (register name, documented address, pinned words, the value they mean): spec §B.2, 32-bit
#: values low word first, signed types two's complement, arrays one element after another,
#: the type's sentinel meaning "unavailable" (None); the scale from registers.csv.
DECODED = [
    # U16 0.1 V: the top bit is magnitude, not sign
    ("battery_voltage", 13020, [0x8001], 3276.9),
    ("battery_voltage", 13020, [0x0007], 0.7),
    # S16 0.1 °C: negative, positive odd, the most negative
    ("battery_temperature", 13025, [0xFFF6], -1.0),
    ("battery_temperature", 13025, [0x0007], 0.7),
    ("battery_temperature", 13025, [0x8000], -3276.8),
    ("battery_temperature", 13025, [0x7FFF], None),
    # S32 W: negative, positive odd, the most negative
    ("export_power", 13010, [0xFFF6, 0xFFFF], -10),
    ("export_power", 13010, [0x0005, 0x0000], 5),
    ("export_power", 13010, [0x0000, 0x8000], -0x80000000),
    ("export_power", 13010, [0xFFFF, 0x7FFF], None),
    # U32 0.1 kWh: both words count, the top bit is magnitude
    ("total_pv_generation", 13003, [0x0001, 0x0002], 0x20001 * 0.1),
    ("total_pv_generation", 13003, [0x0000, 0x8000], 0x80000000 * 0.1),
    ("total_pv_generation", 13003, [0x8001, 0x0000], 0x8001 * 0.1),
    ("total_pv_generation", 13003, [0xFFFF, 0xFFFF], None),
]


@pytest.mark.parametrize(("name", "doc", "words", "value"), DECODED)
def test_pinned_words_decode_by_the_spec(pinned_hybrid: MockSungrowServer, name: str, doc: int,
                                         words: list[int], value: float | None) -> None:
    server = pinned_hybrid
    server.set_register("input", doc, words)
    try:
        assert _read(server, doc, len(words)) == words  # the wire carries the pinned words
        got = server.read(name)
        if value is None:
            assert got is None
        else:
            assert got == pytest.approx(value, rel=1e-9), (got, value)
    finally:
        server.clear_registers()


def test_an_array_decodes_element_by_element(pinned_hybrid: MockSungrowServer) -> None:
    # 6196-6226 daily PV energy (U16*31, 0.1 kWh): an unavailable day among known ones
    words = [0xFFFF, 5, 0xFFFF, 7] + [0] * 27
    pinned_hybrid.set_register("input", 6196, words)
    try:
        got = pinned_hybrid.read("daily_pv_energy_yields")
        assert isinstance(got, list) and len(got) == 31
        assert got[:4] == [None, pytest.approx(0.5), None, pytest.approx(0.7)]
        assert got[4:] == [0] * 27
    finally:
        pinned_hybrid.clear_registers()


def test_a_text_register_keeps_its_last_letter(pinned_hybrid: MockSungrowServer) -> None:
    # 4990-4999 serial number (UTF-8, two bytes a register, NUL padded): "SH10RT-X"
    assert _read(pinned_hybrid, 4990, 5) == [0x5348, 0x3130, 0x5254, 0x2D58, 0x0000]
    assert pinned_hybrid.read("serial_number") == "SH10RT-X"


def test_an_absurd_export_saturates_at_the_most_negative_s32(mock_sungrow_factory: Any) -> None:
    # A 5 TW house imports 5 TW: 13010 export power (S32, W, + exporting) is -5 TW, beyond
    # -2**31, and reads 0x80000000 (low word first), never 0x7FFFFFFF "unavailable".
    server = mock_sungrow_factory(model="SH10RT", server_type="modbus", house_load=5e12,
                                  clock=ManualClock(NOON))
    assert _read(server, 13010, 2) == [0x0000, 0x8000]


@pytest.mark.parametrize("code", [0x10000, 10**400])
def test_a_fault_code_beyond_u16_reads_the_largest_word(mock_sungrow_factory: Any,
                                                        code: int) -> None:
    # inverter-fault takes any positive code; 5045 (U16, scale 1) saturates at 0xFFFE, the
    # largest word that is not "unavailable", however large the integer
    clock = ManualClock(NOON)
    server = mock_sungrow_factory(model="SG10RT", server_type="modbus", clock=clock)
    server.inject("inverter-fault", code=code)
    clock.advance(10)
    assert _read(server, 5038) == [0x5500]  # Fault
    assert _read(server, 5045) == [0xFFFE]
