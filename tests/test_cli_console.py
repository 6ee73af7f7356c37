"""The command line for people: listings, help, errors in CLI terms, the console, the TLS CA.

Every check runs ``mock-sungrow`` as a subprocess, as a person or a script would; expectations
come from the shipped data files (registers.csv), docs/faults.md and the protocol, not from
the code that prints them.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from tests.test_cli import CLI, Served, served  # noqa: F401 - the fixture is used by name

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "mock_sungrow" / "data"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def _csv_row(name: str) -> dict[str, str]:
    with (DATA / "registers.csv").open() as f:
        return next(row for row in csv.DictReader(f) if row["name"] == name)


def test_registers_lists_a_models_registers_in_any_case() -> None:
    r = _run("registers", "sg5k-d", "--json")
    assert r.returncode == 0, r.stderr
    rows = {(row["table"], row["name"]): row for row in json.loads(r.stdout)}
    expected = _csv_row("daily_power_yields")  # a string-inverter row of the catalogue
    got = rows[("input", "daily_power_yields")]
    assert (got["address"], got["type"], got["unit"] or "", got["scale"], got["source"]) == (
        int(expected["address"]), expected["type"], expected["unit"], float(expected["scale"]),
        expected["source"])
    assert ("holding", "start_stop") in rows
    assert not any(name.startswith("battery_") for _t, name in rows)  # SG5K-D has none
    table = _run("registers", "SG5K-D")
    assert table.returncode == 0
    line = next(li for li in table.stdout.splitlines() if li.startswith("daily_power_yields "))
    assert re.search(r"input\s+5003\s+U16\s+kWh\s+0\.1\s", line), line


def test_registers_of_an_unknown_model_exits_2_with_suggestions() -> None:
    r = _run("registers", "SH10RTX")
    assert r.returncode == 2 and "Did you mean 'SH10RT'" in r.stderr and r.stdout == ""


def test_faults_lists_every_kind_with_its_parameters() -> None:
    documented = re.findall(r"^\| `([a-z0-9-]+)` \|", (ROOT / "docs" / "faults.md").read_text(),
                            re.M)
    r = _run("faults", "--json")
    assert r.returncode == 0, r.stderr
    kinds = {k["kind"]: k for k in json.loads(r.stdout)}
    assert sorted(kinds) == sorted(documented)
    exception = kinds["exception"]  # docs/faults.md: code 2 by default, Modbus front ends
    assert exception["params"][0]["name"] == "code" and exception["params"][0]["default"] == 2
    assert {"modbus", "sungrow"} <= set(exception["front_ends"])  # the Modbus framings...
    assert "http" not in exception["front_ends"]  # ...and not the WiNet-S API
    assert kinds["min-gap"]["what_it_does"]
    text = _run("faults").stdout
    assert all(f"\n{kind}  (" in text for kind in documented)


def test_every_flag_has_help_with_its_default_and_the_help_has_examples() -> None:
    r = _run("serve", "--help")
    assert r.returncode == 0
    text = r.stdout
    assert "examples:\n  mock-sungrow serve" in text
    options = text.split("options:", 1)[1].split("examples:", 1)[0]
    # One entry per flag: "  --flag ARG   help..." (help may start on the next line).
    entries = re.split(r"\n  (?=-)", options.strip())
    assert len(entries) > 35
    for entry in entries:
        flag = entry.split()[0].rstrip(",")
        if flag in ("-h", "--help"):
            continue
        words = " ".join(entry.split())
        assert "default" in words, f"{flag} does not say its default: {words}"
    assert "--latitude DEG" in text and "-33.87" in text and "151.21" in text
    assert "examples:" in _run("--help").stdout


def test_manual_clock_errors_speak_cli() -> None:
    r = _run("serve", "--manual-clock", "2026-01-01T10:00")
    assert r.returncode == 2
    assert "has no time zone; add one, for example 2026-01-01T10:00+10:00" in r.stderr
    assert "datetime(" not in r.stderr and "ZoneInfo" not in r.stderr
    r = _run("serve", "--manual-clock", "tomorrow")
    assert r.returncode == 2 and "not an ISO 8601 date and time: 'tomorrow'" in r.stderr


@pytest.mark.parametrize(("start", "message"), [
    ("tomorrow", "not an ISO 8601 date and time: 'tomorrow'; for example "
                 "2026-06-21T12:00+10:00 or 2026-06-21T02:00Z"),
    ("2026-01-01T10:00", "'2026-01-01T10:00' has no time zone; add one, for example "
                         "2026-01-01T10:00+10:00 or 2026-01-01T10:00Z"),
])
def test_the_fleet_reads_its_manual_clock_as_serve_does(tmp_path: Path, start: str,
                                                        message: str) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[group]]\nmodel = "SG5K-D"\ncount = 1\n')
    r = _run("fleet", str(fleet), "--manual-clock", start)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[-1] == (
        f"mock-sungrow fleet: error: argument --manual-clock: {message}")


def test_a_clock_step_without_a_manual_clock_is_refused_at_start(tmp_path: Path) -> None:
    scenario = tmp_path / "steps.toml"
    scenario.write_text('[[step]]\nat = 0\nclear = true\n\n'
                        '[[step]]\nat = 60\nclock = { advance = 3600 }\n')
    r = _run("serve", "--scenario", str(scenario), "--modbus-port", "0", "--http-port", "0",
             "--no-control")
    assert r.returncode == 2 and r.stdout == ""  # nothing bound, no ready line
    assert f"{scenario}: step 2: clock advance needs --manual-clock" in r.stderr


def test_a_battery_step_for_an_inverter_without_one_is_refused_at_start(tmp_path: Path
                                                                       ) -> None:
    scenario = tmp_path / "steps.toml"
    scenario.write_text('[[step]]\nat = 600\nplant = { battery_soc = 20 }\n')
    r = _run("serve", "--model", "SG5K-D", "--scenario", str(scenario), "--modbus-port", "0",
             "--http-port", "0", "--no-control")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == (f"mock-sungrow: error: {scenario}: step 1: plant: "
                                "inverter[1] (SG5K-D) has no battery")


def test_several_busy_ports_are_named_in_one_message() -> None:
    blockers = []
    try:
        for _ in range(2):
            b = socket.socket()
            b.bind(("127.0.0.1", 0))
            b.listen()
            blockers.append(b)
        modbus, http = (b.getsockname()[1] for b in blockers)
        r = _run("serve", "--modbus-port", str(modbus), "--http-port", str(http),
                 "--control-port", "0")
    finally:
        for b in blockers:
            b.close()
    assert r.returncode == 1 and r.stdout == ""
    assert (f"2 ports are already in use on 127.0.0.1: {modbus} (inverter[1].modbus), "
            f"{http} (inverter[1].http)") in r.stderr
    assert "give 0 for any free port" in r.stderr


def _read_one(port: int) -> None:
    c = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert c.connect()
    try:
        assert c.read_input_registers(5002, count=1).registers  # documented 5003
    finally:
        c.close()


def test_log_requests_prints_each_request_on_stderr(served: list[Served]) -> None:  # noqa: F811
    s = Served("--model", "sg5k-d", "--modbus-port", "0", "--server-type", "modbus",
               "--no-control", "--status-interval", "0", "--log-requests")
    served.append(s)
    assert s.ready["devices"][0]["model"] == "SG5K-D"  # a model name in any case
    assert s.proc.stderr is not None
    assert "listening:" in s.proc.stderr.readline()
    _read_one(s.ready["modbus"]["port"])
    line = s.proc.stderr.readline()
    assert re.match(r"\d\d:\d\d:\d\d modbus 127\.0\.0\.1:\d+ unit 1 fc 4 input 5003 ok$",
                    line.rstrip()), line
    assert s.stop()[0] == 0


def test_log_requests_to_a_file_writes_json_lines(served: list[Served],  # noqa: F811
                                                  tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    s = Served("--modbus-port", "0", "--server-type", "modbus", "--no-control",
               "--status-interval", "0", "--log-requests", str(log),
               "--fault", "exception:code=2,table=input,address=5003,times=1")
    served.append(s)
    _read_one_or_exception(s.ready["modbus"]["port"])
    _read_one(s.ready["modbus"]["port"])
    code, _out, err = s.stop()
    assert code == 0
    entries = [json.loads(li) for li in log.read_text().splitlines()]
    assert [(e["front_end"], e["function"], e["table"], e["address"], e["outcome"], e["fault"])
            for e in entries] == [("modbus", 4, "input", 5003, "exception 2", "exception"),
                                  ("modbus", 4, "input", 5003, "ok", None)]
    assert " fc 4 " not in err  # with a file, the lines go there only


def _read_one_or_exception(port: int) -> None:
    c = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert c.connect()
    try:
        assert c.read_input_registers(5002, count=1).exception_code == 2
    finally:
        c.close()


def test_write_ca_and_the_control_api_give_the_tls_ca(served: list[Served],  # noqa: F811
                                                      tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    s = Served("--server-type", "http", "--http-port", "0", "--tls-port", "0",
               "--control-port", "0", "--status-interval", "0", "--write-ca", str(ca))
    served.append(s)
    pem = ca.read_bytes()  # written before the ready line
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    ca_url = s.ready["control"]["url"].rstrip("/") + "/tls/ca.pem"
    with urllib.request.urlopen(ca_url) as r:  # noqa: S310 - an http URL of our own
        assert r.headers["Content-Type"] == "application/x-pem-file" and r.read() == pem
    # A client that verifies, trusting only that CA, gets through (curl --cacert ca.pem).
    context = ssl.create_default_context(cafile=str(ca))
    url = f"https://127.0.0.1:{s.ready['http']['tls_port']}/about/list"
    with urllib.request.urlopen(url, context=context) as r:
        assert json.load(r)["result_code"] == 1
    assert s.stop(signal.SIGINT)[0] == 0


def test_write_ca_without_a_tls_listener_exits_2(tmp_path: Path) -> None:
    r = _run("serve", "--modbus-port", "0", "--http-port", "0", "--no-control",
             "--write-ca", str(tmp_path / "ca.pem"))
    assert r.returncode == 2 and "no TLS listener is served" in r.stderr and r.stdout == ""
    assert not (tmp_path / "ca.pem").exists()


@pytest.mark.parametrize("args", [("models",), ("registers", "SH10RT"), ("faults",)])
def test_listings_survive_a_reader_that_leaves(args: tuple[str, ...]) -> None:
    """``mock-sungrow registers SH10RT | head -1``: no BrokenPipeError traceback."""
    shell = f"{' '.join(CLI)} {' '.join(args)} | head -n 1"
    r = subprocess.run(shell, shell=True, capture_output=True, text=True, timeout=60)  # noqa: S602
    assert r.returncode == 0 and "Traceback" not in r.stderr and len(r.stdout.splitlines()) == 1


def test_problem_lines_carry_the_time(served: list[Served]) -> None:  # noqa: F811
    s = Served("--modbus-port", "0", "--server-type", "modbus", "--no-control",
               "--status-interval", "0")
    served.append(s)
    assert s.proc.stderr is not None
    assert "listening:" in s.proc.stderr.readline()
    with socket.create_connection(("127.0.0.1", s.ready["modbus"]["port"])) as sock:
        # An MBAP header with protocol id 7 (Modbus is 0): the server closes this connection.
        sock.sendall(bytes.fromhex("0001 0007 0006 01 04 1387 0001"))
        sock.settimeout(10)
        assert sock.recv(16) == b""
    line = s.proc.stderr.readline()
    assert re.match(r"\d\d:\d\d:\d\d mock-sungrow: modbus 127\.0\.0\.1:\d+ bad-frame: ", line), \
        line
    assert s.stop()[0] == 0
