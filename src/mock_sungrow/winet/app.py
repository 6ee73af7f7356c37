"""The WiNet-S front end on aiohttp: the WebSocket ``/ws/home/overview`` and the HTTP API.

One aiohttp application serves every listener of the dongle:

* the WebSocket/HTTP port (``http_port``; the real dongle's 8082),
* optionally a plain HTTP port (``plain_http_port``; the real 80, which SungrowModbusWebClient
  and sungrow-websocket hard-code),
* optionally a TLS port (``tls_port``; the real 443) that serves HTTPS *and* WSS, with a
  certificate issued by a throw-away CA (trustme) for the host, ``localhost`` and
  ``127.0.0.1``.

Under the ``tls-only`` profile the two plain listeners are not opened at all (connections are
refused, as on WiNet-S2 firmware) and the TLS listener is mandatory.

Sockets are bound here rather than by aiohttp, so a failed bind raises the same
``OSError`` (errno kept, front end and address named) as the Modbus front end, and ``stop()``
can stop accepting before aiohttp closes the servers (see
:func:`mock_sungrow.frontend.stop_listening` for the CPython 3.11 leak this avoids).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from mock_sungrow.winet import api as winet_api
from mock_sungrow.winet import auth, i18n
from mock_sungrow.winet.api import MAX_MESSAGE, BadRequest, Reply, WinetApi, envelope

if TYPE_CHECKING:
    from mock_sungrow.server import MockSungrowServer

WS_PATH = "/ws/home/overview"
#: Seconds aiohttp waits for handlers and close handshakes at shutdown. aiohttp's default
#: (60 s) would make ``stop()`` wait minutes for a client that never answers a close.
SHUTDOWN_TIMEOUT = 1.0


def _dumps(payload: Any) -> str:
    # Real dongles send UTF-8 (the units are U+2103 and U+03A9), not \u escapes.
    return json.dumps(payload, ensure_ascii=False)


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
                await self.ws.send_str(_dumps(payload))
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


class WinetFrontEnd:
    """The WiNet-S HTTP + WebSocket front end of one server (``connection_type`` ``"http"``)."""

    name = "http"

    def __init__(self, server: MockSungrowServer) -> None:
        self.server = server
        self.host = server.host
        self.api = WinetApi(server, notify=self._notify)
        self.connections: set[WsConnection] = set()
        self.ca_pem: bytes | None = None
        profile = server.winet_settings.profile_info
        self.listeners: list[Listener] = []
        if not profile.tls_only:
            self.listeners.append(Listener(
                "main", "WiNet-S HTTP/WebSocket front end", server.http_port, tls=False))
            if server.plain_http_port is not None:
                self.listeners.append(Listener(
                    "plain", "WiNet-S plain HTTP listener", server.plain_http_port, tls=False))
        tls_port = server.tls_port
        if tls_port is None and profile.tls_only:
            tls_port = 0
        if tls_port is not None:
            self.listeners.append(Listener("tls", "WiNet-S TLS listener", tls_port, tls=True))
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------------------ lifecycle

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_MESSAGE, middlewares=[self._errors])
        routes: list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
            (WS_PATH, self._websocket),
            ("/i18n/{name}", self._i18n),
            ("/device/getParam", self._wrap(self.api.http_get_param)),
            ("/device/setParam", self._wrap(self.api.http_set_param)),
            ("/about/list", self._wrap(self.api.http_about)),
            ("/device/overview", self._wrap(self.api.http_overview)),
            ("/time/get", self._wrap(self.api.http_time)),
            ("/device/getType", self._wrap(self.api.http_get_type)),
            ("/inverter/list", self._wrap(self.api.http_inverter_list)),
            ("/wifi/updateStaScan", self._wrap(self.api.http_wifi_scan)),
            ("/product/list", self._wrap(self.api.http_product)),
            ("/user/connect", self._wrap(self.api.http_user_connect)),
            ("/device/list", self._wrap(self.api.http_device_list)),
            ("/upgrade/upgradeStatus", self._wrap(self.api.http_upgrade_status)),
            ("/device/passthroughway", self._passthrough),
        ]
        for path, handler in routes:
            app.router.add_route("*", path, handler)
        app.on_shutdown.append(self._close_websockets)
        return app

    async def start(self) -> None:
        """Bind every listener; returns once all of them accept connections."""
        runner = web.AppRunner(self._build_app(), handle_signals=False, access_log=None,
                               shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        self._runner = runner
        try:
            context = self._tls_context() if any(li.tls for li in self.listeners) else None
            for listener in self.listeners:
                sock = bind_socket(self.host, listener.requested_port, listener.label)
                listener.sock = sock
                listener.port = int(sock.getsockname()[1])
                site = web.SockSite(runner, sock, ssl_context=context if listener.tls else None)
                await site.start()
        except BaseException:
            await self.stop()
            raise

    def _tls_context(self) -> ssl.SSLContext:
        import trustme

        ca = trustme.CA(organization_name="mock-sungrow")
        names = ["localhost", "127.0.0.1"]
        if self.host not in names:
            names.insert(0, self.host)
        cert = ca.issue_cert(*names)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.ca_pem = ca.cert_pem.bytes()
        return context

    async def stop(self) -> None:
        """Close every WebSocket and connection, then the listeners; finish every task."""
        runner, self._runner = self._runner, None
        loop = asyncio.get_running_loop()
        for listener in self.listeners:
            if listener.sock is not None and listener.sock.fileno() >= 0:
                loop.remove_reader(listener.sock.fileno())
        for _ in range(4):  # let accepts already scheduled finish against open servers
            await asyncio.sleep(0)
        if runner is not None:
            await runner.cleanup()
        for listener in self.listeners:
            if listener.sock is not None:
                listener.sock.close()
                listener.sock = None
        await asyncio.sleep(0)

    async def _close_websockets(self, app: web.Application) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")

    def connection_info(self) -> dict[str, Any]:
        """Host and ports: ``port`` is where the WebSocket and the HTTP API answer."""
        by_role = {li.role: li for li in self.listeners}
        main = by_role.get("main") or by_role["tls"]
        info: dict[str, Any] = {
            "host": self.host,
            "port": main.port,
            "connection_type": self.name,
            "tls": main.tls,
            "ws_path": WS_PATH,
            "winet_profile": self.server.winet_settings.profile,
        }
        if "plain" in by_role:
            info["plain_http_port"] = by_role["plain"].port
        if "tls" in by_role:
            info["tls_port"] = by_role["tls"].port
        return info

    # ------------------------------------------------------------------------------ sessions

    async def _notify(self, owner: Any, payload: Reply) -> bool:
        if isinstance(owner, WsConnection) and owner in self.connections:
            return await owner.send(payload)
        return False

    async def push_notice(self, code: int, message: str, token: str | None = None) -> int:
        """Push a ``notice`` frame to every open session (or to the one owning ``token``)."""
        targets = list(self.connections)
        if token is not None:
            owner = next((t.owner for t in self.server.winet_sessions.tokens()
                          if t.value == token), None)
            targets = [c for c in targets if c is owner]
        sent = 0
        for conn in targets:
            sent += await conn.send(winet_api.notice(code, message))
        return sent

    # ------------------------------------------------------------------------------ handlers

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, timeout=SHUTDOWN_TIMEOUT,
                                   autoping=True)
        if not ws.can_prepare(request).ok:
            self.api.report(_peer(request), "bad-request",
                            f"{request.method} {WS_PATH} without a WebSocket upgrade")
            return _json(envelope(auth.BAD_REQUEST,
                                  f"bad request: {WS_PATH} expects a WebSocket upgrade"),
                         status=400)
        await ws.prepare(request)
        conn = WsConnection(ws, _peer(request))
        self.connections.add(conn)
        try:
            async for message in ws:
                # Compared by value, not identity: aiohttp's C reader may hand out enum members
                # of an earlier import of aiohttp (pytester's in-process runs re-import it).
                if message.type == WSMsgType.TEXT:
                    reply = await self.api.ws_message(message.data, conn, conn.peer)
                    await conn.send(reply)
                elif message.type == WSMsgType.BINARY:
                    self.api.report(conn.peer, "bad-frame", "binary WebSocket frame")
                    await conn.send(envelope(auth.BAD_REQUEST,
                                             "bad request: send JSON in text frames", ""))
                elif message.type == WSMsgType.ERROR:
                    self.api.report(conn.peer, "bad-frame",
                                    f"WebSocket closed: {ws.exception()!r}")
                    break
        finally:
            self.connections.discard(conn)
            self.server.winet_sessions.forget_owner(conn)
        return ws

    async def _i18n(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        lang, dot, ext = name.rpartition(".")
        if not dot or ext != "properties" or not winet_api.lang_ok(lang):
            self.api.report(_peer(request), "unknown-path", f"{request.method} {request.path}")
            return _json(envelope(404, f"no such file: {request.path}"), status=404)
        # Only English exists here; every language gets it (sungrow-websocket asks for its
        # locale first, winet-extractor always for en_US).
        return web.Response(text=i18n.properties_text(), content_type="text/plain",
                            charset="utf-8")

    def _wrap(
        self, method: Callable[[Mapping[str, Any]], Awaitable[Reply]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            params = await _params(request)
            return _json(await method(params))

        return handler

    async def _passthrough(self, request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        return _json(await self.api.http_passthrough(params, _peer(request)))

    @web.middleware
    async def _errors(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Every failure becomes a JSON answer; nothing reaches the client as a stack trace."""
        peer = _peer(request)
        try:
            return await handler(request)
        except BadRequest as exc:
            self.api.report(peer, "bad-request", f"{request.method} {request.path_qs}: {exc}")
            return _json(envelope(auth.BAD_REQUEST, f"bad request: {exc}"))
        except web.HTTPNotFound:
            self.api.report(peer, "unknown-path", f"{request.method} {request.path}")
            return _json(envelope(404, f"unknown path {request.path}"), status=404)
        except web.HTTPRequestEntityTooLarge:
            self.api.report(peer, "bad-request", f"{request.method} {request.path}: body too big")
            return _json(envelope(auth.BAD_REQUEST,
                                  f"bad request: body larger than {MAX_MESSAGE} bytes"),
                         status=413)
        except web.HTTPException as exc:
            self.api.report(peer, "bad-request", f"{request.method} {request.path}: {exc}")
            return _json(envelope(exc.status, exc.reason), status=exc.status)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug or a broken override: answer, record
            self.api.report(peer, "handler-error", f"{request.method} {request.path}: {exc!r}",
                            exc)
            return _json(envelope(auth.READ_FAILED, auth.MSG_READ_FAILED))


def _peer(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peer[0]}:{peer[1]}" if peer else "-"


def _json(payload: Reply, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(payload), status=status, content_type="application/json",
                        charset="utf-8")


async def _params(request: web.Request) -> dict[str, Any]:
    """Query parameters, overlaid by a JSON object body or a form body, whichever was sent.

    Clients disagree: bjeanes and sungrow-http-config post JSON, intelbras posts the same
    parameters in the query and as a form, everybody else uses the query string.
    """
    params: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return params
    raw = await request.read()
    if not raw.strip():
        return params
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    if text.lstrip().startswith(("{", "[")) or request.content_type == "application/json":
        params.update(winet_api.parse_frame(text))
        return params
    from urllib.parse import parse_qsl

    try:
        params.update(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise BadRequest("the body is neither JSON nor a form") from None
    return params


def build_front_end(server: MockSungrowServer) -> WinetFrontEnd:
    """The WiNet-S front end of ``server`` (see ``server.FRONT_END_BUILDERS``)."""
    return WinetFrontEnd(server)
