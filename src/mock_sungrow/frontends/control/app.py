"""The control API: steer a running server from another process (or machine) over JSON/HTTP.

Everything a test can do to a :class:`~mock_sungrow.server.MockSungrowServer` in-process is
here too: read the plant and registers, write and pin registers, inject and clear faults, wait
for them, move the clock, read the request log, reset. The OpenAPI description is served at
``/openapi.json``. Only clients in ``control_trusted_networks`` (the loopback networks by
default) are served unless the server was started with ``control_allow_remote=True``. A bad
request gets HTTP 400 / 404 / 422 with a JSON body saying what is wrong; it never affects the
inverter's own front ends, which run beside it.

**Cross-site requests.** A web page the developer has open can send requests to
``http://127.0.0.1:8090`` (a form, ``fetch`` without CORS), and through DNS rebinding even
read the answers. So, unless remote access is allowed (``control_allow_remote``):

* ``Host`` must be a loopback name (``localhost``, ``*.localhost``), an IP address or the
  host the server binds (HTTP 403 otherwise): a rebinding page sends its own domain;
* an ``Origin`` header, when there is one, must be ``http(s)://`` a loopback name or address
  or the bound host (HTTP 403 otherwise; ``null`` too). Clients that are not browsers send
  none.

A request body must be ``application/json`` in any case (HTTP 415 otherwise): a cross-site
page can send only ``text/plain``, form or multipart bodies without a CORS pre-flight, which
this API never grants.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from mock_sungrow.frontends import web as web_glue
from mock_sungrow.frontends.base import bound_port
from mock_sungrow.frontends.control.api import ApiError, ControlApi, json_response

if TYPE_CHECKING:
    from mock_sungrow.checks import Network
    from mock_sungrow.diagnostics import Diagnostics
    from mock_sungrow.frontends.base import Binding
    from mock_sungrow.server import MockSungrowServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_trusted(remote: str | None, trusted: Sequence[Network] | None) -> bool:
    """Whether a client at ``remote`` may use the control API (``None`` trusts everyone).

    An IPv4 client of a dual-stack listener shows up as ``::ffff:a.b.c.d``; it is judged by
    its IPv4 address. A zone (``fe80::1%eth0``) is ignored.
    """
    if trusted is None:
        return True
    try:
        address = ipaddress.ip_address((remote or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted)


_LOOPBACK_NAMES = ("localhost", "localhost.")


def _host_name(authority: str) -> str:
    """The host of a ``Host`` header or an origin's authority, without port or brackets."""
    authority = authority.strip().lower()
    if authority.startswith("["):  # [::1]:8090
        return authority[1:].partition("]")[0]
    if authority.count(":") == 1:
        return authority.partition(":")[0]
    return authority


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", maxsplit=1)[0])
    except ValueError:
        return False
    return True


def _is_loopback(name: str, bound: str) -> bool:
    """A loopback name or address, or the host the server binds."""
    if name in _LOOPBACK_NAMES or name.endswith((".localhost", ".localhost.")):
        return True
    if name == bound.lower():
        return True
    try:
        address = ipaddress.ip_address(name.split("%", maxsplit=1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def media_type_problem(request: web.Request) -> str | None:
    """Why a request's body is refused (not ``application/json``), or ``None``."""
    if request.body_exists and request.content_type != "application/json":
        return (f"the control API takes JSON bodies only (Content-Type: application/json); "
                f"got {request.content_type!r}")
    return None


def cross_site_problem(request: web.Request, bound: str) -> str | None:
    """Why a request may come from another site's page, or ``None``."""
    host = request.headers.get("Host")
    if host is not None:
        name = _host_name(host)
        if not (_is_ip(name) or _is_loopback(name, bound)):
            return (f"the control API answers requests addressed to localhost, an IP "
                         f"address or {bound!r}; got Host {host[:80]!r} (start the server with "
                         "control_allow_remote to allow other names)")
    origin = request.headers.get("Origin")
    if origin is not None:
        scheme, sep, authority = origin.partition("://")
        if not (sep and scheme.lower() in ("http", "https")
                and _is_loopback(_host_name(authority), bound)):
            return (f"the control API does not serve pages from other sites; got Origin "
                         f"{origin[:80]!r} (start the server with control_allow_remote to "
                         "allow them)")
    return None


class Api(Protocol):
    """The handlers a control listener serves."""

    stopping: bool

    def routes(self) -> list[web.RouteDef]:
        """The routes, as aiohttp route definitions."""
        ...


class Owner(Protocol):
    """What the guard needs of whoever serves the API: where handler errors are recorded."""

    diagnostics: Diagnostics


def _middlewares(owner: Owner, bound: str, trusted: Sequence[Network] | None) -> list[Any]:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_trusted(request.remote, trusted):
            return json_response({"error": f"the control API does not serve {request.remote}: only "
                                   "clients in control_trusted_networks (loopback by default); "
                                   "start the server with control_allow_remote to allow others"},
                         status=403)
        refused = cross_site_problem(request, bound) if trusted is not None else None
        if refused is not None:
            return json_response({"error": refused}, status=403)
        refused = media_type_problem(request)
        if refused is not None:
            return json_response({"error": refused}, status=415)
        try:
            return await handler(request)
        except ApiError as exc:
            return json_response(exc.body, status=exc.status)
        except web.HTTPException as exc:
            response = json_response({"error": exc.reason}, status=exc.status)
            if "Allow" in exc.headers:  # a 405 says which methods the path has
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: a JSON answer, and the fixture fails
            owner.diagnostics.report("control", request.remote or "-", "handler-error",
                                     f"{request.method} {request.path}: {exc!r}", exc=exc)
            return json_response({"error": f"internal error: {exc!r}"}, status=500)

    return [guard]


class ControlFrontEnd:
    """The control API's listener.

    A subclass serves other routes through the same guard and lifecycle (the fleet's API,
    ``mock_sungrow.fleet.control``) by overriding :meth:`make_api`, :attr:`label` and
    :meth:`owner`.
    """

    name = "control"
    #: What a bind error calls this listener.
    label = "control API"

    def __init__(self, server: MockSungrowServer, host: str, port: int,
                 trusted: Sequence[Network] | None = None) -> None:
        self.server = server
        self.host = host
        self.requested_port = port
        #: Client networks served; ``None`` serves everyone (``control_allow_remote``).
        self.trusted = trusted
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: web.Server | None = None

    async def start(self) -> None:
        """Bind and serve; returns once the port accepts connections."""
        from mock_sungrow.frontends.base import bind_server

        # No aiohttp middlewares: see frontends/web.py (its chain cache kept every stopped
        # server alive); the guard wraps each route instead.
        self._api = api = self.make_api()
        app = web_glue.application(
            [(r.method, r.path, r.handler) for r in api.routes()],
            _middlewares(self.owner(), self.host, self.trusted))
        runner = web_glue.runner(app, 0.5)
        await runner.setup()
        try:
            server = await bind_server(runner.server, self.host, self.requested_port,
                                       self.label)
        except BaseException:
            await runner.cleanup()
            raise
        self._server = server
        self._runner = runner
        self._handlers = runner.server
        self.port = bound_port(server)

    def make_api(self) -> Api:
        """The handlers served (their ``routes()`` and a ``stopping`` flag)."""
        return ControlApi(self.server)

    def owner(self) -> Owner:
        """Where the guard records handler errors."""
        return self.server

    def abort(self) -> None:
        """Close the listener and every connection at once (a stop that ran out of time)."""
        server = getattr(self, "_server", None)
        if server is not None:
            server.close()
        for handler in list(self._handlers.connections if self._handlers else ()):
            handler.force_close()

    async def stop(self) -> None:
        """Close the listener and every connection."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        from mock_sungrow.frontends.base import stop_listening

        self._api.stopping = True  # a /faults/wait gives up within its 0.25 s slice
        await stop_listening(self._server)
        await runner.shutdown()
        await runner.cleanup()
        await self._server.wait_closed()

    def connection_info(self) -> dict[str, Any]:
        """Where the control API listens."""
        return {"host": self.host, "port": self.port, "connection_type": "control",
                "url": f"http://{self.host}:{self.port}/"}


def build_front_end(binding: Binding) -> ControlFrontEnd:
    """The control API of the server that owns ``binding`` (``frontends.FRONT_END_BUILDERS``)."""
    if binding.control is None:  # pragma: no cover - the server always passes its settings
        raise RuntimeError("the control API needs its settings")
    return ControlFrontEnd(binding.owner, binding.host, binding.port, binding.control.trusted)
