"""Back-pressure: a client that pipelines and stops reading cannot make the server buffer.

The server sets its write buffer's high-water mark to 64 KiB per connection. Once a client
stops reading its replies, the server must stop taking requests (what it has read but not
answered stays buffered, bounded by one read), so the write buffer stays within a small
multiple of that mark however many requests are queued in the kernel; and once the client
reads again, it must get *every* reply, in order.

The client is a raw socket with a small receive buffer (so the kernel holds little on its
side): it sends tens of thousands of reads without reading, waits until the server has
stopped reading, looks at the server side of the connection (its transport's public
``get_write_buffer_size``/``is_reading``), then reads everything while sending the rest.
Expected replies come from the requests themselves: each asks for a different count, so a
reply's byte count says which request it answers.
"""

from __future__ import annotations

import array
import fcntl
import select
import socket
import struct
import termios
import time
from collections.abc import Callable
from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from mock_sungrow.device.datablock import SungrowModbusDataBlock
from tests.helpers import GET_KEY, EncryptedModbus

#: The server's write-buffer high-water mark per connection (design.md, back-pressure).
HIGH_WATER = 64 * 1024
#: What the write buffer may reach: the mark, plus what is already on its way (the reply
#: that crossed it and the few an ordered worker may still finish).
WRITE_BOUND = 2 * HIGH_WATER
#: What a connection may hold unanswered once it stops reading: one read of the socket
#: (asyncio reads at most 256 KiB at a time) plus a partial frame.
READ_BOUND = 256 * 1024 + 512
#: Requests queued behind an answer that has to wait (RequestPath.MAX_PENDING).
MAX_PENDING = 64
#: Seconds without a single byte from the server after which the test gives up, and how long
#: the server may take to fill its write buffer. Bounds for a stuck server, not speed targets:
#: under mutmut's stats phase every call is traced and a flood takes tens of seconds.
STALL_S = 60.0
PATIENCE_S = 120.0


def _counts(n: int, low: int, span: int) -> list[int]:
    return [low + i % span for i in range(n)]


class Pipeliner:
    """A client that sends a prepared byte stream at its own pace and reads when told."""

    def __init__(self, port: int, payload: bytes, expected: list[int],
                 parse: Callable[[bytearray], list[int] | None]) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.payload = memoryview(payload)
        self.offset = 0
        self.expected = expected  # reply byte counts, in request order
        self.parse = parse  # takes whole replies off the buffer: their byte counts
        self.buffer = bytearray()
        self.got: list[int] = []

    def close(self) -> None:
        self.sock.close()

    def push(self) -> bool:
        """Send what the kernel takes; True when it stopped taking (the server is not reading)."""
        while self.offset < len(self.payload):
            try:
                self.offset += self.sock.send(self.payload[self.offset:self.offset + 65536])
            except BlockingIOError:
                return True
        return False

    def read_everything(self, chunk: int = 1 << 20) -> None:
        """Read (and keep sending) until every reply came; fail on a stall or a wrong order."""
        last = time.monotonic()
        while len(self.got) < len(self.expected):
            writing = [self.sock] if self.offset < len(self.payload) else []
            readable, writable, _ = select.select([self.sock], writing, [], 1.0)
            if writable:
                self.push()
            if readable:
                data = self.sock.recv(chunk)
                if not data:
                    pytest.fail(f"closed after {len(self.got)} of {len(self.expected)} replies")
                self.buffer += data
                counts = self.parse(self.buffer)
                if counts is None:
                    pytest.fail("a reply that is not a read reply")
                start = len(self.got)
                self.got += counts
                want = self.expected[start:len(self.got)]
                assert counts == want, f"replies out of order after reply {start}"
                last = time.monotonic()
            elif time.monotonic() - last > STALL_S:
                pytest.fail(f"got {len(self.got)} of {len(self.expected)} replies, then nothing "
                            f"for {STALL_S:.0f} s (sent {self.offset} of {len(self.payload)} "
                            "request bytes)")
        assert not self.buffer


def _mbap_replies(buffer: bytearray) -> list[int] | None:
    """Byte counts of the whole FC4 replies at the start of ``buffer`` (which it removes)."""
    out = []
    pos = 0
    while len(buffer) - pos >= 9:
        _tid, pid, length, _unit, fc, count = struct.unpack_from(">HHHBBB", buffer, pos)
        if pid != 0 or fc != 4:
            return None
        if len(buffer) - pos < 6 + length:
            break
        out.append(count)
        pos += 6 + length
    del buffer[:pos]
    return out


def _front_end(server: MockSungrowServer, kind: str) -> Any:
    return next(fe for fe in server._front_ends if fe.name == kind)


def _server_side(server: MockSungrowServer, kind: str, client: Pipeliner) -> dict[str, Any]:
    """The server's view of the client's connection, read on the server's own loop."""
    front_end = _front_end(server, kind)
    host, port = client.sock.getsockname()[:2]
    peer = f"{host}:{port}"

    async def look() -> list[dict[str, Any]]:
        return [{"write_buffer": c.transport.get_write_buffer_size(),
                 "reading": c.transport.is_reading(),
                 "kernel_queue": _unread(c.transport.get_extra_info("socket")),
                 "unanswered": len(c.path.codec.buffer), "queued": c.path.queued}
                for c in front_end.connections if c.path is not None and c.peer == peer]

    assert server._running is not None
    runtime = server._running.runtime
    deadline = time.monotonic() + PATIENCE_S
    while True:  # the client's connect() returns before the server has its connection
        views: list[dict[str, Any]] = runtime.run(look(), 60)
        if views or time.monotonic() > deadline:
            break
    assert len(views) == 1, f"no connection from {peer}"
    return views[0]


def _unread(sock: Any) -> int:
    """Bytes the kernel holds for a socket that it has not read yet (FIONREAD)."""
    out = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, out)
    return out[0]


def _stop_reading_then_resume(server: MockSungrowServer, kind: str, client: Pipeliner) -> None:
    client.push()
    deadline = time.monotonic() + PATIENCE_S
    while True:  # the server stops reading once its writes back up
        view = _server_side(server, kind, client)
        if not view["reading"] and view["write_buffer"] >= HIGH_WATER:
            break
        assert time.monotonic() < deadline, f"the server kept reading: {view}"
        client.push()
    assert view["write_buffer"] <= WRITE_BOUND, (
        f"{view['write_buffer']} bytes buffered for a client that does not read "
        f"(high-water mark {HIGH_WATER})"
    )
    assert view["unanswered"] <= READ_BOUND, view
    assert view["queued"] <= MAX_PENDING, view
    client.read_everything()  # the client reads again: every reply comes, in order


# ----------------------------------------------------------------------------- plain Modbus


def _plain_client(server: MockSungrowServer, n: int, kind: str = "modbus") -> Pipeliner:
    counts = _counts(n, 100, 25)  # 100..124 registers: 209..257-byte replies
    payload = b"".join(struct.pack(">HHHBBHH", i & 0xFFFF, 0, 6, 1, 4, 5000, c)
                       for i, c in enumerate(counts))
    return Pipeliner(server.get_connection_info(kind)["port"], payload,
                     [2 * c for c in counts], _mbap_replies)


def test_plain_modbus_stops_taking_requests_while_the_client_does_not_read(
    mock_sungrow_factory: Any,
) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    client = _plain_client(server, 50_000)
    try:
        _stop_reading_then_resume(server, "modbus", client)
    finally:
        client.close()
    assert len(server.requests) == 50_000
    assert server.problems == []


class AsyncBlock(SungrowModbusDataBlock):
    """A data block whose reads await (the ordered worker answers every request)."""

    async def async_getValues(self, address: int, count: int = 1) -> list[int]:
        return self.getValues(address, count)


def test_the_ordered_worker_also_stops_and_resumes(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus",
                                                     datablock_class=AsyncBlock)
    client = _plain_client(server, 30_000)
    try:
        _stop_reading_then_resume(server, "modbus", client)
    finally:
        client.close()
    assert server.problems == []


# ----------------------------------------------------------------------------- encrypted


class _Decrypting:
    """Takes whole encrypted replies off a buffer (spec §A.5) and returns their byte counts."""

    def __init__(self, key_client: EncryptedModbus) -> None:
        self.decryptor = key_client.cipher.decryptor()  # ECB: one context for every block

    def __call__(self, buffer: bytearray) -> list[int] | None:
        out = []
        pos = 0
        while len(buffer) - pos >= 4:
            if buffer[pos] != 1 or buffer[pos + 1] != 0:
                return None
            size, pad = buffer[pos + 2], buffer[pos + 3]
            end = pos + 4 + size + pad
            if len(buffer) < end:
                break
            plain = self.decryptor.update(bytes(buffer[pos + 4:end]))
            tid, pid, _length, _unit, fc, count = struct.unpack_from(">HHHBBB", plain)
            if (tid, pid, fc) != (0x6868, 0, 4) or plain[size:] != b"\xff" * pad:
                return None
            out.append(count)
            pos = end
        del buffer[:pos]
        return out


def test_encrypted_modbus_stops_taking_requests_while_the_client_does_not_read(
    mock_sungrow_factory: Any,
) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", encryption="aes")
    port = server.get_connection_info("sungrow")["port"]
    with EncryptedModbus("127.0.0.1", port) as keyed:
        keyed.send(GET_KEY)
        keyed.use_key(keyed.recv_exact(25)[9:])
        n = 40_000
        counts = _counts(n, 100, 23)  # 100..122 registers: within the 123 an AES frame holds
        payload = b"".join(keyed.eframe(1, struct.pack(">BHH", 4, 5000, c)) for c in counts)
        client = Pipeliner(port, payload, [2 * c for c in counts], _Decrypting(keyed))
    try:
        _stop_reading_then_resume(server, "sungrow", client)
    finally:
        client.close()
    assert server.problems == []


def test_requests_already_read_are_answered_without_the_client_sending_more(
    mock_sungrow_factory: Any,
) -> None:
    """The client sends in steps, each read by the server before the next, until it pauses.

    At the pause the kernel holds no request any more: what is left is in the server's own
    buffer, so only the server can carry on with it once the client reads again (reading the
    socket again would bring nothing).
    """
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    step = 331  # requests per step: 3 972 bytes, one segment on loopback
    client = _plain_client(server, 120 * step)
    sent = 0
    try:
        client.sock.setblocking(True)
        while True:
            client.sock.sendall(client.payload[sent * 12:(sent + step) * 12])
            sent += step
            deadline = time.monotonic() + PATIENCE_S
            while (view := _server_side(server, "modbus", client))["kernel_queue"]:
                if not view["reading"]:
                    break  # paused in the middle of this step
                assert time.monotonic() < deadline, f"the server does not read: {view}"
            if not view["reading"]:
                break
            assert sent < len(client.expected), f"the server never paused: {view}"
        client.sock.setblocking(False)
        assert view["write_buffer"] <= WRITE_BOUND, view
        client.payload = client.payload[:sent * 12]
        client.offset = sent * 12
        client.expected = client.expected[:sent]
        client.read_everything(chunk=4096)  # slowly: the server pauses again and again
    finally:
        client.close()
    assert len(server.requests) == sent
