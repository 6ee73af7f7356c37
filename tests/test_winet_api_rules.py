"""WiNet-S API rules a client sees over a real WebSocket, checked against spec §3-§4.

Field names, units and messages are the spec's literal words (winet-protocol.md §3.6 and the
result-code table), not the product's tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer, SungrowModbusDataBlock
from tests.winet_client import Winet, run

Factory = Callable[..., MockSungrowServer]


def _calls(server: MockSungrowServer, *services: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            return [await s.call(svc) for svc in services]

    return run(go())


def test_statistics_reply_has_every_field_and_unit(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    (reply,) = _calls(server, "statistics")
    assert (reply["result_code"], reply["result_msg"]) == (1, "success")
    data = reply["result_data"]
    assert {k: data[k] for k in ("service", "count", "online_num", "offline_num")} == {
        "service": "statistics", "count": 1, "online_num": 1, "offline_num": 0}
    (stats,) = data["list"]
    units = {k: v for k, v in stats.items() if k.endswith("_unit")}
    assert units == {
        "today_energy_unit": "kWh", "total_energy_unit": "kWh", "curr_power_unit": "kW",
        "curr_reactive_unit": "kvar", "rated_power_unit": "kW", "rated_reactive_unit": "kvar",
        "adjust_power_unit": "%", "adjust_reactive_unit": "%",
    }
    assert set(stats) - set(units) == {
        "today_energy", "total_energy", "curr_power", "curr_reactive", "rated_power",
        "rated_reactive", "adjust_power", "adjust_reactive"}
    assert all(isinstance(v, str) for v in stats.values())
    assert (stats["rated_power"], stats["adjust_power"], stats["adjust_reactive"]) == (
        "5.00", "100.0", "0.0")


def test_runtime_reply_has_every_field_and_unit(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    (reply,) = _calls(server, "runtime")
    data = reply["result_data"]
    assert {k: data[k] for k in ("service", "count", "connect_count", "off_count")} == {
        "service": "runtime", "count": 1, "connect_count": 1, "off_count": 0}
    (device,) = data["list"]
    assert {k: v for k, v in device.items() if k.endswith("_unit")} == {
        "today_energy_unit": "kWh", "total_energy_unit": "kWh", "curr_power_unit": "kW",
        "reactive_power_unit": "kvar"}
    assert {"dev_name", "dev_model", "dev_type", "dev_procotol", "today_energy",
            "total_energy", "dev_state", "curr_power", "reactive_power"} <= set(device)
    assert device["dev_model"] == "SG5.0RS"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (106, "token invalid or expired"),
        (301, "I18N_COMMON_READ_FAILED"),
        (391, "I18N_COMMON_SET_FAILED"),
        (114, "I18N_COMMON_USR_ACCOUNT_LOCK"),
        (401, "I18N_COMMON_INTER_ABNORMAL"),
        (100, "normal user limit"),
        (999, "I18N_COMMON_INTER_ABNORMAL"),  # a code without its own message
    ],
)
def test_an_injected_result_code_carries_the_dongles_message(
    mock_sungrow_shared: MockSungrowServer, code: int, message: str
) -> None:
    server = mock_sungrow_shared
    server.inject("winet-result", code=code, times=1, service="devicelist")
    busy, fine = _calls(server, "devicelist", "devicelist")
    assert (busy["result_code"], busy["result_msg"]) == (code, message)
    assert busy["result_data"] == {"service": "devicelist"}
    assert fine["result_code"] == 1


@pytest.mark.parametrize(
    ("timezone", "offset"),
    [
        ("Australia/Sydney", "UTC+11:00"),    # January: daylight saving
        ("America/Sao_Paulo", "UTC-03:00"),   # no daylight saving since 2019
        ("Asia/Kolkata", "UTC+05:30"),
        ("America/St_Johns", "UTC-03:30"),    # Newfoundland, January
        ("UTC", "UTC+00:00"),
    ],
)
def test_the_site_time_zone_reads_as_the_web_ui_writes_it(
    mock_sungrow_factory: Factory, timezone: str, offset: str
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    clock = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo(timezone)))
    server = mock_sungrow_factory(clock=clock, timezone=timezone, latitude=0.0, longitude=0.0)

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await w.get("/time/get", token=s.token)

    reply = run(go())
    assert reply["result_data"]["curr_timezone"] == offset


def test_a_param_write_to_an_unknown_register_echoes_the_items_ids(
    mock_sungrow_factory: Factory,
) -> None:
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await s.call("param", dev_code="3587", dev_type="35", devid_array=["1"],
                                type="9", count="1",
                                list=[{"param_pid": "7", "param_addr": 1, "param_id": 3,
                                       "param_value": "90.0"}])

    (item,) = run(go())["result_data"]["list"]
    assert (item["param_pid"], item["param_id"], item["result"]) == ("7", 3, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"winet_token_lifetime": 0}, "winet_token_lifetime must be positive seconds or None"),
        ({"winet_lockout_seconds": 0}, "winet_lockout_seconds must be positive"),
        ({"winet_lockout_seconds": True}, "winet_lockout_seconds must be positive"),
    ],
)
def test_zero_is_not_a_positive_winet_setting(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MockSungrowServer(server_type="http", http_port=0, **kwargs)


def test_a_zero_scan_time_is_allowed() -> None:
    server = MockSungrowServer(server_type="http", http_port=0, winet_scan_seconds=0)
    assert server.get_connection_info("http")["connection_type"] == "http"


def test_word_faults_reach_get_param(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(clock=ManualClock())
    server.inject("sentinel", table="input", address=5009)  # daily yield, U16 -> 0xFFFF

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await w.registers(s.token, "input", 5009, 1)

    assert run(go())["result_data"]["param_value"] == "FF FF "


class _BrokenBlock(SungrowModbusDataBlock):
    def getValues(self, address: int, count: int = 1) -> list[int]:
        raise RuntimeError("broken override")


@pytest.mark.mock_sungrow_expect_errors
def test_a_passthrough_handler_error_names_the_http_client(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", winet_profile="tls-only",
                                  datablock_class=_BrokenBlock)

    async def go() -> tuple[dict[str, Any], str]:
        async with Winet(server) as w:
            connect = await w.post("/user/connect", {"lang": "_en_US", "service": "connect",
                                                     "token": ""})
            token = connect["result_data"]["token"]
            await w.post("/upgrade/upgradeStatus", {"lang": "_en_US", "token": token})
            body = {"dev_code": 9734, "dev_id": 1, "dev_type": 21, "lang": "_en_US",
                    "msgType": "0", "token": token, "msgValue": "0104138700018567"}
            return await w.post("/device/passthroughway", body), w.base

    reply, _base = run(go())
    # the RTU reply is exception 4 (slave device failure): unit 1, FC 0x84, code 04, CRC
    assert reply["result_data"]["data"].replace(" ", "").upper().startswith("018404")
    (problem,) = [p for p in server.problems if p.kind == "handler-error"]
    assert problem.front_end == "http"  # where it happened, not the Modbus port
    host, _, port = problem.peer.rpartition(":")
    assert host == "127.0.0.1" and port.isdigit()


def test_an_injected_result_code_can_carry_its_own_message(
    mock_sungrow_shared: MockSungrowServer,
) -> None:
    server = mock_sungrow_shared
    server.inject("winet-result", code=301, message="dongle busy", times=1,
                  service="devicelist")
    busy, _fine = _calls(server, "devicelist", "devicelist")
    assert (busy["result_code"], busy["result_msg"]) == (301, "dongle busy")
