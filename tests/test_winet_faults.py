"""WiNet-S paths the main tests do not reach: broken handlers, WebSocket silence and drop,
refused and kicked HTTP connections. Replies are checked against spec §3-§4 literally.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

import aiohttp
import pytest

from mock_sungrow import MockSungrowServer, SungrowModbusDataBlock
from tests.helpers import closed_by_peer
from tests.test_connection_lifecycle import _read_http_response
from tests.winet_client import Winet, run

#: What the dongle answers a read it could not do (spec §4 error table: 301, busy/failed).
READ_FAILED = {"result_code": 301, "result_msg": "I18N_COMMON_READ_FAILED"}


class BrokenPower(SungrowModbusDataBlock):
    """A user's override with a bug: every read spanning input 5031 raises."""

    def getValues(self, address: int, count: int = 1) -> list[int]:
        if self.table == "input" and address <= 5031 < address + count:
            raise RuntimeError("bug in a user's override")
        return super().getValues(address, count)


@pytest.mark.mock_sungrow_expect_errors
def test_a_handler_error_gets_read_failed_and_is_recorded(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="http",
                                                     datablock_class=BrokenPower)

    async def go() -> tuple[tuple[int, str, str], dict[str, Any], dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            http = await w.raw("GET", "/device/getParam", params={
                "dev_id": 1, "type": 3, "param_addr": 5031, "param_num": 1, "param_type": 0,
                "token": s.token})
            real = await s.call("real", dev_id="1")
            devices = await s.call("devicelist", type="0", is_check_token="0")
            return http, real, devices

    (status, content_type, body), real, devices = run(go())
    assert status == 200 and content_type == "application/json"  # errors are HTTP 200 + JSON
    assert {k: v for k, v in json.loads(body).items() if k != "result_data"} == READ_FAILED
    assert real == {**READ_FAILED, "result_data": {"service": "real"}}
    assert devices["result_code"] == 1  # the session survives the broken handler
    kinds = [(p.front_end, p.kind) for p in server.problems]
    assert kinds == [("http", "handler-error"), ("http", "handler-error")]
    assert "GET /device/getParam" in server.problems[0].message
    assert "WebSocket real" in server.problems[1].message
    assert all("bug in a user's override" in p.message for p in server.problems)


def test_websocket_silence_then_an_answer(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="http")
    server.inject("silence", front_end="http", service="real", times=1)

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            await s.send({"lang": "en_us", "token": s.token, "service": "real", "dev_id": "1"})
            with pytest.raises(asyncio.TimeoutError):  # nothing comes (a legitimate wait)
                await s.ws.receive(timeout=0.5)
            return await s.call("real", dev_id="1")

    assert run(go())["result_code"] == 1
    assert [r.outcome for r in server.requests.find(function="real")] == ["silence", "ok"]


def test_websocket_drop_closes_the_socket(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="http")
    server.inject("drop", front_end="http", service="real")

    async def go() -> aiohttp.WSMsgType:
        async with Winet(server) as w:
            s = await w.session()
            await s.send({"lang": "en_us", "token": s.token, "service": "real", "dev_id": "1"})
            message = await s.ws.receive(timeout=10)
            return message.type

    assert run(go()) in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE,
                         aiohttp.WSMsgType.ERROR)
    assert server.requests.find(function="real")[0].outcome == "dropped"


def _get(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /about/list HTTP/1.1\r\nHost: x\r\n\r\n")
    return _read_http_response(sock)


def test_http_connections_refused_and_kicked(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="http")
    info = server.get_connection_info("http")
    address = (info["host"], info["port"])
    with server.inject("refuse", front_end="http"):
        try:  # the reset can already show in connect() (it reads the socket's error)
            s = socket.create_connection(address, timeout=10)
        except ConnectionResetError:
            pass
        else:
            with s:
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    s.sendall(b"GET /about/list HTTP/1.1\r\nHost: x\r\n\r\n")
                assert closed_by_peer(s)  # reset: the port does not serve
    assert server.requests.find(outcome="refused")[0].fault == "refuse"

    server.inject("max-clients", limit=1, policy="kick-oldest", front_end="http")
    with socket.create_connection(address, timeout=10) as old:
        assert _get(old).startswith(b"HTTP/1.1 200")
        with socket.create_connection(address, timeout=10) as new:
            assert _get(new).startswith(b"HTTP/1.1 200")  # the newcomer is served...
            assert closed_by_peer(old)  # ...and the oldest connection is closed
