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
client has the device open, and bytes a client wrote would be lost between two clients. That
open side also shows the settings the client gave its end (baud rate, data bits, parity, stop
bits: the pty's termios, which both ends share): a client whose settings differ from the
line's gets no answer, as on a real bus, where it would read and send garbage, and the
mismatch is recorded as a problem naming both settings. The line's settings are put on the
pty at start, so a client that leaves its end alone matches; where a kernel's ptys refuse
parity or 7 data bits (seen on some VMs), only what the pty can hold is compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
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


#: termios speed constants -> baud rates.
_SPEEDS = {getattr(termios, f"B{rate}"): rate for rate in (
    50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000,
    2500000, 3000000, 3500000, 4000000) if hasattr(termios, f"B{rate}")}
_SIZES = {termios.CS5: 5, termios.CS6: 6, termios.CS7: 7, termios.CS8: 8}


def set_line(fd: int, settings: LineSettings) -> None:
    """Give the pty the line's settings, so a client that leaves its end alone matches."""
    attrs = termios.tcgetattr(fd)
    cflag = attrs[2] & ~(termios.CSIZE | termios.PARENB | termios.PARODD | termios.CSTOPB)
    cflag |= next(flag for flag, size in _SIZES.items() if size == settings.bytesize)
    if settings.parity != "N":
        cflag |= termios.PARENB | (termios.PARODD if settings.parity == "O" else 0)
    if settings.stopbits == 2:
        cflag |= termios.CSTOPB
    attrs[2] = cflag
    speed = next((flag for flag, rate in _SPEEDS.items() if rate == settings.baudrate), None)
    if speed is not None:  # a rate termios cannot name stays the pty's own
        attrs[4] = attrs[5] = speed
    try:
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except termios.error:  # some kernels' ptys take only 8 data bits and no parity
        attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARENB | termios.PARODD)) | termios.CS8
        termios.tcsetattr(fd, termios.TCSANOW, attrs)


def client_settings(fd: int) -> tuple[int | None, int, str, int]:
    """The line settings the client gave its end of the pty: baud, data bits, parity, stop."""
    attrs = termios.tcgetattr(fd)
    cflag, speed = attrs[2], attrs[5]
    parity = "N" if not cflag & termios.PARENB else ("O" if cflag & termios.PARODD else "E")
    return (_SPEEDS.get(speed), _SIZES[cflag & termios.CSIZE], parity,
            2 if cflag & termios.CSTOPB else 1)


class _Reader(asyncio.Protocol):
    """Bytes the client wrote to its end of the line."""

    def __init__(self, front_end: SerialFrontEnd) -> None:
        self.front_end = front_end
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        front_end = self.front_end
        path = front_end.path
        if path is not None and front_end.settings_match():
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
        self._mismatch: tuple[int | None, int, str, int] | None = None
        self._expected: tuple[int | None, int, str, int] | None = None

    async def start(self) -> None:
        """Open the pty pair and serve its master side; returns once clients can open it."""
        self.closing = False
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # bytes are bytes: no echo, no line editing, no CR/NL mapping
            set_line(slave, self.settings)
            #: The line's settings as the pty holds them (what a client must match).
            self._expected = client_settings(slave)
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

    def settings_match(self) -> bool:
        """Whether the client's end has the line's settings (a mismatch is reported once)."""
        if self._slave is None:
            return True
        theirs = client_settings(self._slave)
        if theirs == self._expected:
            self._mismatch = None
            return True
        if theirs != self._mismatch:
            self._mismatch = theirs
            line = self.settings
            self.diagnostics.report(
                self.name, self.device, "line-settings",
                f"the client's line is {_text(theirs)}, this line is "
                f"{_text((line.baudrate, line.bytesize, line.parity, line.stopbits))}: "
                "its bytes are garbage here, nothing is answered")
        return False

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


def _text(settings: tuple[int | None, int, str, int]) -> str:
    baud, size, parity, stop = settings
    return f"{baud or 'an unusual speed'} {size}{parity}{stop}"
