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

Sockets are bound by the front end (:mod:`~mock_sungrow.frontends.winet.listeners`) rather
than by aiohttp, so a failed bind raises the same
``OSError`` (errno kept, front end and address named) as the Modbus front end, and ``stop()``
can stop accepting before aiohttp closes the servers (see
:func:`mock_sungrow.frontends.base.stop_listening` for the CPython 3.11 leak this avoids).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from mock_sungrow.faults.decision import CURRENT_DECISION, DROP, ERROR, NO_FAULT, SILENCE
from mock_sungrow.frontends import web as web_glue
from mock_sungrow.frontends.base import close_connections, stop_listening
from mock_sungrow.frontends.winet import auth, i18n, protocol
from mock_sungrow.frontends.winet.api import WinetApi
from mock_sungrow.frontends.winet.listeners import Admission, Listener, WsConnection, bind_socket
from mock_sungrow.frontends.winet.messages import (
    decode_ws,
    describe_http,
    json_reply,
    params_of,
    peer_of,
    too_long,
)
from mock_sungrow.frontends.winet.protocol import (
    MAX_FRAME,
    MAX_MESSAGE,
    BadRequest,
    Reply,
    envelope,
)
from mock_sungrow.frontends.winet.view import WinetView

if TYPE_CHECKING:
    from mock_sungrow.frontends.base import Binding

WS_PATH = "/ws/home/overview"
#: Where an HTTP handler leaves the ``result_code`` of its JSON reply for the request log.
_RESULT: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "mock_sungrow_winet_result", default=None
)


def _note_result(reply: Reply) -> None:
    holder = _RESULT.get()
    if holder is not None:
        holder[0] = reply.get("result_code")
#: Seconds aiohttp waits for handlers and close handshakes at shutdown. aiohttp's default
#: (60 s) would make ``stop()`` wait minutes for a client that never answers a close; the
#: WebSockets are closed together, so ``stop()`` waits this long once, not once per session.
SHUTDOWN_TIMEOUT = 0.5


class WinetFrontEnd:
    """The WiNet-S HTTP + WebSocket front end of one dongle (``connection_type`` ``"http"``)."""

    name = "http"

    def __init__(self, binding: Binding) -> None:
        self.view = WinetView(binding)
        self.host = binding.host
        self.api = WinetApi(self.view, notify=self._notify)
        self.connections: set[WsConnection] = set()
        #: Every admitted TCP connection (HTTP and WebSocket alike).
        self.tcp: set[Admission] = set()
        self.closing = False
        #: Set when the front end stops: requests a fault holds (latency, silence) give up.
        self._stopping: asyncio.Event | None = None
        self.ca_pem: bytes | None = None
        profile = self.view.settings.profile_info
        extra = binding.endpoint.extra_ports
        self.listeners: list[Listener] = []
        if not profile.tls_only:
            self.listeners.append(Listener(
                "main", "WiNet-S HTTP/WebSocket front end", binding.port, tls=False))
            if extra.get("plain_http") is not None:
                self.listeners.append(Listener(
                    "plain", "WiNet-S plain HTTP listener", extra["plain_http"], tls=False))
        tls_port = extra.get("tls")
        if tls_port is None and profile.tls_only:
            tls_port = 0
        if tls_port is not None:
            self.listeners.append(Listener("tls", "WiNet-S TLS listener", tls_port, tls=True))
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------------------ lifecycle

    def _build_app(self) -> web.Application:
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
        # No aiohttp middlewares: see frontends/web.py (aiohttp's chain cache kept every
        # stopped server alive); the same two wrap each route instead.
        app = web_glue.application([("*", path, handler) for path, handler in routes],
                                   [self._traffic, self._errors], client_max_size=MAX_MESSAGE)
        app.on_shutdown.append(self._close_websockets)
        return app

    async def start(self) -> None:
        """Bind every listener; returns once all of them accept connections."""
        runner = web_glue.runner(self._build_app(), SHUTDOWN_TIMEOUT)
        await runner.setup()
        self._runner = runner
        self.closing = False
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        handler_factory = runner.server
        if handler_factory is None:  # pragma: no cover - setup() always makes one
            raise RuntimeError("aiohttp runner has no server after setup()")
        try:
            context = self._tls_context() if any(li.tls for li in self.listeners) else None
            for listener in self.listeners:
                sock = bind_socket(self.host, listener.requested_port, listener.label)
                listener.sock = sock
                listener.port = int(sock.getsockname()[1])

                def factory(li: Listener = listener) -> asyncio.Protocol:
                    return Admission(self, li, handler_factory())

                tls = context if listener.tls else None
                listener.server = await loop.create_server(
                    factory, sock=sock, ssl=tls, backlog=128,
                    # A TLS client that never finishes its handshake is an idle one too.
                    ssl_handshake_timeout=web_glue.TIMEOUTS.idle if tls is not None else None)
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
        self.closing = True
        if self._stopping is not None:
            self._stopping.set()  # held requests give up at once
        for listener in self.listeners:
            if listener.server is not None:
                await stop_listening(listener.server)
        if runner is not None:
            await runner.cleanup()
        await close_connections(self.tcp)
        for listener in self.listeners:
            if listener.server is not None:
                await listener.server.wait_closed()
                listener.server = None
            if listener.sock is not None:
                listener.sock.close()
                listener.sock = None
        await asyncio.sleep(0)

    def abort(self) -> None:
        """Close every socket at once (a stop that ran out of time: see ``FrontEndGroup``)."""
        self.closing = True
        for conn in list(self.tcp):
            if conn.transport is not None:
                conn.transport.abort()
        for listener in self.listeners:
            if listener.server is not None:
                listener.server.close()
                listener.server = None
            if listener.sock is not None:
                listener.sock.close()
                listener.sock = None

    async def _close_websockets(self, app: web.Application) -> None:
        """Send every session its close frame together (each waits for its handshake)."""

        async def close(conn: WsConnection) -> None:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")

        await asyncio.gather(*(close(conn) for conn in list(self.connections)))

    @staticmethod
    def _abort_session(conn: WsConnection) -> None:
        transport = conn.ws._req.transport if conn.ws._req is not None else None
        if transport is not None:
            transport.abort()

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` (a latency fault); ``True`` if the front end stopped meanwhile."""
        stopping = self._stopping
        if stopping is None:
            return True
        with contextlib.suppress(asyncio.TimeoutError):  # TimeoutError itself on 3.11+
            await asyncio.wait_for(stopping.wait(), seconds)
        return stopping.is_set()

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
            "winet_profile": self.view.settings.profile,
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

    async def rearm_idle(self) -> None:
        """An ``idle-timeout`` fault came or went: restart every connection's idle timer."""
        for conn in list(self.tcp):
            conn.arm_idle()

    async def close_plain_connections(self) -> None:
        """Drop every connection on a plain (non-TLS) listener: the firmware went TLS-only."""
        for conn in list(self.tcp):
            if not conn.listener.tls and conn.transport is not None:
                conn.transport.abort()

    async def push_notice(self, code: int, message: str, token: str | None = None) -> int:
        """Push a ``notice`` frame to every open session (or to the one owning ``token``)."""
        targets = list(self.connections)
        if token is not None:
            owner = next((t.owner for t in self.view.sessions.tokens()
                          if t.value == token), None)
            targets = [c for c in targets if c is owner]
        sent = 0
        for conn in targets:
            sent += await conn.send(protocol.notice(code, message))
        return sent

    # ------------------------------------------------------------------------------ handlers

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, timeout=SHUTDOWN_TIMEOUT,
                                   autoping=True)
        if not ws.can_prepare(request).ok:
            self.api.report(peer_of(request), "bad-request",
                            f"{request.method} {WS_PATH} without a WebSocket upgrade")
            return json_reply(envelope(auth.BAD_REQUEST,
                                  f"bad request: {WS_PATH} expects a WebSocket upgrade"),
                         status=400)
        await ws.prepare(request)
        conn = WsConnection(ws, peer_of(request))
        self.connections.add(conn)
        try:
            async for message in ws:
                # Compared by value, not identity: aiohttp's C reader may hand out enum members
                # of an earlier import of aiohttp (pytester's in-process runs re-import it).
                if message.type == WSMsgType.TEXT and too_long(message.data):
                    self.api.report(conn.peer, "bad-frame",
                                    f"WebSocket frame over {MAX_MESSAGE} bytes")
                    await conn.send(envelope(auth.BAD_REQUEST, f"bad request: a frame over "
                                             f"{MAX_MESSAGE} bytes", ""))
                elif message.type == WSMsgType.TEXT:
                    reply = await self._ws_answer(message.data, conn)
                    if reply is False:  # a fault dropped the connection
                        break
                    if isinstance(reply, dict):
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
            self.view.sessions.forget_owner(conn)
        return ws

    async def _ws_answer(self, text: str, conn: WsConnection) -> Reply | bool | None:
        """:meth:`_ws_request`, with any failure answered in the session as a 301.

        Once the upgrade is sent, an exception must not reach aiohttp: its error page would be
        written as raw HTTP into the WebSocket stream and end the session.
        """
        try:
            return await self._ws_request(text, conn)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug or a broken override: answer, record
            self.api.report(conn.peer, "handler-error", f"WebSocket frame {text[:80]!r}: {exc!r}",
                            exc)
            return envelope(auth.READ_FAILED, auth.MSG_READ_FAILED, "")

    async def _ws_request(self, text: str, conn: WsConnection) -> Reply | bool | None:
        """One WebSocket request through the fault layer.

        Returns the reply, ``None`` for no reply (a fault's ``SILENCE``) or ``False`` to drop
        the connection (``DROP``); an ``ERROR`` is answered with its result code.
        """
        traffic = self.view.traffic
        # Decoded once, for the fault layer and the services.
        req, frame = decode_ws(text, conn.peer, self.view.locate, self.view.endpoint.name)
        d = traffic.before(req) if traffic.faults else NO_FAULT
        if d is not NO_FAULT:
            if d.delay > 0 and await self._pause(d.delay):
                self._abort_session(conn)  # stopping: no answer, and no close handshake
                return False
            if d.action == SILENCE:
                traffic.done(req, "silence", d)
                return None
            if d.action == DROP:
                traffic.done(req, "dropped", d)
                self._abort_session(conn)
                return False
            if d.action == ERROR:
                traffic.done(req, f"result {d.code}", d)
                return envelope(d.code, d.message or auth.message_for(d.code),
                                str(req.function or ""))
        token = CURRENT_DECISION.set(d)
        try:
            reply = await self.api.ws_message(text, conn, conn.peer, frame)
        finally:
            CURRENT_DECISION.reset(token)
        code = reply.get("result_code")
        traffic.done(req, "ok" if code == auth.SUCCESS else f"result {code}", d)
        return reply

    async def _i18n(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        lang, dot, ext = name.rpartition(".")
        if not dot or ext != "properties" or not protocol.lang_ok(lang):
            self.api.report(peer_of(request), "unknown-path", f"{request.method} {request.path}")
            return json_reply(envelope(404, f"no such file: {request.path}"), status=404)
        # Only English exists here; every language gets it (sungrow-websocket asks for its
        # locale first, winet-extractor always for en_US).
        return web.Response(text=i18n.properties_text(), content_type="text/plain",
                            charset="utf-8")

    def _wrap(
        self, method: Callable[[Mapping[str, Any]], Awaitable[Reply]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            params = await params_of(request)
            reply = await method(params)
            _note_result(reply)
            return json_reply(reply)

        return handler

    async def _passthrough(self, request: web.Request) -> web.StreamResponse:
        params = await params_of(request)
        reply = await self.api.http_passthrough(params, peer_of(request))
        _note_result(reply)
        return json_reply(reply)

    # ------------------------------------------------------------------------------ faults

    def _connection_of(self, transport: Any) -> Admission | None:
        return next((c for c in self.tcp if c.transport is transport), None)

    async def _hold(self, transport: Any) -> None:
        """Keep a request unanswered until its connection goes (or the front end stops)."""
        conn = self._connection_of(transport)
        stopping = self._stopping
        if conn is not None and stopping is not None:
            stop: asyncio.Future[Any] = asyncio.ensure_future(stopping.wait())
            waits: list[asyncio.Future[Any]] = [conn.closed, stop]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
            if stopping.is_set() and conn.transport is not None:
                conn.transport.abort()

    @web.middleware
    async def _traffic(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Faults for HTTP requests, and the request log (WebSocket frames: see _websocket)."""
        if request.path == WS_PATH:
            return await handler(request)
        traffic = self.view.traffic
        req = describe_http(request, self.view.locate, self.view.endpoint.name)
        d = traffic.before(req) if traffic.faults else NO_FAULT
        if d is not NO_FAULT:
            if d.delay > 0 and await self._pause(d.delay):
                if request.transport is not None:
                    request.transport.abort()  # stopping: the held request is not answered
                raise web.HTTPServiceUnavailable  # never sent: the connection is gone
            if d.action in (SILENCE, DROP):
                traffic.done(req, "silence" if d.action == SILENCE else "dropped", d)
                if d.action == DROP and request.transport is not None:
                    request.transport.abort()
                await self._hold(request.transport)
                raise web.HTTPServiceUnavailable  # never sent: the connection is gone
            if d.action == ERROR:
                traffic.done(req, f"result {d.code}", d)
                return json_reply(envelope(d.code, d.message or auth.message_for(d.code)))
        token = CURRENT_DECISION.set(d)
        result: list[Any] = [None]
        result_token = _RESULT.set(result)
        try:
            response = await handler(request)
        finally:
            CURRENT_DECISION.reset(token)
            _RESULT.reset(result_token)
        code = result[0]
        if code is not None:
            outcome = "ok" if code == auth.SUCCESS else f"result {code}"
        else:
            outcome = "ok" if response.status == 200 else f"http {response.status}"
        traffic.done(req, outcome, d)
        return response

    @web.middleware
    async def _errors(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Every failure becomes a JSON answer; nothing reaches the client as a stack trace."""
        peer = peer_of(request)
        try:
            return await handler(request)
        except BadRequest as exc:
            self.api.report(peer, "bad-request", f"{request.method} {request.path_qs}: {exc}")
            return json_reply(envelope(auth.BAD_REQUEST, f"bad request: {exc}"))
        except web.HTTPNotFound:
            self.api.report(peer, "unknown-path", f"{request.method} {request.path}")
            return json_reply(envelope(404, f"unknown path {request.path}"), status=404)
        except web.HTTPRequestEntityTooLarge:
            self.api.report(peer, "bad-request", f"{request.method} {request.path}: body too big")
            return json_reply(envelope(auth.BAD_REQUEST,
                                  f"bad request: body larger than {MAX_MESSAGE} bytes"),
                         status=413)
        except web.HTTPException as exc:
            self.api.report(peer, "bad-request", f"{request.method} {request.path}: {exc}")
            return json_reply(envelope(exc.status, exc.reason), status=exc.status)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug or a broken override: answer, record
            self.api.report(peer, "handler-error", f"{request.method} {request.path}: {exc!r}",
                            exc)
            return json_reply(envelope(auth.READ_FAILED, auth.MSG_READ_FAILED))


def build_front_end(binding: Binding) -> WinetFrontEnd:
    """An inverter's WiNet-S web API (see ``frontends.FRONT_END_BUILDERS``)."""
    return WinetFrontEnd(binding)
