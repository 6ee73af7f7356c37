"""A test in another process steers `mock-sungrow serve` purely through the control API."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from tests.helpers import control_call

call = control_call


@pytest.fixture
def served() -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_sungrow", "serve", "--server-type", "modbus",
         "--modbus-port", "0", "--control-port", "0", "--manual-clock",
         "2026-01-10T02:00:00+00:00", "--status-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    try:
        yield ready
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err


def test_inject_observe_log_and_reset_from_another_process(served: dict[str, Any]) -> None:
    base = served["control"]["url"].rstrip("/")
    modbus = served["modbus"]
    client = ModbusTcpClient(modbus["host"], port=modbus["port"], timeout=2, retries=0)
    assert client.connect()
    try:
        # Inject: exception 2 for any read touching input 5031 (total active power).
        status, fault = call(base, "POST", "/faults", {
            "kind": "exception", "code": 2, "table": "input", "address": [5031, 5032],
            "times": 1})
        assert status == 201
        # Observe it with a real client: the block fails once, then works again.
        first = client.read_input_registers(5000, count=38)
        assert first.isError() and first.exception_code == 2
        assert not client.read_input_registers(5000, count=38).isError()
        assert call(base, "POST", "/faults/wait", {"timeout": 5})[0] == 200
        # Read it in the request log.
        status, log = call(base, "GET", "/requests?table=input&address=5031")
        assert status == 200
        assert [(r["outcome"], r["fault"]) for r in log] == [
            ("exception 2", "exception"), ("ok", None)]
        assert log[0]["address"] == 5001 and log[0]["count"] == 38
        # Move the clock and see the plant follow.
        midday = call(base, "GET", "/state")[1]["active_power_w"]
        assert call(base, "POST", "/clock", {"advance": 12 * 3600})[0] == 200
        assert call(base, "GET", "/state")[1]["active_power_w"] < midday
        # Reset: faults, log and plant are back to a fresh start; the ports are the same.
        call(base, "POST", "/faults", {"kind": "silence"})
        assert call(base, "POST", "/reset")[0] == 200
        assert call(base, "GET", "/faults")[1] == []
        assert call(base, "GET", "/requests")[1] == []
        assert client.read_input_registers(4999, count=1).registers == [0x0126]
        assert fault["id"] == 1
    finally:
        client.close()


def test_cli_fault_flags_and_bad_specs() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_sungrow", "serve", "--server-type", "modbus",
         "--modbus-port", "0", "--control-port", "0", "--status-interval", "0",
         "--fault", "exception:code=4,table=input,address=5000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        client = ModbusTcpClient("127.0.0.1", port=ready["modbus"]["port"], timeout=2,
                                 retries=0)
        client.connect()
        assert client.read_input_registers(4999, count=1).exception_code == 4
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    bad = subprocess.run(
        [sys.executable, "-m", "mock_sungrow", "serve", "--modbus-port", "0",
         "--control-port", "0", "--fault", "latency:delay=-1"],
        capture_output=True, text=True, timeout=30,
    )
    assert bad.returncode == 2 and "latency: delay must be >= 0" in bad.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "mock_sungrow", "serve", "--modbus-port", "0",
         "--control-port", "0", "--fault", "teleport"],
        capture_output=True, text=True, timeout=30,
    )
    assert bad.returncode == 2 and "unknown fault kind 'teleport'" in bad.stderr


def test_cli_scenario_file(tmp_path: Any) -> None:
    scenario = tmp_path / "night.toml"
    scenario.write_text('[[step]]\nat = 0\ninject = { kind = "exception", code = 2 }\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_sungrow", "serve", "--server-type", "modbus",
         "--modbus-port", "0", "--control-port", "0", "--status-interval", "0",
         "--scenario", str(scenario)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        base = ready["control"]["url"].rstrip("/")
        # Steps at time 0 are in place before the ready line is printed.
        assert [f["kind"] for f in call(base, "GET", "/faults")[1]] == ["exception"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[step]]\nat = -3\nclear = true\n")
    r = subprocess.run([sys.executable, "-m", "mock_sungrow", "serve", "--scenario", str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "step 1: 'at' must be a number" in r.stderr


def test_control_read_only_from_the_command_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_sungrow", "serve", "--server-type", "modbus",
         "--modbus-port", "0", "--control-port", "0", "--control-read-only",
         "--status-interval", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    try:
        base = json.loads(proc.stdout.readline())["control"]["url"].rstrip("/")
        status, error = call(base, "POST", "/faults", {"kind": "silence"})
        assert status == 403 and "read-only" in error["error"]
        status, info = call(base, "GET", "/info")
        assert status == 200 and info["read_only"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
