"""Word faults reach what the WiNet-S derives from registers, as they reach Modbus.

A real dongle polls its inverter's registers and formats what it read, so a register that reads
0 on Modbus reads 0 in ``real``, ``direct``, ``statistics``, ``runtime`` and ``getParam`` too.
Every test runs on a manual clock that does not move while both front ends are read, so the
Modbus words (read with a raw socket) are exactly the words the dongle formatted; the expected
texts are formatted here from those words and the register catalogue's units (spec §3.4, B.5),
not by the product's formatter.

The ``state`` and ``statistics`` services report the inverter's fault/alarm flags and its power
adjustment from the registers they correspond to (fault code 5045, work state 5038, the hybrid
fault and alarm words 13050-13079; the power limitation 5007/5008 and 13089/13090).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus
from tests.winet_client import Winet, run, words_of


def _server(factory: Any, model: str = "SG5K-D", **kwargs: Any) -> MockSungrowServer:
    server: MockSungrowServer = factory(model=model, server_type="both", clock=ManualClock(),
                                        **kwargs)
    return server


def _modbus(server: MockSungrowServer, table: str, address: int, count: int) -> list[int]:
    """Words at documented ``address`` over Modbus TCP (wire address = documented - 1)."""
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as client:
        words = client.read(4 if table == "input" else 3, address - 1, count)
    assert isinstance(words, list), f"{table} {address}: exception {words}"
    return words


def _write(server: MockSungrowServer, address: int, value: int) -> None:
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as client:
        assert client.write_single(address - 1, value) is None


async def _services(server: MockSungrowServer, *names: str) -> dict[str, dict[str, Any]]:
    async with Winet(server) as w:
        session = await w.session()
        out = {}
        for name in names:
            reply = await session.call(name, dev_id="1")
            assert reply["result_code"] == 1, reply
            out[name] = reply["result_data"]
        return out


def _real(data: dict[str, Any], name: str) -> str:
    values = [i["data_value"] for i in data["list"] if i["data_name"] == name]
    assert len(values) == 1, f"{name} not in real"
    return str(values[0])


def _kw(words: list[int]) -> str:
    """A U32 watt register (low word first, Sungrow's order) as the dongle's kW text."""
    if words == [0xFFFF, 0xFFFF]:
        return "--"
    return f"{(words[0] | words[1] << 16) / 1000:.3f}"


async def _http_registers(server: MockSungrowServer, table: str, address: int,
                          count: int) -> list[int]:
    async with Winet(server) as w:
        session = await w.session()
        reply = await w.registers(session.token, table, address, count)
        assert reply["result_code"] == 1, reply
        return words_of(reply["result_data"]["param_value"])


# ----------------------------------------------------------------------------- real and friends


@pytest.mark.parametrize("kind", ["zeros", "sentinel"])
def test_word_faults_on_active_power_reach_real_statistics_and_runtime(
    mock_sungrow_factory: Any, kind: str,
) -> None:
    server = _server(mock_sungrow_factory)
    assert server.snapshot().active_power_w > 1000  # 10:00: there is something to hide
    server.inject(kind, table="input", address=[5031, 5032])
    words = _modbus(server, "input", 5031, 2)
    assert words == ([0, 0] if kind == "zeros" else [0xFFFF, 0xFFFF])
    assert run(_http_registers(server, "input", 5031, 2)) == words
    data = run(_services(server, "real", "statistics", "runtime"))
    expected = _kw(words)
    assert _real(data["real"], "I18N_COMMON_TOTAL_ACTIVE_POWER") == expected
    assert data["statistics"]["list"][0]["curr_power"] == expected
    assert data["runtime"]["list"][0]["curr_power"] == expected


def test_scale_on_grid_frequency_reaches_real(mock_sungrow_factory: Any) -> None:
    server = _server(mock_sungrow_factory)
    # SG5K-D reports the 0.01 Hz register 5148 (SGproto); early WiNet-S firmware scaled it.
    clean = _modbus(server, "input", 5148, 1)[0]
    server.inject("scale", factor=10, table="input", address=5148)
    scaled = _modbus(server, "input", 5148, 1)[0]
    assert scaled == min(0xFFFF, clean * 10)
    data = run(_services(server, "real"))
    assert _real(data["real"], "I18N_COMMON_GRID_FREQUENCY") == f"{scaled * 0.01:.2f}"


def test_value_on_the_work_state_reaches_real_and_runtime(mock_sungrow_factory: Any) -> None:
    server = _server(mock_sungrow_factory)
    server.inject("value", words=[0x5500], table="input", address=5038)  # B.5: Fault
    assert _modbus(server, "input", 5038, 1) == [0x5500]
    data = run(_services(server, "real", "runtime"))
    assert _real(data["real"], "I18N_COMMON_RUNNING_STATE") == "I18N_COMMON_FAULT"
    assert data["runtime"]["list"][0]["dev_state"] == "I18N_COMMON_FAULT"


def test_zeros_on_an_mppt_reach_direct(mock_sungrow_factory: Any) -> None:
    server = _server(mock_sungrow_factory)
    server.inject("zeros", table="input", address=[5011, 5012])  # MPPT 1 voltage, current
    assert _modbus(server, "input", 5011, 2) == [0, 0]
    direct = run(_services(server, "direct"))["direct"]["list"]
    mppt1 = next(e for e in direct if e["name"] == "MPPT1")
    assert (mppt1["voltage"], mppt1["current"]) == ("0.0", "0.0")
    mppt2 = next(e for e in direct if e["name"] == "MPPT2")
    v2 = _modbus(server, "input", 5013, 1)[0]
    assert mppt2["voltage"] == f"{v2 * 0.1:.1f}" != "0.0"  # the range is respected


def test_a_fault_on_the_holding_table_leaves_input_registers_alone(
    mock_sungrow_factory: Any,
) -> None:
    server = _server(mock_sungrow_factory)
    server.inject("zeros", table="holding", address=[5031, 5032])
    words = _modbus(server, "input", 5031, 2)
    assert words != [0, 0]
    data = run(_services(server, "real"))
    assert _real(data["real"], "I18N_COMMON_TOTAL_ACTIVE_POWER") == _kw(words)


def test_stale_values_stay_stale_in_real(mock_sungrow_factory: Any) -> None:
    server = _server(mock_sungrow_factory)
    clock = server.clock
    assert isinstance(clock, ManualClock)
    server.inject("stale", table="input", address=[5031, 5032])
    first = run(_services(server, "real"))["real"]
    frozen = _modbus(server, "input", 5031, 2)
    assert _real(first, "I18N_COMMON_TOTAL_ACTIVE_POWER") == _kw(frozen)
    before = server.snapshot().active_power_w
    clock.advance(1800)  # half an hour later the sun has moved
    assert abs(server.snapshot().active_power_w - before) > 10
    later = run(_services(server, "real"))["real"]
    assert _real(later, "I18N_COMMON_TOTAL_ACTIVE_POWER") == _kw(frozen)
    assert _modbus(server, "input", 5031, 2) == frozen


# ----------------------------------------------------------------------------- writes


def _energy_parameter(server: MockSungrowServer, address: int) -> str:
    async def go() -> str:
        async with Winet(server) as w:
            session = await w.session()
            reply = await w.get("/device/getParam", dev_id=1, dev_type=21, dev_code=0, type=9,
                                token=session.token, lang="en_us")
            assert reply["result_code"] == 1, reply
            return next(str(p["param_value"]) for p in reply["result_data"]["list"]
                        if p["param_addr"] == address)

    return run(go())


def test_stale_after_a_modbus_write_reaches_getparam_and_statistics(
    mock_sungrow_factory: Any,
) -> None:
    server = _server(mock_sungrow_factory)
    clock = server.clock
    assert isinstance(clock, ManualClock)
    server.inject("stale-after-write", hold=60, table="holding", address=5008)
    assert _modbus(server, "holding", 5007, 2) == [0xAA, 1000]  # limitation on, 100.0 %
    _write(server, 5008, 500)  # 50.0 %
    assert _modbus(server, "holding", 5008, 1) == [1000]  # the old value, for 60 s
    assert _energy_parameter(server, 5008) == "100.0"
    assert run(_services(server, "statistics"))["statistics"]["list"][0]["adjust_power"] \
        == "100.0"
    clock.advance(61)
    assert _modbus(server, "holding", 5008, 1) == [500]
    assert _energy_parameter(server, 5008) == "50.0"
    assert run(_services(server, "statistics"))["statistics"]["list"][0]["adjust_power"] \
        == "50.0"


def test_stale_after_a_winet_write_reaches_modbus(mock_sungrow_factory: Any) -> None:
    server = _server(mock_sungrow_factory)
    server.inject("stale-after-write", hold=60, table="holding", address=5008)

    async def set_param() -> dict[str, Any]:
        async with Winet(server) as w:
            session = await w.session()
            return await w.get("/device/setParam", dev_id=1, dev_type=21, dev_code=0,
                               param_addr=5008, param_size=1, param_value="700",
                               token=session.token, lang="en_us")

    assert run(set_param())["result_code"] == 1
    assert _modbus(server, "holding", 5008, 1) == [1000]  # the old value shows on Modbus...
    assert server.read("power_limitation_setting", "holding") == 70.0  # ...the write happened


def test_word_faults_reach_the_rtu_passthrough(mock_sungrow_factory: Any) -> None:
    server = _server(mock_sungrow_factory, winet_profile="login")
    server.inject("zeros", table="input", address=[5031, 5032])

    def crc16(data: bytes) -> int:  # Modbus RTU CRC (spec: passthrough frames are RTU)
        crc = 0xFFFF
        for byte in data:
            crc ^= byte
            for _ in range(8):
                crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        return crc

    request = struct.pack(">BBHH", 1, 4, 5030, 2)
    request += crc16(request).to_bytes(2, "little")

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            session = await w.session()
            login = await session.login()
            assert login["result_code"] == 1, login
            token = session.token
            assert (await w.get("/upgrade/upgradeStatus", token=token))["result_code"] == 1
            return await w.get("/device/passthroughway", token=token,
                               msgValue=request.hex().upper())

    reply = run(go())
    assert reply["result_code"] == 1, reply
    frame = bytes.fromhex(reply["result_data"]["data"])
    assert frame[:3] == bytes([1, 4, 4]) and frame[3:7] == bytes(4)


# ----------------------------------------------------------------------------- state, statistics


def _adjust_power(server: MockSungrowServer) -> str:
    return str(run(_services(server, "statistics"))["statistics"]["list"][0]["adjust_power"])


def test_adjust_power_follows_the_power_limitation_of_a_string_inverter(
    mock_sungrow_factory: Any,
) -> None:
    server = _server(mock_sungrow_factory)
    assert _adjust_power(server) == "100.0"  # 5007 0xAA, 5008 1000 (0.1 %)
    _write(server, 5008, 500)
    assert _adjust_power(server) == "50.0"
    _write(server, 5008, 333)
    assert _adjust_power(server) == "33.3"
    _write(server, 5007, 0x55)  # limitation off: full power allowed
    assert _adjust_power(server) == "100.0"


def test_adjust_power_follows_the_power_limitation_of_a_hybrid(mock_sungrow_factory: Any) -> None:
    server = _server(mock_sungrow_factory, model="SH10RT")
    assert _modbus(server, "holding", 13089, 2) == [0x55, 1000]
    assert _adjust_power(server) == "100.0"  # limitation off
    _write(server, 13090, 300)
    assert _adjust_power(server) == "100.0"  # a ratio, but the switch is still off
    _write(server, 13089, 0xAA)
    assert _adjust_power(server) == "30.0"


def _flags(server: MockSungrowServer) -> tuple[str, str]:
    state = run(_services(server, "state"))["state"]
    return state["total_fault"], state["total_alarm"]


def test_state_flags_of_a_string_inverter_come_from_its_fault_code(
    mock_sungrow_factory: Any,
) -> None:
    server = _server(mock_sungrow_factory)
    assert _flags(server) == ("0", "0")
    with server.inject("inverter-fault", code=37):  # high ambient temperature: a fault
        assert _modbus(server, "input", 5038, 1) == [0x5500]
        assert _flags(server) == ("1", "0")
    assert _flags(server) == ("0", "0")
    # 514 is "meter communication alarm" and 0x9100 "alarm run" (spec B.5): an alarm only.
    server.set_register("input", 5045, [514])
    server.set_register("input", 5038, [0x9100])
    assert _flags(server) == ("0", "1")
    server.clear_registers()
    # Word faults on those registers count too: the dongle reads what Modbus reads.
    server.inject("value", words=[39], table="input", address=5045)  # low insulation: a fault
    assert _flags(server) == ("1", "0")
    server.clear_faults()
    # 0xFFFF is a U16 "unavailable" sentinel (modbus-encrypted-and-registers.md): no fault.
    server.inject("sentinel", table="input", address=5045)
    assert _modbus(server, "input", 5045, 1) == [0xFFFF]
    assert _flags(server) == ("0", "0")
    assert run(_services(server, "fault"))["fault"] == {"service": "fault", "list": [],
                                                        "count": 0}


def test_state_flags_of_a_hybrid_come_from_its_fault_and_alarm_words(
    mock_sungrow_factory: Any,
) -> None:
    server = _server(mock_sungrow_factory, model="SH10RT")
    # BMS alarm 2 reads 0xFFFF in its high word on real units (spec B.5): not an alarm.
    assert sorted(_modbus(server, "input", 13078, 2)) == [0, 0xFFFF]
    assert _flags(server) == ("0", "0")
    with server.inject("inverter-fault", code=37):
        assert _modbus(server, "input", 13054, 2) == [1, 0]  # system fault 1, bit 0
        assert _flags(server) == ("1", "0")
    with server.inject("grid-outage"):
        assert _flags(server) == ("1", "0")  # grid-side fault, bit 8
    server.set_register("input", 13050, [1, 0])  # inverter alarm bit 0: fan
    assert _flags(server) == ("0", "1")


def test_a_sentinel_fault_on_undocumented_registers_reads_the_filler(
        mock_sungrow_factory: Any) -> None:
    """``sentinel`` over reserved registers inside a documented block (input 5025-5030 on
    an SG5K-D: no row of registers.csv, so no type): they read the filler every undocumented
    register reads, 0xFFFF, on getParam as on Modbus, even where a test pinned words."""
    server = _server(mock_sungrow_factory)
    server.set_register("input", 5025, [1234, 5678])  # pinned: the fault still hides them
    assert _modbus(server, "input", 5025, 2) == [1234, 5678]
    server.inject("sentinel", table="input", address="5025-5030")
    assert run(_http_registers(server, "input", 5025, 6)) == [0xFFFF] * 6
    assert _modbus(server, "input", 5025, 6) == [0xFFFF] * 6
