"""WiNet-S request path of mock-sungrow against a bare aiohttp server answering the same bytes.

Not a test: it prints figures measured in one run, compared with a baseline measured on the same
machine at the same moment. Two requests, each on 1 and 8 connections (issue #13, item 3):

* HTTP ``GET /device/getParam?type=3`` reading input 5001-5038 (SunGather's first block, spec
  §4.1), driven by Debian's ``wrk`` (C, epoll; ``--threads`` = the generator's CPUs, keep-alive
  connections, one request in flight each);
* the WebSocket service ``real`` (spec §3.4) on ``/ws/home/overview``, driven by the raw-socket
  generator of modbus_load.py (worker processes, one upgraded connection each at most
  ``--per-process`` per process, one frame in flight per connection).

mock-sungrow runs with its plant held at one instant (a manual clock nobody moves), so both
replies are constant; the bare server (winet_servers.BARE_SERVER: one aiohttp handler per route,
``web.Response(text=...)`` / ``ws.send_str(...)`` with the same content type) is given exactly
those bytes. Each server runs in its own process, pinned to the last CPU; the generators are
pinned to the others.

**Every reply is checked.** Before the load starts the replies are checked against the protocol
document, not against the product: getParam must be HTTP 200, ``application/json``, result code
1 and ``param_value`` the words read through the Python API printed as the spec says (uppercase
hex bytes, one space each, a trailing space); ``real`` must be result code 1 echoing the service
with a ``list`` of string triples (``data_name``, ``data_value``, ``data_unit``) and an integer
``count`` equal to its length. Under load wrk's Lua script compares every reply's status,
content type and whole body with those bytes, and the WebSocket generator every whole frame
(header and payload). One wrong reply makes the run exit 1.

    python benchmarks/bench_winet.py [--seconds 2] [--repeats 5] [--connections 1 8]
                                     [--seed N] [--per-process 4] [--model SH10RT]
                                     [--before-src DIR]

``--before-src DIR`` adds a third server to every round, mock-sungrow imported from ``DIR``
(the ``src`` of another checkout: ``git archive <commit> src | tar -x -C /tmp/base``), so a
change is measured before and after in the same rounds, each against the same bare server.

**Ratio** (as bench_modbus.py): ratio(A, B) is the median, over rounds, of A's requests per
second divided by B's in the same round; the two servers run in a random order in every round
(seeded, printed; ``--seed`` repeats it). Target (issue #13): mock-sungrow >= 0.70 of the bare
server for getParam and for ``real``, on 1 and on 8 connections. CPU columns as bench_modbus.py:
generator (wrk's threads or the load processes), its busiest process, the server, the rest of the
machine ("other"), and the server's CPU per answered request.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench_modbus import (
    CLIENT_CPUS,
    CPUS,
    SERVER_CPU,
    contended,
    describe,
    generator_bound,
    run_server,
)
from modbus_load import (
    Exchange,
    LoadGenerator,
    Measurement,
    WorkerResult,
    frame_size,
    machine_busy_s,
    process_cpu_s,
    upgrade,
)
from winet_servers import BARE_SERVER, MOCK_WINET_SERVER, WRK_CHECK

ADDRESS, COUNT = 5001, 38  # input registers, documented numbers (spec §4.1's example)
SERIAL = "BENCH00001"
AT = "2026-06-21T03:00:00+00:00"  # a fixed instant with sun on the default site
MOCK, BARE, BEFORE = "mock-sungrow", "bare aiohttp", "mock (before)"
GET_PARAM, REAL = "getParam", "real"
TARGET = 0.70
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key: the server may not care
MASK = b"\x37\xfa\x21\x3d"


@dataclass
class Server:
    """A running server process and what its two requests must get."""

    name: str
    pid: int
    port: int
    token: str  # from its /user/connect

    @property
    def path(self) -> str:
        """The getParam path and query."""
        return get_param_path(self.token)

    @property
    def real_frame(self) -> bytes:
        """The WebSocket frame asking for ``real``."""
        return ws_frame(real_request(self.token))


def ws_frame(text: str) -> bytes:
    """A masked client text frame (RFC 6455 §5.2)."""
    payload = text.encode()
    n = len(payload)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + n.to_bytes(2, "big"))
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + MASK + masked


def server_frame(payload: bytes) -> bytes:
    """The unmasked text frame a server sends with ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 65536:
        return bytes([0x81, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x81, 127]) + n.to_bytes(8, "big") + payload


def handshake(port: int) -> bytes:
    return (f"GET /ws/home/overview HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


def real_request(token: str) -> str:
    return json.dumps({"lang": "en_us", "token": token, "service": "real", "dev_id": "1",
                       "time123456": 1661762597181}, separators=(",", ":"))


def ws_probe(port: int, frame: bytes) -> bytes:
    """One real round trip: the whole frame the server answers ``frame`` with."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        upgrade(sock, handshake(port))
        sock.sendall(frame)
        data = b""
        while (need := frame_size("ws", data)) is None or len(data) < need:
            more = sock.recv(65536)
            if not more:
                raise RuntimeError("the server closed the WebSocket before answering")
            data += more
        return data


def http_get(port: int, path: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def check_get_param(status: int, ctype: str, body: bytes, words: list[int]) -> None:
    """getParam as spec §4.1 documents it, the words read through the Python API."""
    reply = json.loads(body)
    want = "".join(f"{w >> 8:02X} {w & 0xFF:02X} " for w in words)
    if status != 200 or ctype != "application/json; charset=utf-8":
        raise RuntimeError(f"getParam answered {status} {ctype!r}")
    if reply.get("result_code") != 1 or reply["result_data"].get("param_value") != want:
        raise RuntimeError(f"getParam answered {reply!r}, not param_value {want!r}")


def check_real(frame: bytes) -> bytes:
    """``real`` as spec §3.4 documents it; returns the frame's payload."""
    payload = frame[2 + {126: 2, 127: 8}.get(frame[1] & 0x7F, 0):]
    if frame[0] != 0x81:
        raise RuntimeError(f"real answered with frame type {frame[0]:#x}")
    reply = json.loads(payload)
    data = reply.get("result_data", {})
    items = data.get("list")
    ok = (reply.get("result_code") == 1 and data.get("service") == "real"
          and isinstance(items, list) and items and data.get("count") == len(items)
          and all(isinstance(i, dict) and sorted(i) == ["data_name", "data_unit", "data_value"]
                  and all(isinstance(v, str) for v in i.values()) for i in items))
    if not ok:
        raise RuntimeError(f"real answered {payload[:300]!r}")
    return payload


def get_param_path(token: str) -> str:
    return (f"/device/getParam?dev_id=1&dev_type=35&dev_code=3587&type=3&param_addr={ADDRESS}"
            f"&param_num={COUNT}&param_type=0&token={token}&lang=en_us&time123456=1795605762")


def start_mock(stack: ExitStack, name: str, model: str, src: str | None = None
               ) -> tuple[Server, list[int]]:
    """A mock-sungrow process (imported from ``src`` if given) and the words it serves."""
    argv = [sys.executable, "-c", MOCK_WINET_SERVER, model, SERIAL, AT, str(ADDRESS), str(COUNT)]
    if src is not None:
        argv = ["env", f"PYTHONPATH={src}", *argv]  # env execs python: the pid stays
    pid, line = stack.enter_context(run_server(argv))
    ready = json.loads(line)
    port = ready["port"]
    token = json.loads(http_get(port, "/user/connect")[2])["result_data"]["token"]
    return Server(name, pid, port, token), ready["words"]


def start_servers(stack: ExitStack, model: str, workdir: Path, before: str | None
                  ) -> tuple[dict[str, Server], bytes]:
    """The servers, their replies checked; returns them and ``real``'s reply frame."""
    mock, words = start_mock(stack, MOCK, model)
    status, ctype, get_body = http_get(mock.port, mock.path)
    check_get_param(status, ctype, get_body, words)
    real_reply = ws_probe(mock.port, mock.real_frame)
    real_payload = check_real(real_reply)
    if (http_get(mock.port, mock.path)[2] != get_body
            or ws_probe(mock.port, mock.real_frame) != real_reply):
        raise RuntimeError("mock-sungrow's replies changed between two requests")
    (workdir / "getparam.json").write_bytes(get_body)
    (workdir / "real.json").write_bytes(real_payload)
    servers = {MOCK: mock}
    argv = [sys.executable, "-c", BARE_SERVER, str(workdir / "getparam.json"),
            str(workdir / "real.json")]
    bare_pid, line = stack.enter_context(run_server(argv))
    servers[BARE] = Server(BARE, bare_pid, int(line), mock.token)  # it ignores the token
    if before is not None:
        old, old_words = start_mock(stack, BEFORE, model, before)
        if old_words != words:
            raise RuntimeError(f"{BEFORE} serves {old_words}, mock-sungrow {words}")
        servers[BEFORE] = old
    for s in servers.values():
        status, ctype, body = http_get(s.port, s.path)
        if (status, ctype, body) != (200, "application/json; charset=utf-8", get_body):
            raise RuntimeError(f"{s.name} answers getParam {status} {ctype!r} {body[:80]!r}")
        if ws_probe(s.port, s.real_frame) != real_reply:
            raise RuntimeError(f"{s.name} answers real with other bytes")
    return servers, real_reply


def _pin_client() -> None:
    if CLIENT_CPUS:
        os.sched_setaffinity(0, set(CLIENT_CPUS))


def wrk_measure(wrk: str, lua: Path, body: Path, server: Server, *, connections: int,
                seconds: float) -> Measurement:
    """One wrk run; the generator's CPU is wrk's (a reaped child's rusage)."""
    threads = min(connections, max(1, len(CLIENT_CPUS)))
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
            "-s", str(lua), f"http://127.0.0.1:{server.port}{server.path}", "--", str(body)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0, busy0, t0 = process_cpu_s(server.pid), machine_busy_s(), time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=False,
                         preexec_fn=_pin_client)
    cpu1, busy1, t1 = process_cpu_s(server.pid), machine_busy_s(), time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
    if out.returncode or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr[-500:]}")
    requests, duration_us, bad, *errors = (int(x) for x in line.split()[1:])
    first = next((x[7:] for x in out.stdout.splitlines() if x.startswith("WRKBAD ")), "")
    result = WorkerResult(replies=requests, bad=bad + sum(errors), wall_s=duration_us / 1e6,
                          cpu_s=(after.ru_utime + after.ru_stime)
                          - (before.ru_utime + before.ru_stime))
    if bad:
        result.first_bad.append(first)
    if sum(errors):
        result.first_bad.append(f"wrk errors connect/read/write/status/timeout {errors}")
    # wrk's threads are one process: its CPU share is reported as one "process" whose share
    # may reach the number of threads.
    return Measurement(connections, t1 - t0, [result], cpu1 - cpu0, busy1 - busy0)


Rounds = dict[tuple[str, str, int], list[Measurement]]


def ratio(rounds: Rounds, request: str, n: int, name: str = MOCK) -> float:
    """THE ratio: median over rounds of ``name``'s req/s / the bare server's, same round."""
    return statistics.median(a.rate / b.rate for a, b in zip(
        rounds[request, name, n], rounds[request, BARE, n], strict=True))


def cost_ratio(rounds: Rounds, request: str, n: int, name: str = MOCK) -> float:
    """Median over rounds of the bare server's CPU per reply / ``name``'s, same round.

    What the throughput ratio would be if the server's CPU were the only limit: a shared
    machine that starves both servers (column "other") moves it much less than req/s.
    """
    return statistics.median(b.server_us_per_request / a.server_us_per_request
                             for a, b in zip(rounds[request, name, n], rounds[request, BARE, n],
                                             strict=True))


def report(rounds: Rounds, names: list[str], connections: list[int]) -> None:
    med = statistics.median
    print("\nmedians over rounds; ratio = median over rounds of (mock-sungrow req/s / bare "
          "aiohttp req/s in the same round); CPU in cores; srv us/req = server CPU per reply; "
          "cpu/bare = median of (bare's srv us/req / this one's), same round")
    print(f"{'request':<10}{'server':<14}{'conn':>5}{'req/s':>10}{'/bare':>7}{'generator':>11}"
          f"{'busiest':>9}{'server':>8}{'other':>7}{'srv us/req':>11}{'cpu/bare':>9}")
    for request in (GET_PARAM, REAL):
        for n in connections:
            for name in names:
                ms = rounds[request, name, n]
                print(f"{request:<10}{name:<14}{n:>5}{med(m.rate for m in ms):>10,.0f}"
                      f"{ratio(rounds, request, n, name):>7.2f}"
                      f"{med(m.generator_cpu for m in ms):>11.2f}"
                      f"{med(m.generator_cpu_max for m in ms):>9.2f}"
                      f"{med(m.server_cpu for m in ms):>8.2f}{med(m.other_cpu for m in ms):>7.2f}"
                      f"{med(m.server_us_per_request for m in ms):>11.1f}"
                      f"{cost_ratio(rounds, request, n, name):>9.2f}")
    print()
    for request in (GET_PARAM, REAL):
        for n in connections:
            value = ratio(rounds, request, n)
            verdict = "meets" if value >= TARGET else "MISSES"
            old = (f"; before: {ratio(rounds, request, n, BEFORE):.2f}" if BEFORE in names
                   else "")
            print(f"{request} on {n} connection(s): {value:.2f} of the bare aiohttp server "
                  f"({verdict} the {TARGET:.2f} target){old}; CPU per reply "
                  f"{cost_ratio(rounds, request, n):.2f} of the bare server's")
    for (request, name, n), ms in rounds.items():
        if sum(map(generator_bound, ms)) * 2 > len(ms):
            print(f"WARNING: {request} {name} on {n} connection(s) was GENERATOR-BOUND in most "
                  "rounds: that figure is the load generator's, not the server's")
    busy = sum(map(contended, (m for ms in rounds.values() for m in ms)))
    if busy:
        print(f"WARNING: other work took >= 0.2 core during {busy} of "
              f"{sum(map(len, rounds.values()))} figures (column 'other')")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per figure")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5, help="rounds (medians are taken)")
    parser.add_argument("--seed", type=int, default=None, help="server order (default: random)")
    parser.add_argument("--per-process", type=int, default=4, metavar="K",
                        help="WebSocket connections per load process (default %(default)s)")
    parser.add_argument("--model", default="SH10RT", help="inverter model (default %(default)s)")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--before-src", metavar="DIR",
                        help="also measure mock-sungrow imported from DIR (another checkout)")
    args = parser.parse_args()
    if min(args.connections) < 1 or args.repeats < 1 or args.seconds <= 0 or args.per_process < 1:
        parser.error("--connections, --repeats, --seconds and --per-process must be positive")
    if not os.access(args.wrk, os.X_OK):
        parser.error(f"wrk not found at {args.wrk} (Debian: apt-get install wrk)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    _pin_client()
    print(f"python {sys.version.split()[0]}, {args.model} at {AT} (plant held); getParam type 3 "
          f"input {ADDRESS}x{COUNT} with wrk, WebSocket real with raw sockets; {args.repeats} "
          f"rounds x {args.seconds:g} s per figure, server order seed {seed}")
    with (LoadGenerator(CLIENT_CPUS, args.per_process) as generator, ExitStack() as stack,
          tempfile.TemporaryDirectory() as tmp):
        generator.start(max(args.connections))  # forks before any server pipe exists
        where = (f"{len(CPUS)} CPUs: both servers pinned to CPU {SERVER_CPU}, wrk and the "
                 f"WebSocket load processes to CPU {', '.join(map(str, CLIENT_CPUS))}"
                 if SERVER_CPU is not None else "1 CPU: servers and generators share it")
        print(where + "; other work on a shared machine is not pinned (column 'other')")
        workdir = Path(tmp)
        lua = workdir / "check.lua"
        lua.write_text(WRK_CHECK)
        servers, real_reply = start_servers(stack, args.model, workdir, args.before_src)
        rounds: Rounds = {}
        print()
        for r in range(args.repeats):
            for n in args.connections:
                for request in (GET_PARAM, REAL):
                    order = list(servers)
                    rng.shuffle(order)
                    for name in order:
                        s = servers[name]
                        if request == GET_PARAM:
                            m = wrk_measure(args.wrk, lua, workdir / "getparam.json", s,
                                            connections=n, seconds=args.seconds)
                        else:
                            exchange = Exchange("ws", s.real_frame, real_reply,
                                                handshake(s.port))
                            m = generator.measure(s.port, exchange, n, args.seconds,
                                                  server_pid=s.pid)
                        if m.errors:
                            raise RuntimeError(f"{request} {name} {n}: {'; '.join(m.errors)}")
                        rounds.setdefault((request, name, n), []).append(m)
                        flag = f"  {m.bad} BAD REPLIES" if m.bad else ""
                        print(f"round {r + 1} {n:>2} conn  {request:<9}{name:<14}{describe(m)}"
                              f"{flag}", flush=True)
    report(rounds, [n for n in (BARE, MOCK, BEFORE) if n in servers], args.connections)
    bad = sum(m.bad for ms in rounds.values() for m in ms)
    if bad:
        firsts = [d for ms in rounds.values() for m in ms for w in m.workers for d in w.first_bad]
        print(f"\nFAIL: {bad} replies were wrong, e.g. {'; '.join(firsts[:5])}", file=sys.stderr)
        return 1
    print("\nevery reply was checked: getParam's status, content type and whole body (wrk's "
          "Lua), real's whole frame (header and payload)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
