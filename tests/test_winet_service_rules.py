"""What each WiNet-S WebSocket service answers, field by field, over a real WebSocket.

The expectations are literal: registers are pinned to known words and the reply is compared with
the value the spec's register table gives those words (winet-protocol.md §3.6 for the services'
fields, registers.csv for addresses, types and scales: 32-bit values low word first, spec §B.2),
printed as the dongle prints it (§3.4: strings, ``"--"`` when unavailable). Nothing here goes
through the product's decoder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer, ModbusError, SungrowModbusDataBlock
from tests.helpers import RawModbus
from tests.winet_client import Winet, run

Factory = Callable[..., MockSungrowServer]


def calls(server: MockSungrowServer, *requests: tuple[str, dict[str, Any]]
          ) -> list[dict[str, Any]]:
    """One WebSocket session: ``connect``, then each (service, extra fields) in turn."""

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            return [await s.call(service, **extra) for service, extra in requests]

    return run(go())


def call(server: MockSungrowServer, service: str, **extra: Any) -> dict[str, Any]:
    (reply,) = calls(server, (service, extra))
    return reply


def holding_words(server: MockSungrowServer, address: int, count: int) -> list[int]:
    """Holding registers read over Modbus TCP (documented address, FC 3)."""
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as client:
        words = client.read(3, address - 1, count)
    assert isinstance(words, list), f"Modbus exception {words}"
    return words


# ----------------------------------------------------------------------------- state, fault


def test_state_reports_every_flag_as_a_string(mock_sungrow_factory: Factory) -> None:
    """§3.6 ``state``: string flags; Wi-Fi connected, no Ethernet (as /device/overview says)."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    reply = call(server, "state")
    assert reply == {"result_code": 1, "result_msg": "success", "result_data": {
        "service": "state", "total_fault": "0", "total_alarm": "0",
        "wireless_conn_sts": "1", "wifi_conn_sts": "1", "eth_conn_sts": "0",
        "eth2_conn_sts": "0", "cloud_conn_sts": "1", "wireless_cmd": "1", "wifi_cmd": "1",
        "server_net_type": "1"}}


@pytest.mark.parametrize(("code", "listed"), [(208, True), (0, False), (0xFFFF, False)])
def test_fault_lists_the_fault_code_with_the_inverter_clock(
    mock_sungrow_factory: Factory, code: int, listed: bool
) -> None:
    """§3.6 ``fault``: the active fault of input 5045 (0 and the U16 sentinel are none)."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    server.set_register("input", 5045, [code])
    server.set_register("holding", 5000, [2025, 1, 2, 3, 4, 5])  # the inverter's clock
    data = call(server, "fault")["result_data"]
    faults = [{"dev_id": 1, "dev_name": "SG5.0RS(COM1-001)", "fault_code": "208",
               "fault_name": "I18N_COMMON_FAULT_208", "fault_time": "2025-01-02 03:04:05"}]
    assert data == {"service": "fault", "list": faults if listed else [],
                    "count": 1 if listed else 0}


def test_an_impossible_inverter_clock_falls_back_to_the_site_time(
    mock_sungrow_factory: Factory,
) -> None:
    """Month 13 is no date: the fault is still listed, timed by the site's clock."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    clock = ManualClock(datetime(2026, 3, 4, 5, 6, 7, tzinfo=ZoneInfo("UTC")))
    server = mock_sungrow_factory(model="SG5.0RS", clock=clock, timezone="UTC",
                                  latitude=0.0, longitude=0.0)
    server.set_register("input", 5045, [208])
    server.set_register("holding", 5000, [2025, 13, 2, 3, 4, 5])
    (fault,) = call(server, "fault")["result_data"]["list"]
    assert fault["fault_time"] == "2026-03-04 05:06:07"


# ----------------------------------------------------------------------------- statistics, runtime

#: Pinned words and what §3.6 ``statistics`` / ``runtime`` show for them (registers.csv).
STRING_ENERGY = {
    ("input", 5003): [123],            # daily_power_yields U16 0.1 kWh -> 12.3
    ("input", 5004): [0x0010, 0x0001],  # total_power_yields U32 (low word first) 65552 kWh
    ("input", 5031): [4900, 0],         # total_active_power U32 W -> 4.900 kW
    ("input", 5033): [0xFF9C, 0xFFFF],  # total_reactive_power S32 var: -100 -> -0.100 kvar
    ("input", 5038): [0x1400],          # work_state_1: standby
}
HYBRID_ENERGY = {
    ("input", 13002): [55],             # daily_pv_generation U16 0.1 kWh -> 5.5
    ("input", 13003): [1000, 0],        # total_pv_generation U32 0.1 kWh -> 100.0
    ("input", 13034): [0xFC18, 0xFFFF],  # total_active_power S32 W: -1000 -> -1.000 kW
    ("input", 5033): [250, 0],          # total_reactive_power S32 var -> 0.250 kvar
    ("input", 13000): [0x0008],         # running_state: standby
}


def _pin(server: MockSungrowServer, words: dict[tuple[str, int], list[int]]) -> None:
    for (table, address), pinned in words.items():
        server.set_register(table, address, pinned)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "pins", "expected"),
    [
        ("SG5.0RS", STRING_ENERGY, ("12.3", "65552.0", "4.900", "-0.100", "5.00", "3.00")),
        ("SH10RT", HYBRID_ENERGY, ("5.5", "100.0", "-1.000", "0.250", "10.00", "6.00")),
    ],
)
def test_statistics_reads_the_yields_and_powers_of_the_model(
    mock_sungrow_factory: Factory, model: str, pins: dict[tuple[str, int], list[int]],
    expected: tuple[str, ...],
) -> None:
    """String inverters report 5003/5004 as their yields, hybrids the PV yields 13002/13003."""
    server = mock_sungrow_factory(model=model, clock=ManualClock())
    _pin(server, pins)
    reply = call(server, "statistics")
    (stats,) = reply["result_data"]["list"]
    today, total, power, reactive, rated, rated_reactive = expected
    assert stats == {
        "today_energy": today, "today_energy_unit": "kWh",
        "total_energy": total, "total_energy_unit": "kWh",
        "curr_power": power, "curr_power_unit": "kW",
        "curr_reactive": reactive, "curr_reactive_unit": "kvar",
        "rated_power": rated, "rated_power_unit": "kW",
        "rated_reactive": rated_reactive, "rated_reactive_unit": "kvar",
        "adjust_power": "100.0", "adjust_power_unit": "%",
        "adjust_reactive": "0.0", "adjust_reactive_unit": "%",
    }


@pytest.mark.parametrize(
    ("model", "pins", "dev_type", "expected"),
    [
        ("SG5.0RS", STRING_ENERGY, 21, ("12.3", "65552.0", "4.900", "-0.100")),
        ("SH10RT", HYBRID_ENERGY, 35, ("5.5", "100.0", "-1.000", "0.250")),
    ],
)
def test_runtime_describes_the_inverter_and_its_state(
    mock_sungrow_factory: Factory, model: str, pins: dict[tuple[str, int], list[int]],
    dev_type: int, expected: tuple[str, ...],
) -> None:
    """§3.6 ``runtime``: one device, named as in the device list, its state an i18n key."""
    server = mock_sungrow_factory(model=model, clock=ManualClock())
    _pin(server, pins)
    data = call(server, "runtime")["result_data"]
    today, total, power, reactive = expected
    assert data == {"service": "runtime", "count": 1, "connect_count": 1, "off_count": 0,
                    "list": [{
                        "dev_name": f"{model}(COM1-001)", "dev_model": model,
                        "dev_type": dev_type, "dev_procotol": 2,
                        "today_energy": today, "today_energy_unit": "kWh",
                        "total_energy": total, "total_energy_unit": "kWh",
                        "dev_state": "I18N_COMMON_STANDBY",
                        "curr_power": power, "curr_power_unit": "kW",
                        "reactive_power": reactive, "reactive_power_unit": "kvar",
                    }]}


# ----------------------------------------------------------------------------- local, stalist


def test_local_lists_the_dongles_network_identity(mock_sungrow_factory: Factory) -> None:
    """§3.6 ``local``: system time (the site's), the address it answers on, MAC, signal."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    clock = ManualClock(datetime(2026, 3, 4, 5, 6, 7, tzinfo=ZoneInfo("UTC")))
    server = mock_sungrow_factory(clock=clock, timezone="UTC", latitude=0.0, longitude=0.0)
    data = call(server, "local")["result_data"]
    assert data == {"service": "local", "count": 5, "list": [
        {"data_name": "I18N_COMMON_SYSTEM_TIME", "data_value": "2026-03-04 05:06:07",
         "data_unit": ""},
        {"data_name": "I18N_COMMON_WLAN_IP", "data_value": "127.0.0.1", "data_unit": ""},
        {"data_name": "I18N_COMMON_WLAN_MAC", "data_value": "D8:AA:00:12:34:56",
         "data_unit": ""},
        {"data_name": "I18N_COMMON_ETH_IP", "data_value": "--", "data_unit": ""},
        {"data_name": "I18N_COMMON_SIGNAL_STRENGTH", "data_value": "-52", "data_unit": "dBm"},
    ]}


def test_stalist_after_a_scan_lists_the_networks(mock_sungrow_factory: Factory) -> None:
    """§3.6 ``stalist``: the current network (int dBm) and the scanned ones."""
    server = mock_sungrow_factory(winet_scan_seconds=0)

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            await w.post(f"/wifi/updateStaScan?token={s.token}&sta_scan=1", {})
            return await s.call("stalist")

    assert run(go()) == {"result_code": 1, "result_msg": "success", "result_data": {
        "service": "stalist", "curr_ssid": "mock-sungrow", "curr_signal": -52, "count": 2,
        "list": [{"ssid": "mock-sungrow", "signal": -52, "encryption": "WPA2-PSK"},
                 {"ssid": "neighbour", "signal": -81, "encryption": "WPA2-PSK"}]}}


def test_stalist_is_not_ready_while_the_scan_runs(mock_sungrow_factory: Factory) -> None:
    """208 until ``winet_scan_seconds`` have passed since the scan started (§3.6)."""
    server = mock_sungrow_factory(winet_scan_seconds=3600)

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            await w.post(f"/wifi/updateStaScan?token={s.token}&sta_scan=1", {})
            return await s.call("stalist")

    assert run(go()) == {"result_code": 208, "result_msg": "scan not finished",
                         "result_data": {"service": "stalist"}}


# ----------------------------------------------------------------------------- login


@pytest.mark.parametrize(
    ("username", "password", "uid", "role"),
    [("admin", "pw8888", 3, 0),   # bjeanes' capture (§3.2)
     ("user", "pw1111", 2, 1),
     ("installer", "pw0000", 4, 1)],  # an account the test configured
)
def test_login_reply_per_account(mock_sungrow_factory: Factory, username: str, password: str,
                                 uid: int, role: int) -> None:
    accounts = {"admin": "pw8888", "user": "pw1111", "installer": "pw0000"}
    server = mock_sungrow_factory(winet_profile="login", winet_accounts=accounts)
    reply = call(server, "login", username=username, passwd=password)
    data = reply["result_data"]
    assert (reply["result_code"], reply["result_msg"]) == (1, "success")
    assert {k: v for k, v in data.items() if k != "token"} == {
        "service": "login", "passwd": password, "uid": uid, "role": role, "tips_disable": 1}


def test_an_unknown_account_is_a_wrong_password(mock_sungrow_factory: Factory) -> None:
    """An invented user name answers 115 every time and is never counted (issue 10: counters
    exist only for the dongle's own accounts, so no name can be locked or fill memory)."""
    server = mock_sungrow_factory(winet_profile="login", winet_lockout_after=2)
    first, second = calls(server, ("login", {"username": "root", "passwd": "pw8888"}),
                          ("login", {"username": "root", "passwd": "pw8888"}))
    wrong = {"result_code": 115, "result_msg": "I18N_COMMON_USR_PASSWD_ERROR_TIMES",
             "result_data": {"service": "login", "token": "", "uid": 0}}
    assert first == wrong
    assert second == wrong


def test_a_good_login_resets_the_count_of_bad_ones(mock_sungrow_factory: Factory) -> None:
    """Only *consecutive* bad passwords lock an account (winet_lockout_after)."""
    server = mock_sungrow_factory(winet_profile="login", winet_lockout_after=2)
    bad = ("login", {"username": "admin", "passwd": "nope"})
    good = ("login", {"username": "admin", "passwd": "pw8888"})
    codes = [r["result_code"] for r in calls(server, bad, good, bad, good)]
    assert codes == [115, 1, 115, 1]


def test_a_lockout_ends_after_its_time_and_counting_starts_afresh(
    mock_sungrow_factory: Factory,
) -> None:
    clock = ManualClock()
    server = mock_sungrow_factory(winet_profile="login", clock=clock, winet_lockout_after=2,
                                  winet_lockout_seconds=600)
    bad = ("login", {"username": "admin", "passwd": "nope"})
    good = ("login", {"username": "admin", "passwd": "pw8888"})
    assert [r["result_code"] for r in calls(server, bad, bad)] == [115, 114]
    clock.advance(599)
    assert [r["result_code"] for r in calls(server, good)] == [114]  # still locked
    clock.advance(1)
    # The lock ran out: one bad password is a fresh first failure, not a new lock.
    assert [r["result_code"] for r in calls(server, bad, good)] == [115, 1]


def test_a_login_on_the_same_connection_sends_no_notice(mock_sungrow_factory: Factory) -> None:
    """A session that logs in again evicts its own old token but is not told so (§5)."""
    server = mock_sungrow_factory(winet_profile="login")

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            await s.login()
            await s.login()
            # The next frame answers this request: no notice was pushed in between.
            return [await s.call("state"), await s.call("devicelist", type="0")]

    state, listing = run(go())
    assert state["result_data"]["service"] == "state" and state["result_code"] == 1
    assert listing["result_data"]["service"] == "devicelist"


def test_a_login_evicting_a_closed_websocket_disturbs_nobody(
    mock_sungrow_factory: Factory,
) -> None:
    """The older login's WebSocket is gone: its token dies, no notice is attempted (§5)."""
    server = mock_sungrow_factory(winet_profile="login")

    async def first() -> str:
        async with Winet(server) as w:
            s = await w.session()
            await s.login()
            return s.token

    old = run(first())

    async def second() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            await s.login("user", "pw1111")
            return await s.call("state"), await s.call("state", token=old)

    mine, theirs = run(second())
    assert mine["result_code"] == 1
    assert theirs == {"result_code": 106, "result_msg": "token invalid or expired",
                      "result_data": {"service": "state"}}


# ----------------------------------------------------------------------------- param (writes)

PARAM: dict[str, Any] = {"dev_code": "3587", "dev_type": "35", "devid_array": ["1"], "count": "1"}


@pytest.mark.parametrize(("switch", "name", "word"), [("1", "I18N_COMMON_POWER_ON", 0xCF),
                                                      ("0", "I18N_COMMON_POWER_OFF", 0xCE)])
def test_a_power_switch_writes_start_or_stop(mock_sungrow_factory: Factory, switch: str,
                                             name: str, word: int) -> None:
    """Type 3: 0xCF start, 0xCE stop into holding 13000 (hybrid start/stop, spec §B)."""
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    reply = call(server, "param", **PARAM, type="3", list=[{"power_switch": switch}])
    assert reply == {"result_code": 1, "result_msg": "success", "result_data": {
        "service": "param", "list": [{"param_name": name, "result": 0}], "count": 1}}
    assert holding_words(server, 13000, 1) == [word]


def test_a_string_inverters_power_switch_is_holding_5006(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    reply = call(server, "param", **PARAM, type="3", list=[{"power_switch": "0"}])
    assert reply["result_data"]["list"] == [{"param_name": "I18N_COMMON_POWER_OFF", "result": 0}]
    assert holding_words(server, 5006, 1) == [0xCE]


def test_a_setting_is_written_by_the_pid_get_param_lists(mock_sungrow_factory: Factory) -> None:
    """Optmybat's flow: getParam type 9 gives each setting's ``param_pid``; ``param`` names it."""
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())

    async def go() -> tuple[dict[str, Any], ...]:
        async with Winet(server) as w:
            s = await w.session()
            listing = await w.get("/device/getParam", type="9", dev_id="1", token=s.token)
            pid = next(i["param_pid"] for i in listing["result_data"]["list"]
                       if i["param_addr"] == 13058)
            by_pid = await s.call("param", **PARAM, type="9",
                                  list=[{"param_pid": str(pid), "param_addr": "",
                                         "param_value": "85.0"}])
            unknown = await s.call(
                "param", **PARAM, type="9", list=[{"param_pid": "9999", "param_value": "1"}])
            by_addr = await s.call(  # no setting at holding 1, and no pid to echo
                "param", **PARAM, type="9", list=[{"param_addr": "1", "param_value": "1"}])
            return {"pid": pid}, by_pid, unknown, by_addr

    ids, by_pid, unknown, by_addr = run(go())
    pid = ids["pid"]
    assert by_pid["result_data"]["list"] == [{"param_pid": pid, "param_id": pid,
                                              "param_name": "I18N_COMMON_MAX_SOC", "result": 0}]
    assert holding_words(server, 13058, 1) == [850]  # max SoC, U16 in 0.1 %
    assert unknown["result_code"] == 391 and unknown["result_msg"] == "I18N_COMMON_SET_FAILED"
    assert unknown["result_data"]["list"] == [{"param_pid": "9999", "param_id": "",
                                               "param_name": "", "result": 1}]
    assert by_addr["result_data"]["list"] == [{"param_pid": "", "param_id": "",
                                               "param_name": "", "result": 1}]


def test_one_refused_item_fails_the_whole_param_request(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    reply = call(server, "param", **PARAM, type="9", list=[
        {"param_addr": 13058, "param_value": "95.0"},   # max SoC 95 %: accepted
        {"param_addr": 13058, "param_value": "250.0"},  # 250 %: refused
    ])
    assert (reply["result_code"], reply["result_msg"]) == (391, "I18N_COMMON_SET_FAILED")
    assert [i["result"] for i in reply["result_data"]["list"]] == [0, 1]
    assert reply["result_data"]["count"] == 2
    assert holding_words(server, 13058, 1) == [950]


def test_param_without_devid_array_means_the_inverter(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    reply = call(server, "param", type="9", list=[{"param_addr": 13058, "param_value": 90}])
    assert reply["result_code"] == 1
    assert holding_words(server, 13058, 1) == [900]


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"devid_array": "1", "type": "9", "list": [{}]},
         "bad request: 'devid_array' must be a non-empty list of device ids"),
        ({"devid_array": [], "type": "9", "list": [{}]},
         "bad request: 'devid_array' must be a non-empty list of device ids"),
        ({"devid_array": ["7"], "type": "9", "list": [{}]},
         "bad request: no device with dev_id 7 (the inverter is dev_id 1)"),
        ({"type": "9", "list": []}, "bad request: 'list' must be a non-empty list of objects"),
        ({"type": "9", "list": {"param_addr": 5007}},
         "bad request: 'list' must be a non-empty list of objects"),
        ({"type": "9", "list": [{"param_addr": 5007}, "x"]},
         "bad request: 'list' must be a non-empty list of objects"),
        ({"type": "5", "list": [{}]},
         "bad request: param 'type' must be \"3\" (power switch) or \"9\"; got '5'"),
        ({"list": [{}]},
         "bad request: param 'type' must be \"3\" (power switch) or \"9\"; got ''"),
        ({"type": "3", "list": [{"power_switch": "2"}]},
         "bad request: 'power_switch' must be \"0\" or \"1\"; got '2'"),
        ({"type": "3", "list": [{}]},
         "bad request: 'power_switch' must be \"0\" or \"1\"; got ''"),
        ({"type": "9", "list": [{"param_addr": 5007, "param_value": "abc"}]},
         "bad request: param_value must be numeric; got 'abc'"),
        ({"type": "9", "list": [{"param_addr": 5007, "param_value": True}]},
         "bad request: param_value must be a number or a numeric string; got True"),
        ({"type": "9", "list": [{"param_addr": 5007, "param_value": None}]},
         "bad request: param_value must be a number or a numeric string; got None"),
        ({"type": "9", "list": [{"param_addr": 5007, "param_value": "nan"}]},
         "bad request: param_value must be finite; got 'nan'"),
        ({"type": "9", "list": [{"param_addr": 5007, "param_value": "-inf"}]},
         "bad request: param_value must be finite; got '-inf'"),
        ({"type": "9", "list": [{"param_addr": 5007, "param_value": "65536"}]},
         "bad request: param_value '65536' does not fit a 16-bit register"),
        ({"type": "9", "list": [{"param_addr": 5007, "param_value": -32769}]},
         "bad request: param_value -32769 does not fit a 16-bit register"),
        ({"type": "9", "list": [{"param_addr": "x5007", "param_value": "1"}]},
         "bad request: 'param_addr' must be an integer; got 'x5007'"),
        ({"type": "9", "list": [{"param_value": "1"}]}, "bad request: 'param_pid' is missing"),
    ],
)
def test_bad_param_requests_say_what_is_wrong(
    mock_sungrow_factory: Factory, fields: dict[str, Any], message: str
) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    reply = call(server, "param", **fields)
    assert reply == {"result_code": 400, "result_msg": message,
                     "result_data": {"service": "param"}}
    (problem,) = server.problems
    assert (problem.front_end, problem.kind) == ("http", "bad-request")
    assert problem.message == "WebSocket param: " + message.removeprefix("bad request: ")


# ----------------------------------------------------------------------------- bad frames


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(
    ("frame", "message", "problem"),
    [
        ("not json", "bad request: not JSON (Expecting value at character 0)",
         ("bad-request", "WebSocket frame 'not json': not JSON (Expecting value at character 0)")),
        ("  [1, 2]", "bad request: a request is a JSON object, not list",
         ("bad-request", "WebSocket frame '  [1, 2]': a request is a JSON object, not list")),
        ('{"token": "x"}', "bad request: 'service' must be a non-empty string",
         ("bad-request", "WebSocket request without a service: '{\"token\": \"x\"}'")),
        ('{"service": ""}', "bad request: 'service' must be a non-empty string",
         ("bad-request", "WebSocket request without a service: '{\"service\": \"\"}'")),
        ('{"service": "frobnicate"}', "I18N_COMMON_INTER_ABNORMAL",
         ("unknown-service", "WebSocket service 'frobnicate'")),
        ("x" * 100, "bad request: not JSON (Expecting value at character 0)",
         ("bad-request", f"WebSocket frame '{'x' * 80}': not JSON (Expecting value at "
                         "character 0)")),  # a long frame is quoted by its first 80
    ],
)
def test_a_bad_frame_is_answered_and_recorded(mock_sungrow_shared: MockSungrowServer, frame: str,
                                              message: str, problem: tuple[str, str]) -> None:
    server = mock_sungrow_shared

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session(connect=False)
            await s.ws.send_str(frame)
            return await s.receive()

    reply = run(go())
    service = "frobnicate" if "frobnicate" in frame else ""
    assert reply == {"result_code": 211 if service else 400, "result_msg": message,
                     "result_data": {"service": service}}
    (seen,) = server.problems
    assert (seen.front_end, seen.kind, seen.message) == ("http", *problem)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", seen.peer), seen.peer  # who sent it
    host, _, port = seen.peer.rpartition(":")
    assert host == "127.0.0.1" and port.isdigit()  # the client that sent it


@pytest.mark.mock_sungrow_expect_errors
def test_a_long_bad_frame_is_recorded_by_its_first_80_characters(
    mock_sungrow_shared: MockSungrowServer,
) -> None:
    server = mock_sungrow_shared
    frame = '{"token": "' + "x" * 200 + '"}'

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session(connect=False)
            await s.ws.send_str(frame)
            return await s.receive()

    assert run(go())["result_code"] == 400
    (seen,) = server.problems
    assert seen.message == f"WebSocket request without a service: {frame[:80]!r}"


# ----------------------------------------------------------------------------- devices by dev_id


@pytest.mark.mock_sungrow_expect_errors
def test_the_battery_dev_id_is_only_for_real(mock_sungrow_factory: Factory) -> None:
    """dev_id 2 (the SBR) answers ``real``; ``direct`` and ``real_battery`` are the inverter's."""
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, clock=ManualClock())
    real, direct, battery, missing = calls(
        server, ("real", {"dev_id": "2"}), ("direct", {"dev_id": "2"}),
        ("real_battery", {"dev_id": "2"}), ("real", {"dev_id": "3"}))
    assert real["result_code"] == 1
    known = "the inverter is dev_id 1, the battery dev_id 2 (real, getParam type 3)"
    for reply, service, dev_id in ((direct, "direct", 2), (battery, "real_battery", 2),
                                   (missing, "real", 3)):
        assert reply == {"result_code": 400,
                         "result_msg": f"bad request: no device with dev_id {dev_id} ({known})",
                         "result_data": {"service": service}}


def test_the_inverters_modbus_unit_is_accepted_as_its_dev_id(
    mock_sungrow_factory: Factory,
) -> None:
    """SungrowModbusWebClient and freman send the Modbus unit as ``dev_id`` (§4.1)."""
    installation = {"inverter": [{"model": "SG5.0RS", "unit": 3,
                                  "ports": {"modbus": 0, "http": 0}}]}
    server = mock_sungrow_factory(installation=installation, clock=ManualClock())
    listing, by_unit, by_id = calls(server, ("devicelist", {"type": "0"}),
                                    ("direct", {"dev_id": "3"}), ("direct", {"dev_id": "1"}))
    (entry,) = listing["result_data"]["list"]
    assert (entry["dev_id"], entry["phys_addr"], entry["dev_name"]) == (
        1, "3", "SG5.0RS(COM1-003)")
    assert by_unit["result_code"] == by_id["result_code"] == 1
    assert by_unit["result_data"] == by_id["result_data"]


# ----------------------------------------------------------------------------- state flags

#: Spec §B.5 (input 5045 codes): the "system alarm" codes and the alarm groups (meter and
#: parallel communication, boost capacitor over-voltage alarm, PV reverse connection and PV
#: abnormal alarms), each range by its first and last code.
ALARMS = (59, 70, 72, 74, 75, 76, 83, 89, 216, 218, 220, 231, 332, 363, 432, 434, 500, 513,
          514, 515, 518, 532, 595, 635, 638, 900, 901, 910, 911)
#: Codes next to them that are faults (listed as such in §B.5, or not an alarm at all).
FAULTS = (58, 60, 69, 73, 84, 88, 90, 215, 219, 232, 331, 364, 431, 435, 499, 519, 531, 596,
          634, 639, 899, 902, 909, 912, 208, 1616)


def test_string_fault_codes_are_alarms_or_faults_as_the_protocol_groups_them(
    mock_sungrow_factory: Factory,
) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    server.set_register("input", 5038, [0x0000])  # work state: running

    async def go() -> dict[int, tuple[str, str]]:
        out = {}
        async with Winet(server) as w:
            s = await w.session()
            for code in (*ALARMS, *FAULTS):
                server.set_register("input", 5045, [code])
                data = (await s.call("state"))["result_data"]
                out[code] = (data["total_fault"], data["total_alarm"])
        return out

    flags = run(go())
    assert {c: f for c, f in flags.items() if c in ALARMS} == dict.fromkeys(ALARMS, ("0", "1"))
    assert {c: f for c, f in flags.items() if c in FAULTS} == dict.fromkeys(FAULTS, ("1", "0"))


@pytest.mark.parametrize(("word", "flags"), [(0x5500, ("1", "0")), (0x9100, ("0", "1")),
                                             (0x8100, ("0", "0"))])
def test_the_string_work_state_alone_raises_the_flags(mock_sungrow_factory: Factory, word: int,
                                                      flags: tuple[str, str]) -> None:
    """5038 0x5500 is a fault, 0x9100 "alarm run", with no code in 5045 (spec §B)."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    server.set_register("input", 5045, [0])
    server.set_register("input", 5038, [word])
    data = call(server, "state")["result_data"]
    assert (data["total_fault"], data["total_alarm"]) == flags


#: Hybrid fault and alarm words (input 13050-13079, U32 bit fields; registers.csv).
HYBRID_WORDS = {
    13050: ("0", "1"), 13052: ("1", "0"), 13054: ("1", "0"), 13056: ("1", "0"),
    13058: ("1", "0"), 13060: ("1", "0"), 13062: ("1", "0"), 13064: ("1", "0"),
    13066: ("1", "0"), 13068: ("0", "1"), 13070: ("0", "1"), 13072: ("0", "1"),
    13074: ("1", "0"), 13076: ("1", "0"), 13078: ("0", "1"),
}


def test_every_hybrid_fault_and_alarm_word_counts(mock_sungrow_factory: Factory) -> None:
    """A bit in either half of any word raises its flag; 0xFFFF halves are "unavailable"."""
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    server.set_register("input", 13000, [0x0040])  # running state: dispatch run
    for address in HYBRID_WORDS:
        server.set_register("input", address, [0, 0])

    async def go() -> dict[tuple[int, int], tuple[str, str]]:
        out = {}
        async with Winet(server) as w:
            s = await w.session()
            for address in HYBRID_WORDS:
                for half, words in enumerate(([0x0001, 0], [0, 0x8000], [0xFFFF, 0xFFFF])):
                    server.set_register("input", address, words)
                    data = (await s.call("state"))["result_data"]
                    out[address, half] = (data["total_fault"], data["total_alarm"])
                server.set_register("input", address, [0, 0])
        return out

    flags = run(go())
    assert {a: flags[a, 0] for a in HYBRID_WORDS} == HYBRID_WORDS
    assert {a: flags[a, 1] for a in HYBRID_WORDS} == HYBRID_WORDS
    assert {flags[a, 2] for a in HYBRID_WORDS} == {("0", "0")}


def test_the_hybrid_fault_state_alone_is_a_fault(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    server.set_register("input", 13000, [0x0100])  # running state: fault
    data = call(server, "state")["result_data"]
    assert (data["total_fault"], data["total_alarm"]) == ("1", "0")


# ----------------------------------------------------------------------------- devicelist


def _ascii_words(text: str) -> list[int]:
    """A UTF-8 register string (two characters a word, first one high, spec §B.2)."""
    data = text.encode().ljust(20, b"\0")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, 20, 2)]


def test_the_device_list_shows_the_serial_and_code_the_dongle_reads(
    mock_sungrow_factory: Factory,
) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", serial="A2231234567", clock=ManualClock())
    server.set_register("input", 4990, _ascii_words("A9876543210"[:10]))
    server.set_register("input", 5000, [0x2614])  # IONS-5K M5's code (§3.3)
    (entry,) = call(server, "devicelist", type="0")["result_data"]["list"]
    assert (entry["dev_sn"], entry["dev_code"]) == ("A987654321", 0x2614)


def test_an_empty_serial_register_leaves_the_inverters_own(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", serial="A2231234567", clock=ManualClock())
    server.set_register("input", 4990, [0] * 10)
    (entry,) = call(server, "devicelist", type="0")["result_data"]["list"]
    assert entry["dev_sn"] == "A2231234567"


class _NoIdentity(SungrowModbusDataBlock):
    """Refuses the identity registers (serial 4990-4999, type code 5000)."""

    def getValues(self, address: int, count: int = 1) -> list[int]:
        if self.table == "input" and address <= 5000 and address + count > 4990:
            raise ModbusError(2)
        return super().getValues(address, count)


def test_refused_identity_registers_leave_the_inverters_own(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", serial="A2231234567",
                                  datablock_class=_NoIdentity, clock=ManualClock())
    (entry,) = call(server, "devicelist", type="0")["result_data"]["list"]
    assert (entry["dev_sn"], entry["dev_code"]) == ("A2231234567", 9734)  # 0x2606 SG5.0RS


def test_the_battery_entry_is_as_captured(mock_sungrow_factory: Factory) -> None:
    """§3.3's SH10RT + SBR capture: dev_type 44, protocol 1, init_status 255, unit 200."""
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, clock=ManualClock())
    assert server.battery is not None
    server.battery.set_register("input", 10710, [8427])  # the captured SBR224's code
    listing = call(server, "devicelist", type="0", is_check_token="0")["result_data"]
    inverter, battery = listing["list"]
    assert (inverter["dev_procotol"], inverter["init_status"]) == (2, 1)
    assert {k: v for k, v in battery.items() if k not in ("dev_sn", "dev_model", "dev_name")} == {
        "id": 2, "dev_id": 2, "dev_code": 8427, "dev_type": 44, "dev_procotol": 1,
        "inv_type": 0, "port_name": "COM1", "phys_addr": "200", "logc_addr": "2",
        "link_status": 1, "init_status": 255, "dev_special": "0", "list": []}
    assert battery["dev_name"] == f"{battery['dev_model']}(COM1-200)"
    assert battery["dev_sn"] == server.battery.serial


class _BrokenClock(SungrowModbusDataBlock):
    """A user's override with a bug: reading the holding clock raises."""

    def getValues(self, address: int, count: int = 1) -> list[int]:
        if self.table == "holding" and address == 5000:
            raise RuntimeError("bug in the clock override")
        return super().getValues(address, count)


@pytest.mark.mock_sungrow_expect_errors
def test_a_broken_override_is_logged_with_its_traceback(
    mock_sungrow_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler error answers 301, is recorded, and logged as an error with the traceback."""
    server = mock_sungrow_factory(model="SG5.0RS", datablock_class=_BrokenClock,
                                  clock=ManualClock())
    server.set_register("input", 5045, [208])  # a fault, so ``fault`` reads the clock
    with caplog.at_level("WARNING", logger="mock_sungrow"):
        reply = call(server, "fault")
    assert reply == {"result_code": 301, "result_msg": "I18N_COMMON_READ_FAILED",
                     "result_data": {"service": "fault"}}
    (problem,) = server.problems
    assert (problem.kind, problem.message) == (
        "handler-error", "WebSocket fault: RuntimeError('bug in the clock override')")
    assert re.fullmatch(r"127\.0\.0\.1:\d+", problem.peer), problem.peer
    (record,) = [r for r in caplog.records if "handler-error" in r.getMessage()]
    assert record.levelname == "ERROR" and record.exc_info is not None
    assert record.exc_info[1] is not None and "bug in the clock override" in str(
        record.exc_info[1])


@pytest.mark.mock_sungrow_expect_errors  # the value that does not fit is a bad request
def test_param_values_up_to_the_largest_word_reach_the_register_checks(
        mock_sungrow_factory: Factory) -> None:
    """A value whose raw word is 0xFFFF (6553.5 % in 0.1 %) fits a 16-bit register: it reaches
    the register's own range check and is refused there (result 1, ``I18N_COMMON_SET_FAILED``);
    one step more (6553.6, raw 65536) does not fit at all and is a bad request."""
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    largest = call(server, "param", **PARAM, type="9",
                   list=[{"param_addr": 13058, "param_value": "6553.5"}])
    assert (largest["result_code"], largest["result_msg"]) == (391, "I18N_COMMON_SET_FAILED")
    assert [i["result"] for i in largest["result_data"]["list"]] == [1]
    too_big = call(server, "param", **PARAM, type="9",
                   list=[{"param_addr": 13058, "param_value": "6553.6"}])
    assert too_big["result_code"] != 1
    assert "does not fit a 16-bit register" in json.dumps(too_big)
    assert holding_words(server, 13058, 1) != [0xFFFF]
    # The other end: raw -32768 (-3276.8) fits a 16-bit word, -32769 does not.
    lowest = call(server, "param", **PARAM, type="9",
                  list=[{"param_addr": 13058, "param_value": "-3276.8"}])
    assert (lowest["result_code"], lowest["result_msg"]) == (391, "I18N_COMMON_SET_FAILED")
    too_small = call(server, "param", **PARAM, type="9",
                     list=[{"param_addr": 13058, "param_value": "-3276.9"}])
    assert "does not fit a 16-bit register" in json.dumps(too_small)
    assert [p.kind for p in server.problems] == ["bad-request", "bad-request"]


def test_local_reports_the_address_the_dongle_answers_on(mock_sungrow_factory: Factory) -> None:
    """§3.6 ``local``: I18N_COMMON_WLAN_IP is the listener's address, here 127.0.0.2."""
    server = mock_sungrow_factory(host="127.0.0.2")
    items = {i["data_name"]: i["data_value"] for i in call(server, "local")["result_data"]["list"]}
    assert items["I18N_COMMON_WLAN_IP"] == "127.0.0.2"


def test_every_service_answers_success_with_its_text(mock_sungrow_factory: Factory) -> None:
    """§3: a successful reply is ``result_code`` 1 with ``result_msg`` "success"."""
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, clock=ManualClock())
    services = ("devicelist", "real", "real_battery", "direct", "state", "fault", "statistics",
                "runtime", "local")
    replies = calls(server, *((name, {"dev_id": "1"}) for name in services))
    for name, reply in zip(services, replies, strict=True):
        assert (reply["result_code"], reply["result_msg"]) == (1, "success"), (name, reply)
        assert reply["result_data"]["service"] == name


@pytest.mark.mock_sungrow_expect_errors
def test_a_bad_request_is_recorded_with_the_peer_that_sent_it(mock_sungrow_factory: Factory
                                                              ) -> None:
    """The problem a bad ``param`` request leaves names the WebSocket client (host:port)."""
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    reply = call(server, "param", **PARAM, type="9", list=[{"param_addr": 13058,
                                                             "param_value": "lots"}])
    assert reply["result_code"] == 400
    (problem,) = server.problems
    assert problem.kind == "bad-request" and problem.front_end == "http"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", problem.peer), problem.peer
    assert problem.message.startswith("WebSocket param: ")


def test_a_small_battery_is_still_reported(mock_sungrow_factory: Factory) -> None:
    """Any capacity above 0 is a battery (0 means none): 0.5 kWh has a real_battery list."""
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=0.5, clock=ManualClock())
    reply = call(server, "real_battery", dev_id="1")
    assert reply["result_code"] == 1 and reply["result_data"]["count"] > 0, reply
