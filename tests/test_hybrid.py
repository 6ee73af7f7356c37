"""Hybrid inverters: battery, energy balance and control writes, observed over Modbus.

Every test drives a simulated SH* hybrid on a manual clock and reads it as a monitoring or
control client would, over a real socket (documented register = wire address + 1).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus

SYDNEY = ZoneInfo("Australia/Sydney")
#: input 13000 values every client knows (pysungrow raises on anything else but 0x1200).
KNOWN_RUNNING_STATES = {0x0002, 0x0008, 0x0010, 0x0020, 0x0040, 0x0100, 0x0400, 0x0800,
                        0x1000, 0x2501, 0x4000}


def s16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def s32(words: list[int], i: int) -> int:
    v = words[i] | words[i + 1] << 16
    return v - (1 << 32) if v & 0x80000000 else v


def u32(words: list[int], i: int) -> int:
    return words[i] | words[i + 1] << 16


@dataclass
class Sample:
    """One poll of the quantities a hybrid's monitoring client reads."""

    pv: int  # 5017 total DC power
    battery: int  # 5214 signed battery power, + charging
    meter: int  # 5601 meter active power, + importing
    meter_phases: tuple[int, int, int]
    load: int  # 13008
    export: int  # 13010, + exporting
    ac: int  # 13034 total active power (signed)
    state: int  # 13000
    flow: int  # 13001
    soc: float  # 13023
    daily_pv: float  # 13002
    daily_charge_pv: float  # 13012
    daily_direct: float  # 13017
    daily_discharge: float  # 13026
    daily_import: float  # 13036
    daily_charge: float  # 13040
    daily_export: float  # 13045
    battery_v: float  # 13020
    battery_i: float  # 5631, signed


class Hybrid:
    """A raw Modbus client for a hybrid under test."""

    def __init__(self, server: MockSungrowServer) -> None:
        self.server = server
        self.raw = RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"])

    def close(self) -> None:
        self.raw.close()

    def read(self, fc: int, doc: int, count: int, unit: int = 1) -> list[int]:
        words = self.raw.read(fc, doc - 1, count, unit)
        assert isinstance(words, list), f"exception {words} reading {doc} x {count}"
        return words

    def write(self, doc: int, *values: int) -> int | None:
        return self.raw.write(doc - 1, list(values))

    def sample(self) -> Sample:
        pv = self.read(4, 5017, 2)
        bat = self.read(4, 5214, 2)
        meter = self.read(4, 5601, 8)
        cur = self.read(4, 5631, 1)
        w = self.read(4, 13000, 47)

        def at(doc: int) -> int:
            return w[doc - 13000]

        return Sample(
            pv=u32(pv, 0),
            battery=s32(bat, 0),
            meter=s32(meter, 0),
            meter_phases=(s32(meter, 2), s32(meter, 4), s32(meter, 6)),
            load=s32(w, 8),
            export=s32(w, 10),
            ac=s32(w, 34),
            state=at(13000),
            flow=at(13001),
            soc=at(13023) / 10,
            daily_pv=at(13002) / 10,
            daily_charge_pv=at(13012) / 10,
            daily_direct=at(13017) / 10,
            daily_discharge=at(13026) / 10,
            daily_import=at(13036) / 10,
            daily_charge=at(13040) / 10,
            daily_export=at(13045) / 10,
            battery_v=at(13020) / 10,
            battery_i=s16(cur[0]) / 10,
        )


@pytest.fixture
def hybrid(mock_sungrow_factory: Any) -> Iterator[Any]:
    """Build hybrids on a manual clock and a raw client each; closes every client."""
    clients: list[Hybrid] = []

    def make(start: datetime, **kwargs: Any) -> tuple[Hybrid, ManualClock]:
        clock = ManualClock(start)
        server = mock_sungrow_factory(**{"model": "SH10RT", **kwargs}, clock=clock)
        client = Hybrid(server)
        clients.append(client)
        return client, clock

    yield make
    for c in clients:
        c.close()


def test_a_day_balances_energy_and_counters_integrate_power(hybrid: Any) -> None:
    """Minute polls for a summer day: PV + discharge + import = load + charge + export + loss."""
    h, clock = hybrid(datetime(2026, 1, 10, 0, 0, tzinfo=SYDNEY))
    kwh: dict[str, float] = dict.fromkeys(
        ("pv", "charge", "discharge", "import", "export", "load", "loss"), 0.0)
    prev = h.sample()
    first = prev
    states, flows = set(), set()
    for _ in range(24 * 60 - 1):  # to 23:59
        clock.advance(60)
        cur = h.sample()
        # The meter closes the AC node at every instant: inverter + grid = house.
        assert abs(cur.ac + cur.meter - cur.load) <= 2
        assert cur.export == -cur.meter
        assert abs(sum(cur.meter_phases) - cur.meter) <= 3
        # V x I is the battery power the inverter reports (register rounding aside).
        assert cur.battery_v * cur.battery_i == pytest.approx(cur.battery, abs=25)
        states.add(cur.state)
        flows.add(cur.flow)
        for key, a, b in (
            ("pv", prev.pv, cur.pv),
            ("charge", max(prev.battery, 0), max(cur.battery, 0)),
            ("discharge", max(-prev.battery, 0), max(-cur.battery, 0)),
            ("import", max(prev.meter, 0), max(cur.meter, 0)),
            ("export", max(-prev.meter, 0), max(-cur.meter, 0)),
            ("load", prev.load, cur.load),
            ("loss", prev.pv - prev.battery - prev.ac, cur.pv - cur.battery - cur.ac),
        ):
            kwh[key] += (a + b) / 2 / 60 / 1000
        prev = cur
    energy_in = kwh["pv"] + kwh["discharge"] + kwh["import"]
    energy_out = kwh["load"] + kwh["charge"] + kwh["export"] + kwh["loss"]
    assert abs(energy_in - energy_out) <= 0.001 * energy_in
    assert 0.01 * energy_in < kwh["loss"] < 0.06 * energy_in  # a plausible converter
    assert kwh["pv"] > 40 and kwh["charge"] > 3 and kwh["discharge"] > 3 and kwh["export"] > 10
    # The daily counters (0.1 kWh registers) are the integrals of the powers.
    for counter, key in (
        (prev.daily_pv, "pv"),
        (prev.daily_charge, "charge"),
        (prev.daily_discharge, "discharge"),
        (prev.daily_import, "import"),
        (prev.daily_export, "export"),
    ):
        assert counter == pytest.approx(kwh[key], abs=0.1 + 0.005 * kwh[key]), key
    assert prev.daily_charge_pv <= prev.daily_charge + 0.1
    assert prev.daily_direct <= kwh["load"]
    # Today's quarter-hour history (W per slot) adds up to the same energies: PV (6100)
    # and battery charge from PV (6648).
    assert sum(h.read(4, 6100, 96)) / 4000 == pytest.approx(kwh["pv"], rel=0.005)
    charge_slots = h.read(4, 6648, 96)
    assert sum(charge_slots) / 4000 == pytest.approx(prev.daily_charge_pv, abs=0.1)
    assert max(charge_slots) > 1000 and charge_slots[:20] == [0] * 20  # charged by day
    # State of charge moves by exactly the battery energy that went in and out.
    capacity_kwh = h.server.plant.battery_kwh
    delta = (prev.soc - first.soc) / 100 * capacity_kwh
    assert delta == pytest.approx(kwh["charge"] - kwh["discharge"], abs=0.02)
    # The plant's own (unrounded) counters balance with its load and losses to 1e-6.
    snap = h.server.snapshot()
    plant_in = snap.daily_pv_kwh + snap.daily_discharge_kwh + snap.daily_import_kwh
    plant_out = (snap.daily_load_kwh + snap.daily_charge_kwh + snap.daily_export_kwh
                 + snap.daily_loss_kwh)
    assert plant_in == pytest.approx(plant_out, rel=1e-6)
    assert plant_in == pytest.approx(energy_in, rel=0.001)
    # Night standby on the battery, Run by day; PV, charging, discharging, export all seen.
    assert {0x0008, 0x0040} <= states <= KNOWN_RUNNING_STATES
    seen = 0
    for f in flows:
        seen |= f
    assert seen & 0b111111 == 0b111111 or seen & 0b011111 == 0b011111
    # Local midnight resets the daily counters.
    clock.advance(120)
    after = h.sample()
    assert (after.daily_pv, after.daily_charge, after.daily_export) == (0.0, 0.0, 0.0)


def test_soc_never_leaves_the_configured_window(hybrid: Any) -> None:
    """A heavy house empties the battery every night and the sun fills it every day."""
    h, clock = hybrid(datetime(2026, 1, 10, 0, 0, tzinfo=SYDNEY), house_load=1500.0)
    assert h.write(13058, 800) is None  # max SoC 80.0 %
    assert h.write(13059, 200) is None  # min SoC 20.0 %
    assert h.read(3, 13058, 2) == [800, 200]  # read back as written
    socs = []
    for _ in range(2 * 24 * 60):
        clock.advance(60)
        soc = h.read(4, 13023, 1)[0] / 10
        socs.append(soc)
    assert all(20.0 <= soc <= 80.0 for soc in socs)
    assert max(socs) >= 79.5 and min(socs) <= 20.5  # both ends of the window were reached
    # At the floor at night the grid carries the house, the battery rests.
    h.server.set_clock(datetime(2026, 1, 12, 3, 0))
    h.server.set_battery_soc(20.0)
    clock.advance(120)
    s = h.sample()
    assert abs(s.battery) < 20 and s.meter == pytest.approx(1500, abs=30)


def test_night_standby_battery_covers_load_then_the_grid(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 6, 21, 1, 0, tzinfo=SYDNEY), house_load=800.0)
    h.server.set_battery_soc(12.0)  # just above the default 5 % minimum / 10 % reserve
    clock.advance(60)
    s = h.sample()
    assert s.state == 0x0008 and s.pv == 0  # Standby, PV at zero, but reachable
    assert s.battery == pytest.approx(-0.84 * 1000, abs=60)  # covers the house
    assert abs(s.meter) <= 5 and s.flow & 0b100 and not s.flow & 0b100000
    clock.advance(3 * 3600)  # the battery reaches its floor (backup reserve 10 %)
    s = h.sample()
    assert 9.5 <= s.soc <= 10.5
    assert abs(s.battery) < 20 and s.meter == pytest.approx(800, abs=10)
    assert s.flow & 0b100000 and not s.flow & 0b100  # importing, not discharging


def test_forced_charge_raises_soc_at_the_commanded_power(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 6, 21, 2, 0, tzinfo=SYDNEY))
    h.server.set_battery_soc(30.0)
    assert h.write(13050, 2, 0xAA, 3000) is None  # forced mode, charge, 3 kW (FC16)
    assert h.read(3, 13050, 3) == [2, 0xAA, 3000]
    clock.advance(0.5)
    ramping = h.sample().battery
    assert -400 < ramping < 3000  # on its way: a ramp, not a step
    clock.advance(4.5)
    s = h.sample()
    assert s.battery == 3000 and s.state == 0x0800  # running in forced mode
    assert s.meter == pytest.approx(s.load + 3000, rel=0.03)  # from the grid at night
    soc0 = s.soc
    clock.advance(1800)
    s = h.sample()
    capacity_wh = h.server.plant.battery_kwh * 1000
    assert s.soc - soc0 == pytest.approx(3000 * 0.5 / capacity_wh * 100, abs=0.15)
    # Beyond what the BMS allows (30 A on an SBR) the battery takes its limit.
    assert h.write(13052, 10000) is None
    clock.advance(10)
    s = h.sample()
    limit_a = h.read(4, 5635, 1)[0]
    assert limit_a == 30
    assert 0.95 * limit_a * s.battery_v <= s.battery <= limit_a * s.battery_v + 5
    # Discharge and stop commands.
    assert h.write(13051, 0xBB, 2000) is None
    clock.advance(5)
    assert h.sample().battery == -2000
    assert h.write(13051, 0xCC) is None
    clock.advance(5)
    assert h.sample().battery == 0


def test_max_charge_power_and_backup_reserve_limit_the_battery(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 1, 10, 11, 0, tzinfo=SYDNEY))
    h.server.set_battery_soc(40.0)
    clock.advance(10)
    assert h.sample().battery > 4000  # charging from the midday surplus
    assert h.write(33047, 150) is None  # max charging power 1.50 kW
    clock.advance(5)
    s = h.sample()
    assert s.battery == 1500 and s.export > 2000  # the rest goes to the grid
    assert h.read(3, 33047, 2)[0] == 150
    # Evening: the backup reserve stops discharge above min SoC.
    h.server.set_clock(datetime(2026, 1, 10, 22, 0))
    h.server.set_battery_soc(52.0)
    assert h.write(13100, 50) is None  # keep 50 % for backup
    clock.advance(3 * 3600)
    s = h.sample()
    assert 49.5 <= s.soc <= 50.5 and abs(s.battery) < 20


def test_export_limitation_caps_exported_power(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY))
    h.server.set_battery_soc(100.0)  # full: the surplus is exported
    clock.advance(60)
    free = h.sample()
    assert free.export > 7000
    assert h.write(13074, 1500) is None  # feed-in limit 1500 W ...
    assert h.write(13087, 0xAA) is None  # ... switched on
    clock.advance(0.2)
    assert h.sample().export > 1500  # a fast ramp, not a step
    clock.advance(5)
    capped = h.sample()
    assert capped.export <= 1501 and capped.export >= 1450
    assert capped.pv < free.pv - 4000  # PV curtailed
    for _ in range(10):
        clock.advance(30)
        assert h.sample().export <= 1501
    assert h.read(3, 13074, 1) == [1500] and h.read(3, 13087, 1) == [0xAA]
    assert h.write(13087, 0x55) is None  # off again: export ramps back up
    clock.advance(1)
    assert 1501 < h.sample().export < free.export
    clock.advance(20)
    assert h.sample().export > 7000


def test_export_limitation_on_a_string_inverter_with_a_meter(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY))
    server = mock_sungrow_factory(model="SG10KTL-M", clock=clock, meter=True)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        meter = r.read(4, 5082, 2)  # meter 5083: exporting
        assert isinstance(meter, list) and s32(meter, 0) < -5000
        assert r.write(5009, [0xAA, 2000]) is None  # 5010 on, 5011 = 2000 W
        clock.advance(5)
        meter = r.read(4, 5082, 2)
        assert isinstance(meter, list) and s32(meter, 0) >= -2001
        assert r.read(3, 5009, 2) == [0xAA, 2000]


def test_stop_brings_power_to_zero_and_start_brings_it_back(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY))
    h.server.set_battery_soc(50.0)
    clock.advance(60)
    running = h.sample()
    assert running.ac > 1000 and running.battery > 1000
    assert h.write(13000, 0xCE) is None
    s = h.sample()
    assert (s.ac, s.pv, s.battery, s.state) == (0, 0, 0, 0x0002)
    assert s.meter == s.load  # the house runs on the grid
    clock.advance(600)
    s = h.sample()
    assert (s.ac, s.pv, s.battery, s.state) == (0, 0, 0, 0x0002)
    assert h.read(3, 13000, 1) == [0xCE]
    assert h.write(13000, 0xCF) is None
    clock.advance(1)
    assert h.sample().state in (0x0008, 0x0020)
    clock.advance(120)
    s = h.sample()
    assert s.state == 0x0040 and s.pv > 5000


def test_power_limitation_ramps_down_fast_and_up_slowly(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY))
    h.server.set_battery_soc(100.0)
    clock.advance(60)
    assert h.sample().ac > 8000
    assert h.write(13089, 0xAA, 300) is None  # limit to 30 %
    clock.advance(1)
    assert h.sample().ac <= 3000
    assert h.write(13090, 1000) is None
    clock.advance(2)
    assert 3000 < h.sample().ac < 6000  # ramping up (10 % of rating per second)
    clock.advance(10)
    assert h.sample().ac > 8000


def test_external_ems_falls_back_to_self_consumption_without_heartbeat(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 6, 21, 2, 0, tzinfo=SYDNEY))
    h.server.set_battery_soc(60.0)
    assert h.write(13050, 3, 0xBB, 2500) is None  # external EMS: discharge 2.5 kW
    for _ in range(6):  # an EMS that sends its heartbeat every 10 s
        clock.advance(10)
        assert h.write(13080, 10) is None
        s = h.sample()
        assert s.state == 0x4000 and s.battery == -2500
    clock.advance(19)
    assert h.sample().state == 0x4000  # 19 s after the last heartbeat: still external
    clock.advance(2)
    s = h.sample()
    assert s.state == 0x0008  # fell back: self-consumption (standby at night)
    clock.advance(5)
    s = h.sample()
    assert abs(s.battery + s.load) < 0.1 * s.load + 60  # covering just the house now
    assert abs(s.meter) <= 5
    assert h.read(3, 13050, 1) == [3]  # the setting stays; a heartbeat resumes control
    assert h.write(13080, 10) is None
    clock.advance(5)
    s = h.sample()
    assert s.state == 0x4000 and s.battery == -2500


def test_forced_charge_schedule_charges_in_its_window(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 6, 21, 1, 0, tzinfo=SYDNEY))
    h.server.set_battery_soc(30.0)
    # enable, every day, 02:00-03:30 to 90 %, second window unused
    assert h.write(33208, 0xAA, 0, 2, 0, 3, 30, 90, 0, 0, 0, 0, 0) is None
    clock.advance(60)
    assert h.sample().battery < 0  # 01:01: self-consumption, discharging
    clock.set(datetime(2026, 6, 21, 2, 10, tzinfo=SYDNEY))
    s = h.sample()
    assert s.battery > 5000 and s.meter > 5000  # charging at full power from the grid
    clock.set(datetime(2026, 6, 21, 3, 31, tzinfo=SYDNEY))
    s = h.sample()
    assert s.battery < 0 and s.soc > 50  # window over: back to self-consumption


def test_bad_writes_get_clear_exceptions_and_change_nothing(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 6, 21, 2, 0, tzinfo=SYDNEY))
    before = h.read(3, 13050, 3)
    assert h.write(13050, 1) == 4  # EMS mode 1 is not documented (pysungrow's is wrong)
    assert h.write(13050, 5) == 4
    assert h.write(13051, 0x12) == 4
    assert h.write(13058, 400) == 4  # max SoC below 50 %
    assert h.write(13052, 60000) == 4  # beyond the BDC rating
    assert h.write(13000, 0x01) == 4  # start/stop takes 0xCF / 0xCE / 0xBB only
    assert h.write(13050, 2, 0xAA, 99999 & 0xFFFF) == 4  # one bad word: nothing written
    assert h.read(3, 13050, 3) == before
    assert h.write(13019, 1) == 2  # a reserved address
    assert h.write(13049, 0, 2) == 2  # spans a reserved address: refused whole
    assert h.read(3, 13050, 1) == before[:1]
    # Input registers are read-only: 13023 (SoC) is not a holding register.
    assert h.write(13023, 500) == 2
    # A malformed FC16 (byte count disagreeing with the count) is refused whole.
    reply = h.raw.request(1, bytes([16, 0x32, 0xD9, 0, 2, 2, 0, 2]))
    assert reply[0] == 0x90
    assert h.read(3, 13050, 3) == before
    # The battery unit has no writable registers.
    assert h.raw.write(13049, [2], unit=200) == 2
    clock.advance(60)
    assert h.sample().state in KNOWN_RUNNING_STATES


def test_interleaved_writes_from_two_clients_are_never_mixed(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 6, 21, 2, 0, tzinfo=SYDNEY))
    port = h.server.get_connection_info("modbus")["port"]
    triples = ([2, 0xAA, 1000], [2, 0xBB, 2000])
    errors: list[str] = []

    def writer(values: list[int]) -> None:
        with RawModbus("127.0.0.1", port) as r:
            for _ in range(150):
                if r.write(13049, values) is not None:
                    errors.append("write refused")
                got = r.read(3, 13049, 3)
                if got not in triples:
                    errors.append(f"mixed read {got}")

    threads = [threading.Thread(target=writer, args=(t,)) for t in triples]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    clock.advance(5)
    s = h.sample()
    final = h.read(3, 13050, 3)
    assert final in triples
    assert s.battery == (1000 if final[1] == 0xAA else -2000)


def test_sbr_battery_answers_on_its_own_unit(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 6, 21, 2, 0, tzinfo=SYDNEY), battery_kwh=12.8)
    clock.advance(60)
    words = h.read(4, 10710, 40, unit=200)
    assert words[0] == 0x20E8  # SBR128: four 3.2 kWh modules
    serial = b"".join(w.to_bytes(2, "big") for w in words[1:11]).rstrip(b"\0").decode()
    info = h.server.devices[1]
    assert (info.kind, info.unit_id, info.logical_id, info.winet_dev_type) == (
        "battery", 200, 2, 44)
    assert serial == info.serial and info.model == "SBR128"
    status, volts, amps, temp, soc, soh = words[30:36]
    inverter = h.sample()
    assert status == 2 and s16(amps) < 0  # running, discharging at night
    assert volts / 10 == pytest.approx(inverter.battery_v, abs=0.15)
    assert soc / 10 == pytest.approx(inverter.soc, abs=0.15)
    assert 90 <= soh <= 100 and 10 < s16(temp) / 10 < 40
    cells = h.read(4, 10757, 24, unit=200)  # what winet-extractor reads
    assert 3.0 < cells[0] / 10000 < 3.6 and cells[2] < cells[0]
    assert all(v > 0 for v in cells[8:12]) and cells[12:16] == [0, 0, 0, 0]  # 4 modules
    readings = h.server.battery_readings()
    assert readings.soc_pct == pytest.approx(soc / 10, abs=0.06)
    assert readings.status == "run"
    # The device's identity (what a WiNet-S device list shows: see test_winet).
    inverter, battery = h.server.devices
    assert (inverter.winet_dev_type, inverter.device_type_code) == (35, 0x0E03)
    assert (battery.device_type_code, battery.model, battery.serial) == (0x20E8, "SBR128", serial)
    assert h.server.battery is battery and battery.inverter is inverter
    assert battery.read("battery_soc") == pytest.approx(soc / 10)  # its own registers
    assert h.raw.read(3, 4999, 10, unit=200) == 2  # no holding table
    assert h.raw.read(4, 4999, 1, unit=200) == 2  # not an inverter


def test_devices_without_a_battery_or_meter(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY))
    server = mock_sungrow_factory(model="SH10RT", clock=clock, battery_kwh=0, meter=False)
    assert [d.kind for d in server.devices] == ["inverter"]
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.read(4, 10709, 1, unit=200) == 0x0B  # nobody at unit 200
        assert r.read(4, 5600, 2) == [0xFFFF, 0x7FFF]  # meter 5601: disconnected sentinel
        assert r.read(4, 13022, 1) == [0xFFFF]  # 13023 SoC: no battery
        alarm = r.read(4, 13049, 2)  # 13050 inverter alarm: bit 30, meter communication
        assert isinstance(alarm, list) and (alarm[0] | alarm[1] << 16) == 1 << 30
    # Without a battery and meter the PV simply goes to the grid connection.
    assert server.snapshot().active_power_w > 5000
    string = mock_sungrow_factory(model="SG10RT", clock=clock)
    assert [d.winet_dev_type for d in string.devices] == [21]
    with pytest.raises(ValueError, match="no battery device"):
        string.battery_readings()


def test_running_state_and_ems_mode_only_take_documented_values(hybrid: Any) -> None:
    h, clock = hybrid(datetime(2026, 1, 10, 0, 0, tzinfo=SYDNEY))
    modes = [0, 2, 3, 4, 8]
    for i in range(96):
        if i % 8 == 0:
            assert h.write(13050, modes[i // 8 % len(modes)], (0xAA, 0xBB, 0xCC)[i % 3],
                           1000 * (i % 4)) is None
        clock.advance(900)
        s = h.sample()
        assert s.state in KNOWN_RUNNING_STATES
        assert h.read(3, 13000, 1)[0] in (0xCF, 0xCE, 0xBB)
        assert h.read(3, 13050, 1)[0] in modes
        assert h.read(3, 13051, 1)[0] in (0xAA, 0xBB, 0xCC)
        assert h.read(4, 13030, 1) == [0xFFFF]  # grid state: 0xFFFF, as every SH*RT recorded


def test_cloud_walk_is_seeded_and_a_pure_function_of_time(mock_sungrow_factory: Any) -> None:
    start = datetime(2026, 1, 10, 6, 0, tzinfo=SYDNEY)
    stepped = ManualClock(start)
    jumped = ManualClock(start)
    a = mock_sungrow_factory(model="SG10RT", clock=stepped, cloud_factor="random", seed=4)
    b = mock_sungrow_factory(model="SG10RT", clock=jumped, cloud_factor="random", seed=4)
    other = mock_sungrow_factory(model="SG10RT", clock=ManualClock(start),
                                 cloud_factor="random", seed=5)
    clear = mock_sungrow_factory(model="SG10RT", clock=ManualClock(start))
    for _ in range(6 * 60):
        stepped.advance(60)
    jumped.advance(6 * 3600)
    other.clock.advance(6 * 3600)
    clear.clock.advance(6 * 3600)
    # Same seed, same instant: the same irradiance, however the plant got there.
    assert a.snapshot().irradiance_w_m2 == b.snapshot().irradiance_w_m2
    assert a.snapshot().irradiance_w_m2 != other.snapshot().irradiance_w_m2
    assert a.snapshot().irradiance_w_m2 < clear.snapshot().irradiance_w_m2 * 1.15
    assert a.snapshot().daily_yield_kwh < clear.snapshot().daily_yield_kwh


def test_house_load_profile_and_python_api(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 6, 21, 3, 0, tzinfo=SYDNEY))
    hourly = [200.0] * 24
    hourly[3] = 2000.0
    server = mock_sungrow_factory(model="SH5.0RT", clock=clock, house_load=hourly,
                                  battery_kwh=9.6)
    clock.advance(30 * 60)  # 03:30, the hourly value itself
    assert server.read("load_power") == 2000
    assert server.read("battery_capacity_high_precision") == pytest.approx(9.6)
    server.set_battery_soc(77.7)
    assert server.read("battery_level") == pytest.approx(77.7, abs=0.05)
    with pytest.raises(ValueError, match="state of charge"):
        server.set_battery_soc(120)
    server.reset()  # a rebuilt plant: its own seeded state of charge, its battery device again
    assert server.read("battery_level") != pytest.approx(77.7, abs=0.05)
    assert [d.kind for d in server.devices] == ["inverter", "battery"]
    assert server.battery is not None
    assert server.battery.input.getValues(10710, 1) == [0x20E7]  # SBR096

    with pytest.raises(ValueError, match="house_load"):
        MockSungrowServer(model="SH10RT", server_type="modbus", house_load=[1.0, 2.0])
    with pytest.raises(ValueError, match="cloud_factor"):
        MockSungrowServer(model="SH10RT", server_type="modbus", cloud_factor="sunny")
    with pytest.raises(ValueError, match="unit id"):
        MockSungrowServer(model="SH10RT", server_type="modbus", unit_id=200)
    with pytest.raises(ValueError, match="only hybrid"):
        MockSungrowServer(model="SG10RT", server_type="modbus", battery_kwh=5)
    assert MockSungrowServer(model="SH10RT", server_type="modbus", unit_id=200,
                             battery_unit_id=None).battery is None


@pytest.mark.mock_sungrow(model="SH10RT", battery_kwh=9.6)
def test_fixture_marker_builds_a_hybrid_with_its_battery(mock_sungrow: Any) -> None:
    assert mock_sungrow.plant.battery.model == "SBR096"
    port = mock_sungrow.get_connection_info("modbus")["port"]
    with RawModbus("127.0.0.1", port) as r:
        assert r.read(4, 10709, 1, unit=200) == [0x20E7]
        assert r.read(4, 5638, 1) == [960]  # 5639: 9.60 kWh
