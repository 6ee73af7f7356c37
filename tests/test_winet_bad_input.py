"""Bad input on the WiNet-S write paths gets a clear error and leaves the session working.

``param`` (WebSocket writes), ``/device/setParam`` and ``/device/passthroughway`` (Modbus RTU
frames, spec §4.5). 400 is mock-sungrow's own code for a malformed request (no capture of
the dongle's exists); 391 ``I18N_COMMON_SET_FAILED`` is the dongle's refused write (spec §4).
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer, SungrowModbusDataBlock
from tests.helpers import AsyncBlock, RawModbus
from tests.winet_client import Winet, run


def rtu(hex_frame: str) -> str:
    """``hex_frame`` with its Modbus RTU CRC-16 appended (poly 0xA001, init 0xFFFF, low first).

    Written from the Modbus serial line specification, not taken from the server.
    """
    crc = 0xFFFF
    for byte in bytes.fromhex(hex_frame):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return (bytes.fromhex(hex_frame) + crc.to_bytes(2, "little")).hex().upper()


def test_rtu_helper_matches_a_captured_frame() -> None:
    # The read of input 5000 sungrow-http-config sends (spec §4.5): 01 04 13 87 00 01 85 67.
    assert rtu("0104138700 01") == "0104138700018567"


def _holding(server: MockSungrowServer, address: int) -> list[int] | int:
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        return c.read(3, address - 1, 1)


@pytest.mark.mock_sungrow_expect_errors
def test_bad_param_requests(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SH10RT")

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            return [
                await s.call("param", type="9", devid_array="1", list=[{}]),
                await s.call("param", type="9", devid_array=["1"], list=[]),
                await s.call("param", type="3", devid_array=["1"], list=[{"power_switch": "2"}]),
                await s.call("param", type="9", devid_array=["1"],
                             list=[{"param_addr": 13058, "param_value": "lots"}]),
                await s.call("param", type="9", devid_array=["1"],
                             list=[{"param_pid": 999, "param_value": "1"}]),  # no such setting
                await s.call("devicelist", type="0", is_check_token="0"),
            ]

    *bad, unknown, still = run(go())
    assert [r["result_code"] for r in bad] == [400, 400, 400, 400]
    assert all(r["result_data"]["service"] == "param" for r in bad)
    assert "'devid_array' must be a non-empty list" in bad[0]["result_msg"]
    assert "'list' must be a non-empty list of objects" in bad[1]["result_msg"]
    assert "'power_switch' must be \"0\" or \"1\"; got '2'" in bad[2]["result_msg"]
    assert (unknown["result_code"], unknown["result_msg"]) == (391, "I18N_COMMON_SET_FAILED")
    assert unknown["result_data"]["list"][0]["result"] == 1
    assert still["result_code"] == 1
    assert _holding(server, 13000) == [0xCF]  # nothing was switched off
    assert {p.kind for p in server.problems} == {"bad-request"}


@pytest.mark.mock_sungrow_expect_errors
def test_bad_set_param_values(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS")

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            base = {"lang": "en_us", "token": s.token, "dev_id": 1, "param_addr": "5008",
                    "param_size": "1"}
            return [await w.post("/device/setParam", {**base, "param_value": value})
                    for value in ("abc", "1 2", "70000", [500], 500)]

    *bad, as_number = run(go())
    assert [r["result_code"] for r in bad] == [400, 400, 400, 400]
    assert "'param_value' must hold 1 decimal word(s); got 'abc'" in bad[0]["result_msg"]
    assert "'param_value' must hold 1 decimal word(s); got '1 2'" in bad[1]["result_msg"]
    assert "'param_value' '70000' does not fit 16-bit registers" in bad[2]["result_msg"]
    assert "'param_value' must be a decimal string; got [500]" in bad[3]["result_msg"]
    assert as_number["result_code"] == 1  # a JSON number is taken as its decimal text
    assert _holding(server, 5008) == [500]


def _passthrough(server: MockSungrowServer, *frames: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            token = (await w.session()).token
            body = {"dev_id": 1, "lang": "_en_US", "msgType": "0", "token": token}
            return [await w.post("/device/passthroughway", {**body, "msgValue": frame})
                    for frame in frames]

    return run(go())


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("block", [SungrowModbusDataBlock, AsyncBlock])
def test_passthrough_frames(mock_sungrow_factory: Any, block: type) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS", datablock_class=block)
    not_hex, short, bad_crc, read, broadcast, write = _passthrough(
        server, "zz", "0104", "0104138700018568",
        rtu("0104138700 01"),  # read input 5000
        rtu("0006138F01F4"),  # broadcast: holding 5008 = 500
        rtu("0106138F0258"))  # unit 1: holding 5008 = 600
    assert [r["result_code"] for r in (not_hex, short, bad_crc)] == [400, 400, 400]
    assert "'msgValue' must be hexadecimal" in not_hex["result_msg"]
    assert short["result_msg"] == "bad request: 'msgValue' is shorter than an RTU frame " \
        "(unit, PDU, CRC)"
    assert "'msgValue' '0104138700018568' has a wrong CRC" in bad_crc["result_msg"]
    assert read["result_data"]["data"] == rtu("01 04 02 2606")  # SG5.0RS type code 0x2606
    assert broadcast["result_code"] == 1 and broadcast["result_data"]["data"] == ""
    assert write["result_data"]["data"] == rtu("0106138F0258")  # FC6: an exact echo
    assert _holding(server, 5008) == [600]


def test_a_passthrough_write_is_seen_by_stale_after_write(mock_sungrow_factory: Any) -> None:
    """The dongle's RTU bus is a Modbus path like any other: ``stale-after-write`` keeps the
    replaced word of a passthrough FC6 write for its ``hold``, so the read after it still
    answers the old power limitation (holding 5008), and the write itself is echoed."""
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS", clock=ManualClock())
    (before,) = _passthrough(server, rtu("0103138F0001"))  # read holding 5008
    old = before["result_data"]["data"][6:10]  # unit, FC, byte count, then the word
    assert old != "0258"
    server.inject("stale-after-write", table="holding", address=5008, hold=60)
    write, after = _passthrough(server, rtu("0106138F0258"), rtu("0103138F0001"))
    assert (write["result_msg"], write["result_data"]["data"]) == ("success", rtu("0106138F0258"))
    assert after["result_data"]["data"] == rtu("010302" + old)
    server.clear_faults()
    assert _holding(server, 5008) == [0x0258]  # the register itself was written


def test_a_broadcast_under_a_word_fault_is_answered_with_no_data(mock_sungrow_factory: Any
                                                                 ) -> None:
    """A broadcast (unit 0) gets no RTU reply, word fault or not: ``data`` is empty."""
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS")
    server.inject("zeros", table="holding", address=5008)
    (broadcast,) = _passthrough(server, rtu("0006138F01F4"))
    assert (broadcast["result_code"], broadcast["result_msg"]) == (1, "success"), broadcast
    assert broadcast["result_data"]["data"] == ""
    server.clear_faults()
    assert _holding(server, 5008) == [500]  # written all the same
