"""The Modbus RTU CRC on the WiNet-S passthrough (``/device/passthroughway``), both ways.

Request frames carry their CRC low byte first (Modbus over serial line, §2.5.1.2); the ones
below are literal frames a WiNet-S client sends. Reply CRCs are checked with pymodbus's own
RTU CRC (an independent implementation, table-driven), and a frame with a wrong CRC is refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymodbus.framer.rtu import FramerRTU

from mock_sungrow import MockSungrowServer
from tests.helpers import control_call


def _crc_ok(frame: bytes) -> bool:
    """pymodbus's check: its CRC is the 16-bit value of the two bytes as sent."""
    return FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big"))


@pytest.fixture
def passthrough(mock_sungrow_factory: Any) -> Any:
    server: MockSungrowServer = mock_sungrow_factory(server_type="http")
    base = f"http://127.0.0.1:{server.get_connection_info('http')['port']}"
    _status, connect = control_call(base, "POST", "/user/connect",
                                    {"lang": "_en_US", "service": "connect", "token": ""})
    body = {"dev_code": 9734, "dev_id": 1, "dev_type": 21, "lang": "_en_US", "msgType": "0",
            "token": connect["result_data"]["token"]}

    def send(msg: str) -> dict[str, Any]:
        status, reply = control_call(base, "POST", "/device/passthroughway",
                                     {**body, "msgValue": msg})
        assert status == 200
        return reply  # type: ignore[no-any-return]

    send.server = server  # type: ignore[attr-defined]
    return send


@pytest.mark.parametrize(("request_frame", "fc"), [
    ("0104138700018567", 4),  # FC4, wire 4999, 1 register: the device type code
    ("0103138F0001B165", 3),  # FC3, wire 5007, 1 register
    ("010400630001C1D4", 4),  # FC4, wire 99: no such register, exception 2
])
def test_reply_crcs_are_modbus_rtu_crcs(passthrough: Any, request_frame: str, fc: int) -> None:
    assert _crc_ok(bytes.fromhex(request_frame))  # the literal frame is right by pymodbus too
    reply = bytes.fromhex(passthrough(request_frame)["result_data"]["data"])
    assert reply[0] == 1 and reply[1] & 0x7F == fc
    assert _crc_ok(reply), reply.hex(" ")


def test_a_write_is_echoed_with_its_own_crc(passthrough: Any) -> None:
    assert passthrough("0106138F01F4BCB2")["result_data"]["data"] == "0106138F01F4BCB2"


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("frame", ["0104138700018568", "0104138700016785"])
def test_a_wrong_crc_is_refused(passthrough: Any, frame: str) -> None:
    reply = passthrough(frame)
    assert (reply["result_code"], reply["result_msg"]) == (
        400, f"bad request: 'msgValue' '{frame}' has a wrong CRC")
