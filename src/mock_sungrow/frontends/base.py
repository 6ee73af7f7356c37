"""What every protocol front end shares: what it is built from, binding, shutdown.

A front end is built from a :class:`Binding`: its endpoint (kind, port, the devices it reaches
by unit), the host, the server's traffic (faults, the request log) and diagnostics, and for a
dongle's endpoints the dongle. It never sees the server object (the control API, whose job is
the server's Python API, gets it as its ``owner``). Also the :class:`IdleTimer` every
connection runs for ``idle-timeout`` faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno as errno_mod
import os
import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mock_sungrow.config import ControlConfig
    from mock_sungrow.diagnostics import Diagnostics
    from mock_sungrow.faults.traffic import Traffic
    from mock_sungrow.frontends.dongle import Dongle
    from mock_sungrow.installation.installation import Endpoint


@dataclass(frozen=True)
class Binding:
    """What one front end is built from (see the module docstring)."""

    endpoint: Endpoint
    host: str
    traffic: Traffic
    diagnostics: Diagnostics
    #: The inverter's WiNet-S (``http`` and ``sungrow`` endpoints).
    dongle: Dongle | None = None
    #: The control API's settings and the server whose API it serves (``control`` only).
    control: ControlConfig | None = None
    owner: Any = None

    @property
    def port(self) -> int:
        """The port asked for (0: any free port)."""
        return self.endpoint.port

    def require_dongle(self) -> Dongle:
        """The dongle (an ``http`` or ``sungrow`` endpoint always has one)."""
        if self.dongle is None:
            raise RuntimeError(f"{self.endpoint.name} has no dongle")
        return self.dongle


class FrontEnd(Protocol):
    """A listener (or group of listeners) speaking one protocol.

    ``start`` must return only once every socket accepts connections, and raise an
    :class:`OSError` naming the front end and the address when a bind fails. ``stop`` must
    close every socket and connection it opened and finish every task it started.
    """

    name: str

    async def start(self) -> None:
        """Bind and start serving."""
        ...

    async def stop(self) -> None:
        """Stop serving and release everything."""
        ...

    def connection_info(self) -> dict[str, Any]:
        """Host, bound port and connection type, as ``get_connection_info`` reports them."""
        ...


async def bind_server(
    factory: Any, host: str, port: int, what: str, **kwargs: Any
) -> asyncio.Server:
    """``loop.create_server`` with an error that says which front end failed, and where.

    The errno is kept, so callers can still test for ``EADDRINUSE``.
    """
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(factory, host, port, start_serving=True, **kwargs)
    except OSError as exc:
        code = exc.errno or errno_mod.EADDRNOTAVAIL
        # asyncio's own message repeats the address ("error while attempting to bind on
        # address ('127.0.0.1', 502): address already in use"): the errno's text is enough.
        reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
        raise OSError(code, f"{what} cannot bind {host}:{port}: {reason}") from exc


def bound_port(server: asyncio.Server) -> int:
    """The port the first listening socket got (the real one when 0 was asked for)."""
    return int(server.sockets[0].getsockname()[1])


async def stop_listening(server: asyncio.Server) -> None:
    """Stop accepting, let connections already being accepted arrive, then close.

    On Python 3.11 a connection whose accept task runs after ``Server.close()`` fails an
    internal assertion and its socket is leaked, silently (CPython's ``_attach`` asserts the
    server is open). So the listening sockets stop being read first; the accept tasks already
    scheduled then finish against an open server, and their protocols (which see the front
    end is closing) abort themselves; only then is the server closed.
    """
    stop_reading(server)
    for _ in range(4):  # accept callback -> accept task -> connection_made -> abort
        await asyncio.sleep(0)
    server.close()


def mark_closing(front_ends: Iterable[object]) -> None:
    """Set ``closing`` on every front end that has one, from any thread.

    The loop only reads the flag, and the front ends check it as work arrives (a Modbus
    request is then not answered), so a stop requested while the loop is busy (one turn of an
    overloaded fleet's loop runs thousands of queued requests) takes effect in that turn.
    """
    for fe in front_ends:
        if hasattr(fe, "closing"):
            fe.closing = True


def quiesce_all(front_ends: Iterable[object]) -> None:
    """Make every front end that can (one with ``quiesce()``) stop taking work, at once.

    A fleet stops its thousands of front ends a batch at a time, and between two batches the
    loop runs whatever is ready: under an overload the requests already queued for front ends
    not yet stopped (milliseconds of plant work each) would hold the stop up for as long as
    answering them all takes (a minute, measured, after 6,000 first reads in 10 s). Called
    on the loop, before those stops.
    """
    for fe in front_ends:
        quiesce = getattr(fe, "quiesce", None)
        if quiesce is not None:
            quiesce()


def stop_reading(server: asyncio.Server) -> None:
    """Stop accepting on ``server``'s sockets (it stays open: see :func:`stop_listening`)."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # proactor loops have no readers
        for sock in server.sockets:
            loop.remove_reader(sock.fileno())


async def close_connections(connections: set[Any]) -> None:
    """Abort every connection and finish its worker task.

    The loop then gets a turn to run the ``connection_lost`` callbacks that actually close
    the sockets. Python 3.11's ``Server.close()`` leaves accepted connections open, so every
    front end keeps its own set and calls this on stop.
    """
    tasks = []
    for conn in list(connections):
        transport = getattr(conn, "transport", None)
        if transport is not None:
            transport.abort()
        worker = getattr(conn, "worker", None)
        if worker is not None and not worker.done():
            worker.cancel()
            tasks.append(worker)
    connections.clear()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)  # abort() closes the socket in a callback: let it run


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a device refusing the connection would."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # type: ignore[attr-defined]  # every stream transport has it


class Closable(Protocol):
    """What an idle timer closes: a transport, or any link with the same two methods."""

    def is_closing(self) -> bool:
        """Whether it is closed or closing."""
        ...

    def close(self) -> None:
        """Close it."""
        ...


def reach_of(devices: Mapping[int, Any]) -> list[tuple[int, str | None]]:
    """(unit, serial) of each device of an endpoint's map: what its connections reach.

    Connection faults naming a unit or a device match the connections of the endpoints
    that serve it (``Traffic.admit``).
    """
    return [(unit, getattr(device, "serial", None)) for unit, device in devices.items()]


class IdleTimer:
    """Closes one connection once it has been idle as long as an ``idle-timeout`` fault says.

    Every front end's connection owns one and calls :meth:`arm` when the connection starts
    and whenever traffic passes (cheap when no fault is active). ``endpoint`` and
    ``devices`` (the endpoint's map, read at each arming) say which faults apply.
    """

    __slots__ = ("_handle", "devices", "endpoint", "front_end", "traffic")

    def __init__(self, traffic: Traffic, front_end: str, endpoint: str | None = None,
                 devices: Mapping[int, Any] | None = None) -> None:
        self.traffic = traffic
        self.front_end = front_end
        self.endpoint = endpoint
        self.devices: Mapping[int, Any] = {} if devices is None else devices
        self._handle: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        """Whether a timer is counting down."""
        return self._handle is not None

    def arm(self, link: Closable | None, peer: str) -> None:
        """(Re)start the countdown, or stop it when no ``idle-timeout`` fault is active."""
        self.cancel()
        limit = self.traffic.idle_timeout(self.front_end, self.endpoint,
                                          reach_of(self.devices), peer=peer)
        if limit is not None and link is not None:
            seconds, fault = limit
            self._handle = asyncio.get_running_loop().call_later(
                seconds, self._expire, link, peer, fault
            )

    def cancel(self) -> None:
        """Stop the countdown (the connection is gone)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self, link: Closable, peer: str, fault: str) -> None:
        self._handle = None
        if not link.is_closing():
            self.traffic.connection_event(self.front_end, peer, "closed: idle", fault)
            link.close()
