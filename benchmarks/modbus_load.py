"""A closed-loop Modbus TCP load generator that is not the bottleneck it measures.

One asyncio process driving eight connections spent as much CPU per request as the server it
measured, so its figures were its own. Here the connections are spread over worker processes
(at most ``per_process`` each), each a tight loop over raw sockets: send one request, receive
its whole reply, check it, send the next (one request in flight per connection, as real
Sungrow clients behave). A lone connection uses a blocking socket (two system calls per
request); several share an epoll loop, so one wake-up serves every reply that arrived
meanwhile. Measured on the 2-core machine this was written on, against the fixed-bytes
responder on 8 connections, the generator's CPU per request was about 20 us with one process
per connection, 14 us with 2 connections per process, 12 us with 4, 11 us with 8; the asyncio
generator this replaces spent 30-45 us. Most of what is left is the kernel's (a send on
loopback also delivers the segment): a C loop doing the same measured 7-8 us.

The processes start once, are pinned to the CPUs the caller gives them, and are told for each
measurement when to start counting and when to stop (``time.perf_counter`` deadlines:
CLOCK_MONOTONIC, one clock for every process); each reports how many replies it counted in
that window, how many were wrong, and its own CPU time (user + system, ``time.process_time``)
over the window, so a reader sees when the generator, not the server, is saturated.

Every reply is checked against the bytes the server must send: for plain MBAP the transaction
id of the request it answers (which also proves the order) and the rest of the frame (protocol
id, length, unit, function code, byte count and every register word) against a fixed expected
tail; for Sungrow's encrypted framing, where the transaction id inside the encryption is always
0x6868, the whole encrypted frame against the one expected frame (ECB has no chaining, so the
same answer encrypts to the same bytes; the caller decrypts it once to prove it is the right
answer). With one request in flight per connection a reply can only answer the request just
sent, so for encrypted frames order is shown by every reply matching and nothing arriving
unasked (extra bytes count as a bad reply).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["plain", "encrypted", "ws"]

#: How long a reply may take before the measurement fails (a stuck server, not a slow one).
REPLY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Exchange:
    """The request to send and the reply it must get.

    ``plain``: ``request_tail`` follows a 2-byte transaction id the generator counts up, and
    the reply must be that id followed by ``reply_tail``. ``encrypted``: ``request_tail`` is the
    whole request and ``reply_tail`` the whole reply.
    """

    kind: Kind
    request_tail: bytes
    reply_tail: bytes
    #: Sent once per connection before the loop, answered by an HTTP head that must say 101
    #: (``ws``: the WebSocket upgrade; bench_winet.py). The loop then sends ``request_tail``
    #: (a masked text frame) and expects exactly ``reply_tail`` (the server's frame).
    handshake: bytes = b""

    @property
    def reply_size(self) -> int:
        return len(self.reply_tail) + (2 if self.kind == "plain" else 0)


@dataclass
class WorkerResult:
    """What one worker process measured in the window it was given."""

    replies: int = 0
    bad: int = 0
    first_bad: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    error: str = ""

    @property
    def rate(self) -> float:
        return self.replies / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


def frame_size(kind: Kind, data: bytes) -> int | None:
    """The size of the frame ``data`` starts with, once its header is in (else None)."""
    if kind == "plain":
        return 6 + int.from_bytes(data[4:6], "big") if len(data) >= 6 else None
    if kind == "ws":  # a server's frame: unmasked, 7-bit, 16-bit or 64-bit length
        if len(data) < 2:
            return None
        n = data[1] & 0x7F
        extra = {126: 2, 127: 8}.get(n, 0)
        if len(data) < 2 + extra:
            return None
        return 2 + extra + (int.from_bytes(data[2:2 + extra], "big") if extra else n)
    return 4 + data[2] + data[3] if len(data) >= 4 else None


def upgrade(sock: socket.socket, handshake: bytes) -> None:
    """Send ``handshake`` and read the HTTP head that answers it, which must be a 101."""
    if not handshake:
        return
    sock.sendall(handshake)
    head = b""
    while b"\r\n\r\n" not in head:
        more = sock.recv(4096)
        if not more:
            raise ConnectionError(f"the server closed the connection during the upgrade: {head!r}")
        head += more
    if not head.startswith(b"HTTP/1.1 101") or not head.endswith(b"\r\n\r\n"):
        raise ConnectionError(f"upgrade refused or followed by data: {head[:200]!r}")


def describe_bad(exchange: Exchange, tid: bytes, reply: bytes) -> str:
    """Say which part of a wrong reply is wrong (the slow path; right replies never get here)."""
    if exchange.kind == "ws":
        if reply[:4] != exchange.reply_tail[:4]:
            return f"frame header {reply[:4].hex(' ')} != {exchange.reply_tail[:4].hex(' ')}"
        return f"frame payload differs: {reply[4:200]!r}"
    if exchange.kind == "encrypted":
        if reply[:4] != exchange.reply_tail[:4]:
            return f"encrypted header {reply[:4].hex(' ')} != {exchange.reply_tail[:4].hex(' ')}"
        return f"encrypted payload differs ({len(reply)} bytes)"
    want = tid + exchange.reply_tail
    if reply[:2] != tid:
        return f"transaction id {reply[:2].hex()} answers another request than {tid.hex()}"
    for name, lo, hi in (("protocol id", 2, 4), ("length", 4, 6), ("unit", 6, 7),
                         ("function code", 7, 8), ("byte count", 8, 9)):
        if reply[lo:hi] != want[lo:hi]:
            return f"{name} {reply[lo:hi].hex()} != {want[lo:hi].hex()}"
    for i in range(9, max(len(reply), len(want)), 2):
        if reply[i:i + 2] != want[i:i + 2]:
            got, wanted = reply[i:i + 2].hex(), want[i:i + 2].hex()
            return f"register word {(i - 9) // 2} is {got or 'missing'}, not {wanted or 'none'}"
    return f"{len(reply)} bytes where {len(want)} were expected"


def run_connection(port: int, exchange: Exchange, warm_until: float, end_at: float) -> WorkerResult:
    """Drive one connection until ``end_at``; count what completes after ``warm_until``."""
    result = WorkerResult()
    kind = exchange.kind
    req_tail, reply_tail = exchange.request_tail, exchange.reply_tail
    size = exchange.reply_size
    plain = kind == "plain"
    clock, cpu = time.perf_counter, time.process_time
    measuring = False
    t0 = c0 = 0.0
    tid = 0
    head = b""
    with socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT_S) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upgrade(sock, exchange.handshake)
        send, recv = sock.sendall, sock.recv
        while True:
            if plain:
                tid = (tid + 1) & 0xFFFF
                head = tid.to_bytes(2, "big")
                send(head + req_tail)
            else:
                send(req_tail)
            data = recv(65536)
            if len(data) != size:
                data = _rest_of_frame(kind, data, recv)
            good = data[:2] == head and data[2:] == reply_tail if plain else data == reply_tail
            if not good:
                result.bad += 1
                if len(result.first_bad) < 3:
                    result.first_bad.append(describe_bad(exchange, head, data))
            now = clock()
            if measuring:
                result.replies += 1
                if now >= end_at:
                    result.wall_s, result.cpu_s = now - t0, cpu() - c0
                    return result
            elif now >= warm_until:
                measuring, t0, c0 = True, now, cpu()


class _Conn:
    """One non-blocking connection of a worker that drives several."""

    __slots__ = ("buf", "head", "sock", "tid")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.tid = 0
        self.head = b""


def run_connections(port: int, exchange: Exchange, count: int, warm_until: float,
                    end_at: float) -> WorkerResult:
    """Drive ``count`` connections from one process (epoll); one blocking socket if 1.

    The result is the process's total over its connections, counted from its first reply
    after ``warm_until`` to the last connection's first reply after ``end_at``.
    """
    if count == 1:
        return run_connection(port, exchange, warm_until, end_at)
    import select

    result = WorkerResult()
    kind = exchange.kind
    req_tail, reply_tail = exchange.request_tail, exchange.reply_tail
    size = exchange.reply_size
    plain = kind == "plain"
    clock, cpu = time.perf_counter, time.process_time
    measuring = False
    t0 = c0 = 0.0
    conns: dict[int, _Conn] = {}
    poller = select.epoll()
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upgrade(sock, exchange.handshake)
            sock.setblocking(False)
            conns[sock.fileno()] = _Conn(sock)
            poller.register(sock.fileno(), select.EPOLLIN)

        def send(c: _Conn) -> None:
            if plain:
                c.tid = (c.tid + 1) & 0xFFFF
                c.head = c.tid.to_bytes(2, "big")
                c.sock.send(c.head + req_tail)  # 12 bytes into an empty send buffer
            else:
                c.sock.send(req_tail)

        for c in conns.values():
            send(c)
        live = len(conns)
        while live:
            events = poller.poll(REPLY_TIMEOUT_S)
            if not events:
                raise TimeoutError(f"no reply within {REPLY_TIMEOUT_S} s")
            for fd, _mask in events:
                c = conns[fd]
                data = c.sock.recv(65536)
                if not data:
                    raise ConnectionError("the server closed the connection")
                if c.buf:
                    data = c.buf + data
                if len(data) != size:
                    need = frame_size(kind, data)
                    if need is None or len(data) < need:
                        c.buf = data
                        continue
                c.buf = b""
                if not (data[:2] == c.head and data[2:] == reply_tail if plain
                        else data == reply_tail):
                    result.bad += 1
                    if len(result.first_bad) < 3:
                        result.first_bad.append(describe_bad(exchange, c.head, data))
                now = clock()
                if measuring:
                    result.replies += 1
                    if now >= end_at:
                        poller.unregister(fd)
                        live -= 1
                        if not live:
                            result.wall_s, result.cpu_s = now - t0, cpu() - c0
                        continue
                elif now >= warm_until:
                    measuring, t0, c0 = True, now, cpu()
                send(c)
    finally:
        poller.close()
        for c in conns.values():
            c.sock.close()
    return result


def _rest_of_frame(kind: Kind, data: bytes, recv: Callable[[int], bytes]) -> bytes:
    """Receive until ``data`` holds one whole frame (as its own header sizes it)."""
    while True:
        need = frame_size(kind, data)
        if need is not None and len(data) >= need:
            return data
        more = recv(65536)
        if not more:
            raise ConnectionError("the server closed the connection")
        data += more


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) used so far by process ``pid`` (Linux /proc).

    Summed from each thread's ``schedstat`` (nanoseconds) where the kernel has it, else from
    ``stat`` (clock ticks, 10 ms): mock-sungrow serves from a loop thread, not its main thread.
    """
    try:
        return sum(_task_ns(pid, task) for task in os.listdir(f"/proc/{pid}/task")) / 1e9
    except (FileNotFoundError, IndexError, ValueError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds every CPU of the machine spent not idle so far (/proc/stat, 10 ms ticks).

    Includes time stolen by the hypervisor: CPU the benchmark's processes could not have.
    """
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _task_ns(pid: int, task: str) -> int:
    try:
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            return int(f.read().split()[0])
    except FileNotFoundError:  # a thread that ended since the listing; schedstat itself is
        if os.path.exists(f"/proc/{pid}/schedstat"):  # there, so only this thread is gone
            return 0
        raise


@dataclass
class Measurement:
    """One server, one connection count, one window: what the generator and the server did."""

    connections: int
    seconds: float
    workers: list[WorkerResult]
    server_cpu_s: float
    machine_busy_s: float

    @property
    def rate(self) -> float:
        """Requests per second, summed over connections (each over its own window)."""
        return sum(w.rate for w in self.workers)

    @property
    def bad(self) -> int:
        return sum(w.bad for w in self.workers)

    @property
    def errors(self) -> list[str]:
        return [w.error for w in self.workers if w.error]

    @property
    def generator_cpu(self) -> float:
        """The generator's CPU, in cores: the sum over its processes of CPU time / wall time."""
        return sum(w.cpu_share for w in self.workers)

    @property
    def generator_cpu_max(self) -> float:
        """The busiest generator process's CPU time / wall time."""
        return max((w.cpu_share for w in self.workers), default=0.0)

    @property
    def server_cpu(self) -> float:
        """The server process's CPU time (every thread) / the window's wall time."""
        return self.server_cpu_s / self.seconds

    @property
    def server_us_per_request(self) -> float:
        """The server's CPU per answered request: its cost, whoever else was busy."""
        replies = sum(w.replies for w in self.workers)
        return self.server_cpu_s / replies * 1e6 if replies else float("nan")

    @property
    def other_cpu(self) -> float:
        """Cores busy with anything but the server and the generator (other work, steal)."""
        return max(0.0, self.machine_busy_s / self.seconds - self.server_cpu
                   - self.generator_cpu)


def _worker(conn: multiprocessing.connection.Connection, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            result = run_connections(*job)
        except Exception as exc:  # noqa: BLE001 - reported to the coordinator, which fails
            result = WorkerResult(error=f"{type(exc).__name__}: {exc}")
        conn.send(result)


class LoadGenerator:
    """Persistent worker processes, each driving ``per_process`` connections at most.

    Workers are pinned round-robin to ``cpus`` (none: left to the scheduler).
    """

    def __init__(self, cpus: list[int], per_process: int = 1) -> None:
        # fork: the coordinator has no threads yet and imports nothing heavy, and a forked
        # worker is ready in a millisecond; spawn elsewhere.
        self._ctx = (multiprocessing.get_context("fork")
                     if "fork" in multiprocessing.get_all_start_methods()
                     else multiprocessing.get_context("spawn"))
        self.cpus = cpus
        self.per_process = per_process
        self._workers: list[tuple[multiprocessing.process.BaseProcess,
                                  multiprocessing.connection.Connection]] = []

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def processes_for(self, connections: int) -> int:
        return -(-connections // self.per_process)

    def start(self, connections: int) -> None:
        """Start the workers ``connections`` need (call before opening other pipes)."""
        while len(self._workers) < self.processes_for(connections):
            cpu = self.cpus[len(self._workers) % len(self.cpus)] if self.cpus else None
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(target=_worker, args=(child, cpu), daemon=True)
            proc.start()
            child.close()
            self._workers.append((proc, parent))

    def measure(self, port: int, exchange: Exchange, connections: int, seconds: float, *,
                server_pid: int, warm_s: float = 0.25) -> Measurement:
        """Run ``connections`` closed-loop connections; count ``seconds`` after ``warm_s``."""
        self.start(connections)
        procs = self.processes_for(connections)
        shares = [connections // procs + (i < connections % procs) for i in range(procs)]
        warm_until = time.perf_counter() + 0.05 + warm_s
        end_at = warm_until + seconds
        active = self._workers[:procs]
        for (_proc, conn), share in zip(active, shares, strict=True):
            conn.send((port, exchange, share, warm_until, end_at))
        time.sleep(max(0.0, warm_until - time.perf_counter()))
        cpu0, busy0, t0 = process_cpu_s(server_pid), machine_busy_s(), time.perf_counter()
        time.sleep(max(0.0, end_at - time.perf_counter()))
        cpu1, busy1, t1 = process_cpu_s(server_pid), machine_busy_s(), time.perf_counter()
        results = []
        for proc, conn in active:
            if not conn.poll(REPLY_TIMEOUT_S + seconds + warm_s + 5):
                raise RuntimeError(f"load worker {proc.pid} did not report")
            results.append(conn.recv())
        return Measurement(connections, t1 - t0, results, cpu1 - cpu0, busy1 - busy0)

    def close(self) -> None:
        for _proc, conn in self._workers:
            conn.send(None)
            conn.close()
        for proc, _conn in self._workers:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        self._workers = []
