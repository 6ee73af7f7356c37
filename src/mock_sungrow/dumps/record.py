"""Record: read an inverter (or another simulator) address by address into a dump.

``mock-sungrow record HOST PORT --out FILE`` turns a user's own inverter into a test
fixture: it reads bands of registers in blocks (32 registers, as the fingerprint recorder in
../shared/dumps did), falls back to one address at a time where a block is refused, and
writes a fingerprint that ``mock-sungrow serve --replay FILE`` serves. A refused address (an
exception, or no answer within the timeout) is recorded as ``null``.

It is polite to the device: one request at a time, ``gap`` seconds between requests (real
WiNet-S dongles drop clients that poll faster than every ~30 ms; RS485 needs more), and a
timeout per request. The client is a plain Modbus TCP client written for this (the package's
own MBAP framing), so recording needs nothing beyond the package.
"""

from __future__ import annotations

import socket
import struct
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from mock_sungrow.device.catalog import load_catalog
from mock_sungrow.dumps.formats import Dump, Table

#: Registers per block read (a refused block is re-read one address at a time).
BLOCK = 32
_MBAP = struct.Struct(">HHHB")


class RecordError(OSError):
    """The device cannot be reached or talked to: the message says where and why."""


def default_bands() -> dict[Table, list[range]]:
    """Every documented register of the catalogue, in bands (gaps under a block merged)."""
    bands: dict[Table, list[range]] = {"input": [], "holding": []}
    for table in ("input", "holding"):
        addresses = sorted({a for r in load_catalog().registers if r.table == table
                            for a in range(r.address, r.end)})
        start = prev = addresses[0]
        for a in addresses[1:]:
            if a - prev > BLOCK:
                bands[table].append(range(start, prev + 1))
                start = a
            prev = a
        bands[table].append(range(start, prev + 1))
    return bands


@dataclass
class ModbusReader:
    """One Modbus TCP connection, one request at a time, ``gap`` seconds apart."""

    host: str
    port: int
    unit: int = 1
    timeout: float = 2.0
    gap: float = 0.05

    def __post_init__(self) -> None:
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise RecordError(f"cannot connect to {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None
        self._tid = 0
        self._last = 0.0

    def read(self, table: Table, address: int, count: int) -> list[int] | None:
        """Words of documented ``address``..; ``None`` for an exception or no answer."""
        wait = self._last + self.gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # pacing the device, not synchronising a test
        self._tid = (self._tid + 1) & 0xFFFF
        fc = 4 if table == "input" else 3
        pdu = struct.pack(">BHH", fc, address - 1, count)
        self.sock.sendall(_MBAP.pack(self._tid, 0, len(pdu) + 1, self.unit) + pdu)
        try:
            while True:
                header = self._recv(7)
                tid, _pid, length, _unit = _MBAP.unpack(header)
                body = self._recv(length - 1)
                if tid == self._tid:
                    break  # an older, late reply is skipped
        except TimeoutError:
            self._reconnect()
            return None
        finally:
            self._last = time.monotonic()
        if body[0] & 0x80 or len(body) < 2 or body[1] != 2 * count:
            return None
        return list(struct.unpack(f">{count}H", body[2:2 + 2 * count]))

    def _recv(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise RecordError(f"{self.host}:{self.port} closed the connection")
            data += chunk
        return data

    def _reconnect(self) -> None:
        """After a timeout a late reply may still come: start on a fresh connection."""
        self.sock.close()
        self.__post_init__()

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()


def _blocks(band: range) -> Iterator[range]:
    for start in range(band.start, band.stop, BLOCK):
        yield range(start, min(start + BLOCK, band.stop))


def record(reader: ModbusReader, bands: dict[Table, list[range]] | None = None,
           progress: TextIO | None = sys.stderr, transport: str = "lan") -> Dump:
    """Read every band into a :class:`Dump` (block reads, single-address fallback)."""
    bands = bands or default_bands()
    dump = Dump(f"{reader.host}:{reader.port}", transport, reader.unit)
    total = sum(len(b) for table_bands in bands.values() for b in table_bands)
    done = 0
    for table, table_bands in bands.items():
        for band in table_bands:
            for block in _blocks(band):
                words: Iterable[int | None] | None = reader.read(table, block.start, len(block))
                if words is None:  # refused as a block: one address at a time
                    words = [(w[0] if (w := reader.read(table, a, 1)) else None) for a in block]
                for address, word in zip(block, words, strict=True):
                    dump.words[(table, address)] = word
                done += len(block)
                if progress is not None:
                    answered = sum(1 for a in block if dump.words[(table, a)] is not None)
                    progress.write(f"record: {table} {block.start}-{block.stop - 1}: "
                                   f"{answered}/{len(block)} answered ({done}/{total})\n")
    dump.device_type_code = dump.words.get(("input", 5000))
    return dump


def _parse_bands(specs: list[str]) -> dict[Table, list[range]]:
    """``input:5000-5100`` / ``holding:13000-13100`` (documented numbers, inclusive)."""
    bands: dict[Table, list[range]] = {"input": [], "holding": []}
    for spec in specs:
        table, _, span = spec.partition(":")
        first, _, last = span.partition("-")
        if table not in bands or not first.isdigit() or not (last or first).isdigit():
            raise ValueError(f"--band {spec!r}: give TABLE:FIRST-LAST, e.g. input:5000-5100")
        lo, hi = int(first), int(last or first)
        if not 1 <= lo <= hi <= 65536:
            raise ValueError(f"--band {spec!r}: addresses 1..65536, first <= last")
        bands[table].append(range(lo, hi + 1))
    return bands


def _check(args: Any) -> None:
    if not 1 <= args.unit <= 247:
        raise ValueError(f"--unit must be 1..247; got {args.unit}")
    if args.gap < 0 or args.timeout <= 0:
        raise ValueError("--gap must be >= 0 and --timeout > 0")


def main(args: Any) -> int:
    """``mock-sungrow record``: read, write the dump, say what was found; exit 2 on errors."""
    from mock_sungrow.dumps.formats import write_fingerprint

    try:
        bands = _parse_bands(args.band) if args.band else None
        _check(args)
        reader = ModbusReader(args.host, args.port, args.unit, args.timeout, args.gap)
    except (ValueError, RecordError) as exc:
        print(f"mock-sungrow record: error: {exc}", file=sys.stderr)
        return 2
    try:
        dump = record(reader, bands, transport=args.transport)
    except RecordError as exc:
        print(f"mock-sungrow record: error: {exc}", file=sys.stderr)
        return 2
    finally:
        reader.close()
    write_fingerprint(dump, args.out, recorded_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    answered = sum(1 for w in dump.words.values() if w is not None)
    print(f"mock-sungrow record: {answered} of {len(dump.words)} registers answered; "
          f"wrote {args.out}", file=sys.stderr)
    return 0
