"""A TCP connection as a Modbus link: the asyncio protocol in front of a request path.

:class:`StreamConnection` is what asyncio calls for one accepted connection of a Modbus
front end. It does what belongs to a connection rather than to requests: admission (the
connection faults may refuse it or close older ones), the write buffer's high-water mark, the
connection's bookkeeping; then it hands the transport to a
:class:`~mock_sungrow.frontends.modbus.path.RequestPath` as its link, and received bytes to
the path's codec. A serial line (issue 12) is another adapter of the same size: its transport
is the link, and it calls the codec's ``gap()`` when the line falls silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from mock_sungrow.frontends.base import reach_of, reset_transport
from mock_sungrow.frontends.modbus.path import RequestPath

if TYPE_CHECKING:
    from mock_sungrow.frontends.modbus.tcp import ModbusTcpFrontEnd


def _not_admitted(data: bytes) -> None:
    """Bytes of a connection that was refused (or never made) go nowhere."""


class StreamConnection(asyncio.Protocol):
    """One TCP connection of a Modbus front end (see the module docstring)."""

    #: The write buffer's high-water mark (asyncio pauses writing above it).
    HIGH_WATER = 64 * 1024
    #: Where received bytes go: the codec's ``feed`` once the connection is admitted. An
    #: instance attribute rather than a method that forwards, so asyncio calls the codec
    #: directly and the fast path costs no extra call per request.
    data_received: Callable[[bytes], None]  # type: ignore[assignment]

    def __init__(self, front_end: ModbusTcpFrontEnd) -> None:
        self.front_end = front_end
        self.transport: asyncio.Transport | None = None
        self.peer = "-"
        self.path: RequestPath | None = None
        self.data_received = _not_admitted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection (faults may refuse it), or abort it if the front end stops."""
        self.transport = stream = cast(asyncio.Transport, transport)
        front_end = self.front_end
        if front_end.closing:  # accepted while the front end was stopping
            stream.abort()
            return
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "-"
        refused, to_close = front_end.traffic.admit(front_end.name, self.peer, self,
                                                    front_end.endpoint_name,
                                                    reach_of(front_end.app.devices))
        if refused is not None:
            reset_transport(stream)
            return
        for older in to_close:  # a connection fault keeping only the newest
            if older.transport is not None:
                older.transport.abort()
        stream.set_write_buffer_limits(high=self.HIGH_WATER)
        self.path = path = RequestPath(front_end, stream, self.peer, front_end.codec)
        self.data_received = path.codec.feed
        front_end.connections.add(self)
        path.arm_idle()

    def pause_writing(self) -> None:
        """The write buffer is full: the request path stops taking requests."""
        if self.path is not None:
            self.path.pause_writing()

    def resume_writing(self) -> None:
        """The write buffer drained: the request path carries on."""
        if self.path is not None:
            self.path.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and drop whatever it still had queued."""
        self.front_end.connections.discard(self)
        self.data_received = _not_admitted
        path, self.path = self.path, None
        if path is not None:
            self.front_end.traffic.closed(self.front_end.name, self.peer, self,
                                          self.front_end.endpoint_name)
            path.lost()
            path.release()

    @property
    def worker(self) -> asyncio.Task[None] | None:
        """The path's worker task, while one runs (``close_connections`` awaits it)."""
        return None if self.path is None else self.path.worker

    def arm_idle(self) -> None:
        """(Re)start the idle timer (an ``idle-timeout`` fault came or went)."""
        if self.path is not None:
            self.path.arm_idle()
