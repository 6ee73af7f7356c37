"""A read of many registers answers what reads of each one answer (spec §B.7).

The rules, from the protocol document: a documented row answers its value; a reserved address
inside a documented block (rows at most 32 registers apart) answers the filler 0xFFFF, also
when read alone; a read touching no block is refused with exception 2. So, for any window of
1..125 registers, over the wire:

* the window is refused with exception 2 exactly when every register of it, read alone, is;
* otherwise each word equals that register's own single read, or 0xFFFF where the single read
  is refused (a reserved address between blocks);
* a window more than 32 registers from every row any model has (the package's register CSVs
  and the bands of data/family_rules.csv) touches no block: it is refused;
* a window touching an address a family rule refuses (input 2612-2660 on an SH10RT, refused
  one address at a time by the recorded unit, whose recorder saw its 32-register blocks there
  refused whole) is refused, whatever its other registers answer alone.

The oracle is the server's own single-register answers, compared with its block answers, on a
manual clock (the plant does not move between reads), plus the row extents read from the CSVs.
Windows are drawn by hypothesis around the rows, across block edges, gaps and the ends of the
tables, and anywhere in the address space.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.device.family import rules_for
from tests.helpers import RawModbus

DATA = Path(__file__).resolve().parents[1] / "src" / "mock_sungrow" / "data"
FILLER = 0xFFFF
ILLEGAL_ADDRESS = 2
BLOCK_GAP = 32


def _words(kind: str) -> int:
    """Registers a row of type ``kind`` spans (spec §B.2): ``U32`` 2, ``U16*96`` 96, ..."""
    base, _, times = kind.partition("*")
    if base.startswith("UTF"):
        return int(times or 1)
    return (2 if base in ("U32", "S32") else 1) * int(times or 1)


def _extents(table: str) -> list[tuple[int, int]]:
    """``[first, end)`` of every row of ``table`` any model has, from the register CSVs."""
    out = []
    for path in sorted(DATA.glob("*registers*.csv")):
        with path.open() as f:
            out += [(int(r["address"]), int(r["address"]) + _words(r["type"]))
                    for r in csv.DictReader(f) if r["table"] == table]
    if table == "holding":
        with (DATA / "holding.csv").open() as f:
            out += [(int(r["address"]), int(r["address"]) + 1) for r in csv.DictReader(f)]
    with (DATA / "family_rules.csv").open() as f:
        out += [(int(r["start"]), int(r["end"]) + 1) for r in csv.DictReader(f)
                if r["table"] == table and r["rule"] != "refuse"]
    return sorted(set(out))


EXTENTS = {table: _extents(table) for table in ("input", "holding")}
ANCHORS = {table: [*sorted({a for a, _ in EXTENTS[table]}), 1, 65536 - 124]
           for table in EXTENTS}


def _far_from_every_row(table: str, lo: int, hi: int) -> bool:
    return all(hi + BLOCK_GAP <= first or end + BLOCK_GAP <= lo
               for first, end in EXTENTS[table])


class Wire:
    """Single and block reads of one server, single reads remembered (the plant stands still)."""

    def __init__(self, server: MockSungrowServer) -> None:
        self.model = server.model.name
        self.client = RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"])
        self.singles: dict[tuple[int, int], list[int] | int] = {}

    def read(self, fc: int, documented: int, count: int) -> list[int] | int:
        return self.client.read(fc, documented - 1, count)

    def single(self, fc: int, documented: int) -> list[int] | int:
        key = (fc, documented)
        if key not in self.singles:
            self.singles[key] = self.read(fc, documented, 1)
        return self.singles[key]


@pytest.fixture(scope="module", params=["SG5K-D", "SH10RT", "SG10RT"])
def wire(request: pytest.FixtureRequest) -> Iterator[Wire]:
    clock = ManualClock(datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc))
    with MockSungrowServer(model=request.param, server_type="modbus", modbus_port=0,
                           host="127.0.0.1", clock=clock) as server:
        w = Wire(server)
        # One answered read: the server has accepted the connection (its socket exists)
        # before the first test's leak check looks, however loaded the machine is (a loaded
        # run's accept came during the first test and read as a descriptor it left open).
        assert isinstance(w.client.read(4, 4999, 1), list)
        try:
            yield w
        finally:
            w.client.close()


def _window(table: str) -> st.SearchStrategy[tuple[int, int]]:
    def clip(args: tuple[int, int, int]) -> tuple[int, int]:
        anchor, shift, count = args
        lo = min(max(1, anchor + shift), 65537 - count)
        return lo, count

    near = st.tuples(st.sampled_from(ANCHORS[table]), st.integers(-40, 40),
                     st.integers(1, 125))
    anywhere = st.tuples(st.integers(1, 65536), st.just(0), st.integers(1, 125))
    return st.one_of(near, anywhere).map(clip)


@pytest.mark.parametrize(("table", "fc"), [("input", 4), ("holding", 3)])
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_block_read_is_its_single_reads(wire: Wire, table: str, fc: int,
                                          data: st.DataObject) -> None:
    lo, count = data.draw(_window(table))
    block = wire.read(fc, lo, count)
    singles = [wire.single(fc, a) for a in range(lo, lo + count)]
    if rules_for(wire.model, table).refused.intersection(range(lo, lo + count)):
        assert block == ILLEGAL_ADDRESS, (table, lo, count, block)
        return
    if _far_from_every_row(table, lo, lo + count):
        assert block == ILLEGAL_ADDRESS, (table, lo, count, block)
    if all(s == ILLEGAL_ADDRESS for s in singles):
        assert block == ILLEGAL_ADDRESS, (table, lo, count)
        return
    assert isinstance(block, list), (table, lo, count, block)
    expected = [FILLER if s == ILLEGAL_ADDRESS else s[0]  # type: ignore[index]
                for s in singles]
    assert block == expected, (table, lo, count)
