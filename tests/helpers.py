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

    def write(self, address: int, values: list[int], unit: int = 1) -> int | None:
        """FC16 write at wire ``address``: ``None`` on success, else the exception code."""
        pdu = struct.pack(">BHHB", 16, address, len(values), 2 * len(values))
        pdu += struct.pack(f">{len(values)}H", *values)
        reply = self.request(unit, pdu)
        if reply[0] & 0x80:
            return reply[1]
        assert reply == pdu[:5], reply.hex(" ")
        return None

    def write_single(self, address: int, value: int, unit: int = 1) -> int | None:
        """FC6 write at wire ``address``: ``None`` on success, else the exception code."""
        pdu = struct.pack(">BHH", 6, address, value)
        reply = self.request(unit, pdu)
        if reply[0] & 0x80:
            return reply[1]
        assert reply == pdu, reply.hex(" ")
        return None
