"""The control API sets up what the Python API sets up (issue 15, point 10).

Each test steers the server over HTTP, as a test in another process would, and checks what a
Modbus client then reads on the wire: the expected words are computed here from the register
documents (registers.csv: battery_level U16 0.1 % at input 13023, total_active_power S32 W at
13034, low word first, running state 0x1000 off-grid at 13000), not with the product's encoder.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus, control_call

#: Early afternoon in January at the default site (Sydney, UTC+11): the sun is high.
NOON = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)


class Site:
    """A server steered over its control API and read over Modbus TCP."""

    def __init__(self, server: MockSungrowServer) -> None:
        self.server = server
        self.base = server.get_connection_info("control")["url"].rstrip("/")
        self.port = server.get_connection_info("modbus")["port"]

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return control_call(self.base, method, path, body)

    def words(self, documented: int, count: int = 1) -> list[int]:
        with RawModbus("127.0.0.1", self.port) as c:
            words = c.read(4, documented - 1, count)
        assert isinstance(words, list), f"exception {words} reading {documented}"
        return words

    def active_power_w(self) -> int:
        low, high = self.words(13034, 2)  # Sungrow's 32-bit values: the low word first
        value = high << 16 | low
        return value - (1 << 32) if value & 0x8000_0000 else value


@pytest.fixture
def hybrid(mock_sungrow_factory: Any) -> Site:
    return Site(mock_sungrow_factory(model="SH10RT", server_type="modbus", control_port=0,
                                     clock=ManualClock(NOON)))


def test_the_battery_soc_is_set_over_http_and_read_over_modbus(hybrid: Site) -> None:
    status, state = hybrid.call("POST", "/plant", {"battery_soc": 37.5})
    assert status == 200, state
    assert state["battery_soc_pct"] == 37.5
    assert hybrid.words(13023) == [375]
    status, battery = hybrid.call("GET", "/battery")
    assert status == 200 and battery["soc_pct"] == 37.5
    assert battery["status"] in ("run", "standby")
    status, named = hybrid.call("GET", "/registers/input/battery_level")
    assert (status, named) == (200, {"table": "input", "name": "battery_level", "value": 37.5})


def test_a_refused_request_changes_nothing(hybrid: Site) -> None:
    before = hybrid.words(13023)
    status, err = hybrid.call("POST", "/plant", {"battery_soc": 20, "power_factor": 0.5})
    assert status == 422 and err == {
        "error": "power_factor must satisfy 0.8 <= |PF| <= 1; got 0.5"}
    status, err = hybrid.call("POST", "/plant", {"battery_soc": 20, "grid": "sideways"})
    assert status == 422 and err["error"] == "grid must be 'up' or 'down'; got 'sideways'"
    for bad in (101, -1, "50", True, None):
        status, err = hybrid.call("POST", "/plant", {"battery_soc": bad})
        assert status == 422 and err["error"].startswith("battery_soc must be a percentage")
    status, err = hybrid.call("POST", "/plant", {"battery_soc": 20, "soc": 1})
    assert status == 422 and err["error"].startswith("unknown field(s) 'soc'; accepted: action")
    status, err = hybrid.call("POST", "/plant", {})
    assert status == 422 and err["error"].startswith("give at least one of action, ")
    assert hybrid.words(13023) == before


def test_a_power_limit_caps_what_the_inverter_feeds_and_null_lifts_it(
    hybrid: Site, mock_sungrow_factory: Any
) -> None:
    clock = hybrid.server.clock
    assert isinstance(clock, ManualClock)
    clock.advance(120)
    assert hybrid.active_power_w() > 2000  # a summer noon on a 10 kW hybrid
    status, _ = hybrid.call("POST", "/plant", {"power_limit_w": 1000, "power_factor": -0.9})
    assert status == 200
    clock.advance(120)
    assert 0 <= hybrid.active_power_w() <= 1000
    assert hybrid.server.plant.plant_settings.power_factor == -0.9
    status, _ = hybrid.call("POST", "/plant", {"power_limit_w": None})
    assert status == 200
    clock.advance(120)
    assert hybrid.active_power_w() > 2000
    status, err = hybrid.call("POST", "/plant", {"export_limit_w": -5})
    assert status == 422 and "export_limit_w must be a power >= 0 W" in err["error"]
    status, err = hybrid.call("POST", "/plant", {"power_limit_w": "1 kW"})
    assert status == 422 and err["error"] == (
        "power_limit_w must be a power in W (>= 0), or null for no limit; got '1 kW'")


def test_a_grid_outage_is_started_and_ended_over_http(hybrid: Site) -> None:
    assert hybrid.words(13000) != [0x1000]
    assert hybrid.call("POST", "/plant", {"grid": "down"})[0] == 200
    assert hybrid.words(13000) == [0x1000]  # off-grid running
    assert hybrid.words(13030) == [0xFFFF]  # an SH10RT's grid state word: 0xFFFF as recorded
    assert hybrid.call("POST", "/plant", {"grid": "up"})[0] == 200
    assert hybrid.words(13000) != [0x1000]


def test_a_device_without_a_battery_says_so(mock_sungrow_factory: Any) -> None:
    site = Site(mock_sungrow_factory(model="SG5K-D", server_type="modbus", control_port=0))
    status, err = site.call("POST", "/plant", {"battery_soc": 50, "cloud_factor": 0.2})
    assert status == 409 and err["error"] == "inverter[1] (SG5K-D) has no battery"
    assert site.server.plant.cloud_factor == 1.0  # nothing applied
    status, err = site.call("GET", "/battery")
    assert status == 404 and "has no battery" in err["error"]


def test_a_misspelt_register_name_gets_suggestions(hybrid: Site) -> None:
    status, err = hybrid.call("GET", "/registers/input/battery_levle")
    assert status == 404
    assert err["error"].startswith("SH10RT has no input register named 'battery_levle'. Did "
                                   "you mean 'battery_level' or ")
    assert hybrid.call("GET", "/registers/coils/battery_level")[0] == 404


def test_only_an_unknown_kind_lists_the_kinds(hybrid: Site) -> None:
    status, err = hybrid.call("POST", "/faults", {"kind": "latncy"})
    assert status == 422 and "latency" in err["kinds"] and len(err["kinds"]) >= 30
    status, err = hybrid.call("POST", "/faults", {"kind": "latency"})
    assert status == 422 and set(err) == {"error"}
    assert err["error"].startswith("latency: give a profile (lan, winet-modbus, winet-http)")
    status, err = hybrid.call("POST", "/faults", {"kind": "exception", "code": "x"})
    assert status == 422 and set(err) == {"error"}
