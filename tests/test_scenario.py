"""Scenario files: timed faults and plant changes for mock-sungrow serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.scenario import ScenarioError, ScenarioRunner, load_scenario

TOML = """
[[step]]
at = 0
inject = { kind = "latency", profile = "winet-modbus" }

[[step]]
at = 0.05
plant = { action = "stop" }

[[step]]
at = 0
clock = { advance = 3600 }

[[step]]
at = 0.1
inject = { kind = "exception", code = 2, table = "input", address = [5031, 5032], times = 1 }
"""

YAML = """
steps:
  - at: 0
    inject: {kind: silence, function: 4, times: 2}
  - at: 0.01
    clear: true
  - at: 0.02
    plant: {cloud_factor: 0.5}
"""


def test_toml_scenario_runs_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TOML)
    steps = load_scenario(path)
    assert [s.at for s in steps] == [0, 0, 0.05, 0.1]
    clock = ManualClock()
    server = MockSungrowServer(modbus_port=0, server_type="modbus", clock=clock)
    start = clock.time()
    runner = ScenarioRunner(server, steps)
    runner.start()
    assert runner.finished.wait(5)
    runner.stop()
    assert [f["kind"] for f in server.faults.describe()] == ["latency", "exception"]
    assert server.snapshot().mode.value == "stop"
    assert clock.time() == start + 3600


def test_yaml_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(YAML)
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    runner = ScenarioRunner(server, load_scenario(path))
    runner.start()
    assert runner.finished.wait(5)
    runner.stop()
    assert not server.faults
    assert server.plant.cloud_factor == 0.5


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("[[step]]\nat = -1\nclear = true\n", ".toml", r"step 1: 'at' must be a number"),
        ("[[step]]\nat = 1\nexplode = true\n", ".toml", r"step 1: unknown key\(s\) explode"),
        ("[[step]]\nat = 1\ninject = { kind = 'nope' }\n", ".toml",
         r"step 1: unknown fault kind 'nope'"),
        ("[[step]]\nat = 1\nclear = true\nreset = true\n", ".toml",
         r"give exactly one action"),
        ("[[step]]\nplant = { action = 'dance' }\n", ".toml",
         r"step 1: plant: action must be 'start' or 'stop'; got 'dance'"),
        ("[[step]]\nplant = { cloud_factor = 7 }\n", ".toml",
         r"step 1: plant: cloud_factor must be a number 0..1.5; got 7"),
        ("[[step]]\nplant = { battery = 50 }\n", ".toml",
         r"step 1: plant: unknown field\(s\) 'battery'; accepted: action, cloud_factor, "
         r"battery_soc"),
        ("not = [valid", ".toml", r"not valid TOML"),
        ("steps: {", ".yaml", r"not valid YAML"),
        ("steps: []", ".yaml", r"expected a list of steps"),
        ("x", ".ini", r"a scenario is a .toml, .yaml or .yml file"),
        ("[[step]]\nclock = { advance = -5 }\n", ".toml",
         r"step 1: clock advance must be a finite number of seconds >= 0; got -5"),
        ("[[step]]\nclock = { inverter_time = 'noon' }\n", ".toml",
         r"step 1: inverter_time must be an ISO 8601 time"),
    ],
)
def test_bad_scenarios_name_the_step(tmp_path: Path, text: str, suffix: str,
                                     message: str) -> None:
    path = tmp_path / f"s{suffix}"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "absent.toml")
