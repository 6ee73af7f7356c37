"""Plant work per simulated day: integration alone, and integration plus a client's reads.

Not a test: it prints figures measured in one run. A day is 1440 one-minute steps of a
manual clock; "plant" takes one snapshot per minute (what any read costs first), "reads" adds
the register reads a monitoring client makes each minute, through the data blocks (no
sockets, so the figure is the simulator's own work). Best of ``--repeats`` runs.

    python benchmarks/bench_plant.py [--repeats 3] [--models SG5K-D SH10RT]

Target (issue #5): a simulated day of one-minute reads well under a second of plant work.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from mock_sungrow import ManualClock, MockSungrowServer

#: Per model family, the reads a client makes each minute (documented address, count).
READS = {
    "string": [("input", 5001, 38), ("input", 5083, 22), ("holding", 5000, 10)],
    "hybrid": [("input", 5001, 38), ("input", 5214, 2), ("input", 5601, 8),
               ("input", 13000, 100), ("holding", 5000, 10), ("holding", 13050, 51)],
}


def one_day(model: str, with_reads: bool) -> float:
    clock = ManualClock(datetime(2026, 1, 10, 0, 0, tzinfo=ZoneInfo("Australia/Sydney")))
    server = MockSungrowServer(model=model, clock=clock, server_type="modbus", modbus_port=0)
    reads = READS[server.model.family] if with_reads else []
    start = time.perf_counter()
    for _ in range(1440):
        clock.advance(60)
        server.snapshot()
        for table, address, count in reads:
            server.read_registers(table, address, count)  # type: ignore[arg-type]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["SG5K-D", "SG10RT", "SH10RT"])
    args = parser.parse_args()
    print(f"{'model':<10}{'plant s/day':>14}{'plant+reads s/day':>20}")
    for model in args.models:
        plant = min(one_day(model, False) for _ in range(args.repeats))
        reads = min(one_day(model, True) for _ in range(args.repeats))
        print(f"{model:<10}{plant:>14.3f}{reads:>20.3f}")


if __name__ == "__main__":
    main()
