"""What a holding-register write means to the plant, written by a client over Modbus.

A client writes words; the plant must then hold the setting the protocol documents for them,
in engineering units (``server.plant.plant_settings``, the Python API's view), and the input
registers that report a setting must read it back. Units and words are the protocol's (spec
§B.4/§B.5: 0xAA on / 0x55 off, 5008 and 13090 in 0.1 % of the rating, 5039 in 0.1 kW, 5019 a
signed power factor in 0.001, 13058/13059 in 0.1 %, 33047/33048 in 0.01 kW, 33149/33150 and
13084/13085 in 10 W, EMS modes 0/2/3/4/8, commands 0xAA/0xBB/0xCC); ratings are models.csv's.
Documented register N is wire address N - 1.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.plant.commands import PlantSettings
from mock_sungrow.plant.ems import BatteryCommand, ChargeWindow, EmsMode
from tests.helpers import RawModbus, control_call

SYDNEY = ZoneInfo("Australia/Sydney")
NOON = datetime(2026, 1, 10, 13, 0, tzinfo=SYDNEY)


class Client:
    """A raw Modbus client speaking documented register numbers."""

    def __init__(self, server: MockSungrowServer) -> None:
        self.server = server
        self.raw = RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"])

    def write(self, doc: int, *words: int) -> int | None:
        """None when accepted, else the exception code."""
        return self.raw.write(doc - 1, list(words))

    def read(self, fc: int, doc: int, count: int = 1) -> list[int]:
        words = self.raw.read(fc, doc - 1, count)
        assert isinstance(words, list), f"exception {words} reading {doc} x {count}"
        return words

    def settings(self) -> PlantSettings:
        """The plant's settings now (a call: each one reads them afresh)."""
        return self.server.plant.plant_settings


@pytest.fixture
def client(mock_sungrow_factory: Any) -> Any:
    """Build a server on a manual clock at noon and a client for it; closes the clients."""
    made: list[Client] = []

    def make(model: str, **kwargs: Any) -> Client:
        server = mock_sungrow_factory(model=model, server_type="modbus",
                                      clock=ManualClock(NOON), **kwargs)
        made.append(Client(server))
        return made[-1]

    yield make
    for c in made:
        c.raw.close()


# ----------------------------------------------------------------------------- string inverters


def test_string_power_limit_switch_share_and_ceiling(client: Any) -> None:
    c = client("SG10RT")  # 10 kW (models.csv)
    # defaults (holding.csv): 5007 on, 5008 100.0 %, 5039 the rating: limited to 10 kW
    assert c.settings().power_limit_w == 10_000.0
    assert c.read(4, 5077, 2) == [10_000, 0]  # input 5077: the set-point in W, U32
    assert c.write(5008, 500) is None          # 50.0 % of 10 kW
    assert c.settings().power_limit_w == 5_000.0
    assert c.read(4, 5077, 2) == [5_000, 0]
    assert c.write(5039, 30) is None           # a 3.0 kW ceiling wins over 5 kW
    assert c.settings().power_limit_w == 3_000.0
    assert c.write(5008, 1100) is None         # 110.0 %: 11 kW, but the ceiling is 3 kW
    assert c.settings().power_limit_w == 3_000.0
    assert c.write(5039, 110) is None          # ceiling 11.0 kW: 110 % of the rating now
    assert c.settings().power_limit_w == 11_000.0
    assert c.write(5007, 0x55) is None         # switch off: no limit
    assert c.settings().power_limit_w is None
    assert c.read(4, 5077, 2) == [10_000, 0]   # unlimited: the rating
    assert c.write(5007, 0xAA) is None
    assert c.settings().power_limit_w == 11_000.0
    assert c.write(5008, 0) is None            # 0 % is a limit of 0 W, not "unlimited"
    assert c.settings().power_limit_w == 0.0


def test_string_power_factor_is_signed_thousandths(client: Any) -> None:
    c = client("SG10RT")
    assert c.settings().power_factor == 1.0
    assert c.write(5019, 0x10000 - 900) is None  # -0.900: absorbing reactive power
    assert c.settings().power_factor == pytest.approx(-0.9)
    assert c.write(5019, 950) is None
    assert c.settings().power_factor == pytest.approx(0.95)
    assert c.read(3, 5019) == [950]


def test_string_export_limit(client: Any) -> None:
    c = client("SG10KTL-M")  # 10 kW, with the export-limit block 5010-5015
    assert c.settings().export_limit_w is None  # 5010 defaults to 0x55: off
    assert c.write(5011, 4000) is None        # the value alone does not switch it on
    assert c.settings().export_limit_w is None
    assert c.write(5010, 0xAA) is None
    assert c.settings().export_limit_w == 4000.0
    assert c.write(5015, 250) is None         # 25.0 % of 10 kW is below 4000 W
    assert c.settings().export_limit_w == 2500.0
    assert c.write(5015, 1000) is None
    assert c.settings().export_limit_w == 4000.0
    assert c.write(5010, 0x55) is None
    assert c.settings().export_limit_w is None


def test_a_write_to_a_setting_group_keeps_the_other_settings(client: Any) -> None:
    c = client("SG10RT")
    assert c.write(5008, 500) is None
    assert c.write(5019, 900) is None   # another group: the power limit stays
    assert (c.settings().power_limit_w, c.settings().power_factor) == (5_000.0, pytest.approx(0.9))
    assert c.write(5037, 100) is None   # a register no setting group reads
    assert (c.settings().power_limit_w, c.settings().power_factor) == (5_000.0, pytest.approx(0.9))


def test_writing_the_clock_moves_the_plant_clock(client: Any) -> None:
    c = client("SG10RT")
    assert c.read(3, 5000, 6) == [2026, 1, 10, 13, 0, 0]
    assert c.write(5000, 2027, 2, 3, 4, 5, 6) is None
    assert c.read(3, 5000, 6) == [2027, 2, 3, 4, 5, 6]
    assert c.write(5003, 22) is None    # one field: the others are kept
    assert c.read(3, 5000, 6) == [2027, 2, 3, 22, 5, 6]
    assert c.write(5002, 30) == 4       # 30 February does not exist: refused, nothing moves
    assert c.read(3, 5000, 3) == [2027, 2, 3]
    assert c.write(5001, 3, 30) is None  # month and day in one write: 30 March
    assert c.read(3, 5000, 4) == [2027, 3, 30, 22]


def test_refused_writes_name_the_register(client: Any) -> None:
    c = client("SG10RT", control_port=0)
    base = c.server.get_connection_info("control")["url"].rstrip("/")
    cases = [
        ((5009, [1]), 2, "holding register 5009 is not writable on SG10RT"),
        ((5008, [500, 1]), 2, "holding register 5009 is not writable on SG10RT"),
        ((5001, [2, 30]), 4, "invalid clock setting {5001: 2, 5002: 30}: "
                             "day is out of range for month"),
    ]
    for (address, values), code, message in cases:
        status, err = control_call(base, "POST", "/registers/holding/write",
                                   {"address": address, "values": values})
        assert (status, err["modbus_exception"]) == (409, code), err
        assert err["error"] == message
    # Nothing was applied by the refused writes: a write is all or nothing.
    assert c.read(3, 5000, 3) == [2026, 1, 10]
    assert c.read(3, 5008) == [1000]
    assert c.settings().power_limit_w == 10_000.0


# ----------------------------------------------------------------------------- hybrids


def test_hybrid_power_limit(client: Any) -> None:
    c = client("SH10RT")  # 10 kW
    assert c.settings().power_limit_w is None   # 13089 defaults to 0x55: off
    assert c.write(13090, 500) is None
    assert c.settings().power_limit_w is None
    assert c.write(13089, 0xAA) is None       # on: 50.0 % of 10 kW
    assert c.settings().power_limit_w == 5_000.0
    assert c.write(13090, 1000) is None
    assert c.settings().power_limit_w == 10_000.0
    assert c.write(13089, 0x55) is None
    assert c.settings().power_limit_w is None


def test_hybrid_export_limit(client: Any) -> None:
    c = client("SH10RT")
    assert c.settings().export_limit_w is None  # 13087 defaults to 0x55
    assert c.write(13087, 0xAA) is None       # on, 13074 defaults to the rating
    assert c.settings().export_limit_w == 10_000.0
    assert c.write(13074, 3000) is None
    assert c.settings().export_limit_w == 3000.0
    assert c.write(13088, 200) is None        # 20.0 % of 10 kW: 2000 W
    assert c.settings().export_limit_w == 2000.0
    assert c.write(13087, 0x55) is None
    assert c.settings().export_limit_w is None


def test_a_hybrid_without_a_ratio_register_limits_by_watts(client: Any) -> None:
    c = client("SH5K-20")  # 5 kW; no 13088 ratio, no 13089/13090 power limit
    assert c.write(13087, 0xAA) is None
    assert c.settings().export_limit_w == 5_000.0
    assert c.write(13074, 1234) is None
    assert c.settings().export_limit_w == 1234.0
    # 13074 holds up to 1.5x the rating (holding.csv, as recorded), but with no ratio
    # register the share is the whole rating, 100.0 %: the limit is 5 kW, not 7.5
    assert c.write(13074, 7500) is None
    assert c.settings().export_limit_w == 5_000.0
    assert c.settings().power_limit_w is None


def test_ems_settings_in_engineering_units(client: Any) -> None:
    c = client("SH10RT", battery_kwh=9.6)
    ems = c.settings().ems
    # defaults (holding.csv): self-consumption, stop, 100 % / 5 % window, 10 % reserve,
    # the 10 kW converter as both limits, 100 W start powers, no schedule
    assert (ems.mode, ems.command, ems.command_w) == (EmsMode.SELF_CONSUMPTION,
                                                      BatteryCommand.STOP, 0.0)
    assert (ems.max_soc_pct, ems.min_soc_pct, ems.reserve_soc_pct) == (100.0, 5.0, 10.0)
    assert (ems.charge_limit_w, ems.discharge_limit_w) == (10_000.0, 10_000.0)
    assert (ems.start_charge_w, ems.start_discharge_w) == (100.0, 100.0)
    assert ems.schedule == () and ems.schedule_weekdays == frozenset(range(7))
    assert c.write(13050, 2, 0xAA, 3000) is None   # forced mode, charge, 3000 W
    ems = c.settings().ems
    assert (ems.mode, ems.command, ems.command_w) == (EmsMode.FORCED, BatteryCommand.CHARGE,
                                                      3000.0)
    assert c.write(13051, 0xBB) is None
    assert c.settings().ems.command is BatteryCommand.DISCHARGE
    assert c.write(13050, 4) is None
    assert c.settings().ems.mode is EmsMode.VPP
    assert c.write(13050, 8) is None
    assert c.settings().ems.mode is EmsMode.MICROGRID
    assert c.write(13050, 0, 0xCC) is None
    assert (c.settings().ems.mode, c.settings().ems.command) == (EmsMode.SELF_CONSUMPTION,
                                                             BatteryCommand.STOP)
    assert c.write(13058, 900, 150) is None         # max 90.0 %, min 15.0 %
    assert (c.settings().ems.max_soc_pct, c.settings().ems.min_soc_pct) == (90.0, 15.0)
    assert c.write(13100, 20) is None               # reserve 20 %
    assert c.settings().ems.reserve_soc_pct == 20.0
    assert c.write(33047, 250, 400) is None         # 2.50 kW charge, 4.00 kW discharge
    assert (c.settings().ems.charge_limit_w, c.settings().ems.discharge_limit_w) == (2500.0,
                                                                                 4000.0)
    assert c.write(33149, 25, 30) is None           # start powers 250 W and 300 W
    assert (c.settings().ems.start_charge_w, c.settings().ems.start_discharge_w) == (250.0, 300.0)
    assert c.write(33149, 1000, 999) is None        # 10 kW is no start power: 100 W
    assert (c.settings().ems.start_charge_w, c.settings().ems.start_discharge_w) == (100.0, 9990.0)


def test_forced_charge_schedule_and_its_weekdays(client: Any) -> None:
    c = client("SH10RT", battery_kwh=9.6)
    # 33210-33214: window 1 02:30-05:45 to 80 %; 33215-33219: window 2 13:05-14:10 to 60 %
    assert c.write(33210, 2, 30, 5, 45, 80, 13, 5, 14, 10, 60) is None
    assert c.settings().ems.schedule == ()  # 33208 still 0x55: no schedule
    assert c.write(33208, 0xAA, 0b0000101) is None  # on, Monday and Wednesday
    ems = c.settings().ems
    assert ems.schedule == (ChargeWindow(150, 345, 80.0), ChargeWindow(785, 850, 60.0))
    assert ems.schedule_weekdays == frozenset({0, 2})
    assert c.write(33209, 0) is None                 # 0: every day
    assert c.settings().ems.schedule_weekdays == frozenset(range(7))
    assert c.write(33209, 0b1000000) is None         # bit 6: Sunday
    assert c.settings().ems.schedule_weekdays == frozenset({6})


def test_older_hybrids_take_start_powers_from_13084(client: Any) -> None:
    c = client("SH5K-20", battery_kwh=9.6)  # no 33149/33150, no 13084/13085 either
    ems = c.settings().ems
    assert (ems.start_charge_w, ems.start_discharge_w) == (100.0, 100.0)
    assert ems.schedule == ()


def test_absent_ems_registers_read_as_the_protocol_defaults() -> None:
    from mock_sungrow.device.writes import ems_settings

    # ems_settings reads absent registers as the protocol's defaults: no limits, the whole
    # window, 100 W start powers, self-consumption
    ems = ems_settings({})
    assert (ems.charge_limit_w, ems.discharge_limit_w) == (math.inf, math.inf)
    assert (ems.max_soc_pct, ems.min_soc_pct, ems.reserve_soc_pct) == (100.0, 5.0, 0.0)
    assert (ems.start_charge_w, ems.start_discharge_w) == (100.0, 100.0)
    assert (ems.mode, ems.command, ems.command_w) == (EmsMode.SELF_CONSUMPTION,
                                                      BatteryCommand.STOP, 0.0)
    assert ems_settings({13084: 30, 13085: 40}).start_charge_w == 300.0
    assert ems_settings({13084: 30, 13085: 40}).start_discharge_w == 400.0
    assert ems_settings({13050: 7, 13051: 0x12}).mode is EmsMode.SELF_CONSUMPTION
    assert ems_settings({13050: 7, 13051: 0x12}).command is BatteryCommand.STOP


def test_external_ems_lives_on_heartbeats(client: Any) -> None:
    c = client("SH10RT", battery_kwh=9.6)
    clock = c.server.plant.clock
    assert isinstance(clock, ManualClock)
    assert c.write(13050, 3) is None   # external EMS: switching to it is a heartbeat
    assert c.read(4, 13000) == [0x4000]
    for _ in range(4):                 # a heartbeat (any 13080 write) every 15 s keeps it
        clock.advance(15)
        assert c.write(13080, 1) is None
        assert c.read(4, 13000) == [0x4000]
    clock.advance(60)                  # none for a minute: back to self-consumption
    assert c.read(4, 13000) == [0x0040]


# ----------------------------------------------------------------------------- edges


def test_an_odd_power_factor_word_keeps_its_sign(client: Any) -> None:
    c = client("SG10RT")
    assert c.write(5019, 801) is None            # +0.801 (0x0321: the low bit set, no sign)
    assert c.settings().power_factor == pytest.approx(0.801)
    assert c.write(5019, 0x10000 - 801) is None  # -0.801 (0xFCDF)
    assert c.settings().power_factor == pytest.approx(-0.801)


def test_a_model_without_holding_registers_runs_at_the_protocol_defaults(client: Any) -> None:
    # LP_P34KSG (models.csv: 34 kW) documents no holding register: its plant runs as
    # holding.csv's defaults say a fresh unit does: 5007 on at 5008 100.0 %, 5019 PF 1.000,
    # 5010 export limitation off
    c = client("LP_P34KSG")
    assert c.write(5007, 0xAA) == 2  # not writable: there is no such register
    settings = c.settings()
    assert settings.power_limit_w == 34_000.0
    assert settings.power_factor == 1.0
    assert settings.export_limit_w is None


def test_a_holding_row_without_limits_is_read_only(client: Any) -> None:
    c = client("SH10RT")  # 33500 cluster_mode: recorded, no writable range (holding.csv)
    before = c.read(3, 33500, 3)
    assert c.write(33500, 0xAA) == 2
    assert c.write(33499, 1, 2) == 2
    assert c.read(3, 33500, 3) == before


def test_an_out_of_range_write_says_which_limit(client: Any) -> None:
    c = client("SH10RT", control_port=0)
    base = c.server.get_connection_info("control")["url"].rstrip("/")
    cases = [  # holding.csv: 13058 max_soc 500..1000, 13090 active_power_limit_ratio ..1000
        (13058, 400, "max_soc must be >= 500; got 400"),
        (13090, 1001, "active_power_limit_ratio must be <= 1000; got 1001"),
    ]
    for address, word, message in cases:
        status, err = control_call(base, "POST", "/registers/holding/write",
                                   {"address": address, "values": [word]})
        assert (status, err["modbus_exception"]) == (409, 4), err
        assert err["error"] == message
        assert c.write(address, word) == 4


def test_a_10_kw_discharge_start_power_reads_as_100_w(client: Any) -> None:
    c = client("SH10RT", battery_kwh=9.6)
    assert c.write(33150, 999) is None   # 9990 W
    assert c.settings().ems.start_discharge_w == 9990.0
    assert c.write(33150, 1000) is None  # 10 kW is no start power: 100 W, as for charging
    assert c.settings().ems.start_discharge_w == 100.0


def test_a_hybrid_without_a_schedule_register_charges_on_every_day(client: Any) -> None:
    c = client("SH5K-20", battery_kwh=9.6)  # no 33208/33209
    assert c.settings().ems.schedule_weekdays == frozenset(range(7))


def test_an_enabled_schedule_without_its_windows_reads_the_defaults() -> None:
    from mock_sungrow.device.writes import ems_settings

    # holding.csv's defaults of 33210-33219: 00:00-00:00 to 100 %, twice; 33209 0: every day
    ems = ems_settings({33208: 0xAA})
    assert ems.schedule == (ChargeWindow(0, 0, 100.0), ChargeWindow(0, 0, 100.0))
    assert ems.schedule_weekdays == frozenset(range(7))
    ems = ems_settings({33208: 0xAA, 33210: 1, 33211: 2, 33212: 3, 33213: 4, 33214: 50})
    assert ems.schedule == (ChargeWindow(62, 184, 50.0), ChargeWindow(0, 0, 100.0))
    ems = ems_settings({33208: 0xAA, 33215: 5, 33216: 6, 33217: 7, 33218: 8, 33219: 60})
    assert ems.schedule == (ChargeWindow(0, 0, 100.0), ChargeWindow(306, 428, 60.0))


def test_a_default_in_watts_beyond_one_word_reads_the_largest_word(client: Any) -> None:
    # SH100CX (models.csv: 100 kW). Holding 13074, export_power_limitation_value, is a U16 in W
    # (registers.csv) whose default is the rating (holding.csv): 100 000 W does not fit 16 bits.
    # The register holds the largest value a U16 says below its "unavailable" word 0xFFFF
    # (spec B.2), 65 534 W, and the plant limits to what the register says, never to the
    # low 16 bits of 100 000 (34 464).
    c = client("SH100CX")
    assert c.read(3, 13074) == [0xFFFE]
    assert c.write(13087, 0xAA) is None  # feed-in limitation on: 13074 W, 13088 absent
    assert c.settings().export_limit_w == 65_534.0
    assert c.write(13074, 50_000) is None
    assert (c.read(3, 13074), c.settings().export_limit_w) == ([50_000], 50_000.0)
