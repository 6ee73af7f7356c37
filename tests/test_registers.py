"""The register catalogue: shipped data, encodings, and every row served over a real socket."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock
from mock_sungrow.device.catalog import RegisterDef, load_catalog, validate_catalog
from mock_sungrow.device.codec import decode_words, encode_value, sentinel_words
from mock_sungrow.device.family import rules_for
from mock_sungrow.device.registermap import RegisterMap
from tests.helpers import RawModbus

CATALOG = load_catalog()


def _row(name: str, table: str = "input", model: str = "SG5K-D") -> RegisterDef:
    return next(
        r for r in CATALOG.registers if r.name == name and r.table == table and r.matches(model)
    )


def test_catalog_is_consistent() -> None:
    validate_catalog(CATALOG)
    assert len(CATALOG.models) == 170
    data = resources.files("mock_sungrow").joinpath("data")
    spec_rows = list(csv.DictReader(io.StringIO(data.joinpath("registers.csv").read_text())))
    assert len(spec_rows) == 356  # the research catalogue, verbatim
    client_rows = list(csv.DictReader(io.StringIO(
        data.joinpath("registers_clients.csv").read_text())))
    recorded_rows = list(csv.DictReader(io.StringIO(
        data.joinpath("registers_recorded.csv").read_text())))
    assert len(CATALOG.registers) == 356 + len(client_rows) + len(recorded_rows)
    # Rows seen only in recordings name the dump they come from (../shared/dumps).
    assert recorded_rows and all(
        r["source"].split(" ")[0].endswith((".yaml", ".json")) for r in recorded_rows)


def test_shipped_csv_files_keep_their_source_column() -> None:
    data = resources.files("mock_sungrow").joinpath("data")
    for name in ("registers.csv", "models.csv", "registers_clients.csv",
                 "registers_recorded.csv"):
        rows = list(csv.DictReader(io.StringIO(data.joinpath(name).read_text())))
        assert rows and all(r["source"] for r in rows), name


@pytest.mark.parametrize(
    ("name", "code", "watts", "phases", "mppt", "hybrid"),
    [("SG5K-D", 0x0126, 5000, 1, 2, False), ("SG10RT", 0x2433, 10000, 3, 2, False),
     ("SG33CX", 0x2C00, 33000, 3, 3, False), ("SH5.0RT", 0x0E00, 5000, 3, 2, True),
     ("SH10RT", 0x0E03, 10000, 3, 2, True)],
)
def test_models_from_the_spec_table(
    name: str, code: int, watts: int, phases: int, mppt: int, *, hybrid: bool
) -> None:
    m = CATALOG.model(name)
    assert (m.device_type_code, m.rated_power_w, m.phases, m.mppt_count, m.is_hybrid) == (
        code, watts, phases, mppt, hybrid)


def test_unknown_model_error_lists_what_is_accepted() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'sg10rtx'.*Did you mean 'SG10RT'") as e:
        CATALOG.model("sg10rtx")
    assert "SH10RT" in str(e.value) and "Accepted models (170)" in str(e.value)
    assert CATALOG.model("sg10rt").name == "SG10RT"  # another case names one model: that one


# ---------------------------------------------------------------------- encodings (spec B.2)


@pytest.mark.parametrize(
    ("name", "table", "value", "words"),
    [
        ("device_type_code", "input", 0x0126, [0x0126]),
        ("internal_temperature", "input", -12.3, [0x10000 - 123]),
        ("daily_power_yields", "input", 12.34, [123]),
        ("total_power_yields", "input", 0x01020304, [0x0304, 0x0102]),  # low word first
        ("total_reactive_power", "input", -2, [0xFFFE, 0xFFFF]),
        ("power_factor", "input", -0.95, [0x10000 - 950]),
        ("grid_frequency", "input", 50.04, [500]),
    ],
)
def test_encoding(name: str, table: str, value: float, words: list[int]) -> None:
    row = _row(name, table)
    assert encode_value(row, value) == words
    decoded = decode_words(row, words)
    assert decoded == pytest.approx(round(value / row.scale) * row.scale)


def test_strings_are_big_endian_and_zero_padded() -> None:
    row = _row("serial_number")
    words = encode_value(row, "A2231234567")
    assert words[:6] == [0x4132, 0x3233, 0x3132, 0x3334, 0x3536, 0x3700]
    assert words[6:] == [0, 0, 0, 0]
    assert decode_words(row, words) == "A2231234567"


def test_sentinels() -> None:
    assert sentinel_words(_row("mppt_3_voltage", model="SG33CX")) == [0xFFFF]
    assert sentinel_words(_row("internal_temperature")) == [0x7FFF]
    assert sentinel_words(_row("total_dc_power")) == [0xFFFF, 0xFFFF]
    assert sentinel_words(_row("meter_power", model="SG10KTL-M")) == [0xFFFF, 0x7FFF]
    assert sentinel_words(_row("serial_number")) == [0] * 10
    assert encode_value(_row("internal_temperature"), None) == [0x7FFF]
    assert decode_words(_row("total_dc_power"), [0xFFFF, 0xFFFF]) is None


def test_values_are_clamped_not_wrapped() -> None:
    assert encode_value(_row("daily_power_yields"), 1e9) == [0xFFFE]
    assert encode_value(_row("daily_power_yields"), -5) == [0]


def test_input_and_holding_are_separate_tables() -> None:
    regmap = RegisterMap.for_model("SH10RT")
    assert regmap.by_name[("input", "device_type_code")].address == 5000
    assert regmap.by_name[("holding", "system_clock_year")].address == 5000
    assert regmap.by_name[("input", "running_state")].address == 13000
    assert regmap.by_name[("holding", "start_stop")].address == 13000


def test_row_sharing_an_address_follows_the_family() -> None:
    """Total yield (5004) is kWh on string inverters and 0.1 kWh on hybrids."""
    sg = RegisterMap.for_model("SG10RT").by_name[("input", "total_power_yields")]
    sh = RegisterMap.for_model("SH10RT").by_name[("input", "total_power_yields")]
    assert (sg.address, sg.scale) == (5004, 1.0)
    assert (sh.address, sh.scale) == (5004, 0.1)


# ---------------------------------------------------------------------- every row, every model


def _models_with_live_rows() -> list[str]:
    return list(CATALOG.models)


@pytest.mark.parametrize("model", _models_with_live_rows())
def test_every_row_is_served_for_the_models_it_names(mock_sungrow_factory: Any, model: str) -> None:
    """Read each catalogued row the model names, over Modbus TCP: exact count, no exception,
    and a live value wherever the plant has the quantity. Rows a family rule refuses or
    replaces with recorded words (data/family_rules.csv, from the dumps) are left to
    tests/test_family_rules.py."""
    clock = ManualClock(datetime(2026, 1, 10, 13, 0, tzinfo=ZoneInfo("Australia/Sydney")))
    server = mock_sungrow_factory(model=model, clock=clock)
    ruled = {t: rules_for(model, t).refused | rules_for(model, t).constant
             for t in ("input", "holding")}
    rows = [r for r in CATALOG.registers if r.matches(model)
            and not ruled[r.table].intersection(range(r.address, r.end))]
    assert rows, model
    names = {(r.table, r.name) for r in rows}
    served = 0
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        for row in rows:
            fc = 4 if row.table == "input" else 3
            # Long arrays are read in Modbus-sized chunks, as a client would.
            words: list[int] = []
            for start in range(row.address, row.end, 125):
                count = min(125, row.end - start)
                got = r.read(fc, start - 1, count)
                assert isinstance(got, list), (model, row.name, got)
                words += got
            assert len(words) == row.words
            served += 1
            value = decode_words(row, words)
            if row.name in ALWAYS_LIVE:
                assert value is not None and value != "", (model, row.name)
    assert served == len(rows)
    assert ("input", "device_type_code") in names and ("holding", "system_clock_year") in names


#: Quantities every model that has them must report (no sentinel), at 13:00 on a summer day.
ALWAYS_LIVE = {
    "serial_number", "device_type_code", "nominal_active_power", "output_type",
    "daily_power_yields", "total_power_yields", "internal_temperature", "mppt_1_voltage",
    "mppt_1_current", "total_dc_power", "phase_a_voltage", "total_active_power",
    "grid_frequency", "work_state_1", "running_state", "system_clock_year", "start_stop",
    "arm_software_version", "protocol_version",
}


def test_mppt_rows_follow_the_model_tracker_count(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 13, 0, tzinfo=ZoneInfo("Australia/Sydney")))
    server = mock_sungrow_factory(model="SG250HX", clock=clock)  # 12 MPPTs
    assert all(server.read(f"mppt_{i}_voltage") > 500 for i in range(1, 13))
    server1 = mock_sungrow_factory(model="SG2.0RS-S", clock=clock)  # 1 MPPT
    assert server1.read_registers("input", 5013, 4) == [0xFFFF] * 4  # MPPT 2 and 3


def test_hybrid_sentinels_where_the_protocol_says(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT", clock=ManualClock())
    # SH10RT answers 0xFFFF for MPPT 3 / 4 (spec B.4).
    assert server.read_registers("input", 5015, 2) == [0xFFFF, 0xFFFF]
    assert server.read_registers("input", 5115, 2) == [0xFFFF, 0xFFFF]
    # BMS alarm 2 reads 0xFFFF in its high word on real units.
    assert server.read_registers("input", 13078, 2) == [0, 0xFFFF]
