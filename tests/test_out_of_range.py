"""A value beyond its register type's range reads as the type's extreme, never as "unavailable".

Spec §B.2 reserves one word pattern per type for "unavailable": U16 0xFFFF, S16 0x7FFF,
U32 0xFFFFFFFF, S32 0x7FFFFFFF (sent low word first). Clients act on those patterns
(SunGather turns them into 0, Home Assistant's ``nan_value`` into "unknown"), so a quantity that
is merely too large must saturate at the largest value that is *not* the sentinel: 0xFFFE,
0x7FFE, 0xFFFFFFFE, 0x7FFFFFFE. Every expected word below is written out from that rule and
the spec's word order, not produced by the server's encoder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus

#: A house drawing 5 TW through the meter: every import register overflows its type.
ABSURD_LOAD_W = 5e12


@pytest.fixture
def overloaded(mock_sungrow_factory: Any) -> MockSungrowServer:
    noon = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("Australia/Sydney")))
    server: MockSungrowServer = mock_sungrow_factory(
        model="SH10RT", server_type="modbus", clock=noon, house_load=ABSURD_LOAD_W)
    return server


@pytest.mark.parametrize(
    ("what", "address", "words"),
    [
        # S32 W: 5 TW -> 0x7FFFFFFE, low word first; 0x7FFFFFFF would mean "no meter".
        ("load power (13008, S32)", 13008, [0xFFFE, 0x7FFF]),
        ("meter active power (5601, S32)", 5601, [0xFFFE, 0x7FFF]),
        ("meter phase A power (5603, S32)", 5603, [0xFFFE, 0x7FFF]),
        # U32 0.1 kWh: the day's import since midnight -> 0xFFFFFFFE.
        ("total import energy (13037, U32)", 13037, [0xFFFE, 0xFFFF]),
        # U16 0.1 kWh and U16 0.01 A -> 0xFFFE.
        ("daily import energy (13036, U16)", 13036, [0xFFFE]),
        ("meter phase A current (5744, U16)", 5744, [0xFFFE]),
    ],
)
def test_an_overflowing_quantity_reads_as_the_extreme_not_the_sentinel(
    overloaded: MockSungrowServer, what: str, address: int, words: list[int]
) -> None:
    with RawModbus("127.0.0.1", overloaded.get_connection_info("modbus")["port"]) as client:
        assert client.read(4, address - 1, len(words)) == words, what


def test_s16_saturates_below_its_sentinel() -> None:
    """S16 at the encoding layer: no plant quantity behind an S16 row can leave its range.

    The S16 rows are temperatures, voltages, currents and a power factor that physics and the
    BMS keep far inside ±3276.7 (at 0.1 scale), so no public setting drives one over the wire;
    the rule is checked where it is applied, with the words written out from spec §B.2.
    """
    from mock_sungrow.device.codec import encode_value
    from mock_sungrow.device.registermap import RegisterMap

    row = RegisterMap.for_model("SG5K-D").by_name[("input", "internal_temperature")]  # 0.1 °C
    assert row.kind == "S16"
    assert encode_value(row, 1e6) == [0x7FFE]  # not 0x7FFF, "unavailable"
    assert encode_value(row, -1e6) == [0x8000]
    assert encode_value(row, 3276.6) == [0x7FFE]
    assert encode_value(row, None) == [0x7FFF]  # only a missing value reads as the sentinel
