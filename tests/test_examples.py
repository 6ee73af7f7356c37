"""examples/: each configuration checked against the catalogue, each test run.

The Home Assistant sensors are checked against registers.csv (the documented address, type,
scale and unit of the register each names) and read from a running simulator as Home
Assistant reads them; the SunGather configuration against the command line's defaults and a
read of the unit it names; the charm-style integration test runs in pytester as a user's
project would run it.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import ModbusTcpClient

from mock_sungrow.cli import build_parser

pytestmark = pytest.mark.usefixtures("product_imported")  # pytester runs in-process

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: Home Assistant's data types for the catalogue's (32-bit ones need ``swap: word``).
HA_TYPES = {"U16": "uint16", "S16": "int16", "U32": "uint32", "S32": "int32"}
#: The "unavailable" words of the protocol (a register the model does not have).
SENTINELS = {0xFFFF, 0x7FFF}


def _catalogue_row(name: str, model: str = "SG5K-D") -> dict[str, str]:
    with (ROOT / "src" / "mock_sungrow" / "data" / "registers.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["name"] == name and r["table"] == "input"]
    family = model[:2]  # SG / SH: the rows' model column is "all", "SG*" or "SH*,MG*"
    for row in rows:
        if row["models"] == "all" or f"{family}*" in row["models"].split(","):
            return row
    raise AssertionError(f"no input register {name!r} for {model} in registers.csv")


def _serve_defaults() -> Any:
    return build_parser().parse_args(["serve"])


def test_home_assistant_sensors_match_the_catalogue_and_read_as_ha_reads(
        mock_sungrow: Any) -> None:
    config = yaml.safe_load((EXAMPLES / "home-assistant" / "configuration.yaml").read_text())
    (hub,) = config["modbus"]
    defaults = _serve_defaults()
    assert (hub["type"], hub["host"], hub["port"]) == ("tcp", defaults.host, defaults.modbus_port)
    port = mock_sungrow.get_connection_info("modbus")["port"]
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert client.connect()
    try:
        assert len(hub["sensors"]) >= 5
        for sensor in hub["sensors"]:
            name = sensor["unique_id"].removeprefix("sungrow_")
            row = _catalogue_row(name)
            where = f"{sensor['name']} ({name})"
            assert sensor["address"] == int(row["address"]) - 1, where  # HA: wire address
            assert sensor["input_type"] == "input" and sensor["slave"] == 1, where
            assert sensor["data_type"] == HA_TYPES[row["type"]], where
            wide = row["type"] in ("U32", "S32")
            assert sensor.get("swap") == ("word" if wide else None), where  # low word first
            assert float(sensor.get("scale", 1)) == float(row["scale"]), where
            assert sensor.get("unit_of_measurement") == (row["unit"] or None), where
            reply = client.read_input_registers(sensor["address"], count=2 if wide else 1,
                                                device_id=sensor["slave"])
            assert not reply.isError(), f"{where}: {reply}"
            assert not set(reply.registers) <= SENTINELS, f"{where}: reads 'unavailable'"
    finally:
        client.close()


def test_sungather_config_names_the_simulators_defaults(mock_sungrow_factory: Any) -> None:
    config = yaml.safe_load((EXAMPLES / "sungather" / "config.yaml").read_text())["inverter"]
    defaults = _serve_defaults()
    assert (config["host"], config["port"], config["connection"]) == (
        defaults.host, defaults.modbus_port, "modbus")
    assert config["model"] == defaults.model and config["log_file"] == "OFF"
    server = mock_sungrow_factory(model=config["model"], server_type="modbus")
    client = ModbusTcpClient("127.0.0.1", port=server.get_connection_info("modbus")["port"],
                             timeout=2, retries=0)
    assert client.connect()
    try:  # SunGather's first read: the device type code, on the unit it names
        words = client.read_input_registers(4999, count=1, device_id=config["slave"]).registers
    finally:
        client.close()
    assert words == [0x0126]  # SG5K-D in models.csv (Sungrow's device type code list)


def test_charm_style_integration_test_passes(pytester: pytest.Pytester) -> None:
    for name in ("test_scraper.py", "scraper.py"):
        shutil.copy(EXAMPLES / "charm-integration" / name, pytester.path / name)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_examples_readme_links_exist() -> None:
    text = (EXAMPLES / "README.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert len(links) >= 4
    for link in links:
        assert (EXAMPLES / link).exists(), link
