"""The WiNet-S front end's sockets and connections, in front of aiohttp.

:func:`bind_socket` binds each listener itself (so a failed bind raises the same ``OSError``,
errno kept and listener named, as the Modbus port); :class:`Admission` puts the fault layer
(connection faults, the ``tls-only`` profile) in front of aiohttp's connection handler;
:class:`WsConnection` is one WebSocket session.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mock_sungrow.frontends import jsonlimits
from mock_sungrow.frontends.base import IdleTimer, reach_of, reset_transport
from mock_sungrow.frontends.winet.protocol import Encoded

if TYPE_CHECKING:
    from mock_sungrow.frontends.winet.app import WinetFrontEnd
    from mock_sungrow.frontends.winet.protocol import Reply


def dumps(payload: Any) -> str:
    """A reply as JSON text."""
    if type(payload) is Encoded:
        return payload.text
    # Real dongles send UTF-8 (the units are U+2103 and U+03A9), not \u escapes; a lone
    # surrogate a client managed to send is escaped rather than failing the send.
    return jsonlimits.dumps_text(payload)


@dataclass(eq=False)
class WsConnection:
    """One open WebSocket session (the owner of the tokens issued on it)."""

    ws: web.WebSocketResponse
    peer: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: Reply) -> bool:
        """Send one frame; ``False`` if the connection is already gone."""
        async with self.lock:
            if self.ws.closed:
                return False
            try:
                await self.ws.send_str(dumps(payload))
            except (ConnectionError, RuntimeError):
                return False
            return True


@dataclass
class Listener:
    """One socket the front end serves on."""

    role: str  # "main", "plain", "tls"
    label: str
    requested_port: int
    tls: bool
    sock: socket.socket | None = None
    port: int | None = None
    server: asyncio.Server | None = None


class Admission(asyncio.Protocol):
    """Puts the fault layer in front of aiohttp's connection handler.

    Connection faults (``refuse``, ``max-clients``, ``night-shutdown``...) and the firmware
    profile (a ``tls-only`` dongle refuses its plain ports) decide at ``connection_made``
    whether aiohttp ever sees the connection; everything else is passed through unchanged.
    """

    def __init__(self, front_end: WinetFrontEnd, listener: Listener,
                 inner: asyncio.Protocol) -> None:
        self.front_end = front_end
        self.listener = listener
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.peer = "-"
        self.admitted = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        endpoint = front_end.view.endpoint
        self._idle = IdleTimer(front_end.view.traffic, front_end.name, endpoint.name,
                               endpoint.devices)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection, or reset it as a refusing dongle would."""
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "-"
        fe = self.front_end
        traffic = fe.view.traffic
        if fe.closing or (fe.view.settings.profile_info.tls_only
                          and not self.listener.tls):
            reset_transport(transport)
            return
        endpoint = fe.view.endpoint
        refused, to_close = traffic.admit(fe.name, self.peer, self, endpoint.name,
                                          reach_of(endpoint.devices))
        if refused is not None:
            reset_transport(transport)
            return
        for older in to_close:
            if older.transport is not None:
                older.transport.abort()
        self.admitted = True
        fe.tcp.add(self)
        self.inner.connection_made(transport)
        self.arm_idle()

    def arm_idle(self) -> None:
        """(Re)start the timer of an ``idle-timeout`` fault."""
        self._idle.arm(self.transport, self.peer)

    def data_received(self, data: bytes) -> None:
        """Pass through (any traffic restarts the idle timer)."""
        if self.admitted:
            if self._idle.running or self.front_end.view.traffic.faults:
                self.arm_idle()
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        """Pass through."""
        return self.inner.eof_received() if self.admitted else None

    def pause_writing(self) -> None:
        """Pass through."""
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        """Pass through."""
        if self.admitted:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection; wake requests a ``silence`` fault holds."""
        if not self.closed.done():
            self.closed.set_result(None)
        self._idle.cancel()
        if self.admitted:
            self.admitted = False
            self.front_end.tcp.discard(self)
            self.front_end.view.traffic.closed(self.front_end.name, self.peer, self,
                                               self.front_end.view.endpoint.name)
            self.inner.connection_lost(exc)


def bind_socket(host: str, port: int, what: str) -> socket.socket:
    """A listening socket on ``host:port``, or an ``OSError`` naming the listener."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, kind, proto, _name, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(exc.errno, f"{what} cannot bind {host}:{port}: {exc.strerror or exc}"
                      ) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"{what} cannot bind {host}:{port}: {exc.strerror or exc}"
                      ) from exc
    return sock
