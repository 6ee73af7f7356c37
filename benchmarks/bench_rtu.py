"""Reply times on the simulated RS485 line against the time a real line takes.

Not a test: it prints figures. For each baud rate and read size, a raw client on the pty
(no pymodbus: its own inter-frame waits would be measured too) writes one RTU request and
times until the last byte of the reply has arrived, ``--repeats`` times; the median is set
beside the theoretical line time:

    (request bytes + 3.5 characters of silence + reply bytes) x bits per character / baud
    + the configured turnaround

Target (issue 12): within 10 % of it at 9600 and 19200 baud.

    python benchmarks/bench_rtu.py [--repeats 9] [--turnaround 0.02]
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import struct
import time
import tty

from mock_sungrow import MockSungrowServer
from mock_sungrow.frontends.modbus.pdu import crc16


def crc(data: bytes) -> bytes:
    """The Modbus CRC-16 of ``data``, low byte first (the package's: this is no test)."""
    return crc16(data).to_bytes(2, "little")


def timed_read(fd: int, count: int) -> float:
    """Seconds from writing a read of ``count`` registers to its reply's last byte."""
    body = struct.pack(">BBHH", 1, 4, 5000, count)
    want = 5 + 2 * count
    start = time.perf_counter()
    os.write(fd, body + crc(body))
    got = b""
    while len(got) < want:
        if not select.select([fd], [], [], 5)[0]:
            raise SystemExit(f"no reply to a read of {count} registers")
        got += os.read(fd, want - len(got))
    took = time.perf_counter() - start
    if got[-2:] != crc(got[:-2]):
        raise SystemExit("a reply with a bad CRC")
    return took


def main() -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--turnaround", type=float, default=0.02,
                        help="the device turnaround configured (s; default 0.02)")
    args = parser.parse_args()
    print(f"{'baud':>6} {'regs':>5} {'theory ms':>10} {'median ms':>10} {'ratio':>6}")
    worst = 0.0
    for baud in (9600, 19200):
        with MockSungrowServer(server_type="rtu", rtu_baudrate=baud,
                               rtu_turnaround=args.turnaround) as server:
            fd = os.open(server.get_connection_info("rtu")["device"], os.O_RDWR | os.O_NOCTTY)
            tty.setraw(fd)
            try:
                for count in (1, 10, 50, 100):
                    chars = 8 + 3.5 + 5 + 2 * count
                    theory = chars * 10 / baud + args.turnaround
                    times = [timed_read(fd, count) for _ in range(args.repeats)]
                    median = statistics.median(times)
                    worst = max(worst, abs(median / theory - 1))
                    print(f"{baud:>6} {count:>5} {theory * 1000:>10.1f} {median * 1000:>10.1f} "
                          f"{median / theory:>6.3f}")
            finally:
                os.close(fd)
    verdict = "met" if worst <= 0.10 else "MISSED"
    print(f"largest deviation from the line time: {worst:.1%} (target <= 10 %: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
