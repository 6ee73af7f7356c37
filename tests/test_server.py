"""Lifecycle and the public API of MockSungrowServer."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
import threading
import time

import pytest
from pymodbus.client import ModbusTcpClient

from mock_sungrow import FrontEndUnavailableError, ManualClock, MockSungrowServer
from tests.helpers import RawModbus, closed_by_peer


def test_original_constructor_signature_and_defaults() -> None:
    server = MockSungrowServer(
        host="127.0.0.1", modbus_port=5020, http_port=8082, model="SG5K-D", server_type="modbus"
    )
    assert server.get_connection_info("modbus") == {
        "host": "127.0.0.1", "port": 5020, "connection_type": "modbus"}
    assert not server.running


def test_port_zero_start_returns_when_accepting() -> None:
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    server.start()
    try:
        info = server.get_connection_info("modbus")
        assert info["host"] == "127.0.0.1" and info["connection_type"] == "modbus"
        assert isinstance(info["port"], int) and info["port"] > 0
        # No sleep: the port accepts and answers the moment start() has returned.
        client = ModbusTcpClient("127.0.0.1", port=info["port"], timeout=2, retries=0)
        assert client.connect()
        assert client.read_input_registers(4999, count=1).registers == [0x0126]
        client.close()
        assert server.ports == {"modbus": info["port"]}
    finally:
        server.stop()


def test_context_manager_and_idempotent_stop() -> None:
    with MockSungrowServer(modbus_port=0, server_type="modbus") as server:
        port = server.get_connection_info()["port"]
        running_inside = server.running
    assert running_inside
    assert server.running is False
    server.stop()
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_stop_leaves_no_thread_and_closes_client_connections() -> None:
    threads = set(threading.enumerate())
    server = MockSungrowServer(modbus_port=0, server_type="modbus").start()
    client = RawModbus("127.0.0.1", server.get_connection_info()["port"])
    # Answered first, so the server has really accepted the connection: a socket still in
    # the listen backlog would be closed by the listener, not by stop()'s abort loop.
    assert client.read(4, 4999, 1) == [0x0126]
    server.stop()
    assert set(threading.enumerate()) == threads
    assert closed_by_peer(client.sock, timeout=10)  # the server closed our connection
    client.close()


def test_restart_after_stop() -> None:
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    for _ in range(3):
        server.start()
        with socket.create_connection(("127.0.0.1", server.get_connection_info()["port"])):
            pass
        server.stop()


def test_start_twice_is_harmless() -> None:
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    try:
        assert server.start() is server
        port = server.get_connection_info()["port"]
        server.start()
        assert server.get_connection_info()["port"] == port
    finally:
        server.stop()


def test_port_in_use_raises_oserror_naming_front_end_and_address() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    threads = set(threading.enumerate())
    server = MockSungrowServer(modbus_port=port, server_type="modbus")
    started = time.monotonic()
    try:
        expected = rf"Modbus TCP front end cannot bind 127\.0\.0\.1:{port}"
        with pytest.raises(OSError, match=expected) as e:
            server.start()
        assert time.monotonic() - started < 10  # refused at once, not retried (a loose bound)
        assert e.value.errno == errno.EADDRINUSE
        assert not server.running
        assert set(threading.enumerate()) == threads
    finally:
        blocker.close()


def test_a_front_end_that_cannot_be_built_leaves_nothing_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building a front end runs after the loop thread started: its failure stops it too.

    A missing optional package is the real case: the AES port loads ``cryptography`` while it
    is built, so an installation without it fails ``start()``, cleanly.
    """
    from mock_sungrow.runtime import live_loop_ids, live_loops

    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers", None)
    threads = set(threading.enumerate())
    loops = live_loop_ids()
    server = MockSungrowServer(modbus_port=0, sungrow_port=0, server_type="modbus+sungrow")
    with pytest.raises(ImportError, match="cryptography"):
        server.start()
    assert not server.running
    assert set(threading.enumerate()) == threads
    assert live_loops(ignore=loops) == []  # loops that ran before: the shared server's
    monkeypatch.undo()  # the package is back: the same server starts
    with server:
        assert set(server.ports) == {"modbus", "sungrow"}


def test_both_front_ends_by_default() -> None:
    with MockSungrowServer(modbus_port=0, http_port=0) as server:
        assert set(server.ports) == {"modbus", "http"}
        web = server.get_connection_info("http")
        assert web["connection_type"] == "http" and web["port"] > 0 and web["tls"] is False
        with socket.create_connection(("127.0.0.1", web["port"]), timeout=2):
            pass


def test_a_kind_without_a_front_end_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry mechanism stays: a server type naming an unbuilt front end is refused."""
    from mock_sungrow import frontends

    monkeypatch.setitem(frontends.SERVER_TYPES, "sunspec", ("modbus", "sunspec"))
    with pytest.raises(FrontEndUnavailableError, match=r"needs front end\(s\) sunspec"):
        MockSungrowServer(modbus_port=0, server_type="sunspec")
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    with pytest.raises(FrontEndUnavailableError, match="does not serve 'http'"):
        server.get_connection_info("http")
    with pytest.raises(ValueError, match="unknown connection kind 'ftp'"):
        server.get_connection_info("ftp")


def test_modbus_only_server_never_imports_aiohttp() -> None:
    code = (
        "import sys; from mock_sungrow import MockSungrowServer; "
        "s = MockSungrowServer(modbus_port=0, server_type='modbus').start(); s.stop(); "
        "print([m for m in ('aiohttp', 'trustme', 'cryptography') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "SG99"}, r"unknown model 'SG99'.*Accepted models"),
        ({"server_type": "smtp"}, r"unknown server_type 'smtp'; accepted: modbus, http, both"),
        ({"modbus_port": 70000}, r"modbus_port must be an integer 0..65535"),
        ({"modbus_port": -1}, r"modbus_port must be an integer 0..65535"),
        ({"modbus_port": "502"}, r"modbus_port must be an integer"),
        ({"http_port": True}, r"http_port must be an integer"),
        ({"unit_id": 0}, r"unit_id must be an integer 1..247"),
        ({"host": ""}, r"host must be a non-empty string"),
        ({"tick": 0}, r"tick must be positive"),
        ({"timezone": "Mars/Olympus"}, r"unknown time zone 'Mars/Olympus'"),
        ({"latitude": 123.0}, r"latitude must be within -90..90"),
        ({"battery_kwh": 5.0}, r"only hybrid \(SH/MG\) models take a battery"),
        ({"datablock_class": dict}, r"subclass of SungrowModbusDataBlock"),
        ({"unknown_unit": "explode"}, r"unknown_unit must be"),
        ({"model": "SH10RT", "battery_make": "tesla"}, r"battery_make must be one of sungrow, "
                                                       r"third-party; got 'tesla'"),
        ({"winet_profile": "v3"}, r"unknown winet_profile 'v3'; accepted: legacy, login, tls-only"),
        ({"plain_http_port": 70000}, r"plain_http_port must be an integer 0..65535"),
        ({"tls_port": "443"}, r"tls_port must be an integer"),
        ({"winet_accounts": {}}, r"winet_accounts must map at least one"),
        ({"winet_accounts": {"admin": 8888}}, r"winet_accounts must map"),
        ({"winet_token_lifetime": 0}, r"winet_token_lifetime must be positive"),
        ({"winet_lockout_after": 0}, r"winet_lockout_after must be an integer >= 1"),
        ({"winet_lockout_seconds": -1}, r"winet_lockout_seconds must be positive"),
        ({"winet_scan_seconds": "3"}, r"winet_scan_seconds must be >= 0"),
    ],
)
def test_bad_arguments_raise_clear_value_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"server_type": "modbus", "modbus_port": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        MockSungrowServer(**args)  # type: ignore[arg-type]


def test_every_model_is_selectable_by_name() -> None:
    from mock_sungrow import model_names

    names = model_names()
    assert len(names) == 170
    for name in names:
        server = MockSungrowServer(model=name, server_type="modbus", modbus_port=0)
        assert server.read_registers("input", 5000)[0] == server.model.device_type_code


def test_reset_rebuilds_the_plant_and_keeps_the_port() -> None:
    clock = ManualClock()
    with MockSungrowServer(modbus_port=0, server_type="modbus", clock=clock) as server:
        port = server.get_connection_info()["port"]
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        client.connect()
        try:
            assert not client.write_register(5007, 100).isError()
            server.reset()
            # The same connection now talks to a fresh plant: the write is gone.
            assert client.read_holding_registers(5007, count=1).registers == [1000]
            assert server.get_connection_info()["port"] == port
        finally:
            client.close()


def test_start_stop_cycle_is_fast() -> None:
    """Cheap enough for a fresh server per test (the benchmark prints the real figure)."""
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    started = time.perf_counter()
    for _ in range(20):
        server.start()
        server.stop()
    # A sanity bound for a loaded machine, not a target: the benchmark measures ~10 ms.
    assert (time.perf_counter() - started) / 20 < 2.0


def test_manual_clock_helpers() -> None:
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    with pytest.raises(TypeError, match="ManualClock"):
        server.advance(10)
    clock = ManualClock()
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(0)


def test_read_by_name_and_pinned_registers() -> None:
    server = MockSungrowServer(modbus_port=0, server_type="modbus", clock=ManualClock())
    assert server.read("device_type_code") == 0x0126
    assert server.read("start_stop", "holding") == 0xCF
    with pytest.raises(KeyError, match="no input register named 'nope'"):
        server.read("nope")
    # A typo gets the catalogue's closest names; a name of the other table says which it is.
    with pytest.raises(KeyError, match=r"'daily_yeild'\. Did you mean 'daily_power_yields'\?"):
        server.read("daily_yeild")
    with pytest.raises(KeyError, match=r"it is a holding register: read\('start_stop', "
                                       r"'holding'\)"):
        server.read("start_stop")
    server.set_register("input", 5045, [42])
    assert server.read("fault_code_1") == 42
    server.clear_registers()
    assert server.read("fault_code_1") == 0
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        server.set_register("input", 5045, [70000])


def test_repr_says_what_it_is() -> None:
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    assert "SG5K-D" in repr(server) and "stopped" in repr(server)
