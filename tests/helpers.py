"""Helpers shared by the tests (imported as ``tests.helpers``)."""

from __future__ import annotations

import socket
import struct


class RawModbus:
    """A minimal Modbus TCP client over a plain socket, for byte-exact tests."""

    def __init__(self, host: str, port: int, timeout: float = 2.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.tid = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawModbus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def frame(self, unit: int, pdu: bytes, tid: int | None = None) -> bytes:
        if tid is None:
            self.tid = (self.tid + 1) & 0xFFFF
            tid = self.tid
        return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    def recv_frame(self) -> tuple[int, int, bytes]:
        """(transaction id, unit, pdu) of the next reply."""
        header = self.recv_exact(7)
        tid, pid, length, unit = struct.unpack(">HHHB", header)
        assert pid == 0
        return tid, unit, self.recv_exact(length - 1)

    def request(self, unit: int, pdu: bytes) -> bytes:
        self.send(self.frame(unit, pdu))
        tid, _unit, reply = self.recv_frame()
        assert tid == self.tid
        return reply

    def read(self, fc: int, address: int, count: int, unit: int = 1) -> list[int] | int:
        """Words of a read, or the exception code as an int."""
        reply = self.request(unit, struct.pack(">BHH", fc, address, count))
        if reply[0] & 0x80:
            return reply[1]
        assert reply[0] == fc and reply[1] == 2 * count, reply.hex(" ")
        return list(struct.unpack(f">{count}H", reply[2:]))


def free_loopback_address() -> str:
    """A random 127.x.y.z address on which port 80 (and 443, 8082) is free.

    Several real WiNet-S clients hard-code port 80 (SungrowModbusWebClient, sungrow-websocket),
    so their compatibility tests bind the real port numbers. Linux routes all of 127.0.0.0/8
    to the loopback interface, so a random address keeps parallel runs (and a real service on
    127.0.0.1:80) out of each other's way. Binding below 1024 needs root or
    CAP_NET_BIND_SERVICE (or a lowered ``net.ipv4.ip_unprivileged_port_start``); where that is
    missing the calling test is skipped with the reason.
    """
    import errno
    import random

    import pytest

    rng = random.Random()
    for _ in range(20):
        host = f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(2, 254)}"
        probes = []
        try:
            for port in (80, 443, 8082):
                sock = socket.socket()
                probes.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
        except PermissionError:
            pytest.skip("binding port 80/443 needs root or CAP_NET_BIND_SERVICE, which this "
                        "run does not have; the clients under test hard-code port 80")
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                raise
            continue
        finally:
            for sock in probes:
                sock.close()
        return host
    pytest.skip("no free 127.x.y.z address with ports 80, 443 and 8082 free")
    raise AssertionError("unreachable")  # pytest.skip raises
