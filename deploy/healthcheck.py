"""Container health check: every TCP listener of the simulator accepts a connection.

The image's ``HEALTHCHECK`` (and the Kubernetes readiness probe) runs this with the standard
library only. It does not need to know which ports the server was told to use: it finds the
listening TCP sockets the server process (PID 1 in a container, ``--pid`` otherwise) owns,
through ``/proc/PID/fd`` and that process's own ``/proc/PID/net/tcp{,6}`` (so a container on
the host's network is not confused by the host's other listeners), and connects to each.

A connection opened and closed without a byte costs the simulator nothing: no front end logs
it, no fault fires on it, so the check never shows up in the request log a test inspects.

Exit status 0 when the server has at least one listener and all of them accept; 1 otherwise,
with the reason on stdout (Docker keeps the last lines of a health check's output).

During start-up the server binds its front ends one after another (a WiNet-S TLS listener
makes its certificate first, which takes a moment), so a check that lands in between passes
with the listeners bound so far. The start-up signal
proper is the ready line on stdout; this check answers "is it still serving?".
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence

#: The ``st`` column of /proc/net/tcp for a listening socket.
_LISTEN = "0A"


def _socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets among ``pid``'s open file descriptors."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _address(hex_address: str, family: socket.AddressFamily) -> str:
    """An address of /proc/net/tcp (host byte order words, hex) as text."""
    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host order; on the little-endian machines this
    # runs on, reverse every group of four bytes to get network order.
    if sys.byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, raw)


def listeners(pid: int) -> list[tuple[str, int]]:
    """``(address, port)`` of every listening TCP socket ``pid`` owns, sorted."""
    inodes = _socket_inodes(pid)
    found: set[tuple[str, int]] = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open(f"/proc/{pid}/net/{name}") as table:
                rows = table.read().splitlines()[1:]
        except FileNotFoundError:  # a kernel without IPv6
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state != _LISTEN or inode not in inodes:
                continue
            hex_address, hex_port = local.split(":")
            found.add((_address(hex_address, family), int(hex_port, 16)))
    return sorted(found)


def _connect_address(address: str) -> str:
    """Where to connect to reach a listener bound to ``address`` (wildcards: loopback)."""
    if address == "0.0.0.0":  # noqa: S104 - reading a bound address, not binding one
        return "127.0.0.1"
    if address == "::":
        return "::1"
    if address.startswith("::ffff:"):
        return address[7:]
    return address


def _refusal(address: str, port: int, timeout: float) -> str | None:
    """Why a listener did not accept a connection, or None when it did."""
    try:
        with socket.create_connection((_connect_address(address), port), timeout=timeout):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def check(pid: int, timeout: float) -> tuple[bool, str]:
    """Probe every listener of ``pid``: ``(healthy, one line saying why)``."""
    try:
        found = listeners(pid)
    except OSError as exc:
        return False, f"cannot read the sockets of process {pid}: {exc}"
    if not found:
        return False, f"process {pid} has no listening TCP socket (yet)"
    failed = [f"{address}:{port} ({error})" for address, port in found
              if (error := _refusal(address, port, timeout)) is not None]
    if failed:
        return False, f"{len(failed)} of {len(found)} listeners refuse: {', '.join(failed)}"
    shown = ", ".join(f"{a}:{p}" for a, p in found)
    return True, f"{len(found)} listeners accept: {shown}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check and print its verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pid", type=int, default=1,
                        help="the server's process id (default 1: a container's entry point)")
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="seconds to wait for each connection (default 3)")
    args = parser.parse_args(argv)
    healthy, reason = check(args.pid, args.timeout)
    print(("healthy: " if healthy else "unhealthy: ") + reason)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
