"""Fleet mode's cost per inverter: start time, memory and read latency under a fleet's poll.

For each size (100, 1,000 and 10,000 inverters by default; 60 % SG5K-D, 40 % SH10RT, each
with its own Modbus TCP port) a fleet file is written and ``mock-sungrow fleet`` started in
its own process; **ready** is the time from spawning it to its ready line (interpreter start,
imports, building and binding every site), **RSS** the process's resident memory once ready
and its peak (VmHWM) after the poll. Then every inverter is polled every ``--interval``
seconds (default 10, phases spread evenly) by a load generator of ``--workers`` processes on
loopback: one FC4 read of input 5004-5043 (40 registers, both families serve them) per poll.
Before the poll every site is read once, two at a time (**1st ms**, the median read, and
**1st CPU**, the server's CPU per site): that read seeds the site's plant (today's energy so
far, integrated from midnight), a one-off cost of milliseconds that 10,000 sites would
otherwise all pay inside the poll's first round. Then,
**latency** is from writing the request to having the whole reply, p50 and p99 over every
poll of ``--rounds`` rounds after one warm-up round; **CPU us/poll** the server process's CPU
time over the poll (warm-up included) per poll, which a busy shared machine inflates less
than it inflates latency (the load average is printed first). A reply that is not a
well-formed answer to its request (transaction id, unit, function, byte count) counts as an
error; the run exits 1 if any happened.

Beside them, in the same run, the same figures for ``--singles`` (default 100) stand-alone
``MockSungrowServer``s (the way before fleets: a thread and a loop each), in one process.

Connections stay open between polls while the server process may hold every listener and
every connection (RLIMIT_NOFILE, raised to its hard limit); otherwise each poll connects,
reads and closes (with RST, so no TIME_WAIT piles up), and the table says "per poll". On the
shared 2-core machine the server runs on CPU 1 and the load generator on CPU 0.

    nice python benchmarks/bench_fleet.py [--sizes 100 1000 10000] [--singles 100]
                                          [--interval 10] [--rounds 2] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ADDRESS, COUNT = 5003, 40  # wire address (documented 5004) and registers per poll
TARGETS = {1000: (5.0, 100.0), 10000: (None, 1000.0)}
P99_TARGET_MS = 20.0
#: A poll not answered within this long is an error (and its connection is dropped).
TIMEOUT_S = 5.0


# ---------------------------------------------------------------------------------- servers

def fleet_file(path: Path, size: int) -> None:
    hybrids = size * 2 // 5
    path.write_text(f"""
[[group]]
name = "sg"
count = {size - hybrids}
model = "SG5K-D"
ports = {{ modbus = 0 }}
[[group]]
name = "sh"
count = {hybrids}
model = "SH10RT"
ports = {{ modbus = 0 }}
""")


def serve_singles(count: int, endpoints_out: str) -> None:
    """Stand-alone servers (one thread and loop each), for the comparison; until SIGTERM."""
    from mock_sungrow.server import MockSungrowServer

    servers = []
    for i in range(count):
        model = "SH10RT" if i >= count - count * 2 // 5 else "SG5K-D"
        servers.append(MockSungrowServer(modbus_port=0, server_type="modbus", model=model,
                                         seed=i, request_log_size=100).start())
    sites = [{"id": f"s{i}", "endpoints": {"modbus": s.get_connection_info("modbus")}}
             for i, s in enumerate(servers)]
    Path(endpoints_out).write_text(json.dumps({"sites": sites}))
    print(json.dumps({"sites": count}), flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    for s in servers:
        s.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of process ``pid`` in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def start_server(command: list[str], cpu: int | None) -> tuple[subprocess.Popen[str], float]:
    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    t0 = time.perf_counter()
    # stderr goes to a file: a pipe nobody reads while the load runs would block the server
    # as soon as it logs 64 KiB (asyncio logs every failed accept once descriptors run out).
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - kept open with the process
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                            preexec_fn=pin)  # noqa: PLW1509 - affinity before the server runs
    assert proc.stdout is not None
    line = proc.stdout.readline()
    ready = time.perf_counter() - t0
    if not line:
        proc.wait()
        log.seek(0)
        raise SystemExit(f"server failed: {log.read()}")
    return proc, ready


# ---------------------------------------------------------------------------------- load

@dataclass(frozen=True)
class Load:
    """How the load generator polls: every ``interval`` s, ``rounds`` rounds after a warm-up."""

    interval: float
    rounds: int
    workers: int
    persistent: bool
    cpu: int | None


def request(tid: int) -> bytes:
    return struct.pack(">HHHBBHH", tid, 0, 6, 1, 4, ADDRESS, COUNT)


async def poll_one(port: int, phase: float, start: float, load: Load, *, out: list[float],
                   errors: list[str]) -> None:
    interval, rounds, persistent = load.interval, load.rounds, load.persistent
    reader = writer = None
    tid = random.randrange(1, 60000)
    expected_len = 9 + 2 * COUNT
    for r in range(rounds + 1):
        await asyncio.sleep(max(0.0, start + phase + r * interval - time.monotonic()))
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), TIMEOUT_S)
            assert reader is not None
            assert writer is not None
            tid = tid % 65535 + 1
            t0 = time.perf_counter()
            writer.write(request(tid))
            reply = await asyncio.wait_for(reader.readexactly(expected_len), TIMEOUT_S)
            elapsed = time.perf_counter() - t0
            rtid, proto, length, unit, fc, nbytes = struct.unpack(">HHHBBB", reply[:9])
            if (rtid, proto, length, unit, fc, nbytes) != (tid, 0, 3 + 2 * COUNT, 1, 4,
                                                           2 * COUNT):
                errors.append(f"port {port}: bad reply header {reply[:9].hex()}")
            elif r:  # round 0 warms up
                out.append(elapsed)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            errors.append(f"port {port}: {exc!r}")
            if writer is not None:
                writer.close()
            writer = None
        if writer is not None and not persistent:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def worker(ports: list[tuple[int, float]], start: float, load: Load, queue: Any) -> None:
    if load.cpu is not None:
        os.sched_setaffinity(0, {load.cpu})
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    latencies: list[float] = []
    errors: list[str] = []

    async def main() -> None:
        await asyncio.gather(*(poll_one(port, phase, start, load, out=latencies, errors=errors)
                               for port, phase in ports))

    asyncio.run(main())
    queue.put((latencies, errors[:20], len(errors)))


def poll(ports: list[int], load: Load) -> tuple[list[float], list[str], int]:
    phases = [(port, load.interval * i / len(ports)) for i, port in enumerate(ports)]
    workers = load.workers
    start = time.monotonic() + 2.0  # every worker connects its first round from here
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(phases[w::workers], start, load, queue))
             for w in range(workers)]
    for p in procs:
        p.start()
    latencies: list[float] = []
    samples: list[str] = []
    errors = 0
    for _ in procs:
        got, sample, count = queue.get()
        latencies += got
        samples += sample
        errors += count
    for p in procs:
        p.join()
    return latencies, samples, errors


async def _first_reads(ports: list[int], concurrency: int) -> tuple[list[float], list[str]]:
    """Read every site once, ``concurrency`` at a time: each read's time, and the errors."""
    gate = asyncio.Semaphore(concurrency)
    times: list[float] = []
    errors: list[str] = []

    async def one(port: int) -> None:
        async with gate:
            t0 = time.perf_counter()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), TIMEOUT_S)
                writer.write(request(1))
                reply = await asyncio.wait_for(reader.readexactly(9 + 2 * COUNT), TIMEOUT_S)
                writer.get_extra_info("socket").setsockopt(  # RST: no TIME_WAIT pile-up
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.close()
                if reply[:2] != b"\x00\x01" or reply[7] != 4:
                    errors.append(f"port {port}: bad first reply {reply[:9].hex()}")
                times.append(time.perf_counter() - t0)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                errors.append(f"port {port}: first read {exc!r}")

    await asyncio.gather(*(one(port) for port in ports))
    return times, errors


def first_reads(ports: list[int], cpu: int | None) -> tuple[list[float], list[str]]:
    """The first read of every site, before the poll: it seeds the site's plant (today's
    energy so far, integrated from midnight), a one-off cost the poll would otherwise pay in
    its warm-up round, 10,000 of them at once (tens of seconds of CPU), and that no later
    poll pays again. Two at a time, so the figure is the read's cost, not a queue's."""
    before = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        return asyncio.run(_first_reads(ports, 2))
    finally:
        os.sched_setaffinity(0, before)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_case(label: str, command: list[str], endpoints: Path, load: Load,
             server_cpu: int | None) -> tuple[dict[str, Any], int]:
    proc, ready = start_server(command, server_cpu)
    try:
        rss, _ = rss_mb(proc.pid)
        sites = json.loads(endpoints.read_text())["sites"]
        ports = [s["endpoints"]["modbus"]["port"] for s in sites]
        soft = int(next(line.split()[3] for line in
                        Path(f"/proc/{proc.pid}/limits").read_text().splitlines()
                        if line.startswith("Max open files")))
        persistent = 2 * len(ports) + 200 <= soft
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        first, first_errors = first_reads(ports, load.cpu)
        first_cpu = cpu_seconds(proc.pid) - cpu0
        print(f"  {label} of {len(ports)}: ready in {ready:.1f} s, first reads in "
              f"{time.perf_counter() - t0:.1f} s ({len(first_errors)} errors)", flush=True)
        cpu0 = cpu_seconds(proc.pid)
        latencies, samples, errors = poll(ports, replace(load, persistent=persistent))
        cpu = cpu_seconds(proc.pid) - cpu0
        _, peak = rss_mb(proc.pid)
    finally:
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        print(f"  stopped in {time.perf_counter() - t0:.1f} s", flush=True)
    for line in (first_errors + samples)[:5]:
        print(f"  error: {line}", file=sys.stderr)
    errors += len(first_errors)
    row = {"label": label, "inverters": len(ports), "ready_s": ready, "rss_mb": rss,
           "first_ms": percentile(first, 0.5) * 1000,
           "first_cpu_ms": first_cpu / max(1, len(ports)) * 1000,
           "peak_mb": peak, "p50_ms": percentile(latencies, 0.5) * 1000,
           "p99_ms": percentile(latencies, 0.99) * 1000, "polls": len(latencies),
           # Server CPU over the whole poll (warm-up round included) per poll made.
           "cpu_us": cpu / max(1, len(ports) * (load.rounds + 1)) * 1e6,
           "connections": "kept" if persistent else "per poll", "errors": errors}
    return row, errors


def verdict(row: dict[str, Any]) -> str:
    ready_target, rss_target = TARGETS.get(row["inverters"], (None, None))
    parts = []
    if ready_target is not None:
        parts.append(f"ready {'ok' if row['ready_s'] <= ready_target else 'MISSED'} "
                     f"(<= {ready_target:g} s)")
    if rss_target is not None:
        parts.append(f"RSS {'ok' if row['peak_mb'] <= rss_target else 'MISSED'} "
                     f"(<= {rss_target:g} MB)")
    parts.append(f"p99 {'ok' if row['p99_ms'] <= P99_TARGET_MS else 'MISSED'} "
                 f"(<= {P99_TARGET_MS:g} ms)")
    return ", ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--singles", type=int, default=100,
                        help="stand-alone servers to compare with (0: none)")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--serve-singles", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--endpoints-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_singles is not None:
        serve_singles(args.serve_singles, args.endpoints_out)
        return 0
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, load_cpu = (cpus[1], cpus[0]) if len(cpus) >= 2 else (None, None)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"{len(cpus)} CPUs; server on CPU {server_cpu}, load generator on CPU {load_cpu}; "
          f"every inverter polled every {args.interval:g} s, {args.rounds} rounds after one "
          "warm-up round; one FC4 read of 40 registers per poll")
    load = Load(args.interval, args.rounds, args.workers, persistent=True, cpu=load_cpu)
    rows = []
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        if args.singles:
            endpoints = Path(tmp) / "singles.json"
            command = [sys.executable, __file__, "--serve-singles", str(args.singles),
                       "--endpoints-out", str(endpoints)]
            row, errors = run_case("stand-alone servers", command, endpoints, load,
                                   server_cpu)
            rows.append(row)
            failures += errors
        for size in args.sizes:
            path, endpoints = Path(tmp) / f"fleet{size}.toml", Path(tmp) / f"ep{size}.json"
            fleet_file(path, size)
            command = [sys.executable, "-m", "mock_sungrow", "fleet", str(path), "--no-control",
                       "--endpoints-out", str(endpoints)]
            row, errors = run_case("fleet", command, endpoints, load, server_cpu)
            rows.append(row)
            failures += errors
    print(f"\n{'':<20}{'inverters':>10}{'ready s':>9}{'RSS MB':>8}{'peak MB':>9}"
          f"{'1st ms':>8}{'1st CPU':>8}{'p50 ms':>8}"
          f"{'p99 ms':>8}{'polls':>8}{'CPU us/poll':>12}  connections  errors  verdict")
    for r in rows:
        print(f"{r['label']:<20}{r['inverters']:>10}{r['ready_s']:>9.2f}{r['rss_mb']:>8.1f}"
              f"{r['peak_mb']:>9.1f}{r['first_ms']:>8.2f}{r['first_cpu_ms']:>8.2f}"
              f"{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}{r['polls']:>8}"
              f"{r['cpu_us']:>12.0f}  "
              f"{r['connections']:<11}  {r['errors']:>6}  "
              f"{verdict(r) if r['label'] == 'fleet' else ''}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
