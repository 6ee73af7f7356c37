"""What ``real``, ``real_battery`` and ``direct`` show for known register words, over a WebSocket.

Registers are pinned to chosen words; the expected strings follow from the spec's register
table (registers.csv and the SBR rows: address, type, scale; 32-bit values low word first,
§B.2), the power-flow bits (13001: bit 1 charging, bit 2 discharging, §B) and the dongle's
formatting (winet-protocol.md §3.4-§3.5: strings, ``"--"`` when unavailable). They are written
out literally, not computed by the product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer, SungrowModbusDataBlock
from tests.helpers import AsyncBlock, RawModbus
from tests.winet_client import Winet, run

Factory = Callable[..., MockSungrowServer]


def reply_of(server: MockSungrowServer, service: str, dev_id: str = "1") -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await s.call(service, dev_id=dev_id)

    return run(go())


def values(server: MockSungrowServer, service: str, dev_id: str = "1") -> dict[str, str]:
    reply = reply_of(server, service, dev_id)
    assert reply["result_code"] == 1, reply
    return {i["data_name"]: i["data_value"] for i in reply["result_data"]["list"]}


def pin(server: MockSungrowServer, address: int, words: list[int]) -> None:
    server.set_register("input", address, words)


# ----------------------------------------------------------------------------- real_battery


@pytest.mark.parametrize(
    ("flow", "charging", "discharging"),
    [(0b010, "1.500", "0.000"),   # bit 1: the battery charges
     (0b100, "0.000", "1.500"),   # bit 2: it discharges
     (0b001, "0.000", "0.000"),   # PV only: neither
     (0b110, "1.500", "1.500")],
)
def test_battery_power_shows_as_charging_or_discharging_by_the_flow_bits(
    mock_sungrow_factory: Factory, flow: int, charging: str, discharging: str
) -> None:
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    pin(server, 5214, [1500, 0])  # battery_power S32 W
    pin(server, 13001, [flow])    # power_flow_status
    shown = values(server, "real_battery")
    assert (shown["I18N_CONFIG_KEY_3907"], shown["I18N_CONFIG_KEY_3921"]) == (
        charging, discharging)


def test_real_battery_lists_every_reading_with_its_unit(mock_sungrow_factory: Factory) -> None:
    """spec §7 ``real_battery``: the names (typos included), units and order of the list."""
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    pin(server, 13023, [456])     # battery_level U16 0.1 %
    pin(server, 13024, [987])     # battery_state_of_health U16 0.1 %
    data = reply_of(server, "real_battery")["result_data"]
    names = [(i["data_name"], i["data_unit"]) for i in data["list"]]
    assert names == [
        ("I18N_CONFIG_KEY_3907", "kW"), ("I18N_CONFIG_KEY_3921", "kW"),
        ("I18N_COMMON_BATTERY_VOLTAGE", "V"), ("I18N_COMMON_BATTERY_CURRENT", "A"),
        ("I18N_COMMON_BATTERY_TEMPERATURE", "\u2103"), ("I18N_COMMON_BATTERY_SOC", "%"),
        ("I18N_COMMON_BATTARY_HEALTH", "%"), ("I18N_COMMON_MAX_CHARGE_CURRENT_BMS", "A"),
        ("I18N_COMMON_MAX_DISCHARGE_CURRENT_BMS", "A"),
        ("I18N_COMMON_DAILY_BATTERY_CHARGE_PV", "kWh"),
        ("I18N_COMMON_TOTAL_BATTERY_CHARGE_PV", "kWh"),
        ("I18N_COMMON_DAILY_BATTERY_DISCHARGE", "kWh"),
        ("I18N_COMMON_TOTAL_BATTRY_DISCHARGE", "kWh"),
        ("I18N_COMMON_DAILY_BATTERY_CHARGE", "kWh"), ("I18N_COMMON_TOTAL_BATTERY_CHARGE", "kWh"),
    ]
    assert data["count"] == 15
    shown = {i["data_name"]: i["data_value"] for i in data["list"]}
    assert (shown["I18N_COMMON_BATTERY_SOC"], shown["I18N_COMMON_BATTARY_HEALTH"]) == (
        "45.6", "98.7")


def test_a_hybrid_without_a_battery_has_no_real_battery(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=0, clock=ManualClock())
    assert reply_of(server, "real_battery") == {
        "result_code": 215, "result_msg": "I18N_COMMON_INTER_ABNORMAL",
        "result_data": {"service": "real_battery"}}


# ----------------------------------------------------------------------------- real on the battery


@pytest.mark.parametrize(
    ("status", "contactor", "shown"),
    [(2, 0, "I18N_COMMON_STATUS_RUN"), (1, 0, "I18N_COMMON_STATUS_STANDBY"),
     (0, 0, "I18N_COMMON_STATUS_STANDBY"), (2, 1, "I18N_COMMON_STATUS_STOP")],
)
def test_the_battery_status_comes_from_10740_and_its_contactor(
    mock_sungrow_factory: Factory, status: int, contactor: int, shown: str
) -> None:
    """10740: 1 standby, 2 run; 10789 = 1: the DC contactor is open, the battery stopped."""
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, clock=ManualClock())
    assert server.battery is not None
    server.battery.set_register("input", 10740, [status])
    server.battery.set_register("input", 10789, [contactor])
    assert values(server, "real", "2")["I18N_COMMON_BATTERY_OPERATION_STATUS"] == shown


def test_real_on_the_battery_reads_its_own_registers(mock_sungrow_factory: Factory) -> None:
    """spec §7 "real on a battery device", from the SBR's 10741-10749 (sbr_registers.csv)."""
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, clock=ManualClock())
    assert server.battery is not None
    server.battery.set_register("input", 10740, [2, 2005, 0xFFEC, 0xFFFE, 421, 97,
                                                 0x4240, 0x000F, 100, 0])
    data = reply_of(server, "real", "2")["result_data"]
    assert data["list"] == [
        {"data_name": "I18N_COMMON_BATTERY_VOLTAGE", "data_value": "200.5", "data_unit": "V"},
        {"data_name": "I18N_COMMON_BATTERY_CURRENT", "data_value": "-2.0", "data_unit": "A"},
        {"data_name": "I18N_COMMON_BATTERY_TEMPERATURE", "data_value": "-0.2",
         "data_unit": "\u2103"},
        {"data_name": "I18N_COMMON_REMAIN_BATTERY_POWER", "data_value": "42.1", "data_unit": "%"},
        {"data_name": "I18N_COMMON_BATTARY_HEALTH", "data_value": "97.0", "data_unit": "%"},
        {"data_name": "I18N_COMMON_TOTAL_BATTERY_CHARGE", "data_value": "100000.0",
         "data_unit": "kWh"},
        {"data_name": "I18N_COMMON_TOTAL_BATTERY_DISCHARGE_BMS", "data_value": "10.0",
         "data_unit": "kWh"},
        {"data_name": "I18N_COMMON_BATTERY_OPERATION_STATUS",
         "data_value": "I18N_COMMON_STATUS_RUN", "data_unit": ""},
    ]
    assert data["count"] == 8


# ----------------------------------------------------------------------------- real: grid, state


@pytest.mark.parametrize(("words", "export", "purchase"),
                         [([1500, 0], "1.500", "0.000"),            # +1500 W: exported
                          ([0xFA24, 0xFFFF], "0.000", "1.500"),     # -1500 W: bought
                          ([0xFFFF, 0x7FFF], "--", "--")])          # S32 sentinel: no meter
def test_the_meter_power_splits_into_export_and_purchase(
    mock_sungrow_factory: Factory, words: list[int], export: str, purchase: str
) -> None:
    """export_power (SG: input 5216, S32 W): positive feeds in, negative is bought."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    pin(server, 5216, words)
    shown = values(server, "real")
    assert (shown["I18N_COMMON_FEED_NETWORK_TOTAL_ACTIVE_POWER"],
            shown["I18N_CONFIG_KEY_4060"]) == (export, purchase)


@pytest.mark.parametrize(
    ("word", "state"),
    [(0x0000, "I18N_COMMON_RUNNING"), (0x8000, "I18N_COMMON_STOP"),
     (0x1300, "I18N_COMMON_KEY_STOP"), (0x1500, "I18N_COMMON_EMERGENCY_STOP"),
     (0x1400, "I18N_COMMON_STANDBY"), (0x1200, "I18N_COMMON_INITIAL_STANDBY"),
     (0x1600, "I18N_COMMON_STARTING"), (0x9100, "I18N_COMMON_ALARM_RUN"),
     (0x8100, "I18N_COMMON_DERATING_RUN"), (0x8200, "I18N_COMMON_DISPATCH_RUN"),
     (0x5500, "I18N_COMMON_FAULT"), (0x2500, "I18N_COMMON_COMMUNICATION_FAULT"),
     (0x1234, "--")],
)
def test_the_string_work_state_names(mock_sungrow_factory: Factory, word: int,
                                     state: str) -> None:
    """Work state 1 (input 5038, spec §B): each documented word, and an unknown one."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    pin(server, 5038, [word])
    assert values(server, "real")["I18N_COMMON_RUNNING_STATE"] == state


@pytest.mark.parametrize(
    ("word", "state"),
    [(0x0002, "I18N_COMMON_STOP"), (0x0008, "I18N_COMMON_STANDBY"),
     (0x0010, "I18N_COMMON_INITIAL_STANDBY"), (0x0020, "I18N_COMMON_STARTING"),
     (0x0040, "I18N_COMMON_DISPATCH_RUN"), (0x0100, "I18N_COMMON_FAULT"), (0x0004, "--")],
)
def test_the_hybrid_running_state_names(mock_sungrow_factory: Factory, word: int,
                                        state: str) -> None:
    """Running state (input 13000, SHproto appendix 2)."""
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    pin(server, 13000, [word])
    assert values(server, "real")["I18N_COMMON_RUNNING_STATE"] == state


def test_real_on_a_string_inverter_formats_each_reading(mock_sungrow_factory: Factory) -> None:
    """Decimals and units per item (spec §7), for pinned words of the SG5.0RS."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    pin(server, 5006, [1234, 0])      # total_running_time U32 h
    pin(server, 5008, [0xFFF6])       # internal_temperature S16 0.1 degC: -1.0
    pin(server, 5017, [5000, 0])      # total_dc_power U32 W
    pin(server, 5019, [2301])         # phase_a_voltage U16 0.1 V
    pin(server, 5022, [123])          # phase_a_current U16 0.1 A
    pin(server, 5035, [0xFC18])       # power_factor S16 0.001: -1.000
    pin(server, 5071, [1500])         # array_insulation_resistance U16 kOhm
    pin(server, 5147, [3605])         # bus_voltage U16 0.1 V
    pin(server, 5148, [4999])         # grid_frequency_high_precision U16 0.01 Hz
    shown = values(server, "real")
    assert {k: shown[k] for k in (
        "I18N_COMMON_TOTAL_GRID_RUNNING_TIME", "I18N_COMMON_AIR_TEM_INSIDE_MACHINE",
        "I18N_COMMON_TOTAL_DCPOWER", "I18N_COMMONUA", "I18N_COMMON_FRAGMENT_RUN_TYPE1",
        "I18N_COMMON_TOTAL_POWER_FACTOR", "I18N_COMMON_SQUARE_ARRAY_INSULATION_IMPEDANCE",
        "I18N_COMMON_BUS_VOLTAGE", "I18N_COMMON_GRID_FREQUENCY")} == {
        "I18N_COMMON_TOTAL_GRID_RUNNING_TIME": "1234",
        "I18N_COMMON_AIR_TEM_INSIDE_MACHINE": "-1.0",
        "I18N_COMMON_TOTAL_DCPOWER": "5.000",
        "I18N_COMMONUA": "230.1",
        "I18N_COMMON_FRAGMENT_RUN_TYPE1": "12.3",
        "I18N_COMMON_TOTAL_POWER_FACTOR": "-1.000",
        "I18N_COMMON_SQUARE_ARRAY_INSULATION_IMPEDANCE": "1500",
        "I18N_COMMON_BUS_VOLTAGE": "360.5",
        "I18N_COMMON_GRID_FREQUENCY": "49.99",
    }


# ----------------------------------------------------------------------------- direct


def _direct(server: MockSungrowServer) -> list[tuple[str, str, str]]:
    reply = reply_of(server, "direct")
    data = reply["result_data"]
    assert data["count"] == len(data["list"])
    for item in data["list"]:
        assert (item["voltage_unit"], item["current_unit"]) == ("V", "A")
    return [(i["name"], i["voltage"], i["current"]) for i in data["list"]]


KEY = "I18N_COMMON_GROUP_BUNCH_TITLE_AND"


def test_direct_splits_an_mppts_current_over_its_strings(mock_sungrow_factory: Factory) -> None:
    """SH25T: 3 MPPTs of 2 strings, no string registers: each string gets half the current."""
    server = mock_sungrow_factory(model="SH25T", clock=ManualClock())
    pin(server, 5011, [3000, 102, 2500, 0, 0xFFFF, 0xFFFF])  # MPPT 1-3 voltage, current
    assert _direct(server) == [
        ("MPPT1", "300.0", "10.2"), ("MPPT2", "250.0", "0.0"), ("MPPT3", "--", "--"),
        (f"{KEY}%@1", "300.0", "5.10"), (f"{KEY}%@2", "300.0", "5.10"),
        (f"{KEY}%@3", "250.0", "0.00"), (f"{KEY}%@4", "250.0", "0.00"),
        (f"{KEY}%@5", "--", "--"), (f"{KEY}%@6", "--", "--"),
    ]


def test_direct_reads_string_currents_and_stops_at_nine(mock_sungrow_factory: Factory) -> None:
    """SG110CX: 9 MPPTs of 2 strings; string currents 7013+ (U16 0.01 A); at most 9 entries
    after the MPPTs, as sungrow-websocket reads the string number from one digit (§3.5)."""
    server = mock_sungrow_factory(model="SG110CX", clock=ManualClock())
    for n, address in enumerate((5011, 5013, 5015, 5115, 5117)):
        pin(server, address, [6000 + n, 10 + n])  # MPPT n+1: 600.n V, 1.n A
    pin(server, 7013, [101, 202, 303, 404, 505, 606, 707, 808, 909])
    entries = _direct(server)
    assert [name for name, _v, _c in entries] == [
        *(f"MPPT{n}" for n in range(1, 10)), *(f"{KEY}%@{k}" for k in range(1, 10))]
    assert entries[0] == ("MPPT1", "600.0", "1.0")
    assert entries[9:] == [
        (f"{KEY}%@1", "600.0", "1.01"), (f"{KEY}%@2", "600.0", "2.02"),
        (f"{KEY}%@3", "600.1", "3.03"), (f"{KEY}%@4", "600.1", "4.04"),
        (f"{KEY}%@5", "600.2", "5.05"), (f"{KEY}%@6", "600.2", "6.06"),
        (f"{KEY}%@7", "600.3", "7.07"), (f"{KEY}%@8", "600.3", "8.08"),
        (f"{KEY}%@9", "600.4", "9.09"),
    ]


# ----------------------------------------------------------------------------- word faults


def test_a_sentinel_fault_uses_each_registers_own_pattern(mock_sungrow_factory: Factory) -> None:
    """§B.2: "unavailable" is 0x7FFF for S16 (internal temperature, 5008) and 0xFFFF for U16
    (bus voltage, 5147); ``real`` shows both as ``"--"`` and getParam the raw words."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    server.inject("sentinel", table="input", address=5008)
    server.inject("sentinel", table="input", address=5147)

    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            real = await s.call("real", dev_id="1")
            return (real, await w.registers(s.token, "input", 5008, 1),
                    await w.registers(s.token, "input", 5147, 1))

    real, temperature, bus = run(go())
    shown = {i["data_name"]: i["data_value"] for i in real["result_data"]["list"]}
    assert shown["I18N_COMMON_AIR_TEM_INSIDE_MACHINE"] == "--"
    assert shown["I18N_COMMON_BUS_VOLTAGE"] == "--"
    assert temperature["result_data"]["param_value"] == "7F FF "
    assert bus["result_data"]["param_value"] == "FF FF "


@pytest.mark.parametrize("block", [SungrowModbusDataBlock, AsyncBlock])
def test_the_dongle_reads_and_writes_through_either_kind_of_block(
    mock_sungrow_factory: Callable[..., MockSungrowServer], block: type
) -> None:
    """A user's data block may be synchronous or async (docs: datablock_class): getParam reads
    input 5000 (SG5.0RS type code 0x2606) and setParam writes holding 5008 through it."""
    server = mock_sungrow_factory(model="SG5.0RS", datablock_class=block)

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Winet(server) as w:
            token = (await w.session()).token
            read = await w.get("/device/getParam", dev_id="1", type="3", param_type="0",
                               param_addr="5000", param_num="1", token=token)
            write = await w.post("/device/setParam", {
                "lang": "en_us", "token": token, "dev_id": 1, "param_addr": "5008",
                "param_size": "1", "param_value": "600"})
            return read, write

    read, write = run(go())
    assert read["result_data"] == {"param_value": "26 06 "}
    assert write["result_code"] == 1, write
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(3, 5007, 1) == [600]
