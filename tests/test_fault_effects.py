"""Fault effects beyond the catalogue examples: other front ends, other variants, lifetimes."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymodbus.client import ModbusTcpClient

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import EncryptedModbus, RawModbus, closed_by_peer, wait_until
from tests.winet_client import Winet, run, words_of


def _fails(read: Any) -> bool:
    try:
        return bool(read().isError())
    except Exception:  # noqa: BLE001 - pymodbus raises for timeouts and resets
        return True


def test_min_gap_lockup_recovers_only_after_an_idle_line(mock_sungrow_factory: Any) -> None:
    """Gaps are measured from when the server saw the last request (its log's wall clock).

    Waiting on that instant, rather than sleeping a guessed time after the client's own
    timeout, keeps each step on the right side of ``gap`` and ``idle`` however late the
    server got to a request: the margins (0.5 s gap, 2 s idle) are for the steps that must
    happen *within* a time.
    """
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("min-gap", gap=0.5, overload="lockup", idle=2.0)
    port = server.get_connection_info("modbus")["port"]
    ok = ModbusTcpClient("127.0.0.1", port=port, timeout=5, retries=0)
    probe = ModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0)  # expects silence

    def quiet_for() -> float:
        return float(time.time() - server.requests.all()[-1].time)

    ok.connect()
    probe.connect()
    try:
        assert not ok.read_input_registers(4999, count=1).isError()
        assert _fails(lambda: probe.read_input_registers(4999, count=1))  # too fast: locked up
        wait_until(lambda: quiet_for() > 0.6, what="a polite gap")
        assert _fails(lambda: probe.read_input_registers(4999, count=1))  # polite, still locked
        wait_until(lambda: quiet_for() > 2.1, what="an idle line")
        assert ok.read_input_registers(4999, count=1).registers == [0x0126]  # recovered
    finally:
        ok.close()
        probe.close()
    outcomes = [r.outcome for r in server.requests.all()]
    assert outcomes == ["ok", "silence", "silence", "ok"]


def test_a_frozen_dongle_logs_what_it_ignores_under_the_freeze(
    mock_sungrow_factory: Any,
) -> None:
    """The requests a frozen dongle ignores name the fault; only the freeze is a firing.

    Removing the fault thaws the dongle at once, whatever other faults are active.
    """
    server = mock_sungrow_factory(server_type="modbus", clock=ManualClock())
    freeze = server.inject("freeze-after-illegal-reads", reads=2, recover=3600)
    server.inject("zeros", table="holding", address=5000)  # unrelated; stays active
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert [r.read(4, 100, 5) for _ in range(2)] == [2, 2]  # illegal: it freezes
        r.send(r.frame(1, struct.pack(">BHH", 4, 4999, 1)))
        wait_until(lambda: server.requests.find(outcome="silence"), what="the ignored read")
        ignored = server.requests.find(outcome="silence")
        assert [(e.address, e.fault) for e in ignored] == [(5000, "freeze-after-illegal-reads")]
        assert freeze.fired == 1
        freeze.remove()
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.read(4, 4999, 1) == [0x0126]  # thawed with the fault gone


@pytest.mark.parametrize("spec", ["key-rotate", "winet-kick", "winet-profile:profile=login",
                                  "idle-timeout:seconds=30", "key-silent"])
def test_session_and_connection_faults_can_be_given_to_the_constructor(
    mock_sungrow_factory: Any, spec: str,
) -> None:
    """``faults=`` (and ``serve --fault``) used to fail for these: they act on the server."""
    server = mock_sungrow_factory(server_type="all", faults=[spec])
    assert [f.name for f in server.faults] == [spec.partition(":")[0]]
    if spec == "key-rotate":  # the key handed out is a rotated one
        fresh = mock_sungrow_factory(server_type="sungrow", clock=server.clock)
        assert server.sungrow_public_key() != fresh.sungrow_public_key()
    if spec.startswith("winet-profile"):
        assert server.get_connection_info("http")["winet_profile"] == "login"


def test_key_rotate_is_refused_without_an_aes_port(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    with pytest.raises(ValueError, match=r"key-rotate needs the sungrow front end with "
                                         r"encryption='aes' \(this server: "
                                         r"server_type='modbus', encryption='aes'\)"):
        server.inject("key-rotate")
    assert not server.faults


def test_max_clients_kick_oldest(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("max-clients", limit=1, policy="kick-oldest")
    port = server.get_connection_info("modbus")["port"]
    with RawModbus("127.0.0.1", port) as old:
        assert old.read(4, 4999, 1) == [0x0126]
        with RawModbus("127.0.0.1", port) as new:
            assert new.read(4, 4999, 1) == [0x0126]  # the newcomer is served...
            assert closed_by_peer(old.sock, timeout=10)  # ...the old client was closed


def test_ordered_faults_fire_one_after_another(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("exception", code=2, times=1, ordered=True)
    server.inject("exception", code=4, times=2, ordered=True)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert [r.read(4, 4999, 1) for _ in range(4)] == [2, 4, 4, [0x0126]]
    server.wait(1)


def test_fault_duration_runs_on_the_server_clock(mock_sungrow_factory: Any) -> None:
    clock = ManualClock()
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    server.inject("exception", code=4, duration=60)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.read(4, 4999, 1) == 4
        clock.advance(61)
        assert r.read(4, 4999, 1) == [0x0126]
    assert not server.faults


def test_faults_apply_on_the_encrypted_port(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="sungrow", encryption="aes")
    server.inject("exception", code=2, front_end="sungrow", table="input", address=5031)
    server.inject("scale", factor=10, front_end="sungrow", table="input", address=5001)
    with EncryptedModbus("127.0.0.1", server.get_connection_info("sungrow")["port"]) as c:
        c.fetch_key()
        assert c.eread(4, 5000, 38) == 2
        assert c.eread(4, 5000, 1) == [500]  # 5.0 kW nominal power, x10
    log = server.requests.find(front_end="sungrow", table="input", address=5001)
    assert [r.fault for r in log] == ["exception", "scale"]


@pytest.mark.parametrize("kind", ["silence", "drop"])
def test_http_silence_and_drop(mock_sungrow_factory: Any, kind: str) -> None:
    import aiohttp

    server = mock_sungrow_factory(server_type="http")
    # Permanent: aiohttp retries a GET once on a fresh connection when the first one drops.
    fault = server.inject(kind, front_end="http", function="/device/getParam")

    async def go() -> tuple[str, dict[str, Any]]:
        async with Winet(server) as w:
            token = (await w.session()).token
            try:
                async with w.http.get(  # type: ignore[union-attr]
                    w.base + "/device/getParam",
                    params={"dev_id": 1, "type": 3, "param_addr": 5000, "param_num": 1,
                            "param_type": 0, "token": token},
                    timeout=aiohttp.ClientTimeout(total=0.5),
                ) as r:
                    first = f"answered {r.status}"
            # asyncio.TimeoutError is the built-in TimeoutError from Python 3.11 on, its own
            # class on 3.10 (what aiohttp raises there).
            except (TimeoutError, asyncio.TimeoutError, aiohttp.ClientError) as exc:
                first = type(exc).__name__
            fault.remove()
            return first, await w.registers(token, "input", 5000, 1)

    first, second = run(go())
    assert first != "answered 200", first
    assert words_of(second["result_data"]["param_value"]) == [0x0126]
    outcome = {"silence": "silence", "drop": "dropped"}[kind]
    assert server.requests.find(front_end="http", outcome=outcome)[0].fault == kind


def test_http_latency_profile(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="http")
    server.inject("latency", profile="winet-http", front_end="http")

    async def go() -> list[float]:
        async with Winet(server) as w:
            token = (await w.session()).token
            times = []
            for _ in range(3):
                started = time.monotonic()
                await w.registers(token, "input", 5000, 1)
                times.append(time.monotonic() - started)
            return times

    # 150-400 ms each: the lower bound proves the delay; the upper one only that it answered.
    assert all(0.14 < t < 10 for t in run(go()))


def test_websocket_result_code_and_word_faults(mock_sungrow_factory: Any) -> None:
    noon = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("Australia/Sydney")))
    server = mock_sungrow_factory(model="SH10RT", clock=noon)  # the plant produces power
    server.inject("winet-result", code=106, service="real", times=1)
    # Input 5017-5018: total DC power (U32 W, low word first), zeroed on the WiNet-S only.
    server.inject("zeros", front_end="http", table="input", address=(5017, 5018))

    async def go() -> tuple[dict[str, Any], dict[str, Any], list[int]]:
        async with Winet(server) as w:
            s = await w.session()
            expired, real = await s.call("real", dev_id="1"), await s.call("real", dev_id="1")
            reply = await w.registers(s.token, "input", 5011, 8)  # 5011-5018
            assert reply["result_code"] == 1, reply
            return expired, real, words_of(reply["result_data"]["param_value"])

    expired, real, web = run(go())
    assert expired["result_code"] == 106 and expired["result_data"]["service"] == "real"
    assert real["result_code"] == 1
    values = {i["data_name"]: i["data_value"] for i in real["result_data"]["list"]}
    assert values["I18N_COMMON_TOTAL_DCPOWER"] == "0.000"  # the real list reads 5017 too
    assert values["I18N_COMMON_TOTAL_ACTIVE_POWER"] != "0.000"  # unfaulted: the plant's
    assert web[6:8] == [0, 0]  # the faulted words read 0 through the WiNet-S...
    assert web[0] > 0  # ...while the unfaulted MPPT 1 voltage (5011) in the same reply does not
    # The Modbus port is not affected (the zeros fault targets the WiNet-S front end): the
    # same instant (manual clock) reads a real DC power there.
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        modbus = r.read(4, 5016, 2)
    assert isinstance(modbus, list) and modbus[0] + (modbus[1] << 16) > 1000
    assert server.requests.find(front_end="http", fault="zeros")


def test_tls_only_switch_at_run_time(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="http", tls_port=0)
    plain = server.get_connection_info("http")
    with server.inject("winet-profile", profile="tls-only"):
        s = socket.create_connection((plain["host"], plain["port"]))
        s.settimeout(10)
        try:
            s.sendall(b"GET /about/list HTTP/1.1\r\nHost: x\r\n\r\n")
            refused = s.recv(10) == b""
        except ConnectionResetError:
            refused = True
        finally:
            s.close()
        assert refused  # 8082 no longer answers...

        async def over_tls() -> dict[str, Any]:
            async with Winet(server, port=plain["tls_port"], tls=True) as w:
                return await w.get("/about/list")

        assert run(over_tls())["result_code"] == 1  # ...443 does
    with pytest.raises(ValueError, match="needs a TLS listener"):
        mock_sungrow_factory(server_type="http").inject("winet-profile", profile="tls-only")


def test_plant_fault_on_a_hybrid_shows_in_the_fault_words(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SH10RT", server_type="modbus")
    with server.inject("inverter-fault", code=37):
        assert server.read("running_state") == 0x0100  # Fault
        assert server.read("system_fault_1") == 1
        assert server.snapshot().active_power_w == 0
    assert server.read("system_fault_1") == 0
    with pytest.raises(ValueError, match="give it a 'duration'"):
        server.inject("inverter-fault", times=1)


def test_faults_from_the_constructor_and_text_forms(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus",
                                  faults=["exception:code=4,table=input,address=5000"])
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.read(4, 4999, 1) == 4
        assert r.read(3, 4999, 1) != 4  # holding is not matched


def test_idle_timeout_on_the_winet_front_end(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="http")
    server.inject("idle-timeout", seconds=0.3, front_end="http")
    info = server.get_connection_info("http")
    with socket.create_connection((info["host"], info["port"])) as s:
        s.settimeout(10)  # a bound for a failing test; a passing one returns after ~0.3 s
        started = time.monotonic()
        assert s.recv(10) == b""
        assert time.monotonic() - started > 0.25
    assert server.requests.find(outcome="closed: idle")[0].fault == "idle-timeout"


def test_idle_timeout_reaches_connections_opened_before_it(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.read(4, 4999, 1) == [0x0126]  # connected and idle before the fault exists
        server.inject("idle-timeout", seconds=0.3)
        r.sock.settimeout(10)
        started = time.monotonic()
        assert r.sock.recv(10) == b""
        assert time.monotonic() - started > 0.25
