"""Modbus TCP throughput of mock-sungrow against a pymodbus server and a fixed-bytes ceiling.

Not a test: it prints figures measured in one run, so they are compared with baselines
measured on the same machine at the same moment. Each server runs in its own process; the
load generator (closed loop: one outstanding request per connection, as real Sungrow clients
behave) runs here. Every request reads 50 input registers.

    python benchmarks/bench_modbus.py [--seconds 3] [--connections 1 8]

Targets (issue #2): >= 0.80 of the ceiling on 1 connection, >= 0.70 on 8; start()+stop()
<= 5 ms per cycle. The plugin's import cost is printed for reference.

The same reads over Sungrow's encrypted Modbus (the "sungrow" front end, AES-128-ECB framing)
are measured against the plain port of the same build in the same run; target (issue #4):
>= 0.6 of plain mock-sungrow's requests per second. Inside the encryption the transaction id is
always 0x6868, so the encrypted request is the same bytes every time: the load generator
encrypts it once and does no per-request crypto of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

REQUEST_COUNT = 50
ENCRYPTED = "mock-sungrow encrypted"
WIRE_ADDRESS = 5000

CEILING_SERVER = textwrap.dedent(
    """
    import asyncio, struct, sys

    REPLY = bytes([4, 100]) + bytes(100)

    class Responder(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport
            self.buf = b""

        def data_received(self, data):
            buf = self.buf + data
            while len(buf) >= 6:
                end = 6 + int.from_bytes(buf[4:6], "big")
                if len(buf) < end:
                    break
                self.t.write(buf[:2] + b"\\x00\\x00\\x00\\x67" + buf[6:7] + REPLY)
                buf = buf[end:]
            self.buf = buf

    async def main():
        server = await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)

PYMODBUS_SERVER = textwrap.dedent(
    """
    import asyncio, logging
    logging.disable(logging.WARNING)  # 3.13+ logs deprecations for the classic datastore
    from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext
    try:
        from pymodbus.datastore import ModbusDeviceContext as Ctx
    except ImportError:
        from pymodbus.datastore import ModbusSlaveContext as Ctx
    from pymodbus.server import ModbusTcpServer

    async def main():
        block = ModbusSequentialDataBlock(1, [7] * 10000)
        ctx = ModbusServerContext(Ctx(ir=block, hr=block), single=True)
        server = ModbusTcpServer(ctx, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        print(server.transport.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


#: With two or more CPUs, servers run on one and the load generator on another, so that the
#: scheduler moving processes around does not add noise that differs between servers.
CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
SERVER_CPU = CPUS[-1] if len(CPUS) >= 2 else None
CLIENT_CPU = CPUS[0] if len(CPUS) >= 2 else None


def _pin(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextmanager
def run_server(argv: list[str], parse: str = "port") -> Iterator[int]:
    """Start a server process and yield its port (read from its first stdout line).

    ``parse`` is ``"port"`` for a bare port number, or the connection kind to take from
    mock-sungrow's JSON ready line.
    """
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=_pin(SERVER_CPU))  # noqa: PLW1509 - no threads yet
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"server {argv[:3]} printed nothing")
        port = int(line) if parse == "port" else json.loads(line)[parse]["port"]
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


class LoadConnection(asyncio.Protocol):
    """Send a read, wait for the whole reply, send the next (one request in flight)."""

    def __init__(self, stats: dict[str, int], stop_at: list[float],
                 wire: Wire | None = None) -> None:
        self.stats = stats
        self.stop_at = stop_at
        self.wire = wire
        self.expect = 9 + 2 * REQUEST_COUNT if wire is None else wire.reply_size
        self.got = 0
        self.tid = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        if self.wire is not None:
            self.transport.write(self.wire.request)
            return
        self.tid = (self.tid + 1) & 0xFFFF
        self.transport.write(
            struct.pack(">HHHBBHH", self.tid, 0, 6, 1, 4, WIRE_ADDRESS, REQUEST_COUNT)
        )

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        while self.got >= self.expect:
            self.got -= self.expect
            self.stats["replies"] += 1
            if time.perf_counter() >= self.stop_at[0]:
                if not self.done.done():
                    self.done.set_result(None)
                return
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed by the server"))


class Wire:
    """The encrypted request and reply size for a "sungrow" port (key fetched once)."""

    def __init__(self, port: int) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(bytes.fromhex("68 68 00 00 00 06 f7 04 0a e7 00 08"))
            reply = b""
            while len(reply) < 25:
                chunk = sock.recv(25 - len(reply))
                if not chunk:
                    raise RuntimeError("the key request got no 25-byte reply")
                reply += chunk
        key = bytes(a ^ b for a, b in zip(reply[9:], b"Grow#0*2Sun68CbE", strict=True))
        cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - the protocol
        adu = struct.pack(">HHHBBHH", 0x6868, 0, 6, 1, 4, WIRE_ADDRESS, REQUEST_COUNT)
        pad = 16 - len(adu) % 16
        enc = cipher.encryptor()
        self.request = bytes((1, 0, len(adu), pad)) + enc.update(adu + b"\xff" * pad)
        size = 9 + 2 * REQUEST_COUNT
        self.reply_size = 4 + size + 16 - size % 16
        # Check one round trip by decrypting it, so the figures measure correct answers.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(self.request)
            got = b""
            while len(got) < self.reply_size:
                chunk = sock.recv(self.reply_size - len(got))
                if not chunk:
                    raise RuntimeError("the encrypted read got no reply")
                got += chunk
        plain = cipher.decryptor().update(got[4:])
        if got[:4] != bytes((1, 0, size, 16 - size % 16)) or plain[7:9] != bytes(
            (4, 2 * REQUEST_COUNT)
        ):
            raise RuntimeError(f"unexpected encrypted reply {got.hex(' ')}")


async def _load(port: int, connections: int, seconds: float, wire: Wire | None = None) -> float:
    loop = asyncio.get_running_loop()
    warm = {"replies": 0}
    stop_at = [time.perf_counter() + 0.3]
    conns = [
        (await loop.create_connection(lambda: LoadConnection(warm, stop_at, wire),
                                      "127.0.0.1", port))
        for _ in range(connections)
    ]
    await asyncio.gather(*(p.done for _t, p in conns))
    for t, _p in conns:
        t.close()
    stats = {"replies": 0}
    stop_at = [time.perf_counter() + seconds]
    started = time.perf_counter()
    conns = [
        (await loop.create_connection(lambda: LoadConnection(stats, stop_at, wire),
                                      "127.0.0.1", port))
        for _ in range(connections)
    ]
    await asyncio.gather(*(p.done for _t, p in conns))
    elapsed = time.perf_counter() - started
    for t, _p in conns:
        t.close()
    return stats["replies"] / elapsed


def throughput(port: int, connections: int, seconds: float, wire: Wire | None = None) -> float:
    """Replies per second with ``connections`` closed-loop clients."""
    return asyncio.run(_load(port, connections, seconds, wire))


def start_stop_ms(cycles: int) -> float:
    """Median milliseconds for one MockSungrowServer start() + stop() on port 0."""
    from mock_sungrow import MockSungrowServer

    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    times = []
    for _ in range(cycles):
        t = time.perf_counter()
        server.start()
        server.stop()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def import_ms(module: str, repeats: int = 5) -> float:
    """Median self-reported import time of ``module`` in a fresh interpreter (ms)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(repeats)
    ]
    return statistics.median(runs) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5, help="take the best of N rounds")
    args = parser.parse_args()
    if CLIENT_CPU is not None:
        os.sched_setaffinity(0, {CLIENT_CPU})

    servers = {
        "ceiling (fixed bytes)": ([sys.executable, "-c", CEILING_SERVER], "port"),
        "pymodbus server": ([sys.executable, "-c", PYMODBUS_SERVER], "port"),
        "mock-sungrow": (
            [sys.executable, "-m", "mock_sungrow", "serve", "--modbus-port", "0",
             "--status-interval", "0", "--no-control"],
            "modbus",
        ),
        ENCRYPTED: (
            [sys.executable, "-m", "mock_sungrow", "serve", "--server-type", "sungrow",
             "--sungrow-port", "0", "--encryption", "aes", "--status-interval", "0",
             "--no-control"],
            "sungrow",
        ),
    }
    try:
        import pymodbus

        pymodbus_version = pymodbus.__version__
    except ImportError:
        pymodbus_version = "not installed"
        del servers["pymodbus server"]
    print(f"python {sys.version.split()[0]}, pymodbus {pymodbus_version}, "
          f"{os.cpu_count()} CPUs; {REQUEST_COUNT}-register input reads, "
          f"best of {args.repeats} x {args.seconds:.0f} s")
    results: dict[tuple[str, int], float] = {}
    rounds: dict[tuple[str, int], list[float]] = {}
    with ExitStack() as stack:
        ports = {name: stack.enter_context(run_server(argv, parse))
                 for name, (argv, parse) in servers.items()}
        wires = {ENCRYPTED: Wire(ports[ENCRYPTED])}
        # Interleave the servers round by round, so that a slow moment of a shared machine
        # hurts every server alike; keep each one's best round.
        for _ in range(args.repeats):
            for n in args.connections:
                for name, port in ports.items():
                    value = throughput(port, n, args.seconds, wires.get(name))
                    results[name, n] = max(results.get((name, n), 0.0), value)
                    rounds.setdefault((name, n), []).append(value)

    def ratio_of(name: str, baseline: str, n: int) -> float:
        """Median over rounds of the ratio measured within each round (noise cancels)."""
        return statistics.median(
            a / b for a, b in zip(rounds[name, n], rounds[baseline, n], strict=True)
        )

    print(f"\n{'server':<24}" + "".join(f"{f'{n} conn req/s':>16}{'ratio':>8}"
                                         for n in args.connections))
    for name in servers:
        row = f"{name:<24}"
        for n in args.connections:
            ceiling = results["ceiling (fixed bytes)", n]
            row += f"{results[name, n]:>16,.0f}{results[name, n] / ceiling:>8.2f}"
        print(row)
    print("(req/s: each server's best round; the ratios below: the median, over rounds, of the "
          "ratio within a round)")
    targets = {1: 0.80, 8: 0.70}
    for n in args.connections:
        if n in targets:
            ratio = ratio_of("mock-sungrow", "ceiling (fixed bytes)", n)
            verdict = "meets" if ratio >= targets[n] else "MISSES"
            print(f"mock-sungrow on {n} connection(s): {ratio:.2f} of the ceiling "
                  f"({verdict} the {targets[n]:.2f} target)")

    for n in args.connections:
        ratio = ratio_of(ENCRYPTED, "mock-sungrow", n)
        verdict = "meets" if ratio >= 0.6 else "MISSES"
        print(f"encrypted on {n} connection(s): {ratio:.2f} of plain mock-sungrow "
              f"({verdict} the 0.60 target)")

    cycle = start_stop_ms(200)
    print(f"\nstart() + stop() on port 0: {cycle:.2f} ms per cycle (target <= 5 ms)")
    baseline = import_ms("pytest")
    plugin = import_ms("mock_sungrow.pytest_plugin")
    print(f"import mock_sungrow.pytest_plugin: {plugin:.1f} ms "
          f"(import pytest alone: {baseline:.1f} ms; pymodbus.client: "
          f"{import_ms('pymodbus.client'):.1f} ms, for scale)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
