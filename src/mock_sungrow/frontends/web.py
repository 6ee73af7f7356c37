"""The aiohttp glue the WiNet-S front end and the control API share.

**No aiohttp middlewares.** aiohttp caches every (handler, application) pair it has built a
middleware chain for in a module-level ``lru_cache(maxsize=1024)``
(``aiohttp.web_app._cached_build_middleware``). Its keys are the route handler and the
application, and the cached chain holds the middlewares: with handlers and middlewares that
are methods of a front end, every stopped server stayed reachable from that cache, with its
plant, register images and logs (+560 KB per start/stop cycle with one HTTP request, up to
the cache's 1024 entries). So the applications here are built with no middlewares at all,
which makes aiohttp skip the cache (``Application._run_middlewares`` is false), and each
route's handler is wrapped in the same middleware functions when the route is added
(:func:`application`). A catch-all route, wrapped alike, raises the error aiohttp's router
would have (404, or 405 with ``Allow``), so middlewares that turn errors into JSON see them
exactly as before. When the application goes, everything it held goes with it.

**Timeouts** every HTTP listener applies (:class:`HttpTimeouts`): a connection must send a
complete request head within ``idle`` seconds of opening or of its previous response
(aiohttp's keep-alive timer, which partial headers do not reset: slowloris and half-sent
heads are closed; a TLS handshake gets as long), and the body within ``body`` seconds of its
head (else HTTP 408, and the connection is closed after at most ``linger`` more seconds).
WebSocket sessions, once upgraded, have neither: clients leave them open and silent
(winet-protocol.md §8: "The WS is then left idle and never read again").
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: A new-style aiohttp middleware: ``(request, handler) -> response``.
Middleware = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class HttpTimeouts:
    """Seconds a client of an HTTP listener gets (see the module docstring)."""

    #: From connecting, or from the previous response, to a complete request head.
    idle: float = 30.0
    #: From the request head to the end of its body.
    body: float = 10.0
    #: After an answer sent before the body was read (a 408), how long the rest of the body
    #: is read and dropped before the connection closes (aiohttp's default is 10 s).
    linger: float = 2.0


#: What every HTTP listener uses (a test may replace it before ``start()``).
TIMEOUTS = HttpTimeouts()


def chain(handler: Handler, middlewares: Sequence[Middleware]) -> Handler:
    """``handler`` wrapped in ``middlewares`` (the first one outermost), as aiohttp would."""
    for middleware in reversed(middlewares):
        handler = functools.update_wrapper(functools.partial(middleware, handler=handler),
                                           handler)
    return handler


async def _read_body(handler: Handler, request: web.Request) -> web.StreamResponse:
    """Read the whole body within the body timeout before ``handler`` runs.

    aiohttp keeps what it read, so ``request.json()`` / ``request.post()`` later use it; a
    body over the application's ``client_max_size`` still raises 413 here, inside the
    middlewares.
    """
    if request.can_read_body:
        try:
            await asyncio.wait_for(request.read(), TIMEOUTS.body)
        except asyncio.TimeoutError:
            request.protocol.keep_alive(False)  # the rest of the body is not waited for
            raise web.HTTPRequestTimeout(
                text=f"request body not received within {TIMEOUTS.body:g} s") from None
    return await handler(request)


async def _unrouted(app: web.Application, request: web.Request) -> web.StreamResponse:
    """What aiohttp's router answers for a path no route serves: 405 with Allow, or 404."""
    allowed: set[str] = set()
    for resource in app.router.resources():
        if resource.name == CATCH_ALL:
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, sorted(allowed))
    raise web.HTTPNotFound


#: The name of the catch-all route (a listing of the served routes leaves it out).
CATCH_ALL = "mock-sungrow-unrouted"


def application(routes: Iterable[tuple[str, str, Handler]], middlewares: Sequence[Middleware],
                **kwargs: Any) -> web.Application:
    """An application serving ``(method, path, handler)`` routes through ``middlewares``.

    Built with no aiohttp middlewares (see the module docstring); ``kwargs`` go to
    :class:`aiohttp.web.Application`. Every route reads its body within the body timeout
    first; paths no route serves go through the same middlewares as a 404 or 405.
    """
    app = web.Application(**kwargs)
    for method, path, handler in routes:
        wrapped = chain(functools.partial(_read_body, handler), middlewares)
        if method == "GET":
            app.router.add_get(path, wrapped)  # and HEAD, as aiohttp's web.get does
        else:
            app.router.add_route(method, path, wrapped)
    app.router.add_route("*", "/{tail:.*}",
                         chain(functools.partial(_unrouted, app), middlewares), name=CATCH_ALL)
    return app


def runner(app: web.Application, shutdown_timeout: float) -> web.AppRunner:
    """An :class:`~aiohttp.web.AppRunner` with the listeners' idle timeout, no access log."""
    return web.AppRunner(app, handle_signals=False, access_log=None,
                         shutdown_timeout=shutdown_timeout,
                         keepalive_timeout=TIMEOUTS.idle, lingering_time=TIMEOUTS.linger)
