"""Reads across the register map's blocks, its refused addresses and its ends (spec §B.7).

The rules, from the protocol document and the recordings: a read that touches a documented block
answers each register's own word and the filler 0xFFFF wherever no block is (between blocks
more than 32 registers apart); a read touching an address the unit refuses is refused whole
(exception 2); a read leaving 1..65536 is refused. Expectations are literal words: the SH10RT
LAN recording (``mkaiser-sh10rt-direct-lan-fingerprint.json``, wire address = documented - 1),
``holding.csv``'s documented defaults, and where a word is the plant's, the register's own
single read (a read of one register never crosses a block, so it is the oracle for the block
reads that do). Documented numbers throughout; :class:`Wire` sends ``documented - 1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer, ModbusError
from mock_sungrow.device.catalog import Table
from tests.helpers import RawModbus

FILLER = 0xFFFF
ILLEGAL_ADDRESS = 2
NOON = datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("Australia/Sydney"))


class Wire:
    """A raw Modbus client of one server, speaking documented register numbers."""

    def __init__(self, server: MockSungrowServer) -> None:
        self.server = server
        self.raw = RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"])

    def read(self, fc: int, doc: int, count: int = 1) -> list[int] | int:
        return self.raw.read(fc, doc - 1, count)

    def singles(self, fc: int, doc: int, count: int) -> list[int]:
        """Each register read alone; 0xFFFF where a register alone is refused."""
        out = []
        for a in range(doc, doc + count):
            word = self.read(fc, a)
            out.append(FILLER if word == ILLEGAL_ADDRESS else word[0])  # type: ignore[index]
        return out


def _serve(model: str) -> Iterator[Wire]:
    with MockSungrowServer(model=model, server_type="modbus", modbus_port=0, host="127.0.0.1",
                           clock=ManualClock(NOON)) as server:
        wire = Wire(server)
        try:
            # One answered read: the server has accepted the connection (its socket exists)
            # before the first test's leak check looks, however loaded the machine is.
            assert isinstance(wire.read(4, 5000), list)
            yield wire
        finally:
            wire.raw.close()


@pytest.fixture(scope="module")
def sh10rt() -> Iterator[Wire]:
    yield from _serve("SH10RT")


@pytest.fixture(scope="module")
def sg5k() -> Iterator[Wire]:
    yield from _serve("SG5K-D")


# ----------------------------------------------------------------------------- across blocks

#: holding.csv's defaults of SH forced charging, 33208-33219: off (0x55), every day (0),
#: 00:00-00:00 to 100 %, twice.
FORCED_CHARGING = [0x55, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 100]


def test_a_read_across_three_blocks_answers_each_and_the_filler_between(sh10rt: Wire) -> None:
    # 33190-33200: the end of the 33001-33200 band (0xFFFF, recorded at wire 33189-33199);
    # 33201-33207: no block; 33208-33219 forced charging; 33220-33273: no block; 33274
    # load_rated_power (default 0); 33275-33280: no block.
    assert sh10rt.read(3, 33190, 91) == (
        [FILLER] * 11 + [FILLER] * 7 + FORCED_CHARGING + [FILLER] * 54 + [0] + [FILLER] * 6)
    for between in (33201, 33207, 33220, 33273, 33275):  # alone, each is outside every block
        assert sh10rt.read(3, between) == ILLEGAL_ADDRESS, between


def test_a_read_starting_between_blocks_answers_the_blocks_after(sh10rt: Wire) -> None:
    assert sh10rt.read(3, 33202, 80) == (
        [FILLER] * 6 + FORCED_CHARGING + [FILLER] * 54 + [0] + [FILLER] * 7)


def test_a_read_past_the_last_block_answers_the_filler_after_it(sh10rt: Wire) -> None:
    # holding 33500-33502 (the cluster words) are the table's last block
    cluster = sh10rt.singles(3, 33500, 3)
    assert FILLER not in cluster
    assert sh10rt.read(3, 33490, 30) == [FILLER] * 10 + cluster + [FILLER] * 17
    assert sh10rt.read(3, 33500, 3) == cluster


def test_a_read_starting_before_the_first_block_answers_it(sg5k: Wire) -> None:
    # SG5K-D's first input row is 4950 (protocol number): 4930-4949 lie before every block
    assert sg5k.read(4, 4940) == ILLEGAL_ADDRESS
    first = sg5k.singles(4, 4950, 20)
    assert sg5k.read(4, 4930, 40) == [FILLER] * 20 + first


def test_a_read_across_a_gap_of_more_than_32_registers(sh10rt: Wire, sg5k: Wire) -> None:
    # SH10RT input: the band 5037-5159 (and 5147-5148 live) ends a block; 5214 (the next
    # block's first row) is 54 registers on. SG5K-D: rows up to 5151, then 5186 (sentinels).
    for wire, lo, count, gap in ((sh10rt, 5150, 70, range(5160, 5214)),
                                 (sg5k, 5140, 60, range(5152, 5186))):
        after = 0 if wire is sg5k else 1
        assert wire.read(4, gap.start) == ILLEGAL_ADDRESS
        words = wire.read(4, lo, count)
        assert words == wire.singles(4, lo, count), lo
        assert isinstance(words, list)
        assert words[gap.start - lo: gap.stop - lo] == [FILLER] * len(gap)
        # the next block's values (the SH10RT's grid frequency, voltages...) arrive too
        assert sum(w != FILLER for w in words[gap.stop - lo:]) >= after, lo


def test_recorded_words_of_a_later_block_read_where_they_are(sh10rt: Wire) -> None:
    # holding 31201-31205: recorded 39 39 85 170 1000 (wire 31200-31204), a block of its own
    assert sh10rt.read(3, 31201, 5) == [39, 39, 85, 170, 1000]
    assert sh10rt.read(3, 31190, 16) == [FILLER] * 11 + [39, 39, 85, 170, 1000]
    # input 5088-5089: recorded 942 0 (wire 5087-5088) inside the hybrids' 5037-5159 band
    assert sh10rt.read(4, 5088, 2) == [942, 0]


def test_sentinels_keep_their_place_among_the_rows_read_around_them(sg5k: Wire) -> None:
    # SG5K-D has no meter: meter_power (S32, input 5083) and load_power (S32, 5091) read the
    # S32 "unavailable" words 0xFFFF 0x7FFF (low word first), amid live rows read with them
    for _ in range(2):
        wide = sg5k.read(4, 5000, 100)
        assert isinstance(wide, list)
        assert wide[83:85] == [0xFFFF, 0x7FFF] and wide[91:93] == [0xFFFF, 0x7FFF]
        assert sg5k.read(4, 5083, 2) == sg5k.read(4, 5091, 2) == [0xFFFF, 0x7FFF]
        clock = sg5k.server.plant.clock
        assert isinstance(clock, ManualClock)
        clock.advance(60)  # the next instant: every live row is encoded afresh


# ----------------------------------------------------------------------------- refused addresses


def test_a_read_touching_a_refused_address_is_refused_whole(sh10rt: Wire) -> None:
    # input 2612-2660 are refused one address at a time (recorded null at wire 2611-2659);
    # 2611, the end of firmware string 2, answers 0 (wire 2610)
    assert sh10rt.read(4, 2611) == [0]
    assert sh10rt.read(4, 2610, 2) == [0, 0]
    for doc, count in ((2612, 1), (2660, 1), (2611, 2), (2600, 40), (2611, 125)):
        assert sh10rt.read(4, doc, count) == ILLEGAL_ADDRESS, (doc, count)


# ----------------------------------------------------------------------------- the address space


@pytest.mark.parametrize(("fc", "table"), [(4, "input"), (3, "holding")])
def test_reads_running_past_65536_are_refused(sh10rt: Wire, fc: int, table: Table) -> None:
    server = sh10rt.server
    block = server.device.block(table)
    for doc, count in ((65536, 2), (65500, 100), (65412, 125)):
        assert sh10rt.read(fc, doc, count) == ILLEGAL_ADDRESS, (doc, count)
        with pytest.raises(ModbusError) as info:
            server.read_registers(table, doc, count)
        assert info.value.code == ILLEGAL_ADDRESS
        assert block.validate(doc, count) is False
    assert block.validate(-5, 10) is False
    assert block.validate(65536, 1) is False


# ----------------------------------------------------------------------------- names


def test_a_hybrid_reads_its_own_row_where_a_family_rule_serves_a_namesake(
    mock_sungrow_factory: MockSungrowServer,
) -> None:
    """An SH10RT serves SGproto's total_active_power (input 5031, U32) and its high-precision
    grid frequency (5148, U16 0.01 Hz) too (recorded), but the names are SHproto's own rows:
    13034 (S32 W) and 5242 (U16 0.01 Hz) in spec/registers.csv."""
    server = mock_sungrow_factory(model="SH10RT", server_type="modbus",  # type: ignore[operator]
                                  clock=ManualClock(NOON))
    server.set_register("input", 5031, [7, 0])
    server.set_register("input", 13034, [0xFFFB, 0xFFFF])  # S32 -5, low word first
    server.set_register("input", 5148, [4998])
    server.set_register("input", 5242, [5003])
    assert server.read("total_active_power") == -5
    assert server.read("grid_frequency_high_precision") == pytest.approx(50.03)
    # rows only the family rule serves are named too (SGproto's, registers.csv scales)
    server.set_register("input", 5049, [60])
    server.set_register("input", 5071, [703])
    assert server.read("nominal_reactive_power") == pytest.approx(6.0)
    assert server.read("array_insulation_resistance") == 703


# ----------------------------------------------------------------------------- memory


@pytest.mark.parametrize("model", ["SG5K-D", "SH10RT"])
def test_a_devices_image_holds_its_blocks_only(model: str) -> None:
    """Each device keeps an image of each table (``RegisterMap.new_image``): only the documented
    blocks, end to end, so that ten thousand devices of a model fit in memory. The SH10RT's
    input blocks hold about 1 700 addresses; a whole table would be 65 536."""
    from mock_sungrow.device.registermap import RegisterMap

    regmap = RegisterMap.for_model(model)
    for table in ("input", "holding"):
        assert 0 < len(regmap.new_image(table)) < 2048, (model, table)
