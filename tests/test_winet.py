"""The WiNet-S front end over real sockets: every WebSocket service and HTTP endpoint.

Shapes are checked exactly against spec §3-§4 (winet-protocol.md): field names and spellings,
which values are strings and which integers, the reply envelope with its ``service`` echo.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from mock_sungrow import ManualClock, MockSungrowServer, ModbusError, SungrowModbusDataBlock
from mock_sungrow.frontends.winet import i18n, payloads
from tests.helpers import RawModbus
from tests.winet_client import Winet, insecure, run, socket_fds, sockets_closed, words_of

Factory = Callable[..., MockSungrowServer]

DEVICE_FIELDS = {
    "id": int, "dev_id": int, "dev_code": int, "dev_type": int, "dev_procotol": int,
    "inv_type": int, "dev_sn": str, "dev_name": str, "dev_model": str, "port_name": str,
    "phys_addr": str, "logc_addr": str, "link_status": int, "init_status": int,
    "dev_special": str, "list": list,
}


def running(factory: Factory, **kwargs: Any) -> MockSungrowServer:
    """A server on a manual clock, moved far enough for the plant to be producing."""
    clock = ManualClock()
    server = factory(clock=clock, **kwargs)
    clock.advance(300)
    assert server.snapshot().active_power_w > 0
    return server


def modbus_words(server: MockSungrowServer, fc: int, address: int, count: int) -> list[int]:
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as client:
        words = client.read(fc, address - 1, count)
    assert isinstance(words, list), f"Modbus exception {words}"
    return words


def is_uuid4(text: str) -> bool:
    return uuid.UUID(text).version == 4 and str(uuid.UUID(text)) == text


# ----------------------------------------------------------------------------- WebSocket


def test_connect_reply_per_profile(mock_sungrow_factory: Factory) -> None:
    async def go(server: MockSungrowServer) -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session(connect=False)
            # sungrow-go sends a random UUID as the connect token: it is ignored.
            return await s.call("connect", token=str(uuid.uuid4()))

    legacy = run(go(mock_sungrow_factory()))
    assert legacy["result_code"] == 1 and legacy["result_msg"] == "success"
    data = legacy["result_data"]
    assert list(data) == ["service", "token", "uid", "tips_disable"]
    assert data["service"] == "connect" and data["uid"] == 1 and data["tips_disable"] == 1
    assert is_uuid4(data["token"])

    login = run(go(mock_sungrow_factory(winet_profile="login")))["result_data"]
    assert {k: login[k] for k in ("virgin_flag", "isFirstLogin", "forceModifyPasswd")} == {
        "virgin_flag": 0, "isFirstLogin": 0, "forceModifyPasswd": 0}
    assert "ip" not in login

    s2 = run(go(mock_sungrow_factory(winet_profile="tls-only")))["result_data"]
    assert s2["ip"] == "127.0.0.1" and s2["forceModifyPasswd"] == 0


@pytest.mark.parametrize(("model", "dev_type"), [("SH10RT", 35), ("SG5.0RS", 21)])
def test_devicelist_entry_matches_the_registers(
    mock_sungrow_factory: Factory, model: str, dev_type: int
) -> None:
    server = mock_sungrow_factory(model=model, serial="A2231234567")

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await s.call("devicelist", type="0", is_check_token="0")

    reply = run(go())
    data = reply["result_data"]
    hybrid = server.model.is_hybrid  # an SH10RT comes with an SBR battery behind it
    assert reply["result_code"] == 1 and data["service"] == "devicelist"
    assert data["count"] == len(data["list"]) == (2 if hybrid else 1)
    entry = data["list"][0]
    assert {k: type(v) for k, v in entry.items()} == DEVICE_FIELDS  # names *and* types
    assert entry["dev_type"] == dev_type and entry["dev_id"] == 1 and entry["phys_addr"] == "1"
    assert entry["dev_code"] == modbus_words(server, 4, 5000, 1)[0] == server.model.device_type_code
    assert entry["dev_sn"] == "A2231234567" and entry["dev_model"] == model
    assert entry["dev_name"] == f"{model}(COM1-001)" and entry["dev_procotol"] == 2


#: The rows the real-time lists are compared with, copied from the spec's registers.csv
#: (documented address, type, scale), so the expectation does not go through the server's
#: register map or decoder. Hybrids' rows where two families differ (13034, 13008).
SPEC_ROWS: dict[str, tuple[int, str, str]] = {
    "total_active_power": (13034, "S32", "1"),
    "load_power": (13008, "S32", "1"),
    "daily_pv_generation": (13002, "U16", "0.1"),
    "daily_power_yields": (5003, "U16", "0.1"),
    "phase_a_voltage": (5019, "U16", "0.1"),
    "mppt_1_voltage": (5011, "U16", "0.1"),
    "mppt_1_current": (5012, "U16", "0.1"),
    "battery_level": (13023, "U16", "0.1"),
    "battery_state_of_health": (13024, "U16", "0.1"),
}
#: Spec §B.2 "unavailable" patterns, as the integer the words make.
SPEC_SENTINELS = {"U16": 0xFFFF, "S16": 0x7FFF, "U32": 0xFFFFFFFF, "S32": 0x7FFFFFFF}


def _real_value(server: MockSungrowServer, name: str, factor: str, decimals: int) -> str:
    """A register read over Modbus, decoded from spec §B.2 and printed as the dongle does.

    §B.2: 32-bit values come low word first, S types are two's complement, the sentinels
    mean "unavailable" (the dongle's ``"--"``, spec §3). The value is the raw integer times
    the row's scale, converted by ``factor`` (W -> kW) and printed with ``decimals``, in
    exact decimal arithmetic.
    """
    from decimal import Decimal

    address, kind, scale = SPEC_ROWS[name]
    words = modbus_words(server, 4, address, 2 if kind.endswith("32") else 1)
    raw = words[0] if len(words) == 1 else words[0] | (words[1] << 16)
    if raw == SPEC_SENTINELS[kind]:
        return "--"
    bits = 16 * len(words)
    if kind.startswith("S") and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    value = Decimal(raw) * Decimal(scale) * Decimal(factor)
    return f"{value.quantize(Decimal(1).scaleb(-decimals)):f}"


def test_real_on_a_hybrid_agrees_with_modbus(mock_sungrow_factory: Factory) -> None:
    server = running(mock_sungrow_factory, model="SH10RT")

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await s.call("real", dev_id="1", time123456=1661762597181)

    reply = run(go())
    data = reply["result_data"]
    assert reply["result_code"] == 1 and data["service"] == "real"
    assert data["count"] == len(data["list"]) > 30
    for item in data["list"]:
        assert list(item) == ["data_name", "data_value", "data_unit"]
        assert all(isinstance(v, str) for v in item.values())
    values = {i["data_name"]: i["data_value"] for i in data["list"]}
    units = {i["data_name"]: i["data_unit"] for i in data["list"]}
    # Hybrids report the string inverters' yields as unavailable and give the PV yields.
    assert values["I18N_COMMON_DAILY_POWER_YIELD"] == values["I18N_COMMON_TOTAL_YIELD"] == "--"
    assert units["I18N_COMMON_AIR_TEM_INSIDE_MACHINE"] == "\u2103"
    assert units["I18N_COMMON_BACKUP_FREQUENCY_MPPOWHDF"] == "HZ"
    assert values["I18N_COMMON_RUNNING_STATE"] == "I18N_COMMON_DISPATCH_RUN"
    # Same instant (manual clock), same numbers as the Modbus front end.
    assert values["I18N_COMMON_TOTAL_ACTIVE_POWER"] == _real_value(
        server, "total_active_power", "0.001", 3) != "0.000"
    assert values["I18N_COMMON_PV_DAYILY_ENERGY_GENERATION"] == _real_value(
        server, "daily_pv_generation", "1", 1)
    assert values["I18N_COMMONUA"] == _real_value(server, "phase_a_voltage", "1", 1)
    assert values["I18N_COMMON_LOAD_TOTAL_ACTIVE_POWER"] == _real_value(
        server, "load_power", "0.001", 3)


def test_real_on_a_string_inverter_and_pinned_registers(mock_sungrow_factory: Factory) -> None:
    server = running(mock_sungrow_factory, model="SG5.0RS")

    async def real() -> dict[str, str]:
        async with Winet(server) as w:
            s = await w.session()
            reply = await s.call("real", dev_id="1")
            return {i["data_name"]: i["data_value"] for i in reply["result_data"]["list"]}

    values = run(real())
    assert values["I18N_COMMON_RUNNING_STATE"] == "I18N_COMMON_RUNNING"
    assert values["I18N_COMMON_DAILY_POWER_YIELD"] == _real_value(
        server, "daily_power_yields", "1", 1)
    assert values["I18N_COMMON_SQUARE_ARRAY_INSULATION_IMPEDANCE"].isdigit()
    assert "I18N_COMMON_UB" not in values  # single phase: no phase B on the list
    # No smart meter on this string inverter: the meter register holds its sentinel.
    assert values["I18N_COMMON_FEED_NETWORK_TOTAL_ACTIVE_POWER"] == "--"
    assert "I18N_COMMON_PV_DAYILY_ENERGY_GENERATION" not in values
    # A pinned register shows up on the WebSocket too: both front ends read the same words.
    server.set_register("input", 5038, [0x1400])
    assert run(real())["I18N_COMMON_RUNNING_STATE"] == "I18N_COMMON_STANDBY"


def test_real_battery_and_direct(mock_sungrow_factory: Factory) -> None:
    server = running(mock_sungrow_factory, model="SH10RT")
    string = mock_sungrow_factory(model="SG5.0RS")

    async def go(srv: MockSungrowServer) -> tuple[dict[str, Any], dict[str, Any]]:
        async with Winet(srv) as w:
            s = await w.session()
            return (await s.call("real_battery", dev_id="1"), await s.call("direct", dev_id="1"))

    battery, direct = run(go(server))
    data = battery["result_data"]
    assert battery["result_code"] == 1 and data["service"] == "real_battery"
    assert data["count"] == len(data["list"])
    values = {i["data_name"]: i["data_value"] for i in data["list"]}
    assert values["I18N_COMMON_BATTERY_SOC"] == _real_value(server, "battery_level", "1", 1)
    assert values["I18N_COMMON_BATTARY_HEALTH"] == _real_value(
        server, "battery_state_of_health", "1", 1)
    data = direct["result_data"]
    assert direct["result_code"] == 1 and data["service"] == "direct"
    names = [i["name"] for i in data["list"]]
    assert names == ["MPPT1", "MPPT2", f"{payloads.STRING_KEY}%@1", f"{payloads.STRING_KEY}%@2"]
    assert data["count"] == 4
    for item in data["list"]:
        assert list(item) == ["name", "voltage", "voltage_unit", "current", "current_unit"]
        assert all(isinstance(v, str) for v in item.values())
    mppt1 = data["list"][0]
    assert mppt1["voltage"] == _real_value(server, "mppt_1_voltage", "1", 1) != "0.0"
    assert mppt1["current"] == _real_value(server, "mppt_1_current", "1", 1)

    battery, direct = run(go(string))
    # A string inverter has no battery: the error the Intelbras unit gave, service echoed.
    assert battery == {"result_code": 215, "result_msg": "I18N_COMMON_INTER_ABNORMAL",
                       "result_data": {"service": "real_battery"}}
    assert direct["result_code"] == 1


def test_state_fault_statistics_runtime_local(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())

    async def go() -> dict[str, dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            return {svc: await s.call(svc) for svc in
                    ("state", "fault", "statistics", "runtime", "local")}

    replies = run(go())
    for service, reply in replies.items():
        assert reply["result_code"] == 1 and reply["result_msg"] == "success"
        assert reply["result_data"]["service"] == service
    state = replies["state"]["result_data"]
    assert state["total_fault"] == "0" and state["wifi_conn_sts"] == "1"
    assert all(isinstance(v, str) for v in state.values())
    assert replies["fault"]["result_data"] == {"service": "fault", "list": [], "count": 0}
    stats = replies["statistics"]["result_data"]
    assert stats["online_num"] == 1 and stats["list"][0]["today_energy_unit"] == "kWh"
    runtime = replies["runtime"]["result_data"]["list"][0]
    assert runtime["dev_model"] == "SG5.0RS" and runtime["dev_procotol"] == 2
    local = replies["local"]["result_data"]
    assert local["count"] == len(local["list"]) and local["list"][0]["data_name"]

    server.set_register("input", 5045, [208])  # a fault code in the inverter's register
    replies = run(go())
    assert replies["state"]["result_data"]["total_fault"] == "1"
    fault = replies["fault"]["result_data"]
    assert fault["count"] == 1 and fault["list"][0]["fault_code"] == "208"


def test_ping_logout_and_trailing_junk(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            replies = [await s.call("ping", token="", lang="zh_cn", id=str(uuid.uuid4()))]
            # freman/sungrow's devicelist ends with two stray characters.
            await s.ws.send_str(json.dumps({"lang": "en_us", "token": s.token,
                                            "service": "devicelist", "type": "0",
                                            "is_check_token": "0"}) + "))")
            replies.append(await s.receive())
            replies.append(await s.call("logout"))
            replies.append(await s.call("devicelist", type="0", is_check_token="0"))
            return replies

    ping, junk, logout, after = run(go())
    assert ping == {"result_code": 1, "result_msg": "success"}  # no result_data, as captured
    assert junk["result_code"] == 1 and junk["result_data"]["service"] == "devicelist"
    assert logout == {"result_code": 1, "result_msg": "success",
                      "result_data": {"service": "logout"}}
    assert after["result_code"] == 106 and after["result_data"] == {"service": "devicelist"}


def test_param_writes_reach_modbus(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            return [
                await s.call("param", dev_code="3587", dev_type="35", devid_array=["1"],
                             type="9", count="1",
                             list=[{"accuracy": 1, "param_addr": 13058, "param_id": 1,
                                    "param_type": 1, "param_value": "90.0",
                                    "param_name": "I18N_COMMON_MAX_SOC"}]),
                await s.call("param", dev_code="3587", dev_type="35", devid_array=["1"],
                             type="9", count="1",
                             list=[{"param_addr": 13058, "param_value": "250.0"}]),
                await s.call("param", dev_code="3587", dev_type="35", devid_array=["1"],
                             type="3", count="1", list=[{"power_switch": "0"}]),
            ]

    ok, refused, stop = run(go())
    assert ok["result_code"] == 1 and ok["result_data"]["service"] == "param"
    item = ok["result_data"]["list"][0]
    assert item["result"] == 0 and item["param_name"] == "I18N_COMMON_MAX_SOC"
    assert modbus_words(server, 3, 13058, 1) == [900]  # visible over Modbus at once
    assert refused["result_code"] == 391 and refused["result_msg"] == "I18N_COMMON_SET_FAILED"
    assert refused["result_data"]["list"][0]["result"] == 1
    assert modbus_words(server, 3, 13058, 1) == [900]  # a refused write changes nothing
    assert stop["result_data"]["list"] == [{"param_name": "I18N_COMMON_POWER_OFF", "result": 0}]
    assert modbus_words(server, 3, 13000, 1) == [0xCE]


def test_wifi_scan_then_stalist(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(winet_scan_seconds=0)

    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            before = await s.call("stalist")
            scan = await w.post(f"/wifi/updateStaScan?token={s.token}&sta_scan=1", {})
            return before, scan, await s.call("stalist")

    before, scan, after = run(go())
    assert before["result_code"] == 208 and before["result_data"] == {"service": "stalist"}
    assert scan == {"result_code": 1, "result_msg": "success", "result_data": {}}
    data = after["result_data"]
    assert after["result_code"] == 1 and isinstance(data["curr_signal"], int)
    assert data["curr_ssid"] == "mock-sungrow" and data["count"] == len(data["list"])


@pytest.mark.mock_sungrow_expect_errors
def test_bad_frames_get_errors_and_disturb_nobody(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared

    async def go() -> tuple[list[dict[str, Any]], Any, dict[str, Any]]:
        async with Winet(server) as w:
            bystander = await w.session()
            s = await w.session()
            replies = []
            for frame in ("not json", "[1, 2]", '{"token": "x"}', '{"service": 5}'):
                await s.ws.send_str(frame)
                replies.append(await s.receive())
            replies.append(await s.call("real", dev_id="one"))
            replies.append(await s.call("real"))
            replies.append(await s.call("login", username="admin", passwd=8888))
            replies.append(await s.call("param", type="7", list=[{}]))
            replies.append(await s.call("frobnicate"))
            await s.ws.send_bytes(b"\x00\x01")
            replies.append(await s.receive())
            # Still answering on the same connection:
            replies.append(await s.call("devicelist", type="0", is_check_token="0"))
            # A frame over 64 KiB is refused; one over 1 MiB closes that connection with
            # 1009 (message too big) ...
            await s.ws.send_str(json.dumps({"service": "real", "pad": "x" * 70_000}))
            replies.append(await s.receive())
            await s.ws.send_str(json.dumps({"service": "real", "pad": "x" * 1_100_000}))
            closed = await s.ws.receive(timeout=5)
            # ... while the other session carries on undisturbed.
            return replies, (closed.type, s.ws.close_code), await bystander.call("real",
                                                                                 dev_id="1")

    replies, closed, bystander = run(go())
    codes = [r["result_code"] for r in replies]
    assert codes == [400, 400, 400, 400, 400, 400, 400, 400, 211, 400, 1, 400]
    assert replies[-1] == {"result_code": 400, "result_msg": "bad request: a frame over 65536 "
                           "bytes", "result_data": {"service": ""}}
    assert replies[0]["result_msg"].startswith("bad request: not JSON")
    assert replies[0]["result_data"] == {"service": ""}
    assert replies[4]["result_data"] == {"service": "real"}
    assert "'dev_id' must be an integer" in replies[4]["result_msg"]
    assert "'dev_id' is missing" in replies[5]["result_msg"]
    assert "'passwd' must be a string" in replies[6]["result_msg"]
    assert replies[8] == {"result_code": 211, "result_msg": "I18N_COMMON_INTER_ABNORMAL",
                          "result_data": {"service": "frobnicate"}}
    assert closed == (aiohttp.WSMsgType.CLOSE, 1009)
    assert bystander["result_code"] == 1
    kinds = {p.kind for p in server.problems}
    assert kinds == {"bad-request", "bad-frame", "unknown-service"}


def test_no_frame_is_pushed_unless_asked(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared

    async def go() -> tuple[dict[str, Any], int, dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            other = await w.session()
            # Strictly one reply per request: the next frame is the devicelist reply.
            first = await s.call("devicelist", type="0", is_check_token="0")
            sent = await asyncio.to_thread(server.push_winet_notice, token=other.token)
            return first, sent, await other.receive()

    first, sent, pushed = run(go())
    assert first["result_data"]["service"] == "devicelist"
    assert sent == 1
    assert pushed == {"result_code": 100, "result_msg": "normal user limit",
                      "result_data": {"service": "notice"}}
    assert server.push_winet_notice() == 0  # after the sessions closed: nobody to notify


# ----------------------------------------------------------------------------- login, tokens


def test_login_profile(mock_sungrow_factory: Factory) -> None:
    clock = ManualClock()
    server = mock_sungrow_factory(winet_profile="login", clock=clock, winet_lockout_after=3,
                                  winet_lockout_seconds=600)

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Winet(server) as w:
            s = await w.session()
            connect_token = s.token
            out["before"] = await s.call("devicelist", type="0", is_check_token="0")
            out["http_before"] = await w.registers(connect_token, "input", 5000, 1)
            out["wrong"] = await s.login(password="nope")
            out["ok"] = await s.login()
            out["after"] = await s.call("devicelist", type="0", is_check_token="0")
            out["http_after"] = await w.registers(s.token, "input", 5000, 1)
            out["connect_token"] = connect_token
            out["user"] = await s.login("user", "pw1111")
        return out

    out = run(go())
    assert out["before"] == {"result_code": 401, "result_msg": "I18N_COMMON_INTER_ABNORMAL",
                             "result_data": {"service": "devicelist"}}
    assert out["http_before"]["result_code"] == 401
    assert out["wrong"] == {"result_code": 115, "result_msg": "I18N_COMMON_USR_PASSWD_ERROR_TIMES",
                            "result_data": {"service": "login", "token": "", "uid": 0}}
    ok = out["ok"]["result_data"]
    assert list(ok) == ["service", "token", "passwd", "uid", "role", "tips_disable"]
    assert ok["passwd"] == "pw8888" and ok["uid"] == 3 and ok["role"] == 0
    assert is_uuid4(ok["token"]) and ok["token"] != out["connect_token"]  # the token changes
    assert out["after"]["result_code"] == 1
    assert words_of(out["http_after"]["result_data"]["param_value"]) == [0x0126]
    assert out["user"]["result_code"] == 1

    async def attempts(password: str, n: int) -> list[int]:
        async with Winet(server) as w:
            s = await w.session()
            return [(await s.login(password=password))["result_code"] for _ in range(n)]

    # Three bad passwords lock the account; then even the right one is refused (114).
    assert run(attempts("bad", 3)) == [115, 115, 114]
    assert run(attempts("pw8888", 1)) == [114]
    clock.advance(601)
    assert run(attempts("pw8888", 1)) == [1]


def test_single_session_evicts_the_older_login(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(winet_profile="login")

    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with Winet(server) as w:
            first = await w.session()
            await first.login()
            second = await w.session()
            await second.login("user", "pw1111")
            notice = await first.receive()  # pushed, unrequested
            return notice, await first.call("real", dev_id="1"), await second.call("real",
                                                                                   dev_id="1")

    notice, evicted, winner = run(go())
    assert notice == {"result_code": 100, "result_msg": "normal user limit",
                      "result_data": {"service": "notice"}}
    assert evicted["result_code"] == 106 and evicted["result_data"] == {"service": "real"}
    assert winner["result_code"] == 1


def test_legacy_keeps_several_sessions(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared

    async def go() -> list[int]:
        async with Winet(server) as w:
            a, b = await w.session(), await w.session()
            await a.login()
            await b.login()
            return [(await x.call("state"))["result_code"] for x in (a, b)]

    assert run(go()) == [1, 1]


def test_tokens_outlive_their_websocket_and_expire(mock_sungrow_factory: Factory) -> None:
    clock = ManualClock()
    server = mock_sungrow_factory(clock=clock, winet_token_lifetime=120)

    async def token() -> str:
        async with Winet(server) as w:
            s = await w.session()
            return s.token  # the WebSocket closes here

    async def read(tok: str) -> dict[str, Any]:
        async with Winet(server) as w:
            return await w.registers(tok, "input", 5000, 1)

    first = run(token())
    assert run(read(first))["result_code"] == 1  # freman and intelbras rely on this
    clock.advance(121)
    assert run(read(first)) == {"result_code": 106, "result_msg": "token invalid or expired",
                                "result_data": {}}
    second = run(token())
    assert run(read(second))["result_code"] == 1
    assert server.expire_winet_tokens() == 1  # expiry on demand
    assert run(read(second))["result_code"] == 106
    third = run(token())
    server.reset()  # like a rebooted dongle
    assert run(read(third))["result_code"] == 106


# ----------------------------------------------------------------------------- getParam type 3


def test_get_param_format_and_same_words_as_modbus(mock_sungrow_factory: Factory) -> None:
    server = running(mock_sungrow_factory, model="SH10RT")

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            status, ctype, body = await w.raw("GET", "/device/getParam", params={
                "dev_id": 1, "dev_type": 35, "dev_code": 3587, "type": 3, "param_addr": 5000,
                "param_num": 1, "param_type": 0, "token": s.token, "lang": "en_us",
                "time123456": 1795605762})
            assert (status, ctype) == (200, "application/json")
            replies = [json.loads(body)]
            for table, address, count in (("input", 5001, 38), ("input", 13000, 125),
                                          ("input", 4990, 10), ("holding", 5000, 10),
                                          ("holding", 13000, 100)):
                replies.append(await w.registers(s.token, table, address, count))
            return replies

    first, *rest = run(go())
    assert first == {"result_code": 1, "result_msg": "success",
                     "result_data": {"param_value": "0E 03 "}}
    spans = [(4, 5001, 38), (4, 13000, 125), (4, 4990, 10), (3, 5000, 10), (3, 13000, 100)]
    for reply, (fc, address, count) in zip(rest, spans, strict=True):
        text = reply["result_data"]["param_value"]
        assert re.fullmatch(rf"([0-9A-F]{{2}} ){{{2 * count}}}", text)
        assert words_of(text) == modbus_words(server, fc, address, count)


def test_get_param_writes_and_overrides_are_shared(mock_sungrow_factory: Factory) -> None:
    class Faulty(SungrowModbusDataBlock):
        def getValues(self, address: int, count: int = 1) -> list[int]:
            if self.table == "input" and address <= 5009 < address + count:
                raise ModbusError(2)
            if self.table == "input" and address == 5045:
                return [42]
            return super().getValues(address, count)

    server = mock_sungrow_factory(model="SG5.0RS", datablock_class=Faulty)

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            return [
                await w.registers(s.token, "input", 5045, 1),
                await w.registers(s.token, "input", 5001, 10),
                await w.post("/device/setParam", {
                    "lang": "en_us", "token": s.token, "dev_id": 1, "dev_type": 21,
                    "dev_code": 9734, "param_addr": "5008", "param_size": "1",
                    "param_value": "500"}),
                await w.post("/device/setParam", {
                    "lang": "en_us", "token": s.token, "dev_id": 1, "param_addr": "4000",
                    "param_size": "1", "param_value": "1"}),
            ]

    pinned, refused, written, read_only = run(go())
    assert words_of(pinned["result_data"]["param_value"]) == [42]  # the override, over HTTP
    assert modbus_words(server, 4, 5045, 1) == [42]  # ... and over Modbus
    assert refused == {"result_code": 301, "result_msg": "I18N_COMMON_READ_FAILED",
                       "result_data": {}}
    assert written == {"result_code": 1, "result_msg": "success", "result_data": {}}
    assert modbus_words(server, 3, 5008, 1) == [500]  # an HTTP write is visible over Modbus
    assert read_only["result_code"] == 391


def test_async_override_is_honoured(mock_sungrow_factory: Factory) -> None:
    class Slow(SungrowModbusDataBlock):
        async def async_getValues(self, address: int, count: int = 1) -> list[int]:
            await asyncio.sleep(0.01)
            return [7] * count

    server = mock_sungrow_factory(datablock_class=Slow)

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await w.registers(s.token, "input", 5000, 3)

    assert words_of(run(go())["result_data"]["param_value"]) == [7, 7, 7]


@pytest.mark.mock_sungrow_expect_errors
def test_get_param_bad_queries(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            good = {"dev_id": "1", "type": "3", "param_addr": "5000", "param_num": "1",
                    "param_type": "0", "token": s.token}
            cases: list[dict[str, Any]] = [
                {**good, "param_num": "0"},
                {**good, "param_num": "126"},
                {**good, "param_addr": "abc"},
                {k: v for k, v in good.items() if k != "param_addr"},
                {**good, "param_type": "2"},
                {**good, "type": "7"},
                {**good, "token": "not-a-token"},
                {k: v for k, v in good.items() if k != "token"},
                {**good, "param_addr": "30000"},  # nothing documented there
                {**good, "dev_id": "9"},  # no such device on the bus
                {**good, "param_addr": "65530", "param_num": "10"},
            ]
            return [await w.get("/device/getParam", **case) for case in cases]

    replies = run(go())
    assert [r["result_code"] for r in replies] == [
        400, 400, 400, 400, 400, 400, 106, 106, 301, 301, 400]
    assert "'param_num' must be 1..125; got 0" in replies[0]["result_msg"]
    assert "'param_addr' must be an integer; got 'abc'" in replies[2]["result_msg"]
    assert "'param_addr' is missing" in replies[3]["result_msg"]
    assert all(r["result_data"] == {} for r in replies)
    # The server is still serving:
    assert run(_still_up(server))


async def _still_up(server: MockSungrowServer) -> bool:
    async with Winet(server) as w:
        s = await w.session()
        return bool((await s.call("state"))["result_code"] == 1)


def test_get_param_types_2_and_9(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SH10RT")

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            common = {"dev_id": "1", "dev_type": "35", "dev_code": "3587", "token": s.token,
                      "lang": "en_us", "time123456": "1700000000000"}
            return (await w.get("/device/getParam", type="2", **common),
                    await w.get("/device/getParam", type="9", **common))

    grid, energy = run(go())
    items = grid["result_data"]["list"]
    assert grid["result_code"] == 1 and grid["result_data"]["count"] == len(items) > 0
    assert set(items[0]) == {"param_addr", "param_name", "param_value", "unit"}
    assert isinstance(items[0]["param_addr"], int) and isinstance(items[0]["param_value"], str)
    settings = {i["param_addr"]: i for i in energy["result_data"]["list"]}
    assert set(settings[13058]) == {"param_id", "param_addr", "param_pid", "param_type",
                                    "accuracy", "param_name", "param_value", "unit", "relation",
                                    "regulation", "range", "options"}
    max_soc = settings[13058]
    word = modbus_words(server, 3, 13058, 1)[0]
    assert max_soc["param_value"] == f"{word / 10:.1f}" and max_soc["accuracy"] == 1


# ----------------------------------------------------------------------------- other endpoints


def test_i18n_has_every_emitted_key(mock_sungrow_factory: Factory) -> None:
    hybrid = running(mock_sungrow_factory, model="SH10RT")

    async def go() -> tuple[tuple[int, str, str], tuple[int, str, str], set[str]]:
        async with Winet(hybrid) as w:
            s = await w.session()
            keys: set[str] = set()
            for service in ("real", "real_battery"):
                for item in (await s.call(service, dev_id="1"))["result_data"]["list"]:
                    keys.add(item["data_name"])
                    if item["data_value"].startswith("I18N_"):
                        keys.add(item["data_value"])
            for item in (await s.call("direct", dev_id="1"))["result_data"]["list"]:
                if item["name"].startswith("I18N_COMMON_"):
                    keys.add(item["name"][:-3])  # as sungrow-websocket looks it up
            return (await w.raw("GET", "/i18n/en_US.properties"),
                    await w.raw("GET", "/i18n/de_de.properties"), keys)

    (status, ctype, text), (other_status, _c, other), keys = run(go())
    assert status == other_status == 200 and ctype == "text/plain" and other == text
    assert "\r" not in text and text.endswith("\n")
    table = dict(line.split("=", 1) for line in text.splitlines())
    assert keys <= set(table), keys - set(table)
    assert table[payloads.STRING_KEY].format("1") == "String 1"
    assert table["I18N_COMMON_BATTERY_SOC"] == "Battery Level (SOC)"
    assert set(table) == i18n.emitted_keys()


def test_web_ui_endpoints(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())

    async def go() -> dict[str, dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            return {
                "about": await w.get("/about/list", token=s.token, lang="en_us",
                                     time123456=1, page=1, limit=10),
                "about_no_token": await w.get("/about/list"),
                "overview": await w.get("/device/overview", token=s.token, lang="en_us"),
                "time": await w.get("/time/get", token=s.token),
                "time_no_token": await w.get("/time/get"),
                "types": await w.get("/device/getType"),
                "inverters": await w.post("/inverter/list", {}),
            }

    r = run(go())
    about = {i["data_name"]: i["data_value"] for i in r["about"]["result_data"]["list"]}
    assert about["I18N_COMMON_APPLI_SOFT_VERSION"] == "WINET-SV200.001.00.P020"
    assert about["I18N_COMMON_VERSION"] == "M_WiNet-S_V01_V01_A"
    assert r["about_no_token"]["result_code"] == 1
    overview = r["overview"]["result_data"]
    assert set(overview) == {"module_info", "net_info", "remote_info", "sys_time", "list"}
    assert overview["net_info"] == {"wifi_conn_sts": 1, "eth_conn_sts": 0, "eth2_conn_sts": 0,
                                    "wifi_cmd": 1}
    clock = modbus_words(server, 3, 5000, 6)
    expected = "{:04d}-{:02d}-{:02d} {:02d}:{:02d}".format(*clock[:5])
    assert r["time"]["result_data"]["time"] == expected
    assert r["time_no_token"]["result_code"] == 106
    assert {"name": "I18N_COMMON_SOLAR_INVERTER", "value": 21} in r["types"]["result_data"]["list"]
    inverter = r["inverters"]["result_data"]["list"][0]
    assert "list" not in inverter and inverter["dev_code"] == 9734


@pytest.mark.mock_sungrow_expect_errors
def test_unknown_paths_and_methods_get_json(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared

    async def go() -> list[tuple[int, str, str]]:
        async with Winet(server) as w:
            return [await w.raw("GET", "/cgi-bin/nope"),
                    await w.raw("GET", "/i18n/../etc/passwd"),
                    await w.raw("GET", "/ws/home/overview"),
                    await w.raw("POST", "/device/setParam", data=b"\xff\xfe"),
                    await w.raw("POST", "/device/setParam", data=b"x" * 70_000)]

    replies = run(go())
    assert [(status, ctype) for status, ctype, _ in replies] == [
        (404, "application/json"), (404, "application/json"), (400, "application/json"),
        (200, "application/json"), (413, "application/json")]
    for _status, _ctype, body in replies:
        assert "Traceback" not in body and isinstance(json.loads(body)["result_code"], int)
    assert {p.kind for p in server.problems} == {"unknown-path", "bad-request"}


def test_https_json_post_api(mock_sungrow_factory: Factory) -> None:
    """The HTTPS API sungrow-http-config uses (spec §4.5), on the TLS listener."""
    server = mock_sungrow_factory(model="SG5.0RS", winet_profile="tls-only")

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            out: dict[str, Any] = {"product": await w.get("/product/list")}
            connect = await w.post("/user/connect", {"lang": "_en_US", "service": "connect",
                                                     "token": ""})
            token = connect["result_data"]["token"]
            out["connect"] = connect
            out["devices"] = await w.post("/device/list", {
                "is_check_token": "0", "lang": "_en_US", "service": "devicelist",
                "token": token, "type": "0"})
            body = {"dev_code": 9734, "dev_id": 1, "dev_type": 21, "lang": "_en_US",
                    "msgType": "0", "token": token}
            out["early"] = await w.post("/device/passthroughway",
                                        {**body, "msgValue": "010379F400081CA2"})
            out["upgrade"] = await w.post("/upgrade/upgradeStatus",
                                          {"lang": "_en_US", "token": token})
            out["read"] = await w.post("/device/passthroughway",
                                       {**body, "msgValue": "0104138700018567"})
            out["write"] = await w.post("/device/passthroughway",
                                        {**body, "msgValue": "0106138F01F4BCB2"})
            return out

    out = run(go())
    product = out["product"]["result_data"]
    assert f"{product['product_name']}/{product['product_code']}" == "WiNet-S/9"
    assert is_uuid4(out["connect"]["result_data"]["token"])
    entry = out["devices"]["result_data"]["list"][0]
    assert (entry["dev_id"], entry["dev_code"], entry["dev_type"], entry["dev_procotol"]) == (
        1, 9734, 21, 2)
    assert out["early"]["result_code"] == 401  # tls-only: the token must be upgraded first
    assert out["upgrade"]["result_data"]["nextProcess"] in ("0", "1")
    data = bytes.fromhex(out["read"]["result_data"]["data"])  # FC4, input 5000 (wire 4999)
    assert data[:3] == bytes([1, 4, 2]) and int.from_bytes(data[3:5], "big") == 0x2606
    assert out["write"]["result_data"]["data"] == "0106138F01F4BCB2"  # FC6: exact echo
    assert modbus_words(server, 3, 5008, 1) == [500]


def test_tls_listener_serves_https_and_wss(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SH10RT", tls_port=0, plain_http_port=0)
    info = server.get_connection_info("http")
    assert info["tls"] is False and info["tls_port"] > 0 and info["plain_http_port"] > 0
    assert server.winet_ca_pem is not None and b"BEGIN CERTIFICATE" in server.winet_ca_pem

    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        assert server.winet_ca_pem is not None
        verified = ssl.create_default_context(cadata=server.winet_ca_pem.decode())
        before = socket_fds()
        async with aiohttp.ClientSession() as http:
            url = f"wss://localhost:{info['tls_port']}/ws/home/overview"
            async with http.ws_connect(url, ssl=verified) as ws:  # the certificate verifies
                await ws.send_str(json.dumps({"lang": "en_US", "token": "",
                                              "service": "connect"}))
                token = json.loads((await ws.receive()).data)["result_data"]["token"]
        await sockets_closed(before)  # the TLS close finishes (see Winet)
        async with Winet(server, port=info["tls_port"], tls=True) as w:
            https = await w.registers(token, "input", 5000, 1)
        async with Winet(server, port=info["plain_http_port"], tls=False) as w:
            plain = await w.registers(token, "input", 5000, 1)
            about = await w.get("/about/list")
        return https, plain, about

    https, plain, about = run(go())
    assert https == plain == {"result_code": 1, "result_msg": "success",
                              "result_data": {"param_value": "0E 03 "}}
    assert about["result_code"] == 1


def test_tls_only_refuses_the_plain_ports(mock_sungrow_factory: Factory) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    free = blocker.getsockname()[1]
    blocker.close()
    server = mock_sungrow_factory(winet_profile="tls-only", http_port=free, plain_http_port=0)
    info = server.get_connection_info("http")
    assert info["tls"] is True and info["port"] == info["tls_port"]
    assert "plain_http_port" not in info
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", free), timeout=2).close()
    with socket.create_connection(("127.0.0.1", info["port"]), timeout=2) as sock, \
            insecure().wrap_socket(sock, server_hostname="127.0.0.1") as tls:
        assert tls.version() is not None


def test_stop_closes_open_websockets_promptly() -> None:
    server = MockSungrowServer(modbus_port=0, http_port=0).start()

    async def go() -> tuple[aiohttp.WSMsgType, float]:
        async with Winet(server) as w:
            s = await w.session()
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.to_thread(server.stop)
            message = await s.ws.receive(timeout=5)
            return message.type, loop.time() - started

    kind, took = run(go())
    assert kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert took < 5  # generous: aiohttp's default would wait 60 s per listener


def test_bind_failure_names_the_winet_listener() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        server = MockSungrowServer(modbus_port=0, http_port=0, tls_port=port)
        with pytest.raises(OSError, match=rf"WiNet-S TLS listener cannot bind 127\.0\.0\.1:{port}"):
            server.start()
        assert not server.running
    finally:
        blocker.close()


def test_missing_or_foreign_tokens_answer_106(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            await s.send({"lang": "en_us", "service": "real", "dev_id": "1"})  # no token
            missing = await s.receive()
            return [missing, await s.call("state", token=str(uuid.uuid4())),
                    await s.call("state")]

    missing, foreign, good = run(go())
    assert missing == {"result_code": 106, "result_msg": "token invalid or expired",
                       "result_data": {"service": "real"}}
    assert foreign["result_code"] == 106 and good["result_code"] == 1
    assert server.problems == []  # token errors are protocol, not problems


def test_connection_info_before_start_reports_the_configured_port() -> None:
    server = MockSungrowServer(http_port=8082, plain_http_port=80)
    assert server.get_connection_info("http") == {
        "host": "127.0.0.1", "port": 8082, "connection_type": "http"}


@pytest.mark.mock_sungrow_expect_errors  # dev_id 7 is a bad request, recorded as such
def test_battery_is_listed_and_has_its_own_real_data(mock_sungrow_factory: Factory) -> None:
    """The SBR behind a hybrid: dev_type 44, logical id 2, its own ``real`` (issue 5)."""
    server = running(mock_sungrow_factory, model="SH10RT", battery_kwh=9.6)

    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            listing = await s.call("devicelist", type="0", is_check_token="0")
            battery = await s.call("real", dev_id="2")
            missing = await s.call("real", dev_id="7")
            return listing, battery, missing

    listing, battery, missing = run(go())
    entry = listing["result_data"]["list"][1]
    assert {k: type(v) for k, v in entry.items()} == DEVICE_FIELDS
    assert (entry["dev_type"], entry["dev_id"], entry["logc_addr"], entry["phys_addr"]) == (
        44, 2, "2", "200")
    assert server.battery is not None
    assert entry["dev_sn"] == server.battery.serial
    data = battery["result_data"]
    assert battery["result_code"] == 1 and data["service"] == "real"
    values = {i["data_name"]: i["data_value"] for i in data["list"]}
    soc = server.battery.read("battery_soc")  # what the dongle reads: 10744, in 0.1 %
    assert values["I18N_COMMON_REMAIN_BATTERY_POWER"] == f"{soc:.1f}"
    assert abs(soc - server.battery_readings().soc_pct) <= 0.05
    assert all(isinstance(i["data_value"], str) for i in data["list"])
    keys = i18n.emitted_keys()
    assert all(name in keys for name in values), "every battery key has an i18n label"
    assert missing["result_code"] != 1 and missing["result_data"]["service"] == "real"
