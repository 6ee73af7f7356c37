"""An integration test in the style of a Juju charm's, with mock-sungrow as the inverter.

A charm's integration test deploys the workload, points it at an inverter and checks what the
charm reports; with no inverter in CI, the ``mock_sungrow`` fixture is the inverter. Here the
workload is ``scraper.py`` run as a subprocess (in a charm test: the deployed unit, pointed at
the simulator with ``juju config``; docs/kubernetes.md shows that set-up). The test breaks the
inverter the way real ones break and checks that the workload copes and says so, and reads
the simulator's request log to see what the workload asked for.

Copy this file and scraper.py into your project (``pip install mock-sungrow pymodbus``) and
run ``pytest``. In this checkout the suite runs it (tests/test_examples.py); by hand, run
``python -m pytest -c /dev/null examples/charm-integration`` (the checkout's own pytest
settings switch the plugin's entry point off for the suite, which loads it itself).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRAPER = Path(__file__).with_name("scraper.py")


def scrape(server: Any, *args: str) -> dict[str, Any]:
    """Run the workload once against ``server``; its JSON report."""
    info = server.get_connection_info("modbus")
    done = subprocess.run([sys.executable, str(SCRAPER), info["host"], str(info["port"]), *args],
                          capture_output=True, text=True, timeout=60, check=True)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.mock_sungrow(model="SG5K-D", seed=7)
def test_the_workload_reads_the_inverter(mock_sungrow: Any) -> None:
    report = scrape(mock_sungrow)
    assert report["status"] == "ok" and report["attempts"] == 1
    assert report["device_type_code"] == 0x0126                  # an SG5K-D (protocol, 5000)
    assert 0 <= report["active_power_w"] <= mock_sungrow.model.rated_power_w
    mock_sungrow.requests.assert_read("input", 5031, times=1)    # one scan, one read


def test_the_workload_retries_a_failed_read(mock_sungrow: Any) -> None:
    mock_sungrow.inject("exception", code=2, table="input", address=5031, times=1)
    report = scrape(mock_sungrow, "--retries", "1")
    assert report["status"] == "ok" and report["attempts"] == 2
    outcomes = [r.outcome for r in mock_sungrow.requests.find(table="input", address=5031)]
    assert outcomes == ["exception 2", "ok"]


def test_the_workload_reports_a_silent_inverter(mock_sungrow: Any) -> None:
    mock_sungrow.inject("silence", front_end="modbus")          # a WiNet-S that hung
    report = scrape(mock_sungrow, "--timeout", "0.5", "--retries", "0")
    assert report == {"status": "no answer", "attempts": 1}
    assert [r.outcome for r in mock_sungrow.requests.find(front_end="modbus")] == ["silence"]
