"""Register-map and data-block rules a client can see: encodings, pins, edges of the map.

Word values are written out here from the protocol's encoding rules (spec §B.2: big-endian
words, 32-bit values low word first, strings high byte first and padded with 0x00, the
"unavailable" sentinels U16 0xFFFF, S16 0x7FFF, U32 0xFFFFFFFF, S32 0x7FFFFFFF, strings all
0x00), never computed with the product's encoder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from pymodbus.client import ModbusTcpClient

from mock_sungrow import SungrowModbusDataBlock
from mock_sungrow.device.catalog import RegisterDef
from mock_sungrow.device.codec import decode_words, encode_value


def _row(kind: str, count: int = 1, scale: float = 1.0, name: str = "r",
         address: int = 5000) -> RegisterDef:
    words = count if kind == "UTF8" else count * (2 if kind in ("U32", "S32") else 1)
    return RegisterDef(address=address, table="input", name=name,
                       kind=kind,  # type: ignore[arg-type]
                       count=count, words=words, unit="", scale=scale, models=("all",),
                       source="test", _pattern=re.compile(".*"))


def _client(server: Any) -> ModbusTcpClient:
    c = ModbusTcpClient("127.0.0.1", port=server.get_connection_info()["port"], timeout=2,
                        retries=0)
    assert c.connect()
    return c


# ----------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("kind", "scale", "value", "words"),
    [
        ("U16", 0.1, 230.4, [2304]),
        ("U16", 1, -5, [0]),                     # clamped at the bottom
        ("U16", 1, 70000, [0xFFFE]),             # clamped below the sentinel
        ("S16", 0.1, -12.5, [0xFF83]),           # -125, two's complement
        ("S16", 1, 40000, [0x7FFE]),
        ("S16", 1, -40000, [0x8000]),
        ("U32", 1, 0x01020304, [0x0304, 0x0102]),  # low word first (spec's own example)
        ("U32", 0.1, 12345.6, [0xE240, 0x0001]),   # 123456
        ("S32", 1, -2, [0xFFFE, 0xFFFF]),
        ("S32", 1, 0x7FFFFFFF, [0xFFFE, 0x7FFF]),  # clamped below the sentinel
        ("U16", 1, None, [0xFFFF]),
        ("S16", 1, None, [0x7FFF]),
        ("U32", 1, None, [0xFFFF, 0xFFFF]),
        ("S32", 1, float("nan"), [0xFFFF, 0x7FFF]),
    ],
)
def test_numbers_encode_as_the_protocol_says(
    kind: str, scale: float, value: float | None, words: list[int]
) -> None:
    assert encode_value(_row(kind, scale=scale), value) == words


@pytest.mark.parametrize(
    ("kind", "scale", "words", "value"),
    [
        ("U16", 0.1, [2304], 230.4),
        ("S16", 0.1, [0xFF83], -12.5),
        ("S16", 1, [0x8000], -32768),
        ("U32", 1, [0x0304, 0x0102], 0x01020304),
        ("S32", 1, [0xFFFE, 0xFFFF], -2),
        ("S32", 1, [0x0000, 0x8000], -0x80000000),
        ("U16", 1, [0xFFFF], None),
        ("S16", 1, [0x7FFF], None),
        ("U32", 1, [0xFFFF, 0xFFFF], None),
        ("S32", 1, [0xFFFF, 0x7FFF], None),
    ],
)
def test_words_decode_as_the_protocol_says(
    kind: str, scale: float, words: list[int], value: float | None
) -> None:
    decoded = decode_words(_row(kind, scale=scale), words)
    assert decoded == (None if value is None else pytest.approx(value))


def test_strings_are_high_byte_first_padded_with_zero_and_cut_to_the_row() -> None:
    row = _row("UTF8", count=3)
    assert encode_value(row, "ABC") == [0x4142, 0x4300, 0x0000]
    assert encode_value(row, "ABCDEFGH") == [0x4142, 0x4344, 0x4546]  # 6 bytes fit, no more
    assert encode_value(row, None) == [0, 0, 0]                       # unavailable: all 0x00
    assert encode_value(row, 12) == [0x3132, 0, 0]
    assert decode_words(row, [0x4142, 0x4300, 0x0000]) == "ABC"


def test_arrays_take_a_list_or_repeat_a_scalar() -> None:
    row = _row("U16", count=3)
    assert encode_value(row, [1, 2]) == [1, 2, 0xFFFF]   # a short list is padded unavailable
    assert encode_value(row, [1, 2, 3, 4]) == [1, 2, 3]  # a long one is cut
    assert encode_value(row, 7) == [7, 7, 7]
    assert encode_value(_row("U32", count=2), [0x10002, None]) == [2, 1, 0xFFFF, 0xFFFF]


def test_a_value_of_the_wrong_shape_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"^power: a string value for a numeric register$"):
        encode_value(_row("U16", name="power"), "12")
    with pytest.raises(TypeError, match=r"^power: a list value for a scalar register$"):
        encode_value(_row("U16", name="power"), [1])


# ----------------------------------------------------------------------------- pinned words


def test_pinned_words_land_on_consecutive_registers(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.set_register("input", 5009, [0, 0xFFFF, 0x1234])
    c = _client(server)
    try:
        assert c.read_input_registers(5008, count=3).registers == [0, 0xFFFF, 0x1234]
        assert c.read_input_registers(4999, count=1).registers == [0x0126]  # SG5K-D untouched
    finally:
        c.close()
    server.clear_registers()
    assert server.read_registers("input", 5000) == [0x0126]
    assert server.read_registers("input", 5009, 3) != [0, 0xFFFF, 0x1234]


@pytest.mark.parametrize("address", [1, 65536])
def test_either_end_of_the_address_space_can_be_pinned(
    mock_sungrow_factory: Any, address: int
) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.set_register("holding", address, [0x0102])
    assert server.read_registers("holding", address) == [0x0102]
    c = _client(server)
    try:  # pinned words are served even where the model documents nothing
        assert c.read_holding_registers(address - 1, count=1).registers == [0x0102]
    finally:
        c.close()


@pytest.mark.parametrize(
    ("address", "words", "message"),
    [
        (100, [0x10000], "register words are 0..65535; got 65536"),
        (100, [-1], "register words are 0..65535; got -1"),
        (0, [1], "address 0 is outside 1..65536"),
        (65535, [1, 2, 3], "address 65537 is outside 1..65536"),
    ],
)
def test_a_bad_pin_is_refused_and_names_the_word(
    mock_sungrow_factory: Any, address: int, words: list[int], message: str
) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        server.set_register("input", address, words)


# ----------------------------------------------------------------------------- data blocks


def test_validate_answers_for_the_span_it_is_given(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    block = server.device.input
    # SG5K-D: the first input block starts at 4950 (protocol number); 4949 is undocumented.
    assert block.validate(4950) is True
    assert block.validate(4949) is False
    assert block.validate(4949, 2) is True
    assert block.validate(1, 10) is False
    assert repr(block) == "SungrowModbusDataBlock('input', model='SG5K-D')"


class SlowWrites(SungrowModbusDataBlock):
    """Overrides only the async write: reads take the base class's async path."""

    writes: ClassVar[list[tuple[int, list[int]]]] = []

    async def async_setValues(self, address: int, values: Sequence[int]) -> None:
        SlowWrites.writes.append((address, list(values)))
        await super().async_setValues(address, values)


class SlowReads(SungrowModbusDataBlock):
    """Overrides only the async read: writes take the base class's async path."""

    async def async_getValues(self, address: int, count: int = 1) -> list[int]:
        return await super().async_getValues(address, count)


def test_a_block_overriding_one_async_method_keeps_the_other(
    mock_sungrow_factory: Any,
) -> None:
    SlowWrites.writes.clear()
    server = mock_sungrow_factory(server_type="modbus", datablock_class=SlowWrites)
    c = _client(server)
    try:
        assert c.read_input_registers(4999, count=1).registers == [0x0126]
        # documented 5006 (wire 5005) is start/stop: 0xCF start, 0xCE stop (spec B.5)
        assert not c.write_register(5005, 0xCE).isError()
        assert c.read_holding_registers(5005, count=1).registers == [0xCE]
        assert c.write_register(5005, 0x1234).isError()  # not a documented command
    finally:
        c.close()
    assert SlowWrites.writes == [(5006, [0xCE]), (5006, [0x1234])]

    server = mock_sungrow_factory(server_type="modbus", datablock_class=SlowReads)
    c = _client(server)
    try:
        assert not c.write_register(5005, 0xCE).isError()
        assert c.read_holding_registers(5005, count=1).registers == [0xCE]
        result = c.write_register(5005, 0x1234)
        assert result.isError() and result.exception_code == 4
    finally:
        c.close()


# ----------------------------------------------------------------------------- holding limits


def test_holding_registers_start_at_their_documented_defaults(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    c = _client(server)
    try:  # SG5K-D, documented 5006-5008 and 5019 (holding.csv; 5008 as a real SG3.0RS reads)
        assert c.read_holding_registers(5005, count=3).registers == [0xCF, 0xAA, 1000]
        assert c.read_holding_registers(5018, count=1).registers == [1000]  # PF 1.000
    finally:
        c.close()


@pytest.mark.parametrize(
    ("address", "word", "accepted"),
    [
        (5037, 0xFC18, True),    # reactive power -100.0 % (S16 -1000): the documented minimum
        (5037, 0xFC17, False),   # -1001
        (5037, 1000, True),
        (5037, 1001, False),
        (5040, 0xFFE2, True),    # -3.0 kvar = -rated_w*6/1000 for a 5 kW model
        (5040, 0xFFE1, False),   # -3.1 kvar
        (5040, 30, True),
        (5040, 31, False),
        (5019, 0xFCE0, True),    # power factor -0.800
        (5019, 0xFCE1, False),   # -0.799: |PF| below 0.8
        (5019, 799, False),
        (5019, 800, True),
    ],
)
def test_signed_holding_limits(
    mock_sungrow_factory: Any, address: int, word: int, *, accepted: bool
) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    c = _client(server)
    try:
        result = c.write_register(address - 1, word)
        if accepted:
            assert not result.isError()
            assert c.read_holding_registers(address - 1, count=1).registers == [word]
        else:
            assert result.isError() and result.exception_code == 4
    finally:
        c.close()


def test_a_refused_write_says_which_register_and_why(mock_sungrow_factory: Any) -> None:
    from tests.helpers import control_call

    server = mock_sungrow_factory(server_type="modbus", control_port=0)
    base = server.get_connection_info("control")["url"].rstrip("/")
    cases = [
        (5037, 0xFC17, "reactive_power_percentage_setting must be >= -1000; got -1001"),
        (5008, 1101, "power_limitation_setting must be <= 1100; got 1101"),
        (5006, 0x12, "start_stop accepts only 0xCE, 0xCF; got 0x0012"),
        (5019, 700, "power_factor_setting must satisfy |PF| >= 0.800; got 0.700"),
    ]
    for address, word, message in cases:
        status, err = control_call(base, "POST", "/registers/holding/write",
                                   {"address": address, "values": [word]})
        assert (status, err["modbus_exception"]) == (409, 4)
        assert err["error"] == message


# ----------------------------------------------------------------------------- map building


def test_rows_other_models_have_read_as_their_sentinel(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    c = _client(server)
    try:  # SG5K-D has no meter: meter_power (S32, 5083) and load_power (S32, 5091)
        assert c.read_input_registers(5082, count=2).registers == [0xFFFF, 0x7FFF]
        assert c.read_input_registers(5090, count=2).registers == [0xFFFF, 0x7FFF]
    finally:
        c.close()


def test_a_hybrid_without_cell_temperatures_reads_the_s16_sentinel(
    mock_sungrow_factory: Any,
) -> None:
    # A documents-only family (SH*RS): an SH*RT answers these with the recorded 0xFFFF
    # (data/family_rules.csv; tests/test_family_rules.py).
    server = mock_sungrow_factory(server_type="modbus", model="SH5.0RS")
    c = _client(server)
    try:  # 13116-13118 are named for other SH models only: S16 unavailable is 0x7FFF
        assert c.read_input_registers(13115, count=3).registers == [0x7FFF] * 3
    finally:
        c.close()


def _custom_map(*rows: tuple[int, str]) -> Any:
    from mock_sungrow.device.catalog import load_catalog
    from mock_sungrow.device.registermap import RegisterMap

    defs = [_row(kind, name=f"r{address}", address=address) for address, kind in rows]
    return RegisterMap(load_catalog().model("SG5K-D"), rows=defs,
                       projectors={d.name: (lambda _s, _p: 1) for d in defs},
                       address_projectors={})


def test_rows_up_to_32_registers_apart_form_one_block() -> None:
    regmap = _custom_map((100, "U16"), (133, "U16"), (200, "U32"), (234, "U16"))
    # 101..132 is a gap of 32 registers: inside the block
    assert all(regmap.touches_defined("input", a, 1) for a in range(100, 134))
    # 202..233 is a gap of 32 after a U32 (200-201): inside too
    assert all(regmap.touches_defined("input", a, 1) for a in range(200, 235))
    # 134..199 (66 registers) separates the blocks; 99 and 235 are outside
    assert not any(regmap.touches_defined("input", a, 1) for a in (99, 134, 199, 235))
    assert regmap.touches_defined("input", 99, 2) and regmap.touches_defined("input", 199, 2)


def test_a_gap_of_33_registers_splits_the_block() -> None:
    regmap = _custom_map((100, "U16"), (134, "U16"))
    assert not regmap.touches_defined("input", 101, 33)
    assert regmap.touches_defined("input", 101, 34)


def test_a_live_row_without_a_projection_is_a_catalogue_error() -> None:
    from mock_sungrow.device.catalog import CatalogError, load_catalog
    from mock_sungrow.device.registermap import RegisterMap

    rows = [_row("U16", name="known"), _row("U16", name="mystery", address=5001)]
    with pytest.raises(CatalogError, match=r"^SG5K-D: no projection for \['mystery'\]$"):
        RegisterMap(load_catalog().model("SG5K-D"), rows=rows,
                    projectors={"known": lambda _s, _p: 1}, address_projectors={})
    # an address projector is enough, whatever the row's name
    regmap = RegisterMap(load_catalog().model("SG5K-D"), rows=rows,
                         projectors={"known": lambda _s, _p: 1},
                         address_projectors={5001: lambda _s, _p: 2})
    assert regmap.row_count("input") == 2


# ----------------------------------------------------------------------------- reads and pins


def test_a_refused_read_names_the_span(mock_sungrow_factory: Any) -> None:
    from tests.helpers import control_call

    server = mock_sungrow_factory(server_type="modbus", control_port=0)
    base = server.get_connection_info("control")["url"].rstrip("/")
    status, err = control_call(base, "GET", "/registers/input?address=100&count=5")
    assert (status, err["modbus_exception"]) == (409, 2)
    assert err["error"] == "no input register of SG5K-D in 100..104"


def test_reads_outside_1_to_65536_are_refused_even_over_pins(mock_sungrow_factory: Any) -> None:
    from mock_sungrow import ModbusError

    server = mock_sungrow_factory(server_type="modbus")
    server.set_register("holding", 1, [7])
    server.set_register("holding", 65536, [8])
    assert server.read_registers("holding", 1) == [7]
    assert server.read_registers("holding", 65536) == [8]
    for address, count in ((0, 2), (65536, 2)):
        with pytest.raises(ModbusError) as info:
            server.read_registers("holding", address, count)
        assert info.value.code == 2


def test_pins_apply_inside_the_span_only(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.set_register("holding", 200, [0x0200])      # undocumented on SG5K-D
    server.set_register("input", 5012, [0xABCD])       # right after the span read below
    c = _client(server)
    try:
        refused = c.read_holding_registers(198, count=1)  # documented 199: next to the pin
        assert refused.isError() and refused.exception_code == 2
        assert c.read_holding_registers(199, count=1).registers == [0x0200]
        assert c.read_holding_registers(198, count=2).registers == [0xFFFF, 0x0200]
        words = c.read_input_registers(5008, count=3).registers  # documented 5009-5011
        assert 0xABCD not in words
        assert c.read_input_registers(5011, count=1).registers == [0xABCD]
    finally:
        c.close()


def test_block_methods_default_to_one_register(mock_sungrow_factory: Any) -> None:
    import asyncio

    from mock_sungrow import ModbusError

    server = mock_sungrow_factory(server_type="modbus")
    block = server.device.input
    assert block.getValues(5000) == [0x0126]                  # SG5K-D's device type code
    assert asyncio.run(block.async_getValues(5000)) == [0x0126]
    with pytest.raises(ModbusError) as info:
        block.setValues(5000, [1])
    assert (info.value.code, info.value.message) == (2, "input registers are read-only")
    with pytest.raises(ModbusError) as info:
        asyncio.run(block.async_setValues(5000, [1]))
    assert info.value.code == 2


def test_holding_rows_of_other_models_read_their_sentinel(mock_sungrow_factory: Any) -> None:
    # A documents-only family (SH*RS): an SH*RT answers 0xFFFF throughout, as recorded.
    server = mock_sungrow_factory(server_type="modbus", model="SH5.0RS")
    c = _client(server)
    try:  # 13055-13057 and 13060-13063 are SH*K battery settings: U16 0xFFFF, S16 0x7FFF;
        # 13058/13059 are the SH5.0RS's own max/min SoC (holding.csv defaults 100.0 %, 5.0 %)
        assert c.read_holding_registers(13054, count=9).registers == [
            0xFFFF, 0xFFFF, 0xFFFF, 1000, 50, 0xFFFF, 0xFFFF, 0x7FFF, 0x7FFF]
    finally:
        c.close()


def test_each_snapshot_is_read_fresh_and_spans_agree(mock_sungrow_factory: Any) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from mock_sungrow import ManualClock

    clock = ManualClock(datetime(2026, 1, 10, 9, 0, tzinfo=ZoneInfo("Australia/Sydney")))
    server = mock_sungrow_factory(server_type="modbus", model="SH10RT", clock=clock)
    c = _client(server)
    try:  # input 5017-5018: total DC power (U32), rising through the morning
        morning = c.read_input_registers(5016, count=2).registers
        assert c.read_input_registers(5016, count=2).registers == morning  # same instant
        clock.advance(3600)
        later = c.read_input_registers(5016, count=2).registers
        assert later[0] > morning[0] and later[1] == 0
        # a wider read at the same instant sees the same words, and a narrower one too
        assert c.read_input_registers(5015, count=3).registers[1:] == later
        assert c.read_input_registers(5016, count=1).registers == later[:1]
    finally:
        c.close()


def test_the_python_api_reads_values_in_the_rows_units(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")  # SG5K-D
    server.set_register("input", 5000, [0x0126])         # device type code, unscaled U16
    server.set_register("input", 5019, [2304])           # phase A voltage, 0.1 V
    server.set_register("input", 4990, [0x4142, 0xFF43] + [0] * 8)  # serial: "AB", 0xFF, "C"
    code = server.read("device_type_code")
    assert code == 0x0126 and type(code) is int           # an integer stays an integer
    assert server.read("phase_a_voltage") == pytest.approx(230.4)
    # invalid UTF-8 is replaced, not raised; the 0x00 padding is cut
    assert server.read("serial_number") == "AB\ufffdC"
