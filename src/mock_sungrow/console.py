"""What ``mock-sungrow serve`` tells the person watching its stderr.

stdout carries exactly one JSON line (the ready line, a contract for programs); everything for
people goes to stderr: where it listens, a status line every few seconds, each request with
``--log-requests``, problems with the time they happened, and a line when it stops. Lines a
person reads start with the wall-clock time (``12:00:03``): the plant's own time, which a
manual clock may hold anywhere, is in the status line with its zone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import socket
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from mock_sungrow.faults.requestlog import LoggedRequest
    from mock_sungrow.server import MockSungrowServer


def stamp() -> str:
    """The wall-clock time a console line starts with."""
    return f"{datetime.now():%H:%M:%S}"


def say(err: TextIO, text: str) -> None:
    """One timestamped line on stderr (flushed: a parent may read it as it comes)."""
    print(f"{stamp()} mock-sungrow: {text}", file=err, flush=True)


def log_problems(err: TextIO) -> logging.Handler:
    """Print what the server's front ends report (``mock_sungrow`` log) with the time.

    A bad frame, a handler that raised, an unknown WebSocket service: the same records the
    fixture fails a test on. Without a handler, Python's last-resort output prints them
    without a time. Remove the returned handler when the server has stopped.
    """
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(asctime)s mock-sungrow: %(message)s", "%H:%M:%S"))
    logging.getLogger("mock_sungrow").addHandler(handler)
    return handler


def _address(entry: dict[str, Any]) -> str:
    if "device" in entry:  # the RS485 port: a pty, not a socket
        return str(entry["device"])
    host = entry["host"]
    return f"[{host}]:{entry['port']}" if ":" in host else f"{host}:{entry['port']}"


def listening_line(ready: dict[str, Any]) -> str:
    """Where a started server listens, from its ready line, in words.

    ``SG5K-D (inverter[1], unit 1): modbus 127.0.0.1:5020, http 127.0.0.1:8082; control API
    http://127.0.0.1:8090``; one clause per device of an installation.
    """
    parts = []
    for device in ready.get("devices", []):
        endpoints = ", ".join(f"{kind} {_address(e)}" for kind, e in device["endpoints"].items())
        role = "" if device["role"] in (None, "standalone") else f" {device['role']}"
        parts.append(f"{device['model']}{role} ({device['id']}, unit {device['unit']})"
                     + (f": {endpoints}" if endpoints else ""))
    http = ready.get("http")
    if http:
        extra = [f"{name} {http[key]}" for name, key in (("plain HTTP", "plain_http_port"),
                                                         ("TLS", "tls_port")) if key in http]
        if extra:
            parts.append("WiNet-S " + ", ".join(extra))
    control = ready.get("control")
    if control:
        parts.append(f"control API {control.get('url') or _address(control)}")
    return "listening: " + "; ".join(parts) + " (Ctrl-C stops)"


def status_line(server: MockSungrowServer) -> str:
    """The plant at a glance: its local time with zone, state, power, yields (battery, grid)."""
    snap = server.snapshot()
    line = (
        f"{snap.local:%Y-%m-%d %H:%M:%S %Z} {server.model.name} {snap.mode.value:<8} "
        f"power {snap.active_power_w / 1000:6.2f} kW  "
        f"daily {snap.daily_yield_kwh:6.1f} kWh  total {snap.total_yield_kwh:9.1f} kWh"
    )
    if server.plant.battery is not None:
        line += (f"  battery {snap.battery_power_w / 1000:+6.2f} kW "
                 f"SoC {snap.battery_soc_pct:5.1f} %  grid {snap.grid_power_w / 1000:+6.2f} kW")
    return line


def request_line(r: LoggedRequest) -> str:
    """One logged request in words: ``modbus 127.0.0.1:50312 unit 1 fc 4 input 5001-5038 ok``."""
    what = [r.front_end, r.peer]
    if r.unit is not None:
        what.append(f"unit {r.unit}")
    if r.function is not None:
        what.append(f"fc {r.function}" if isinstance(r.function, int) else str(r.function))
    if r.table is not None and r.address is not None:
        end = r.address + max(r.count, 1) - 1
        what.append(f"{r.table} {r.address}" + (f"-{end}" if end != r.address else ""))
    if r.values is not None:
        what.append("= " + " ".join(str(v) for v in r.values))
    what.append(r.outcome)
    if r.fault:
        what.append(f"[fault {r.fault}]")
    return " ".join(what)


class RequestPrinter:
    """``--log-requests``: each request as a line on stderr, or as a JSON line in a file.

    Called by the request log on the server's loop thread for every request; a lock keeps
    lines whole when several front ends log at once. The file is line-buffered and closed by
    :meth:`close`.
    """

    def __init__(self, err: TextIO, path: str | None) -> None:
        self._lock = threading.Lock()
        self._err = err
        self._file: TextIO | None = None
        if path is not None:
            self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def __call__(self, r: LoggedRequest) -> None:
        """Print or write one request."""
        with self._lock:
            if self._file is not None:
                self._file.write(json.dumps(r.to_dict()) + "\n")
            else:
                print(f"{stamp()} {request_line(r)}", file=self._err, flush=True)

    def close(self) -> None:
        """Close the file (if any)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def requested_ports(server: MockSungrowServer) -> list[tuple[str, int]]:
    """Every fixed (non-zero) port the server asks for, named as messages name endpoints."""
    ports: list[tuple[str, int]] = []
    for endpoint in server.installation.endpoints:
        if endpoint.port:
            ports.append((endpoint.name, endpoint.port))
        for kind, port in endpoint.extra_ports.items():
            if port:
                ports.append((f"{endpoint.name} {kind.replace('_', ' ')}", port))
    if server.control.port:
        ports.append(("control", server.control.port))
    return ports


def busy_ports(host: str, ports: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The ones of ``ports`` that cannot be bound on ``host`` now because they are in use.

    Binds each the way asyncio's server does (``SO_REUSEADDR``) and lets it go at once, so a
    second instance hears about every port it would collide on in one message.
    """
    busy = []
    for name, port in ports:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        except OSError:
            continue
        family, kind, proto, _canon, address = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    busy.append((name, port))
    return busy


def bind_error(server: MockSungrowServer, exc: OSError) -> str:
    """The message for a start that failed to bind: every busy port at once, and what to do.

    The server stops at the first port it cannot bind; a second instance would otherwise
    learn about its collisions one run at a time.
    """
    if exc.errno != errno.EADDRINUSE:
        return str(exc)
    hint = ("another mock-sungrow (or the real service) may be running: stop it, pick other "
            "ports, or give 0 for any free port (the ready line says which were bound)")
    busy: list[tuple[str, int]] = []
    with contextlib.suppress(OSError):
        busy = busy_ports(server.host, requested_ports(server))
    if len(busy) <= 1:
        return f"{exc}; {hint}"
    names = ", ".join(f"{port} ({name})" for name, port in busy)
    return f"{len(busy)} ports are already in use on {server.host}: {names}; {hint}"
