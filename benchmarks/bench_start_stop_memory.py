"""Memory over many start/stop cycles with traffic, and stop() time with requests held.

Not a test: it prints figures measured in one run, against a baseline from the same run.

    python benchmarks/bench_start_stop_memory.py [--cycles 1000] [--warmup 50] [--stops 5]

**Memory** (issue 10, target: RSS grows by < 10 MB over 1,000 cycles). Each cycle builds a
server (Modbus + WiNet-S + control API, ports 0), starts it, sends one Modbus read, one
WiNet-S HTTP GET and POST and one control API GET over real sockets, checks the answers,
stops it and drops it. The baseline is the process's RSS after ``--warmup`` cycles (imports
done, caches filled, allocator arenas grown), so the figure is what the cycles themselves keep;
RSS is printed every 10 % of the run too (after ``gc.collect()``), and at the end the number of
``MockSungrowServer`` objects still alive (0 when nothing keeps a stopped server).

**Stop time** (target: <= 2 s whatever is in flight). ``--stops`` times: a server with a 30 s
latency fault on every front end, ten WebSocket requests and five Modbus reads held by it, and
a control API ``/faults/wait`` waiting; then ``stop()`` is timed, and every port is checked to
refuse connections afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import socket
import statistics
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mock_sungrow import ManualClock, MockSungrowServer

TARGET_MB = 10.0
TARGET_STOP_S = 2.0


def rss_mb() -> float:
    """Resident set size of this process (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def http(url: str, data: bytes | None = None) -> bytes:
    req = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=data, method="POST" if data else "GET",
        headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
        return bytes(resp.read())


def modbus_read(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(struct.pack(">HHHBBHH", 7, 0, 6, 1, 4, 5002, 1))
        reply = b""
        while len(reply) < 11:
            chunk = sock.recv(64)
            if not chunk:
                break
            reply += chunk
    return reply


def one_cycle() -> None:
    server = MockSungrowServer(modbus_port=0, http_port=0, control_port=0)
    server.start()
    try:
        modbus = server.get_connection_info("modbus")
        reply = modbus_read(modbus["host"], modbus["port"])
        if reply[:2] != b"\x00\x07" or reply[7:9] != b"\x04\x02":
            raise SystemExit(f"wrong Modbus reply {reply.hex(' ')}")
        web = server.get_connection_info("http")
        base = f"http://{web['host']}:{web['port']}"
        if json.loads(http(base + "/about/list?lang=en_us"))["result_code"] != 1:
            raise SystemExit("wrong /about/list reply")
        connect = json.dumps({"lang": "en_us", "service": "connect"}).encode()
        if json.loads(http(base + "/user/connect", connect))["result_code"] != 1:
            raise SystemExit("wrong /user/connect reply")
        control = server.get_connection_info("control")["url"]
        if "model" not in json.dumps(json.loads(http(control + "info"))):
            raise SystemExit("wrong control /info reply")
    finally:
        server.stop()


def live_servers() -> int:
    gc.collect()
    return sum(isinstance(o, MockSungrowServer) for o in gc.get_objects())


def memory(cycles: int, warmup: int) -> float:
    for _ in range(warmup):
        one_cycle()
    gc.collect()
    base = rss_mb()
    print(f"baseline after {warmup} warm-up cycles: RSS {base:.1f} MB")
    step = max(1, cycles // 10)
    started = time.monotonic()
    now = base
    for i in range(1, cycles + 1):
        one_cycle()
        if i % step == 0:
            gc.collect()
            now = rss_mb()
            print(f"  after {i:5d} cycles: RSS {now:7.1f} MB ({now - base:+5.1f} MB)")
    grown = now - base
    per_cycle = (time.monotonic() - started) / cycles * 1000
    # Counted last: the list of every object costs memory of its own.
    print(f"RSS growth over {cycles} cycles: {grown:+.1f} MB (target < {TARGET_MB:g} MB: "
          f"{'met' if grown < TARGET_MB else 'MISSED'}); {per_cycle:.1f} ms per cycle; "
          f"MockSungrowServer objects alive: {live_servers()}")
    return grown


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def timed_stop() -> float:
    from websockets.sync.client import connect

    server = MockSungrowServer(modbus_port=0, http_port=0, control_port=0, clock=ManualClock(),
                               faults=[{"kind": "latency", "delay": 30.0}])
    server.start()
    host = server.get_connection_info("http")["host"]
    ports = {k: server.get_connection_info(k)["port"] for k in ("modbus", "http", "control")}
    stack = contextlib.ExitStack()
    held: list[socket.socket] = []
    try:
        for _ in range(10):
            ws = stack.enter_context(connect(
                f"ws://{host}:{ports['http']}/ws/home/overview", close_timeout=1))
            ws.send(json.dumps({"lang": "en_us", "token": "", "service": "connect"}))
        for tid in range(5):
            sock = socket.create_connection((host, ports["modbus"]), timeout=5)
            sock.sendall(struct.pack(">HHHBBHH", tid, 0, 6, 1, 4, 5002, 1))
            held.append(sock)
        server.inject("silence", function=16, times=1)  # never fires: /faults/wait waits
        control = server.get_connection_info("control")["url"]
        body = json.dumps({"timeout": 60}).encode()
        waiter = threading.Thread(target=_quiet, args=(control + "faults/wait", body))
        waiter.start()
        latency = next(iter(server.faults))
        deadline = time.monotonic() + 20
        while latency.fired < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
    finally:
        stack.close()
        for sock in held:
            sock.close()
        server.stop()
    waiter.join(30)
    still = [k for k, p in ports.items() if not refused(host, p)]
    if still:
        raise SystemExit(f"ports still accepting after stop(): {still}")
    return elapsed


def _quiet(url: str, body: bytes) -> None:
    with contextlib.suppress(OSError, urllib.error.URLError):
        http(url, body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--stops", type=int, default=5)
    args = parser.parse_args()
    memory(args.cycles, args.warmup)
    times = [timed_stop() for _ in range(args.stops)]
    if not times:
        return 0
    print(f"stop() with 10 WebSocket + 5 Modbus requests and a /faults/wait held: "
          f"median {statistics.median(times):.2f} s, max {max(times):.2f} s "
          f"(target <= {TARGET_STOP_S:g} s: {'met' if max(times) <= TARGET_STOP_S else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
