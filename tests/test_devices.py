"""Devices over real sockets: each owns its registers, its faults and its log entries.

Also the two defects issue 9 found: a battery's word fault and ``datablock_class`` override
must reach WiNet-S ``real`` for the battery (dev_id 2), and a ``sentinel`` fault on the
battery's S16 current (10742) must read the S16 sentinel 0x7FFF (spec B.2), not the U16 filler.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymodbus.client import ModbusTcpClient

from mock_sungrow import ManualClock, MockSungrowServer, SungrowModbusDataBlock
from mock_sungrow.endpoints import parse_server_type
from tests.helpers import RawModbus, control_call
from tests.winet_client import Winet, run

SYDNEY = ZoneInfo("Australia/Sydney")
TWO_HYBRIDS = {"inverter": [
    {"model": "SH10RT", "battery_kwh": 9.6, "ports": {"modbus": 0, "http": 0}},
    {"model": "SH10RT", "battery_kwh": 12.8, "ports": {"modbus": 0}},
]}


def battery_real(server: MockSungrowServer) -> dict[str, str]:
    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await s.call("real", dev_id="2")

    reply = run(go())
    assert reply["result_code"] == 1, reply
    return {i["data_name"]: i["data_value"] for i in reply["result_data"]["list"]}


class SocOverride(SungrowModbusDataBlock):
    """Every battery reports 55.5 % in 10744 (the inverter has no register there)."""

    def getValues(self, address: int, count: int = 1) -> list[int]:
        words = super().getValues(address, count)
        if self.table == "input" and address <= 10744 < address + count:
            words[10744 - address] = 555
        return words


def test_defect_1_winet_real_of_the_battery_reads_the_battery_blocks(
        mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, datablock_class=SocOverride)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.read(4, 10743, 1, unit=200) == [555]  # the override, on Modbus unit 200
    assert battery_real(server)["I18N_COMMON_REMAIN_BATTERY_POWER"] == "55.5"


def test_defect_1_word_faults_on_unit_200_reach_winet_real(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6)
    assert server.battery is not None
    # 1234 (123.4 %) is a word no state of charge reads (0.1 %, at most 1000): the plant's
    # own SoC drifts with the wall clock and once read 420, the word this test used to inject.
    server.set_battery_soc(80)
    fault = server.battery.inject("value", table="input", address=10744, words=[1234])
    assert fault.match.unit == 200 and fault.match.device == server.battery.serial
    assert battery_real(server)["I18N_COMMON_REMAIN_BATTERY_POWER"] == "123.4"
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.read(4, 10743, 1, unit=200) == [1234]
        # The inverter's own SoC (13023) is untouched: the fault matches the battery only.
        assert r.read(4, 13022, 1, unit=1) != [1234]


def test_defect_2_sentinel_on_the_battery_uses_the_battery_map(mock_sungrow_factory: Any
                                                               ) -> None:
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6)
    server.inject("sentinel", unit=200, table="input", address=10742)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        # 10742 battery current is S16 (sbr_registers.csv): its sentinel is 0x7FFF.
        words = r.read(4, 10740, 3, unit=200)  # documented 10741-10743
        assert isinstance(words, list) and words[1] == 0x7FFF
        # 10741 voltage and 10743 temperature are outside the fault's range: real readings.
        assert words[0] not in (0xFFFF, 0x7FFF) and words[2] not in (0xFFFF, 0x7FFF)


def test_per_device_python_api_faults_and_log(tmp_path: Any) -> None:
    clock = ManualClock(datetime(2026, 6, 21, 12, 0, tzinfo=SYDNEY))
    with MockSungrowServer(installation=TWO_HYBRIDS, clock=clock) as server:
        first, second = server.inverters
        assert first.battery is not None and second.battery is not None
        b1, b2 = first.battery, second.battery
        assert (b1.unit, b2.unit) == (200, 200) and b1.serial != b2.serial
        assert [d.id for d in server.devices] == ["inverter[1]", "battery[1]", "inverter[2]",
                                                  "battery[2]"]
        assert server.find_device("battery[2]") is b2
        assert server.find_device(b1.serial) is b1
        with pytest.raises(LookupError, match="2 devices answer unit 200"):
            server.find_device(200)
        # Each device reads its own registers: the two batteries differ in size.
        assert (b1.read("device_type_code"), b2.read("device_type_code")) == (0x20E7, 0x20E8)
        second.set_register("input", 5031, [1234, 0])
        assert (first.read_registers("input", 5031, 1), second.read_registers("input", 5031, 1)
                ) == (first.read_registers("input", 5031, 1), [1234])
        assert first.read_registers("input", 5031, 1) != [1234]
        second.clear_registers()
        # A fault injected on battery[2] reaches it, not battery[1] on the other LAN port.
        b2.inject("exception", code=4, table="input", address=10710)
        ports = [server.get_connection_info("modbus", device=d)["port"] for d in (b1, b2)]
        with RawModbus("127.0.0.1", ports[0]) as r1, RawModbus("127.0.0.1", ports[1]) as r2:
            assert r1.read(4, 10709, 1, unit=200) == [0x20E7]
            assert r2.read(4, 10709, 1, unit=200) == 4
        # The request log says which device each request reached.
        log = server.requests
        assert [r.outcome for r in log.find(device=b2)] == ["exception 4"]
        assert [r.device for r in log.find(address=10710)] == [b1.serial, b2.serial]
        log.assert_read("input", 10710, device=b1, times=1)
        with pytest.raises(AssertionError, match=f"on device {first.serial}"):
            log.assert_read("input", 10710, device=first)
        # A plant fault on the second inverter trips its plant only.
        second.inject("inverter-fault", code=38)
        assert (first.snapshot().mode.value, second.snapshot().mode.value) != ("fault", "fault")
        assert second.snapshot().mode.value == "fault"


def test_control_api_devices_and_selectors() -> None:
    with MockSungrowServer(installation=TWO_HYBRIDS, control_port=0) as server:
        base = server.get_connection_info("control")["url"]

        def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            return control_call(base.rstrip("/"), method, path, body)

        status, devices = call("GET", "/devices")
        assert status == 200
        assert [(d["id"], d["unit"]) for d in devices] == [
            ("inverter[1]", 1), ("battery[1]", 200), ("inverter[2]", 1), ("battery[2]", 200)]
        status, words = call("GET", "/registers/input?address=10710&device=battery[2]")
        assert (status, words["words"]) == (200, [0x20E8])
        status, error = call("GET", "/registers/input?address=10710&unit=200")
        assert status == 404 and "2 devices answer unit 200" in error["error"]
        assert call("PUT", "/registers/input?device=inverter[2]",
                    {"address": 5031, "words": [777]})[0] == 200
        assert server.inverters[1].read_registers("input", 5031, 1) == [777]
        assert server.inverters[0].read_registers("input", 5031, 1) != [777]
        status, state = call("POST", "/plant?device=inverter[2]", {"action": "stop"})
        assert status == 200 and state["mode"] == "stop"
        assert server.inverters[1].read_registers("holding", 13000, 1) == [0xCE]
        assert server.inverters[0].snapshot().mode.value != "stop"
        assert call("GET", "/state?device=nobody")[0] == 404
        with ModbusTcpClient("127.0.0.1", port=server.get_connection_info(
                "modbus", device="inverter[2]")["port"], timeout=2, retries=0) as c:
            assert not c.read_input_registers(4999, count=1, device_id=1).isError()
        serial = server.inverters[1].serial
        status, found = call("GET", f"/requests?device={serial}")
        assert status == 200 and [r["device"] for r in found] == [serial]


# ----------------------------------------------------------------------------- the plant boundary


def test_holding_memory_reads_back_and_a_bad_write_changes_nothing(
        mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", server_type="modbus")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        # 13089/13090: power limitation on, 50.0 % (written, read back as stored).
        assert r.write(13088, [0xAA, 500]) is None
        assert r.read(3, 13088, 2) == [0xAA, 500]
        assert server.plant.power_limit_w() == pytest.approx(5000)
        # One word out of range refuses the whole write: nothing is stored or applied.
        assert r.write(13088, [0x55, 2000]) == 4
        assert r.read(3, 13088, 2) == [0xAA, 500]
        assert server.plant.power_limit_w() == pytest.approx(5000)


def test_plant_commands_are_checked_before_any_applies(mock_sungrow_factory: Any) -> None:
    from mock_sungrow.plant.commands import SetExportLimit, SetPowerLimit, Stop

    server = mock_sungrow_factory(model="SG10RT", server_type="modbus")
    plant = server.plant
    before = plant.snapshot().mode
    with pytest.raises(ValueError, match="power_limit_w must be a power >= 0 W"):
        plant.execute(Stop(), SetExportLimit(3000.0), SetPowerLimit(-1.0))
    assert plant.snapshot().mode is before and plant.export_limit_w() is None
    with pytest.raises(ValueError, match=r"power_factor must satisfy 0.8 <= \|PF\| <= 1"):
        plant.set_power_factor(0.5)


def test_a_negative_power_factor_setting_absorbs_reactive_power(
        mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY))
    server = mock_sungrow_factory(model="SG10RT", server_type="modbus", clock=clock)
    clock.advance(600)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.write(5018, [(-900) & 0xFFFF]) is None  # 5019: PF -0.900
        clock.advance(60)
        assert server.snapshot().reactive_power_var < 0
        assert server.read("power_factor") == pytest.approx(-0.9, abs=0.02)


@pytest.mark.parametrize(("server_type", "kinds"), [
    ("both", ("modbus", "http")),
    ("all", ("modbus", "http", "sungrow")),
    ("modbus+http+sungrow", ("modbus", "http", "sungrow")),
    ("sungrow+modbus", ("modbus", "sungrow")),
])
def test_server_type_is_any_set_of_front_ends(server_type: str, kinds: Sequence[str]) -> None:
    assert parse_server_type(server_type) == kinds
    server = MockSungrowServer(server_type=server_type, modbus_port=0, http_port=0,
                               sungrow_port=0)
    assert server.installation.spec.inverters[0].ports.keys() == set(kinds)


@pytest.mark.parametrize(("server_type", "message"), [
    ("modbus+ftp", r"names unknown front end\(s\) ftp"),
    ("modbus+control", "the control API is served when a control port is given"),
    ("modbus+modbus", "names a front end twice"),
])
def test_bad_server_types(server_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MockSungrowServer(server_type=server_type)


def test_colliding_ports_are_refused_before_binding() -> None:
    with pytest.raises(ValueError, match="collides with"):
        MockSungrowServer(server_type="all", modbus_port=15020, sungrow_port=15020)
    with pytest.raises(ValueError, match="control_port = 18082 collides"):
        MockSungrowServer(http_port=18082, control_port=18082)


def test_get_param_type_3_reads_the_battery_its_dev_id_names(mock_sungrow_factory: Any
                                                             ) -> None:
    """winet-extractor reads the SBR's cells with getParam type 3 on the battery's device
    (documented input 10757, 24 registers; winet-protocol.md, "winet-extractor" step 6)."""
    # An SH*RT-20: the recorded SH10RT (third-party battery) answers the SBR band on its own
    # unit too (data/family_rules.csv), an SH*RT-20 has no recording of it.
    server = mock_sungrow_factory(model="SH10RT-20", battery_kwh=9.6)
    assert server.battery is not None
    cells = [32000 + i for i in range(24)]  # 3.2000 V, 3.2001 V... (0.0001 V per count)
    server.battery.set_register("input", 10757, cells)

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            common = {"type": "3", "param_addr": "10757", "param_num": "24", "param_type": "0",
                      "token": s.token, "lang": "en_us"}
            return [await w.get("/device/getParam", dev_id=dev_id, **common)
                    for dev_id in ("2", "1", "9")]

    battery, inverter, nobody = run(go())
    assert battery["result_code"] == 1
    assert battery["result_data"]["param_value"] == "".join(
        f"{w >> 8:02X} {w & 0xFF:02X} " for w in cells)
    # The inverter has no register there (a pin on the battery is the battery's); dev_id 9
    # names no device: both are the dongle's read failure, 301.
    assert inverter["result_code"] == 301 and nobody["result_code"] == 301
