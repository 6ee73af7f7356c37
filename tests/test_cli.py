"""The mock-sungrow command line, run as other tools run it: a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from tests.helpers import free_loopback_address

CLI = [sys.executable, "-m", "mock_sungrow"]


class Served:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the ready line: no sleeping
        if not line:
            self.proc.wait(10)
            raise AssertionError(f"no ready line; stderr: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.ready: dict[str, Any] = json.loads(line)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, out, err


@pytest.fixture
def served() -> Iterator[list[Served]]:
    procs: list[Served] = []
    yield procs
    for p in procs:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.communicate()


def test_serve_prints_one_ready_line_then_serves(served: list[Served]) -> None:
    s = Served("--modbus-port", "0", "--http-port", "0", "--control-port", "0",
               "--model", "SG10RT", "--status-interval", "0.2")
    served.append(s)
    assert list(s.ready) == ["modbus", "http", "control", "devices"]  # both front ends by default
    web = s.ready["http"]
    assert web["host"] == "127.0.0.1" and web["port"] > 0 and web["connection_type"] == "http"
    assert "plain_http_port" not in web and "tls_port" not in web  # only when bound
    with urllib.request.urlopen(f"http://127.0.0.1:{web['port']}/inverter/list") as r:
        assert json.load(r)["result_data"]["list"][0]["dev_code"] == 0x2433
    info = s.ready["modbus"]
    assert info["host"] == "127.0.0.1" and info["port"] > 0
    c = ModbusTcpClient(info["host"], port=info["port"], timeout=2, retries=0)
    assert c.connect()
    assert c.read_input_registers(4999, count=1).registers == [0x2433]
    c.close()
    # For people, on stderr (read before stopping): where it listens, then the status line
    # with the plant's local time and its zone (Sydney by default).
    assert s.proc.stderr is not None
    listening = s.proc.stderr.readline()
    assert re.match(r"\d\d:\d\d:\d\d mock-sungrow: listening: SG10RT \(inverter\[1\], unit 1\)",
                    listening), listening
    assert f"modbus 127.0.0.1:{info['port']}, http 127.0.0.1:{web['port']}" in listening
    assert f"control API {s.ready['control']['url']}" in listening
    status = s.proc.stderr.readline()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d AE[SD]T SG10RT ", status), status
    assert "kW" in status and "daily" in status
    code, out, err = s.stop(signal.SIGTERM)
    assert code == 0
    assert out == ""  # exactly one line on stdout, already read
    assert re.search(r"\d\d:\d\d:\d\d mock-sungrow: stopping on SIGTERM after 2 requests",
                     err), err  # the Modbus read and the HTTP request above


def test_sigint_stops_cleanly(served: list[Served]) -> None:
    s = Served("--modbus-port", "0", "--http-port", "0", "--control-port", "0",
               "--status-interval", "0")
    served.append(s)
    code, _out, err = s.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in err
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", s.ready["modbus"]["port"]), timeout=1)


def test_flags_mirror_the_constructor(served: list[Served]) -> None:
    s = Served("--modbus-port", "0", "--control-port", "0", "--model", "SH10RT",
               "--server-type", "modbus", "--host", "127.0.0.1", "--http-port", "0",
               "--unit-id", "3", "--seed", "9", "--serial", "S1234567890", "--status-interval", "0")
    served.append(s)
    c = ModbusTcpClient("127.0.0.1", port=s.ready["modbus"]["port"], timeout=2, retries=0)
    c.connect()
    try:
        assert c.read_input_registers(4999, count=1, device_id=3).registers == [0x0E03]
        words = c.read_input_registers(4989, count=10, device_id=3).registers
        assert b"".join(w.to_bytes(2, "big") for w in words).startswith(b"S1234567890")
    finally:
        c.close()
    assert s.stop()[0] == 0


def test_bad_arguments_exit_2_with_a_message() -> None:
    r = subprocess.run([*CLI, "serve", "--model", "SG99"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown model 'SG99'" in r.stderr and r.stdout == ""
    r = subprocess.run([*CLI, "serve", "--modbus-port", "99999"], capture_output=True, text=True)
    assert r.returncode == 2 and "ports are 0..65535" in r.stderr
    r = subprocess.run([*CLI, "serve", "--server-type", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and "accepted: modbus, http, both" in r.stderr


def test_port_in_use_exits_1_naming_the_address() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        r = subprocess.run([*CLI, "serve", "--modbus-port", str(port), "--http-port", "0"],
                           capture_output=True, text=True, timeout=20)
    finally:
        blocker.close()
    assert r.returncode == 1
    assert f"Modbus TCP front end cannot bind 127.0.0.1:{port}" in r.stderr
    assert r.stdout == ""


def test_winet_flags_real_ports_and_profile(served: list[Served]) -> None:
    """--real-ports binds 8082, 80 and 443 at once; the ready line reports all three."""
    host = free_loopback_address()
    s = Served("--host", host, "--server-type", "http", "--real-ports", "--no-control",
               "--winet-profile", "login", "--winet-token-lifetime", "60",
               "--status-interval", "0")
    served.append(s)
    assert s.ready["devices"][0]["endpoints"] == {"http": {"host": host, "port": 8082}}
    assert {k: v for k, v in s.ready.items() if k != "devices"} == {"http": {
        "host": host, "port": 8082, "connection_type": "http", "tls": False,
        "ws_path": "/ws/home/overview", "winet_profile": "login",
        "plain_http_port": 80, "tls_port": 443}}
    with urllib.request.urlopen(f"http://{host}/about/list") as r:  # port 80
        assert json.load(r)["result_code"] == 1
    with socket.create_connection((host, 443)) as sock:  # TLS answers on 443
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(sock, server_hostname=host) as tls:
            assert tls.version() is not None
    assert s.stop()[0] == 0


def test_tls_only_profile_closes_the_plain_ports(served: list[Served]) -> None:
    s = Served("--server-type", "http", "--http-port", "0", "--tls-port", "0", "--no-control",
               "--winet-profile", "tls-only", "--status-interval", "0")
    served.append(s)
    web = s.ready["http"]
    assert web["tls"] is True and web["port"] == web["tls_port"] > 0
    assert "plain_http_port" not in web
    assert s.stop()[0] == 0


def test_bad_winet_profile_exits_2() -> None:
    r = subprocess.run([*CLI, "serve", "--winet-profile", "v9"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown winet_profile 'v9'" in r.stderr


def test_models_lists_the_catalogue() -> None:
    r = subprocess.run([*CLI, "models"], capture_output=True, text=True, check=True)
    lines = r.stdout.splitlines()
    assert len(lines) == 171 and lines[0].startswith("model")
    assert any(line.startswith("SH10RT ") and "0xe03" in line for line in lines)
    r = subprocess.run([*CLI, "models", "--json"], capture_output=True, text=True, check=True)
    rows = json.loads(r.stdout)
    assert len(rows) == 170
    assert {"name": "SG5K-D", "device_type_code": 0x0126, "rated_power_w": 5000, "phases": 1,
            "mppt_count": 2, "family": "string"} in rows


def test_console_script_is_installed() -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "mock-sungrow")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert r.stdout.startswith("mock-sungrow ")


def test_hybrid_flags(served: list[Served]) -> None:
    s = Served("--modbus-port", "0", "--http-port", "0", "--no-control", "--model", "SH10RT",
               "--battery-kwh", "12.8",
               "--no-meter", "--house-load", "500", "--cloud-factor", "random",
               "--battery-unit-id", "201", "--status-interval", "0.2")
    served.append(s)
    c = ModbusTcpClient("127.0.0.1", port=s.ready["modbus"]["port"], timeout=2, retries=0)
    c.connect()
    try:
        assert c.read_input_registers(5638, count=1).registers == [1280]  # 12.80 kWh
        assert c.read_input_registers(5600, count=2).registers == [0xFFFF, 0x7FFF]  # no meter
        assert c.read_input_registers(10709, count=1, device_id=201).registers == [0x20E8]
        assert c.read_input_registers(10709, count=1, device_id=200).isError()
    finally:
        c.close()
    assert s.proc.stderr is not None
    assert "listening:" in s.proc.stderr.readline()
    status = s.proc.stderr.readline()
    assert "SH10RT" in status and "SoC" in status
    assert s.stop()[0] == 0


def test_hybrid_flag_errors_exit_2() -> None:
    r = subprocess.run([*CLI, "serve", "--cloud-factor", "sunny"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "cloud factor" in r.stderr
    r = subprocess.run([*CLI, "serve", "--model", "SG5K-D", "--battery-kwh", "5"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "only hybrid" in r.stderr
    r = subprocess.run([*CLI, "serve", "--house-load", "1,2,3"], capture_output=True, text=True)
    assert r.returncode == 2 and "24 comma-separated" in r.stderr
