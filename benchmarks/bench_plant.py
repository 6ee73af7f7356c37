"""Plant work per simulated day: integration alone, and integration plus a client's reads.

Not a test: it prints figures measured in one run. A day is 1440 one-minute steps of a
manual clock; "plant" takes one snapshot per minute (what any read costs first), "reads" adds
the register reads a monitoring client makes each minute, through the data blocks (no
sockets, so the figure is the simulator's own work).

The figure is CPU time of the measuring thread (``time.thread_time``): the work is one thread
of pure computation, so its CPU time is the simulator's cost even while other work shares the
machine, where wall time would add whatever the scheduler gave to others (printed alongside,
for comparison). Runs alternate (plant, reads, plant, reads...) so a busy moment hurts both
alike; the median of ``--repeats`` runs is reported, with the fastest. Every read is checked
(the documented number of words, each 0..65535), and the day must add yield to the total
counter, so a broken read path or a plant that never saw the sun cannot pass for fast.

    python benchmarks/bench_plant.py [--repeats 3] [--models SG5K-D SH10RT]

Target (issue #5): a simulated day of one-minute reads well under a second of plant work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from mock_sungrow import ManualClock, MockSungrowServer

Table = Literal["input", "holding"]

#: Per model family, the reads a client makes each minute (documented address, count).
READS: dict[str, list[tuple[Table, int, int]]] = {
    "string": [("input", 5001, 38), ("input", 5083, 22), ("holding", 5000, 10)],
    "hybrid": [("input", 5001, 38), ("input", 5214, 2), ("input", 5601, 8),
               ("input", 13000, 100), ("holding", 5000, 10), ("holding", 13050, 51)],
}


def one_day(model: str, with_reads: bool) -> tuple[float, float, float]:
    """CPU seconds and wall seconds of one day, and the kWh the day added to the total."""
    clock = ManualClock(datetime(2026, 1, 10, 0, 0, tzinfo=ZoneInfo("Australia/Sydney")))
    server = MockSungrowServer(model=model, clock=clock, server_type="modbus", modbus_port=0)
    reads = READS[server.model.family] if with_reads else []
    before = float(server.read("total_power_yields"))
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(1440):
        clock.advance(60)
        server.snapshot()
        for table, address, count in reads:
            words = server.read_registers(table, address, count)
            if len(words) != count or not all(0 <= w <= 0xFFFF for w in words):
                raise RuntimeError(f"{model}: {table} {address}+{count} read {words!r}")
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    added = float(server.read("total_power_yields")) - before
    if added <= 0:
        raise RuntimeError(f"{model}: a summer day in Sydney added {added} kWh")
    return cpu, wall, added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["SG5K-D", "SG10RT", "SH10RT"])
    args = parser.parse_args()
    print(f"CPU seconds per simulated day, median (fastest) of {args.repeats} alternating runs; "
          "wall seconds (median) for comparison")
    print(f"{'model':<10}{'plant':>16}{'plant+reads':>16}{'wall plant':>12}{'wall +reads':>12}"
          f"{'kWh/day':>9}")
    worst = 0.0
    for model in args.models:
        plant, reads = [], []
        for _ in range(args.repeats):
            plant.append(one_day(model, False))
            reads.append(one_day(model, True))
        med = statistics.median
        p, r = med(c for c, _w, _k in plant), med(c for c, _w, _k in reads)
        worst = max(worst, r)
        print(f"{model:<10}{p:>9.3f} ({min(c for c, _w, _k in plant):.3f})"
              f"{r:>9.3f} ({min(c for c, _w, _k in reads):.3f})"
              f"{med(w for _c, w, _k in plant):>12.3f}{med(w for _c, w, _k in reads):>12.3f}"
              f"{reads[0][2]:>9.1f}")
    verdict = "meets" if worst < 1.0 else "MISSES"
    print(f"\nslowest day with reads: {worst:.3f} CPU s ({verdict} the target: under 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
