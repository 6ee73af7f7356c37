"""A small aiohttp client for the WiNet-S front end, used by the WiNet-S tests.

Every test drives the server through real sockets with aiohttp (HTTP and WebSocket), the
library most real WiNet-S clients use.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from mock_sungrow import MockSungrowServer

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test coroutine on a fresh loop (closed afterwards, so the leak check is happy)."""
    return asyncio.run(coro)


def insecure() -> ssl.SSLContext:
    """What every real TLS client of the dongle does: no certificate verification."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def socket_fds() -> set[tuple[int, str]]:
    """The process's open sockets, as (fd, ``socket:[inode]``) pairs (Linux)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:"):
            found.add((int(fd), target))
    return found


async def sockets_closed(before: set[tuple[int, str]], timeout: float = 5.0) -> None:
    """Give the loop turns until every socket opened since ``before`` is closed again.

    Closing a transport only starts closing its socket (a TLS one may exchange close_notify
    first, and the server closes its end when it reads the EOF), so ``asyncio.run()`` would
    otherwise close the loop with sockets still open. Polls with a deadline instead of
    sleeping a guessed time; a socket still open at the deadline is left for the leak check
    to report.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await asyncio.sleep(0)
    while socket_fds() - before and loop.time() < deadline:
        await asyncio.sleep(0.002)


class Session:
    """One WebSocket session; ``call`` sends a request and returns the next frame."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[Any]) -> None:
        self.ws = ws
        self.token = ""

    async def call(self, service: str, token: str | None = None, **extra: Any) -> dict[str, Any]:
        await self.send({"lang": "en_us", "token": self.token if token is None else token,
                         "service": service, **extra})
        return await self.receive()

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(payload))

    async def receive(self) -> dict[str, Any]:
        message = await self.ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        result: dict[str, Any] = json.loads(message.data)
        return result

    async def connect(self) -> dict[str, Any]:
        reply = await self.call("connect", token="")
        self.token = reply["result_data"]["token"]
        return reply

    async def login(self, username: str = "admin", password: str = "pw8888") -> dict[str, Any]:
        reply = await self.call("login", username=username, passwd=password)
        if reply["result_code"] == 1:
            self.token = reply["result_data"]["token"]
        return reply


class Winet:
    """An aiohttp session against a running server's WiNet-S front end."""

    def __init__(self, server: MockSungrowServer, *, port: int | None = None,
                 tls: bool | None = None) -> None:
        info = server.get_connection_info("http")
        self.host = info["host"]
        self.port = info["port"] if port is None else port
        self.tls = info["tls"] if tls is None else tls
        self.http: aiohttp.ClientSession | None = None
        self._sockets: list[aiohttp.ClientWebSocketResponse[Any]] = []
        self.used_tls = self.tls

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def __aenter__(self) -> Winet:
        self._sockets_before = socket_fds()
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for ws in self._sockets:
            await ws.close()
        assert self.http is not None
        await self.http.close()
        await sockets_closed(self._sockets_before)

    async def session(self, *, connect: bool = True) -> Session:
        assert self.http is not None
        scheme = "wss" if self.tls else "ws"
        ws = await self.http.ws_connect(f"{scheme}://{self.host}:{self.port}/ws/home/overview",
                                        ssl=insecure() if self.tls else True)
        self._sockets.append(ws)
        session = Session(ws)
        if connect:
            await session.connect()
        return session

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        status, content_type, body = await self.raw("GET", path, params=params)
        assert status == 200 and content_type == "application/json", (status, body)
        result: dict[str, Any] = json.loads(body)
        return result

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, content_type, text = await self.raw("POST", path, json=body)
        assert status == 200 and content_type == "application/json", (status, text)
        result: dict[str, Any] = json.loads(text)
        return result

    async def raw(self, method: str, path: str, **kwargs: Any) -> tuple[int, str, str]:
        assert self.http is not None
        if self.tls:
            kwargs["ssl"] = insecure()
        async with self.http.request(method, self.base + path, **kwargs) as response:
            return response.status, response.content_type, await response.text()

    async def registers(self, token: str, table: str, address: int, count: int,
                        dev_id: int = 1) -> dict[str, Any]:
        return await self.get(
            "/device/getParam", dev_id=dev_id, dev_type=21, dev_code=0, type=3,
            param_addr=address, param_num=count, param_type=0 if table == "input" else 1,
            token=token, lang="en_us", time123456=1700000000,
        )


def words_of(param_value: str) -> list[int]:
    """Parse ``param_value`` strictly, as SungrowModbusWebClient does (single spaces)."""
    parts = param_value.split(" ")
    assert parts.pop() == "", "param_value must end with one space"
    assert all(len(p) == 2 and p == p.upper() for p in parts), param_value
    data = bytes(int(p, 16) for p in parts)
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
