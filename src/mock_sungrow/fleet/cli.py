"""``mock-sungrow fleet FILE``: serve a fleet file (or one shard of it) until interrupted.

Once every endpoint accepts connections it writes the endpoints file (``--endpoints-out``:
``{"sites": [{"id", "group", "model", "serial", "endpoints": {kind: {"host", "port"}}}, ...]}``,
written whole to a temporary name and renamed, so a reader never sees half of it) and then
prints one short JSON line on stdout: the counts, the shard, the control API and the endpoints
file (a fleet of ten thousand sites would make the single server's ready line megabytes
long). A bad file or argument exits with 2 before anything binds; SIGINT and SIGTERM stop the
fleet with 0.

``--shard I/N`` (or ``--shard-index I --shard-count N``) serves shard I of N; ``--shard-index``
may also be a pod name such as ``mock-sungrow-fleet-3`` (its trailing ordinal), which is what
a StatefulSet's pods know about themselves.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from mock_sungrow.cli_types import instant, port

_ORDINAL = re.compile(r"(\d+)$")


#: The collector's third threshold while a fleet serves: gen-1 collections between full ones.
FULL_COLLECTION_THRESHOLD = 100


def _freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """After each full collection, freeze what survived it (a ``gc.callbacks`` hook).

    What a site builds on its first read (its plant's snapshot, its history, its request
    log's first entries) lives as long as the site, but is made after the start's
    ``gc.freeze()``: in a 10,000-site fleet that is some 120,000 objects, and every full
    collection walked them all, 100-150 ms with every request waiting (the poll's p99 was
    100 ms; 6 ms with the collector off). Right after a full collection everything left is
    alive, so freezing then keeps no garbage; it only means a cycle among objects frozen
    earlier is never collected (a fleet's long-lived objects form none that die).
    """
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


def add_parser(sub: Any) -> None:
    """Add the ``fleet`` subcommand to the CLI's subparsers."""
    fleet = sub.add_parser("fleet", help="serve many simulated sites from a fleet file")
    fleet.add_argument("file", metavar="FILE", help="a TOML or YAML fleet file (docs/fleet.md)")
    fleet.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    fleet.add_argument("--endpoints-out", metavar="FILE", default=None,
                       help="write every site's endpoints as JSON to FILE before the ready line")
    fleet.add_argument("--shard", metavar="I/N", default=None,
                       help="serve shard I of N (0-based) of the file's sites")
    fleet.add_argument("--shard-index", metavar="I", default=None,
                       help="shard index, or a name ending in it (a StatefulSet pod's name)")
    fleet.add_argument("--shard-count", metavar="N", type=int, default=None,
                       help="number of shards (with --shard-index)")
    control = fleet.add_mutually_exclusive_group()
    control.add_argument("--control-port", type=port, default=8090, metavar="P",
                         help="the fleet's control API port (default 8090; 0 = any free port)")
    control.add_argument("--no-control", action="store_true", help="do not serve the control API")
    fleet.add_argument("--control-allow-remote", action="store_true",
                       help="let non-loopback clients use the control API")
    fleet.add_argument("--control-read-only", action="store_true",
                       help="refuse every control request that would change something (403)")
    fleet.add_argument("--manual-clock", nargs="?", const="", default=None, metavar="START",
                       type=instant,
                       help="run every site on one manual clock starting at START, ISO 8601 "
                            "with a zone such as 2026-06-21T12:00+10:00 (default: the wall "
                            "clock; START defaults to 2026-06-21T00:00Z)")


def parse_shard(args: argparse.Namespace) -> tuple[int, int]:
    """``(index, count)`` from ``--shard I/N`` or ``--shard-index`` / ``--shard-count``."""
    if args.shard is not None:
        if args.shard_index is not None or args.shard_count is not None:
            raise ValueError("give --shard I/N or --shard-index/--shard-count, not both")
        index_text, _, count_text = args.shard.partition("/")
        try:
            index, count = int(index_text), int(count_text)
        except ValueError:
            raise ValueError(f"--shard is I/N, such as 0/4; got {args.shard!r}") from None
    elif args.shard_index is not None or args.shard_count is not None:
        if args.shard_index is None or args.shard_count is None:
            raise ValueError("--shard-index and --shard-count go together")
        found = _ORDINAL.search(str(args.shard_index))
        if found is None:
            raise ValueError("--shard-index is a number or a name ending in one (a pod's "
                             f"name such as mock-sungrow-fleet-2); got {args.shard_index!r}")
        index, count = int(found.group(1)), args.shard_count
    else:
        return 0, 1
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard index must be 0..N-1 with N >= 1; got {index}/{count}")
    return index, count


def write_endpoints(path: str, sites: list[dict[str, Any]]) -> None:
    """Write ``{"sites": [...]}`` to ``path`` atomically (a temporary name, then a rename)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"sites": sites}), encoding="utf-8")
    temporary.replace(target)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
        ) -> int:
    """Serve the fleet until SIGINT/SIGTERM (``out``/``err``: stdout and stderr by default)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    from mock_sungrow.clock import ManualClock
    from mock_sungrow.fleet.fleet import Fleet

    try:
        shard = parse_shard(args)
        clock = None
        if args.manual_clock is not None:
            clock = ManualClock(
                datetime.fromisoformat(args.manual_clock) if args.manual_clock else None)
        fleet = Fleet(args.file, host=args.host, shard=shard, clock=clock,
                      control_port=None if args.no_control else args.control_port,
                      control_allow_remote=args.control_allow_remote,
                      control_read_only=args.control_read_only)
    except ValueError as exc:
        print(f"mock-sungrow: error: {exc}", file=err)
        return 2
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            fleet.start()
        except OSError as exc:
            print(f"mock-sungrow: error: {exc}", file=err)
            return 1
        # Every site lives until the process ends: keep the collector from walking them all
        # on each full collection (tens of milliseconds per 1,000 sites, a latency spike).
        gc.freeze()
        gc.callbacks.append(_freeze_survivors)
        # Each site's current snapshot (a dozen small objects) lives until its next poll,
        # long enough to reach the oldest generation, where it dies by reference count: a
        # full collection every few seconds walked them all (40-60 ms) for no garbage. Ten
        # times fewer full collections (the threshold is 10 by default).
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], FULL_COLLECTION_THRESHOLD)
        if args.endpoints_out:
            write_endpoints(args.endpoints_out, fleet.describe_sites())
        ready = {"sites": len(fleet.sites), "inverters": fleet.inverter_count,
                 "shard": list(shard), "control": fleet.control_info(),
                 "endpoints_file": args.endpoints_out}
        print(json.dumps(ready), file=out, flush=True)
        print(f"mock-sungrow: serving {len(fleet.sites)} sites "
              f"({fleet.inverter_count} inverters), shard {shard[0]} of {shard[1]}",
              file=err, flush=True)
        stopping.wait()
        return 0
    finally:
        if _freeze_survivors in gc.callbacks:  # run in-process (tests): leave gc as it was
            gc.callbacks.remove(_freeze_survivors)
            gc.set_threshold(*thresholds)
        fleet.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
