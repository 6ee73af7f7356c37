"""Helpers shared by the tests (imported as ``tests.helpers``)."""

from __future__ import annotations

import asyncio
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from mock_sungrow import SungrowModbusDataBlock

if TYPE_CHECKING:
    from mock_sungrow import MockSungrowServer

_R = TypeVar("_R", bound="RawModbus")


def crc16(data: bytes) -> bytes:
    """Modbus RTU CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF), low byte first.

    Written here from the Modbus serial-line specification, not taken from the product, so the
    RTU tests compute their expected frames on their own.
    """
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


class AsyncBlock(SungrowModbusDataBlock):
    """Every read and write takes the ``async_`` path, and really waits once."""

    async def async_getValues(self, address: int, count: int = 1) -> list[int]:
        await asyncio.sleep(0)
        return self.getValues(address, count)

    async def async_setValues(self, address: int, values: Sequence[int]) -> None:
        await asyncio.sleep(0)
        self.setValues(address, values)


def recv_upto(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes from ``sock``, or fewer if the peer closes first (by its timeout)."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    """An RTU frame: unit, PDU, CRC."""
    return bytes([unit]) + pdu + crc16(bytes([unit]) + pdu)


class RawModbus:
    """A minimal Modbus TCP client over a plain socket, for byte-exact tests."""

    def __init__(self, host: str, port: int, timeout: float = 2.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.tid = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self: _R) -> _R:
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


def closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """Whether the server ends ``sock`` (EOF or reset) within ``timeout`` seconds.

    Bytes that arrive first are read and discarded. ``False`` means the connection was still
    open when the time ran out: the generous timeout only bounds a failing test, a passing
    one returns as soon as the server has closed.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False


def turned_away(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> bool:
    """Whether a new connection is ended by the server (reset or EOF) without an answer.

    It asks for one register (input 5000) first. A server that resets a connection as it
    accepts it may do so before ``connect`` returns here (with a timeout, Python connects
    without blocking and then reads the socket's error, which a quick RST has set), in the
    send, or in the first read: all three are the connection being turned away. A reply, or
    the connection still open after ``timeout``, is not.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionResetError:
        return True
    with sock:
        try:
            sock.sendall(bytes.fromhex("0001 0000 0006 01 04 1387 0001"))
        except (ConnectionResetError, BrokenPipeError):
            return True
        return closed_without_answer(sock)


def closed_without_answer(sock: socket.socket) -> bool:
    """Whether the server ends ``sock`` (EOF or reset) before sending a single byte.

    Unlike :func:`closed_by_peer`, an answer counts against it. The socket's own timeout
    bounds the wait; still open then is ``False``.
    """
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005,
               what: str = "the condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds.

    For waiting on something that happens on the server's own schedule (a timer, a
    background task) instead of sleeping for a guessed time. Returns the truthy value.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(interval)


GET_KEY = bytes.fromhex("68 68 00 00 00 06 f7 04 0a e7 00 08")
PRIVATE_KEY = b"Grow#0*2Sun68CbE"


class EncryptedModbus(RawModbus):
    """A Sungrow-encrypted Modbus client over a plain socket, written from the spec (§A.3-A.5).

    Independent of the server's codec on purpose: it builds and checks every byte itself, and
    checks replies as strictly as the strictest real client (header ``01 00``, P = 16 - L mod
    16, transaction id 0x6868 inside, 0xFF padding).
    """

    def __init__(self, host: str, port: int, public_key: bytes | None = None,
                 timeout: float = 2.0) -> None:
        super().__init__(host, port, timeout)
        self.public_key: bytes | None = None
        if public_key is not None:
            self.use_key(public_key)

    def use_key(self, public_key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self.public_key = public_key
        key = bytes(a ^ b for a, b in zip(public_key, PRIVATE_KEY, strict=True))
        self.cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - the protocol

    def fetch_key(self) -> bytes:
        """Send the plain key request; use and return the public key of the 25-byte reply."""
        self.send(GET_KEY)
        reply = self.recv_exact(25)
        assert reply[:9] == bytes.fromhex("68 68 00 00 00 13 f7 04 10"), reply.hex(" ")
        self.use_key(reply[9:])
        return reply[9:]

    def encrypt(self, adu: bytes, pad: int | None = None, fill: bytes = b"\xff") -> bytes:
        """``01 00 L P`` + AES(ADU with tid 0x6868 + padding); ``pad``/``fill`` to break it."""
        size = len(adu)
        if pad is None:
            pad = 16 - size % 16
        plain = b"\x68\x68" + adu[2:] + fill * pad
        enc = self.cipher.encryptor()
        return bytes((1, 0, size, pad)) + enc.update(plain) + enc.finalize()

    def eframe(self, unit: int, pdu: bytes) -> bytes:
        """An encrypted request frame."""
        return self.encrypt(self.frame(unit, pdu))

    def recv_encrypted(self) -> tuple[int, bytes]:
        """(unit, pdu) of the next encrypted reply, checking every byte of the framing."""
        header = self.recv_exact(4)
        assert header[:2] == b"\x01\x00", header.hex(" ")
        size, pad = header[2], header[3]
        assert pad == 16 - size % 16, header.hex(" ")
        dec = self.cipher.decryptor()
        plain = dec.update(self.recv_exact(size + pad)) + dec.finalize()
        assert plain[size:] == b"\xff" * pad, plain.hex(" ")
        tid, pid, length, unit = struct.unpack_from(">HHHB", plain)
        assert (tid, pid, length) == (0x6868, 0, size - 6), plain.hex(" ")
        return unit, plain[7:size]

    def erequest(self, unit: int, pdu: bytes) -> bytes:
        self.send(self.eframe(unit, pdu))
        got_unit, reply = self.recv_encrypted()
        assert got_unit == unit
        return reply

    def eread(self, fc: int, address: int, count: int, unit: int = 1) -> list[int] | int:
        """Words of an encrypted read, or the exception code as an int."""
        reply = self.erequest(unit, struct.pack(">BHH", fc, address, count))
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


def control_call(base: str, method: str, path: str, body: Any = None, *,
                 raw: bytes | None = None, timeout: float = 10) -> tuple[int, Any]:
    """One JSON request to a control API: ``(status, decoded body)``, errors included."""
    import json
    import urllib.error
    import urllib.request

    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def modbus_view(server: MockSungrowServer, kind: str, peer: str) -> dict[str, Any] | None:
    """The ``kind`` port's connection from ``peer``, as its own loop sees it (None: not yet)."""
    front_end: Any = next(fe for fe in server._front_ends if fe.name == kind)

    async def look() -> list[dict[str, Any]]:
        return [{"reading": c.transport.is_reading(), "closing": c.transport.is_closing(),
                 "write_paused": c.path.write_paused,
                 "write_buffer": c.transport.get_write_buffer_size(),
                 "unanswered": len(c.path.codec.buffer)}
                for c in front_end.connections
                if c.transport is not None and c.path is not None and c.peer == peer]

    assert server._running is not None
    views: list[dict[str, Any]] = server._running.runtime.run(look(), 60)
    return views[0] if views else None


def flood_until_unread(server: MockSungrowServer, kind: str, hog: socket.socket,
                       frames: bytes, timeout: float = 60.0) -> dict[str, Any]:
    """Send ``frames`` again and again on ``hog`` (never reading) until the server stops reading.

    Returns the server's view of the connection then. Watched on the server's own loop, not
    inferred from the client's side: a full send buffer proves nothing (the kernel holds
    megabytes, and under load the server may still be reading, or not even have accepted the
    connection), and a partial send is finished before the next frame starts, so the stream
    stays whole frames. ``timeout`` bounds a stuck server; it is not a speed target.
    """
    hog.setblocking(False)
    host, port = hog.getsockname()[:2]
    pending = b""
    deadline = time.monotonic() + timeout
    while True:
        view = modbus_view(server, kind, f"{host}:{port}")
        # Not reading because the client does not read (not merely waiting for its turn).
        if view is not None and not view["reading"] and view["write_paused"]:
            return view
        assert time.monotonic() < deadline, f"the server kept reading: {view}"
        select.select([], [hog], [], 0.2)  # room to send, or the server has to catch up
        try:
            for _ in range(1000):
                pending = pending or frames
                pending = pending[hog.send(pending):]
        except BlockingIOError:
            pass
