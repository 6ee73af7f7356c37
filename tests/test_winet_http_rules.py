"""The WiNet-S HTTP endpoints, field by field, over real HTTP (winet-protocol.md §4).

Expectations are the spec's words (§4.1-§4.5: the envelope, ``param_value``'s format, the
getParam types, the web-UI and HTTPS endpoints) and the holding registers' documented limits
(``data/holding.csv``, registers.csv), written out literally.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer, SungrowModbusDataBlock
from tests.helpers import RawModbus, crc16
from tests.winet_client import Winet, run, words_of

Factory = Callable[..., MockSungrowServer]


def http(server: MockSungrowServer, *requests: tuple[str, str, dict[str, Any]],
         login: bool = False) -> list[dict[str, Any]]:
    """A WebSocket ``connect`` (and ``login``) for a token, then each (method, path, fields);
    ``token`` in the fields is filled in. GET fields go in the query, POST ones in the body."""

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            if login:
                await s.login()
            out = []
            for method, path, fields in requests:
                params = {k: (s.token if v is TOKEN else v) for k, v in fields.items()}
                out.append(await (w.get(path, **params) if method == "GET"
                                  else w.post(path, params)))
            return out

    return run(go())


TOKEN: Any = object()  # stands for the session's token in ``http()``'s fields


def holding_words(server: MockSungrowServer, address: int, count: int) -> list[int]:
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as client:
        words = client.read(3, address - 1, count)
    assert isinstance(words, list), f"Modbus exception {words}"
    return words


# ----------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/device/getParam"), ("POST", "/device/setParam"), ("GET", "/device/overview"),
     ("GET", "/time/get"), ("POST", "/wifi/updateStaScan"), ("POST", "/device/passthroughway"),
     ("POST", "/device/list"), ("POST", "/upgrade/upgradeStatus")],
)
def test_an_unknown_token_is_106_on_every_endpoint_that_needs_one(
    mock_sungrow_shared: MockSungrowServer, method: str, path: str
) -> None:
    server = mock_sungrow_shared
    (reply,) = http(server, (method, path, {"token": "a-token-nobody-issued", "type": "3"}))
    assert reply == {"result_code": 106, "result_msg": "token invalid or expired",
                     "result_data": {}}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/device/getParam"), ("POST", "/device/setParam"), ("GET", "/device/overview"),
     ("GET", "/time/get"), ("POST", "/wifi/updateStaScan"), ("POST", "/device/passthroughway")],
)
def test_a_connect_token_is_401_before_login_on_login_firmware(
    mock_sungrow_factory: Factory, method: str, path: str
) -> None:
    """§1.1 generation B: everything but connect/login answers 401 until a login (§5)."""
    server = mock_sungrow_factory(winet_profile="login")
    (reply,) = http(server, (method, path, {"token": TOKEN, "type": "3"}))
    assert reply == {"result_code": 401, "result_msg": "I18N_COMMON_INTER_ABNORMAL",
                     "result_data": {}}


def test_the_https_device_list_takes_a_connect_token(mock_sungrow_factory: Factory) -> None:
    """sungrow-http-config never logs in: ``/device/list`` works with the connect token."""
    server = mock_sungrow_factory(model="SG5.0RS", winet_profile="login")
    (reply,) = http(server, ("POST", "/device/list", {"token": TOKEN, "type": "0"}))
    assert (reply["result_code"], reply["result_msg"]) == (1, "success")
    assert reply["result_data"]["service"] == "devicelist"
    (entry,) = reply["result_data"]["list"]
    assert entry["dev_code"] == 9734 and entry["list"] == []


# ----------------------------------------------------------------------------- getParam type 3


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"param_type": "2"}, "bad request: 'param_type' must be 0 (input) or 1 (holding); got 2"),
        ({"param_type": "-1"},
         "bad request: 'param_type' must be 0 (input) or 1 (holding); got -1"),
        ({"param_num": "0"}, "bad request: 'param_num' must be 1..125; got 0"),
        ({"param_num": "126"}, "bad request: 'param_num' must be 1..125; got 126"),
        ({"param_addr": "0"}, "bad request: 'param_addr' 0 + 1 registers leaves 1..65535"),
        ({"param_addr": "65535", "param_num": "2"},
         "bad request: 'param_addr' 65535 + 2 registers leaves 1..65535"),
        ({"type": "7"}, "bad request: getParam 'type' must be 2, 3 or 9; got 7"),
        ({"type": ""}, "bad request: 'type' is missing"),
        ({"dev_id": ""}, "bad request: 'dev_id' is missing"),
        ({"param_num": "x"}, "bad request: 'param_num' must be an integer; got 'x'"),
        ({"param_type": ""}, "bad request: 'param_type' is missing"),
    ],
)
def test_bad_register_reads_say_what_is_wrong(mock_sungrow_shared: MockSungrowServer,
                                              fields: dict[str, Any], message: str) -> None:
    server = mock_sungrow_shared
    good = {"dev_id": "1", "type": "3", "param_addr": "5000", "param_num": "1",
            "param_type": "0", "token": TOKEN}
    (reply,) = http(server, ("GET", "/device/getParam", {**good, **fields}))
    assert reply == {"result_code": 400, "result_msg": message, "result_data": {}}
    (problem,) = server.problems
    assert (problem.front_end, problem.kind) == ("http", "bad-request")


def test_register_reads_reach_the_ends_of_the_address_space(
    mock_sungrow_shared: MockSungrowServer,
) -> None:
    """1 and 65535 are documented addresses; 125 registers is the longest read (§4.1)."""
    server = mock_sungrow_shared
    base = {"dev_id": "1", "type": "3", "param_type": "1", "token": TOKEN}
    first, last, longest = http(
        server, ("GET", "/device/getParam", {**base, "param_addr": "1", "param_num": "1"}),
        ("GET", "/device/getParam", {**base, "param_addr": "65535", "param_num": "1"}),
        ("GET", "/device/getParam", {**base, "param_addr": "5000", "param_num": "125"}))
    # Nothing is mapped at either end: the dongle's read failure (301), not a bad request.
    refused = {"result_code": 301, "result_msg": "I18N_COMMON_READ_FAILED", "result_data": {}}
    assert first == last == refused
    assert len(words_of(longest["result_data"]["param_value"])) == 125


def test_the_battery_cells_read_by_its_dev_id(mock_sungrow_factory: Factory) -> None:
    """winet-extractor reads input 10757 x 24 on the dev_type 44 device (§8)."""
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6, clock=ManualClock())
    assert server.battery is not None
    server.battery.set_register("input", 10757, [33210, 5])  # max cell 3.3210 V, position 5
    (reply,) = http(server, ("GET", "/device/getParam", {
        "dev_id": "2", "dev_type": "44", "type": "3", "param_addr": "10757",
        "param_num": "24", "param_type": "0", "token": TOKEN}))
    words = words_of(reply["result_data"]["param_value"])
    assert len(words) == 24 and words[:2] == [33210, 5]


class _ShortBlock(SungrowModbusDataBlock):
    """A broken override: answers one word fewer than asked."""

    def getValues(self, address: int, count: int = 1) -> list[int]:
        return super().getValues(address, count)[:-1]


@pytest.mark.mock_sungrow_expect_errors
def test_a_block_answering_the_wrong_number_of_words_is_a_handler_error(
    mock_sungrow_factory: Factory,
) -> None:
    server = mock_sungrow_factory(datablock_class=_ShortBlock)
    (reply,) = http(server, ("GET", "/device/getParam", {
        "dev_id": "1", "type": "3", "param_addr": "5000", "param_num": "3", "param_type": "0",
        "token": TOKEN}))
    assert reply == {"result_code": 301, "result_msg": "I18N_COMMON_READ_FAILED",
                     "result_data": {}}
    problems = [p for p in server.problems if p.kind == "handler-error"]
    assert problems and ("the data block returned 2 values for 3 input registers at 5000, "
                         "or values outside 0..65535") in problems[-1].message


class _OddWordsBlock(SungrowModbusDataBlock):
    """A broken override: input 5000 answers something that is not a 16-bit word."""

    word: Any = 0

    def getValues(self, address: int, count: int = 1) -> list[int]:
        if self.table == "input" and address == 5000:
            return [self.word] * count
        return super().getValues(address, count)


class _TooBig(_OddWordsBlock):
    word = 0x10000


class _Fraction(_OddWordsBlock):
    word = 1.5


class _Negative(_OddWordsBlock):
    word = -1


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("block", [_TooBig, _Fraction, _Negative])
def test_a_block_answering_values_that_are_no_words_is_a_handler_error(
    mock_sungrow_factory: Factory, block: type[SungrowModbusDataBlock]
) -> None:
    server = mock_sungrow_factory(datablock_class=block)
    (reply,) = http(server, ("GET", "/device/getParam", {
        "dev_id": "1", "type": "3", "param_addr": "5000", "param_num": "2", "param_type": "0",
        "token": TOKEN}))
    assert reply == {"result_code": 301, "result_msg": "I18N_COMMON_READ_FAILED",
                     "result_data": {}}
    (problem,) = [p for p in server.problems if p.kind == "handler-error"]
    assert ("the data block returned 2 values for 2 input registers at 5000, "
            "or values outside 0..65535") in problem.message


def test_the_largest_and_smallest_words_are_words(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared
    server.set_register("holding", 5000, [0xFFFF, 0x0000])
    (reply,) = http(server, ("GET", "/device/getParam", {
        "dev_id": "1", "type": "3", "param_addr": "5000", "param_num": "2", "param_type": "1",
        "token": TOKEN}))
    assert reply["result_data"] == {"param_value": "FF FF 00 00 "}


# ----------------------------------------------------------------------------- getParam 2, 9


def test_grid_parameters_are_listed_with_their_addresses(
    mock_sungrow_shared: MockSungrowServer,
) -> None:
    """§4.2 type 2: ``param_addr`` (int), ``param_name``, ``param_value`` (string), ``unit``."""
    server = mock_sungrow_shared
    (reply,) = http(server, ("GET", "/device/getParam", {"type": "2", "dev_id": "1",
                                                         "token": TOKEN}))
    data = reply["result_data"]
    assert reply["result_code"] == 1 and data["count"] == len(data["list"]) == 8
    assert [i["param_addr"] for i in data["list"]] == list(range(32323, 32331))
    assert data["list"][0] == {"param_addr": 32323, "param_name": "I18N_COMMON_GRID_OVER_VOLTAGE_1",
                               "param_value": "264.5", "unit": "V"}
    assert all(isinstance(i["param_value"], str) for i in data["list"])


@pytest.mark.mock_sungrow_expect_errors
def test_get_param_types_2_and_9_need_a_known_device(
    mock_sungrow_shared: MockSungrowServer,
) -> None:
    server = mock_sungrow_shared
    grid, energy = http(server, ("GET", "/device/getParam", {"type": "2", "dev_id": "5",
                                                             "token": TOKEN}),
                        ("GET", "/device/getParam", {"type": "9", "dev_id": "5",
                                                     "token": TOKEN}))
    for reply in (grid, energy):
        assert reply == {"result_code": 400, "result_data": {}, "result_msg":
                         "bad request: no device with dev_id 5 (the inverter is dev_id 1)"}


def test_energy_settings_show_value_range_and_options(mock_sungrow_factory: Factory) -> None:
    """§4.2 type 9, for the SG5.0RS's settings (holding.csv: limits and allowed words)."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    server.set_register("holding", 5008, [905])  # power limitation 90.5 %
    (reply,) = http(server, ("GET", "/device/getParam", {"type": "9", "dev_id": "1",
                                                         "token": TOKEN}))
    items = {i["param_addr"]: i for i in reply["result_data"]["list"]}
    assert reply["result_data"]["count"] == len(items)
    assert 5000 not in items and 5005 not in items  # the clock is not a setting
    pids = [i["param_pid"] for i in reply["result_data"]["list"]]
    assert pids == list(range(1, len(pids) + 1))
    assert [i["param_addr"] for i in reply["result_data"]["list"]] == sorted(items)
    assert items[5006] == {  # start/stop: 0xCF start, 0xCE stop, no range
        "param_id": 1, "param_addr": 5006, "param_pid": 1, "param_type": 1, "accuracy": 0,
        "param_name": "I18N_COMMON_START_STOP", "param_value": "207", "unit": "",
        "relation": "", "regulation": "", "range": "",
        "options": [{"name": "0xCE", "value": "206"}, {"name": "0xCF", "value": "207"}]}
    limit = items[5008]  # 0..1100 in 0.1 %
    assert (limit["accuracy"], limit["param_value"], limit["unit"], limit["range"],
            limit["options"]) == (1, "90.5", "%", "[0.0~110.0]", "")
    factor = items[5019]  # -1000..1000 in 0.001
    assert (factor["accuracy"], factor["param_value"], factor["range"]) == (
        3, "1.000", "[-1.000~1.000]")
    reactive = items[5037]  # -1000..1000 in 0.1 %
    assert (reactive["param_value"], reactive["range"]) == ("0.0", "[-100.0~100.0]")


class _RefusingLimit(SungrowModbusDataBlock):
    def getValues(self, address: int, count: int = 1) -> list[int]:
        if self.table == "holding" and address == 5008:
            from mock_sungrow import ModbusError

            raise ModbusError(2)
        return super().getValues(address, count)


def test_an_unreadable_setting_is_unavailable(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", datablock_class=_RefusingLimit)
    (reply,) = http(server, ("GET", "/device/getParam", {"type": "9", "dev_id": "1",
                                                         "token": TOKEN}))
    items = {i["param_addr"]: i for i in reply["result_data"]["list"]}
    assert items[5008]["param_value"] == "--" and items[5008]["range"] == "[0.0~110.0]"
    assert items[5007]["param_value"] == "170"


# ----------------------------------------------------------------------------- setParam


def _set(server: MockSungrowServer, **fields: Any) -> dict[str, Any]:
    body = {"lang": "en_us", "token": TOKEN, "dev_id": 1, "dev_type": 21, "dev_code": 9734,
            **fields}
    (reply,) = http(server, ("POST", "/device/setParam", body))
    return reply


def test_set_param_writes_several_words(mock_sungrow_factory: Factory) -> None:
    """bjeanes' write (§4.4): documented address, ``param_size`` words as decimal text."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    ok = _set(server, param_addr="5007", param_size="2", param_value="85, 800")
    assert ok == {"result_code": 1, "result_msg": "success", "result_data": {}}
    assert holding_words(server, 5007, 2) == [0x55, 800]


def test_set_param_takes_negative_words_as_twos_complement(
    mock_sungrow_factory: Factory,
) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    assert _set(server, param_addr="5037", param_value="-500")["result_code"] == 1
    assert holding_words(server, 5037, 1) == [0xFE0C]  # S16 -500: -50.0 %


def test_a_refused_set_param_is_391(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    assert _set(server, param_addr="5008", param_value="1101") == {
        "result_code": 391, "result_msg": "I18N_COMMON_SET_FAILED", "result_data": {}}
    assert holding_words(server, 5008, 1) == [1000]  # unchanged


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"param_value": "-40000"}, "bad request: 'param_value' '-40000' does not fit 16-bit "
                                    "registers"),
        ({"param_value": "65536"}, "bad request: 'param_value' '65536' does not fit 16-bit "
                                   "registers"),
        ({"param_value": "123456"}, "bad request: 'param_value' must hold 1 decimal word(s); "
                                    "got '123456'"),
        ({"param_value": True}, "bad request: 'param_value' must be a decimal string; got True"),
        ({"param_value": "1 2", "param_size": "3"},
         "bad request: 'param_value' must hold 3 decimal word(s); got '1 2'"),
        ({"param_value": "1", "dev_id": 4},
         "bad request: no device with dev_id 4 (the inverter is dev_id 1)"),
        ({"param_value": "1", "param_addr": ""}, "bad request: 'param_addr' is missing"),
    ],
)
def test_bad_set_params_say_what_is_wrong(mock_sungrow_factory: Factory,
                                          fields: dict[str, Any], message: str) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    reply = _set(server, **{"param_addr": "5008", **fields})
    assert reply == {"result_code": 400, "result_msg": message, "result_data": {}}


def test_set_param_fits_the_largest_and_smallest_words(mock_sungrow_factory: Factory) -> None:
    """65535 and -32768 are 16-bit words: the register refuses them (391), not the parser."""
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    for word in ("65535", "-32768"):
        assert _set(server, param_addr="5008", param_value=word)["result_code"] == 391
    # 5019 power factor accepts -1000..1000 (holding.csv): -1.000 is the word 0xFC18.
    assert _set(server, param_addr="5019", param_value="-1000")["result_code"] == 1
    assert holding_words(server, 5019, 1) == [0xFC18]


# ----------------------------------------------------------------------------- web-UI endpoints


def test_overview_names_the_module_its_clock_and_country(mock_sungrow_factory: Factory) -> None:
    """§4.4 ``/device/overview``, on a site at UTC+10 (Sydney in June)."""
    clock = ManualClock(datetime(2026, 6, 21, 12, 30, 15, tzinfo=ZoneInfo("Australia/Sydney")))
    server = mock_sungrow_factory(model="SG5.0RS", serial="A2231234567", clock=clock,
                                  timezone="Australia/Sydney")
    server.set_register("input", 5114, [42])  # present_country
    overview, about = http(server, ("GET", "/device/overview", {"token": TOKEN}),
                           ("GET", "/about/list", {}))
    assert (overview["result_code"], overview["result_msg"]) == (1, "success")
    data = overview["result_data"]
    serial = data["module_info"]["module_sn"]
    assert re.fullmatch(r"B\d{8}22", serial)
    assert data == {
        "module_info": {"module_sn": serial, "module_ver": "WINET-SV200.001.00.P020"},
        "net_info": {"wifi_conn_sts": 1, "eth_conn_sts": 0, "eth2_conn_sts": 0, "wifi_cmd": 1},
        "remote_info": {"module_sn": serial, "ip": "203.0.113.10"},
        "sys_time": {"sync_device": 1, "time": "2026-06-21 12:30:15", "timezone": "UTC+10:00"},
        "list": [{"dev_id": 1, "dev_sn": "A2231234567", "dev_model": "SG5.0RS",
                  "country": "42"}],
    }
    # /about/list names the same dongle serial.
    assert about["result_data"]["list"][0] == {
        "data_name": "I18N_COMMON_DEVICE_SN", "data_value": serial, "data_unit": "", "type": 0}


def test_the_dongle_serial_is_its_own_per_inverter(mock_sungrow_factory: Factory) -> None:
    """Stable for one inverter serial, different for another, shaped as real ones."""
    serials = []
    for inverter in ("A2231234567", "A2231234567", "A2231234576", "B9999999999"):
        server = mock_sungrow_factory(serial=inverter)
        (about,) = http(server, ("GET", "/about/list", {}))
        serials.append(about["result_data"]["list"][0]["data_value"])
    assert serials[0] == serials[1]
    assert len(set(serials)) == 3
    assert all(re.fullmatch(r"B\d{8}22", s) for s in serials)


@pytest.mark.parametrize(
    ("profile", "firmware", "hardware"),
    [("legacy", "WINET-SV200.001.00.P020", "M_WiNet-S_V01_V01_A"),
     ("login", "WINET-SV200.001.00.P040", "M_WiNet-S_V01_V01_A"),  # the 2026 recording
     ("tls-only", "WINET-SV300.001.03.P012", "M_WiNet-S2_V01_V01_A")],
)
def test_about_and_product_name_the_firmware_of_the_profile(
    mock_sungrow_factory: Factory, profile: str, firmware: str, hardware: str
) -> None:
    """§1.1 firmware generations, §4.4 ``/about/list``, §4.5 ``/product/list``."""
    server = mock_sungrow_factory(winet_profile=profile)
    about, product = http(server, ("GET", "/about/list", {}), ("GET", "/product/list", {}))
    listing = about["result_data"]["list"]
    assert [(i["data_name"], i["data_unit"], i["type"]) for i in listing] == [
        ("I18N_COMMON_DEVICE_SN", "", 0), ("I18N_COMMON_APPLI_SOFT_VERSION", "", 0),
        ("I18N_COMMON_BUILD_SOFT_VERSION", "", 0), ("I18N_COMMON_VERSION", "", 0)]
    assert [i["data_value"] for i in listing[1:]] == [firmware, "20240315", hardware]
    assert about["result_data"]["count"] == 4
    assert product == {"result_code": 1, "result_msg": "success", "result_data": {
        "product_name": "WiNet-S", "product_code": 9, "software_version": firmware,
        "hardware_version": hardware}}


def test_time_get_shows_the_inverter_clock_to_the_minute(mock_sungrow_factory: Factory) -> None:
    """§4.4 ``/time/get``: ``time`` "YYYY-MM-DD HH:MM" from holding 5000-5005, NTP fields."""
    server = mock_sungrow_factory(clock=ManualClock(), timezone="UTC", latitude=0.0,
                                  longitude=0.0)
    server.set_register("holding", 5000, [2025, 12, 31, 23, 59, 58])
    (reply,) = http(server, ("GET", "/time/get", {"token": TOKEN}))
    assert reply == {"result_code": 1, "result_msg": "success", "result_data": {
        "time": "2025-12-31 23:59", "curr_timezone": "UTC+00:00", "ntp_enable": "1",
        "ntp_server": "pool.ntp.org"}}


def test_time_get_shows_word_faults_on_the_clock_registers(mock_sungrow_factory: Factory
                                                          ) -> None:
    """The dongle reads the clock from holding 5000-5005 like any register (docs/faults.md:
    word faults act wherever registers are read): a ``value`` fault on the year shows."""
    server = mock_sungrow_factory(clock=ManualClock(), timezone="UTC", latitude=0.0,
                                  longitude=0.0)
    server.set_register("holding", 5000, [2025, 12, 31, 23, 59, 58])
    server.inject("value", words=[2030], table="holding", address=5000)
    (reply,) = http(server, ("GET", "/time/get", {"token": TOKEN}))
    assert reply["result_data"]["time"] == "2030-12-31 23:59"


def test_get_type_lists_the_device_types(mock_sungrow_shared: MockSungrowServer) -> None:
    """§3.3: 1 string inverter, 21 PV inverter, 35 hybrid, 18 meter, 46 charging pile."""
    server = mock_sungrow_shared
    (reply,) = http(server, ("GET", "/device/getType", {}))
    assert reply["result_data"] == {"count": 5, "list": [
        {"name": "I18N_COMMON_STRING_INVERTER", "value": 1},
        {"name": "I18N_COMMON_SOLAR_INVERTER", "value": 21},
        {"name": "I18N_COMMON_STORE_INVERTER", "value": 35},
        {"name": "I18N_COMMON_AMMETER", "value": 18},
        {"name": "I18N_COMMON_CHARGING_PILE", "value": 46}]}


def test_inverter_list_has_every_device_without_its_nested_list(
    mock_sungrow_factory: Factory,
) -> None:
    """bjeanes' ``POST /inverter/list`` (§4.4): the device list, items without ``list``."""
    server = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6)
    (reply,) = http(server, ("POST", "/inverter/list", {}))
    assert (reply["result_code"], reply["result_msg"]) == (1, "success")
    data = reply["result_data"]
    assert data["count"] == 2 and [e["dev_type"] for e in data["list"]] == [35, 44]
    assert all("list" not in e for e in data["list"])
    assert "service" not in data


# ----------------------------------------------------------------------------- HTTPS API (§4.5)


@pytest.mark.parametrize(
    ("profile", "extras"),
    [("legacy", {}),
     ("login", {"virgin_flag": 0, "isFirstLogin": 0, "forceModifyPasswd": 0}),
     ("tls-only", {"virgin_flag": 0, "isFirstLogin": 0, "forceModifyPasswd": 0,
                   "ip": "127.0.0.1"})],
)
def test_user_connect_answers_as_the_websocket_connect(
    mock_sungrow_factory: Factory, profile: str, extras: dict[str, Any]
) -> None:
    server = mock_sungrow_factory(winet_profile=profile)
    (reply,) = http(server, ("POST", "/user/connect", {"lang": "_en_US", "service": "connect",
                                                       "token": ""}))
    data = reply["result_data"]
    assert (reply["result_code"], reply["result_msg"]) == (1, "success")
    assert {k: v for k, v in data.items() if k != "token"} == {
        "service": "connect", "uid": 1, "tips_disable": 1, **extras}


def test_upgrade_status_upgrades_a_live_token_only(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(winet_profile="tls-only")
    good, bad = http(server, ("POST", "/upgrade/upgradeStatus", {"token": TOKEN}),
                     ("POST", "/upgrade/upgradeStatus", {"token": "gone"}))
    assert good == {"result_code": 1, "result_msg": "success",
                    "result_data": {"nextProcess": "0"}}
    assert bad == {"result_code": 106, "result_msg": "token invalid or expired",
                   "result_data": {}}


# ----------------------------------------------------------------------------- request fields


@pytest.mark.parametrize("text", ["5008", " 5008 ", "+5008", 5008])
def test_integers_may_be_numbers_or_decimal_text(mock_sungrow_factory: Factory,
                                                 text: Any) -> None:
    """§2: numbers in requests are usually strings; both forms are the same request."""
    server = mock_sungrow_factory(model="SG5.0RS")
    (reply,) = http(server, ("POST", "/device/setParam", {
        "token": TOKEN, "dev_id": 1, "param_addr": text, "param_value": "1000"}))
    assert reply == {"result_code": 1, "result_msg": "success", "result_data": {}}


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(
    ("value", "shown"),
    [("12345678901", "'12345678901'"), ("5 000", "'5 000'"), ("0x1388", "'0x1388'"),
     ("\uff15\uff10\uff10\uff18", "'\uff15\uff10\uff10\uff18'"),  # full-width digits
     (5000.0, "5000.0"), (True, "True"), ([5000], "[5000]")],
)
def test_anything_else_is_not_an_integer(mock_sungrow_factory: Factory, value: Any,
                                         shown: str) -> None:
    server = mock_sungrow_factory(model="SG5.0RS")
    (reply,) = http(server, ("POST", "/device/setParam", {
        "token": TOKEN, "dev_id": 1, "param_addr": value, "param_value": "1000"}))
    assert reply == {"result_code": 400, "result_data": {},
                     "result_msg": f"bad request: 'param_addr' must be an integer; got {shown}"}


@pytest.mark.mock_sungrow_expect_errors
def test_a_ten_digit_integer_is_still_an_integer(mock_sungrow_factory: Factory) -> None:
    """Up to ten digits parse (then the address is out of range, not malformed)."""
    server = mock_sungrow_factory(model="SG5.0RS")
    (reply,) = http(server, ("GET", "/device/getParam", {
        "token": TOKEN, "dev_id": "1", "type": "3", "param_type": "0", "param_num": "1",
        "param_addr": "-1234567890"}))
    assert reply["result_msg"] == (
        "bad request: 'param_addr' -1234567890 + 1 registers leaves 1..65535")


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("lang", ["en_US", "de_de", "zh-Hans-CN", "x", "ABCDEFGH_12345678"])
def test_any_locale_gets_the_properties(mock_sungrow_shared: MockSungrowServer, lang: str) -> None:
    """§4.3: ``/i18n/<lang>.properties`` for any locale-shaped name."""
    server = mock_sungrow_shared

    async def go() -> tuple[int, str, str]:
        async with Winet(server) as w:
            return await w.raw("GET", f"/i18n/{lang}.properties")

    status, ctype, text = run(go())
    assert (status, ctype) == (200, "text/plain")
    assert "I18N_COMMON_TOTAL_YIELD=" in text


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("name", ["en_US.txt", "en_US", "ABCDEFGHI.properties", "1en.properties",
                                  "en__US.properties", "en_US_.properties", ".properties"])
def test_other_names_are_not_found(mock_sungrow_shared: MockSungrowServer, name: str) -> None:
    server = mock_sungrow_shared

    async def go() -> tuple[int, str, str]:
        async with Winet(server) as w:
            return await w.raw("GET", f"/i18n/{name}")

    status, ctype, _text = run(go())
    assert (status, ctype) == (404, "application/json")
    assert [p.kind for p in server.problems] == ["unknown-path"]


def test_connect_reports_the_listeners_address(mock_sungrow_factory: Factory) -> None:
    """WiNet-S2's ``ip`` is the address it answers on; winet-extractor validates it (§3.1)."""
    server = mock_sungrow_factory(winet_profile="tls-only", host="127.0.0.2")
    (reply,) = http(server, ("POST", "/user/connect", {"service": "connect", "token": ""}))
    assert reply["result_data"]["ip"] == "127.0.0.2"


@pytest.mark.mock_sungrow_expect_errors
def test_set_param_refuses_a_word_below_minus_32768(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    assert _set(server, param_addr="5019", param_value="-32769") == {
        "result_code": 400, "result_data": {},
        "result_msg": "bad request: 'param_value' '-32769' does not fit 16-bit registers"}


# ----------------------------------------------------------------------------- passthrough


def _rtu(hex_frame: str) -> str:
    frame = bytes.fromhex(hex_frame)
    return (frame + crc16(frame)).hex().upper()


def test_the_shortest_rtu_frame_is_answered(mock_sungrow_factory: Factory) -> None:
    """Unit, a one-byte PDU and the CRC: FC 7 is not served, so exception 1 comes back."""
    server = mock_sungrow_factory(winet_profile="tls-only")

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            connect = await w.post("/user/connect", {"service": "connect", "token": ""})
            tok = connect["result_data"]["token"]
            await w.post("/upgrade/upgradeStatus", {"token": tok})
            return await w.post("/device/passthroughway", {
                "dev_id": 1, "msgType": "0", "token": tok, "msgValue": _rtu("0107")})

    reply = run(go())
    assert reply == {"result_code": 1, "result_msg": "success",
                     "result_data": {"data": _rtu("018701")}}


@pytest.mark.mock_sungrow_expect_errors
def test_a_long_message_that_is_not_hex_is_quoted_by_its_first_40_characters(
    mock_sungrow_shared: MockSungrowServer,
) -> None:
    server = mock_sungrow_shared
    text = "0104" + "zz" * 30
    (reply,) = http(server, ("POST", "/device/passthroughway", {
        "dev_id": 1, "msgType": "0", "token": TOKEN, "msgValue": text}))
    assert reply == {"result_code": 400, "result_data": {},
                     "result_msg": f"bad request: 'msgValue' must be hexadecimal; got "
                                   f"{text[:40]!r}"}


@pytest.mark.mock_sungrow_expect_errors
def test_an_upgraded_token_opens_no_other_https_endpoint(mock_sungrow_factory: Factory) -> None:
    """§4.5: ``/upgrade/upgradeStatus`` lets a connect token use the RTU passthrough only;
    the register reads and settings of the HTTPS API still answer 401 on login firmware."""
    server = mock_sungrow_factory(model="SG5.0RS", winet_profile="login")

    async def go() -> list[int]:
        async with Winet(server) as w:
            connect = await w.post("/user/connect", {"lang": "_en_US", "service": "connect",
                                                     "token": ""})
            tok = connect["result_data"]["token"]
            await w.post("/upgrade/upgradeStatus", {"lang": "_en_US", "token": tok})
            read = await w.get("/device/getParam", token=tok, dev_id="1", type="3",
                               param_type="0", param_addr="5000", param_num="1")
            overview = await w.get("/device/overview", token=tok)
            return [int(read["result_code"]), int(overview["result_code"])]

    assert run(go()) == [401, 401]


@pytest.mark.mock_sungrow_expect_errors
def test_json_nested_too_deep_is_a_bad_request_that_says_so(
        mock_sungrow_shared: MockSungrowServer) -> None:
    """A WebSocket frame nested 40 deep (real requests nest 3) is refused, and the reply says
    which limit it broke."""
    server = mock_sungrow_shared

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session(connect=False)
            await s.ws.send_str('{"service": "connect", "x": ' + "[" * 40 + "]" * 40 + "}")
            return await s.receive()

    reply = run(go())
    assert reply["result_code"] == 400
    assert reply["result_msg"].startswith("bad request: JSON outside the limits: "), reply


def test_connect_reports_an_ip_literal_for_a_named_host(mock_sungrow_factory: Factory) -> None:
    """Served on ``localhost`` the dongle still reports an IP literal in ``ip``, which
    winet-extractor validates as an address (§3.1): the loopback one."""
    server = mock_sungrow_factory(winet_profile="tls-only", host="localhost")
    (reply,) = http(server, ("POST", "/user/connect", {"service": "connect", "token": ""}))
    assert reply["result_data"]["ip"] == "127.0.0.1"


def test_get_param_replies_carry_the_dongles_result_texts(mock_sungrow_factory: Factory
                                                          ) -> None:
    """§4: success is ``1 success``; a read no device answers is ``301
    I18N_COMMON_READ_FAILED``. The grid (type 2) and energy settings (type 9) succeed too."""
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    read = {"type": 3, "param_type": 0, "param_addr": 5000, "param_num": 1, "token": TOKEN}
    grid, settings, nobody = http(
        server,
        ("GET", "/device/getParam", {"dev_id": 1, "type": 2, "token": TOKEN}),
        ("GET", "/device/getParam", {"dev_id": 1, "type": 9, "token": TOKEN}),
        ("GET", "/device/getParam", {**read, "dev_id": 9}),
        login=True)
    for reply in (grid, settings):
        assert (reply["result_code"], reply["result_msg"]) == (1, "success"), reply
        assert reply["result_data"]["count"] == len(reply["result_data"]["list"]) > 0
    assert nobody == {"result_code": 301, "result_msg": "I18N_COMMON_READ_FAILED",
                      "result_data": {}}


def test_get_param_of_the_same_address_in_each_table(mock_sungrow_factory: Factory) -> None:
    """Input 5000 is the device type, holding 5000 the year of the inverter's clock (spec B.1,
    B.3): read one after the other at one instant, each answers its own table."""
    server = mock_sungrow_factory(clock=ManualClock(datetime(2026, 1, 10, 2, 0,
                                                             tzinfo=timezone.utc)))
    read = {"dev_id": 1, "type": 3, "param_addr": 5000, "param_num": 1, "token": TOKEN}
    replies = http(server, *(("GET", "/device/getParam", {**read, "param_type": t})
                             for t in (0, 1, 0, 1)))
    values = [r["result_data"]["param_value"] for r in replies]
    assert values == ["01 26 ", "07 EA ", "01 26 ", "07 EA "]  # 0x0126 SG5K-D; 2026
