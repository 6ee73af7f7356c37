"""The simulated plant, observed the way a client observes it: through Modbus registers."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus

SYDNEY = ZoneInfo("Australia/Sydney")


def u32(words: list[int], i: int) -> int:
    return words[i] | words[i + 1] << 16


def s16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def s32(words: list[int], i: int) -> int:
    v = u32(words, i)
    return v - (1 << 32) if v & 0x80000000 else v


class Reader:
    """Reads the string-inverter quantities a monitoring client would, over Modbus."""

    def __init__(self, server: MockSungrowServer) -> None:
        self.server = server
        self.raw = RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"])

    def block(self) -> dict[str, Any]:
        w = self.raw.read(4, 5000, 38)  # documented 5001-5038
        assert isinstance(w, list)

        def at(doc: int) -> int:
            return w[doc - 5001]

        def at32(doc: int) -> int:
            return u32(w, doc - 5001)

        return {
            "daily_kwh": at(5003) * 0.1,
            "total_kwh": at32(5004),
            "hours": at32(5006),
            "temp_c": s16(at(5008)) * 0.1,
            "mppt": [(at(5011 + 2 * i) * 0.1, at(5012 + 2 * i) * 0.1) for i in range(2)],
            "dc_w": at32(5017),
            "v_a": at(5019) * 0.1,
            "i_a": at(5022) * 0.1,
            "ac_w": at32(5031),
            "q_var": s32(w, 5033 - 5001),
            "pf": s16(at(5035)) * 0.001,
            "hz": at(5036) * 0.1,
            "state": at(5038),
        }

    def close(self) -> None:
        self.raw.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 10, 0, 0, tzinfo=SYDNEY))  # summer, midnight


@pytest.fixture
def reader(mock_sungrow_factory: Any, clock: ManualClock) -> Iterator[Reader]:
    server = mock_sungrow_factory(model="SG5K-D", clock=clock)
    r = Reader(server)
    yield r
    r.close()


def test_night_is_standby_with_zero_power(reader: Reader) -> None:
    v = reader.block()
    assert v["state"] == 0x1400  # Standby
    assert v["ac_w"] == 0 and v["dc_w"] == 0
    assert v["mppt"] == [(0.0, 0.0), (0.0, 0.0)]


def test_midday_is_run_with_consistent_electrics(reader: Reader, clock: ManualClock) -> None:
    clock.advance(13 * 3600)
    v = reader.block()
    assert v["state"] == 0x0000  # Run
    rated = reader.server.model.rated_power_w
    assert 0.6 * rated < v["ac_w"] <= rated
    # DC side: P = U x I per tracker, and the trackers add up to the total DC power.
    mppt_power = sum(u * i for u, i in v["mppt"])
    assert mppt_power == pytest.approx(v["dc_w"], rel=0.02)
    assert all(250 < u < 450 for u, _ in v["mppt"])
    # AC from DC through a realistic efficiency.
    assert 0.94 < v["ac_w"] / v["dc_w"] < 0.99
    # Single phase: S = U x I, P = S x PF.
    s = math.hypot(v["ac_w"], v["q_var"])
    assert v["v_a"] * v["i_a"] == pytest.approx(s, rel=0.02)
    assert abs(v["pf"]) == pytest.approx(v["ac_w"] / s, abs=0.002)
    assert 220 < v["v_a"] < 240
    assert 49.9 <= v["hz"] <= 50.1


def test_temperature_follows_load(reader: Reader, clock: ManualClock) -> None:
    night = reader.block()["temp_c"]
    clock.advance(13 * 3600)
    noon = reader.block()["temp_c"]
    assert noon > night + 10
    reader.server.write_registers(5006, [0xCE])  # stop: no load, it cools down
    clock.advance(3600)
    assert reader.block()["temp_c"] < noon - 10


def test_a_day_of_energy_is_the_integral_of_power(reader: Reader, clock: ManualClock) -> None:
    """Advance one simulated day in one-minute steps; daily yield = the integral of 5031."""
    start = reader.block()
    assert start["daily_kwh"] == 0.0
    energy_wh = 0.0
    previous = start["ac_w"]
    states = set()
    hours_before = start["hours"]
    total_before = start["total_kwh"]
    last: dict[str, Any] = start
    for _ in range(24 * 60 - 1):  # to 23:59
        clock.advance(60)
        v = reader.block()
        energy_wh += (previous + v["ac_w"]) / 2 / 60
        previous = v["ac_w"]
        states.add(v["state"])
        assert v["total_kwh"] >= last["total_kwh"] and v["hours"] >= last["hours"]
        assert v["daily_kwh"] >= last["daily_kwh"]
        last = v
    assert {0x1400, 0x1600, 0x0000} <= states
    assert energy_wh > 20_000  # a clear summer day on 5 kW
    assert last["daily_kwh"] == pytest.approx(energy_wh / 1000, abs=0.15)
    # The lifetime counter moved by the same energy (it has 1 kWh resolution).
    assert last["total_kwh"] - total_before == pytest.approx(energy_wh / 1000, abs=1.0)
    assert 9 <= last["hours"] - hours_before <= 16
    # Local midnight resets the daily counter, not the totals.
    clock.advance(120)
    after = reader.block()
    assert after["daily_kwh"] == 0.0
    assert after["total_kwh"] >= last["total_kwh"]
    daily_history = reader.server.read("daily_power_yields")
    assert daily_history == 0.0


def test_same_instant_same_values(mock_sungrow_factory: Any) -> None:
    """Two clients reading in the same tick see identical words; the next tick moves on."""
    clock = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY))
    server = mock_sungrow_factory(clock=clock)
    port = server.get_connection_info("modbus")["port"]
    with RawModbus("127.0.0.1", port) as r1, RawModbus("127.0.0.1", port) as r2:
        first = r1.read(4, 5000, 38)
        assert r2.read(4, 5000, 38) == first
        assert r1.read(4, 5000, 38) == first
        clock.advance(0.5)  # still inside the one-second tick
        assert r2.read(4, 5000, 38) == first
        clock.advance(30)
        assert r1.read(4, 5000, 38) != first


def test_real_clock_reads_agree_within_a_tick(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(tick=3600.0)  # one snapshot per hour of wall time
    port = server.get_connection_info("modbus")["port"]
    with RawModbus("127.0.0.1", port) as r1, RawModbus("127.0.0.1", port) as r2:
        reads = [r.read(4, 5000, 38) for r in (r1, r2) * 10]
    # A tick boundary can fall between two reads at most once in this short loop.
    assert len({tuple(x) for x in reads if isinstance(x, list)}) <= 2


def test_same_seed_same_plant_and_other_seeds_differ(mock_sungrow_factory: Any) -> None:
    start = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)

    def values(seed: int) -> list[int]:
        server = mock_sungrow_factory(model="SG10RT", seed=seed, clock=ManualClock(start))
        with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
            a = r.read(4, 4989, 10)
            b = r.read(4, 5000, 38)
            assert isinstance(a, list) and isinstance(b, list)
            return a + b

    assert values(7) == values(7)
    assert values(7) != values(8)


def test_location_and_date_move_the_day(mock_sungrow_factory: Any) -> None:
    """Noon UTC is night in Sydney and day in Berlin."""
    noon_utc = datetime(2026, 6, 21, 12, 0, tzinfo=timezone.utc)
    sydney = mock_sungrow_factory(clock=ManualClock(noon_utc))
    berlin = mock_sungrow_factory(
        clock=ManualClock(noon_utc), latitude=52.52, longitude=13.40, timezone="Europe/Berlin"
    )
    assert sydney.read("total_active_power") == 0
    assert berlin.read("total_active_power") > 3000
    assert berlin.read("system_clock_hour", "holding") == 14  # CEST
    assert sydney.read("system_clock_hour", "holding") == 22  # AEST


def test_winter_yields_less_than_summer(mock_sungrow_factory: Any) -> None:
    def day_yield(month: int) -> float:
        clock = ManualClock(datetime(2026, month, 15, 0, 0, tzinfo=SYDNEY))
        server = mock_sungrow_factory(clock=clock)
        clock.advance(23.9 * 3600)
        value = server.read("daily_power_yields")
        assert isinstance(value, float)
        return value

    assert day_yield(6) < 0.75 * day_yield(12)


def test_cloud_factor_scales_pv(mock_sungrow_factory: Any) -> None:
    start = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)
    clear = mock_sungrow_factory(model="SG10RT", clock=ManualClock(start))
    cloudy = mock_sungrow_factory(model="SG10RT", clock=ManualClock(start), cloud_factor=0.3)
    assert cloudy.read("total_dc_power") < 0.45 * clear.read("total_dc_power")


def test_three_phase_model_splits_power_over_phases(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 12, 30, tzinfo=SYDNEY))
    server = mock_sungrow_factory(model="SG10RT", clock=clock)
    clock.advance(0)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        w = r.read(4, 5018, 6)  # documented 5019-5024: voltages and currents
        assert isinstance(w, list)
    volts = [x * 0.1 for x in w[:3]]
    amps = [x * 0.1 for x in w[3:]]
    assert all(225 < v < 236 for v in volts)
    s = server.read("total_apparent_power")
    assert sum(v * i for v, i in zip(volts, amps, strict=True)) == pytest.approx(s, rel=0.03)


def test_power_limit_caps_output(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 12, 30, tzinfo=SYDNEY))
    server = mock_sungrow_factory(model="SG10RT", clock=clock)
    assert server.read("total_active_power") > 8000
    server.write_registers(5008, [300])  # 30.0 %
    clock.advance(1)
    assert server.read("total_active_power") <= 3000
    assert server.read("active_power_regulation_setpoint") == 3000


def test_clock_write_across_midnight_starts_a_new_day(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 15, 0, tzinfo=SYDNEY))
    server = mock_sungrow_factory(clock=clock)
    assert server.read("daily_power_yields") > 10
    server.write_registers(5000, [2026, 1, 11, 9, 0, 0])
    assert server.read("daily_power_yields") == 0.0
    assert server.snapshot().local.replace(tzinfo=None) == datetime(2026, 1, 11, 9, 0, 0)
    clock.advance(3600)
    assert server.read("daily_power_yields") > 0.5  # the sun of 9-10 am on the new date


def test_fresh_plant_has_a_plausible_past(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 15, 0, tzinfo=SYDNEY))
    server = mock_sungrow_factory(clock=clock)
    snap = server.snapshot()
    assert 15 < snap.daily_yield_kwh < 40  # the morning already happened
    assert snap.total_yield_kwh > 5000
    assert snap.monthly_yield_kwh > snap.daily_yield_kwh
    assert server.read("total_running_time") > 1000


def test_running_hours_struct_is_low_word_first(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(clock=ManualClock())
    lo, hi = server.read_registers("input", 5006, 2)
    hours = server.snapshot().total_running_hours
    assert struct.unpack("<I", struct.pack("<HH", lo, hi))[0] == round(hours)


def test_daily_reset_follows_local_midnight_across_dst(mock_sungrow_factory: Any) -> None:
    """Sydney leaves daylight saving on 2026-04-05, so that day has 25 hours."""
    clock = ManualClock(datetime(2026, 4, 5, 1, 0, tzinfo=SYDNEY))
    server = mock_sungrow_factory(clock=clock)
    clock.advance(22 * 3600)  # 01:00 AEDT + 22 h = 22:00 AEST, still the 5th
    evening = server.snapshot()
    assert (evening.local.day, evening.local.hour) == (5, 22)
    assert evening.daily_yield_kwh > 5
    clock.advance(2 * 3600 - 30)
    assert server.snapshot().local.day == 5
    assert server.snapshot().daily_yield_kwh == evening.daily_yield_kwh  # dark: no change
    clock.advance(60)
    assert server.snapshot().local.day == 6
    assert server.snapshot().daily_yield_kwh == 0.0
