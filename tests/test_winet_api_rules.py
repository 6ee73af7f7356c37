"""WiNet-S API rules a client sees over a real WebSocket, checked against spec §3-§4.

Field names, units and messages are the spec's literal words (winet-protocol.md §3.6 and the
result-code table), not the product's tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
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
    mock_sungrow_factory: Factory, code: int, message: str
) -> None:
    server = mock_sungrow_factory()
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
