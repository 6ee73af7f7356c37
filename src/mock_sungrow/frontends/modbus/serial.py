"""Modbus RTU on a serial line: the inverter's COM2 RS485 port, as a pseudo-terminal.

The server opens a pty pair and serves the master side; clients open the other side's device
path (``/dev/pts/N``, reported by ``get_connection_info("rtu")`` and the ready line, and
optionally reached through a stable symlink) exactly as they open a USB-RS485 adapter. The
line settings a client gives its serial port do not change the pty; the server paces the
line itself at its configured settings (:class:`~mock_sungrow.frontends.modbus.rtu.Line`).

A serial line is not a connection: it is there from start to stop, whoever has the device
open, so the connection faults (refuse, max-clients, idle-timeout...) do not apply to it;
the request, word and frame faults do, through the same request path as Modbus TCP. A
``drop`` fault silences the line: what was queued or on its way out is discarded.

The server keeps the slave side open itself: without it, the master reads EIO whenever no
client has the device open, and bytes a client wrote would be lost between two clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mock_sungrow.frontends.modbus.path import RequestPath
from mock_sungrow.frontends.modbus.rtu import LineSettings, rtu_codec
from mock_sungrow.frontends.modbus.tcp import application, line_settings

if TYPE_CHECKING:
    from mock_sungrow.diagnostics import Diagnostics
    from mock_sungrow.faults.traffic import Traffic
    from mock_sungrow.frontends.base import Binding
    from mock_sungrow.frontends.modbus.app import ModbusApplication


class _Reader(asyncio.Protocol):
    """Bytes the client wrote to its end of the line."""

    def __init__(self, front_end: SerialFrontEnd) -> None:
        self.front_end = front_end
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        path = self.front_end.path
        if path is not None:
            path.codec.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.front_end.closing:
            self.front_end.diagnostics.report(self.front_end.name, self.front_end.device,
                                              "line-error", f"reading the pty failed: {exc}")
        if not self.closed.done():
            self.closed.set_result(None)


class _Writer(asyncio.BaseProtocol):
    """The line's outgoing side: its buffer's back-pressure reaches the request path."""

    def __init__(self, front_end: SerialFrontEnd) -> None:
        self.front_end = front_end
        self.closed = asyncio.get_running_loop().create_future()

    def pause_writing(self) -> None:
        if self.front_end.path is not None:
            self.front_end.path.pause_writing()

    def resume_writing(self) -> None:
        if self.front_end.path is not None:
            self.front_end.path.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class PtyLink:
    """The master side of the pty as the request path's link."""

    def __init__(self, front_end: SerialFrontEnd, reader: asyncio.ReadTransport,
                 writer: asyncio.WriteTransport) -> None:
        self.front_end = front_end
        self.reader = reader
        self.writer = writer

    def write(self, data: bytes) -> None:
        """Send bytes down the line (paced by the codec before they get here)."""
        self.writer.write(data)

    def pause_reading(self) -> None:
        """Stop reading the client's bytes (they wait in the pty)."""
        self.reader.pause_reading()

    def resume_reading(self) -> None:
        """Read the client's bytes again."""
        self.reader.resume_reading()

    def close(self) -> None:
        """A line cannot be closed by its device: forget what is queued, keep listening."""
        self.abort()

    def abort(self) -> None:
        """The device falls silent: drop what is queued and what is on its way out."""
        path = self.front_end.path
        if path is not None:
            asyncio.get_running_loop().call_soon(path.lost)

    def is_closing(self) -> bool:
        """Whether the line is being shut down (only when the front end stops)."""
        return self.front_end.closing


class SerialFrontEnd:
    """Modbus RTU on a pseudo-terminal (see the module docstring)."""

    def __init__(
        self,
        app: ModbusApplication,
        diagnostics: Diagnostics,
        settings: LineSettings,
        traffic: Traffic,
        *,
        name: str = "rtu",
        endpoint: str | None = None,
        link: str | None = None,
    ) -> None:
        self.app = app
        self.diagnostics = diagnostics
        self.settings = settings
        self.traffic = traffic
        self.name = name
        self.endpoint_name = endpoint or name
        #: A symlink to the device path, for configurations that need a fixed name.
        self.link = Path(link) if link else None
        self.device = "-"
        self.path: RequestPath | None = None
        self.closing = False
        self._slave: int | None = None
        self._reader: _Reader | None = None
        self._writer: _Writer | None = None
        self._link_made = False

    async def start(self) -> None:
        """Open the pty pair and serve its master side; returns once clients can open it."""
        self.closing = False
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # bytes are bytes: no echo, no line editing, no CR/NL mapping
            os.set_blocking(master, False)
            self.device = os.ttyname(slave)
            if self.link is not None:
                self._make_link()
            loop = asyncio.get_running_loop()
            read_end = os.fdopen(master, "rb", buffering=0)
            write_end = os.fdopen(os.dup(master), "wb", buffering=0)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._slave = slave
        reader, self._reader = await loop.connect_read_pipe(lambda: _Reader(self), read_end)
        writer, self._writer = await loop.connect_write_pipe(lambda: _Writer(self), write_end)
        self.path = RequestPath(self, PtyLink(self, reader, writer), self.device,
                                rtu_codec(self.settings))
        self._transports = (reader, writer)

    def _make_link(self) -> None:
        link = self.link
        if link is None:
            return
        if link.is_symlink():
            link.unlink()  # a previous run's: replaced
        elif link.exists():
            raise OSError(f"cannot make the RTU link {link}: a file that is not a symlink "
                          "is there")
        link.symlink_to(self.device)
        self._link_made = True

    async def stop(self) -> None:
        """Stop serving: timers cancelled, the pty closed, the symlink removed."""
        if self.path is None:
            return
        self.closing = True
        path, self.path = self.path, None
        path.lost()
        worker = path.worker
        if worker is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        for transport in self._transports:
            transport.close()
        for protocol in (self._reader, self._writer):
            if protocol is not None:
                await protocol.closed
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None
        if self._link_made and self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self._link_made = False

    def connection_info(self) -> dict[str, Any]:
        """The device path clients open and the line's settings."""
        info: dict[str, Any] = {"device": self.device, **self.settings.info(),
                                "connection_type": self.name}
        if self.link is not None:
            info["link"] = str(self.link)
        return info

    async def rearm_idle(self) -> None:
        """A serial line has no idle timeout (it is not a connection)."""


def build_front_end(binding: Binding) -> SerialFrontEnd:
    """An inverter's RS485 port on a pty (see ``frontends.FRONT_END_BUILDERS``)."""
    return SerialFrontEnd(application(binding, key_reply=None), binding.diagnostics,
                          line_settings(binding), binding.traffic,
                          endpoint=binding.endpoint.name,
                          link=binding.endpoint.inverter_spec.rtu.link)
