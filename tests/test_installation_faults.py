"""Faults in an installation of several inverters: each endpoint and each dongle is its own device.

Two inverters' LAN ports are both front end ``modbus``, but a real site has two network
interfaces: a connection limit, a lock-up or a freeze of one leaves the other alone. Session
faults (``key-rotate``, ``winet-kick``, ``winet-profile``) act on the dongle serving the device
or unit they name, every dongle when they name none. Expectations are the fault catalogue's
documented behaviour (docs/faults.md) and the WiNet-S captures (winet-protocol.md §3-§4: notice
100 "normal user limit", result 106 for a token that no longer works).
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.faults import FaultSpecError
from tests.helpers import (
    GET_KEY,
    EncryptedModbus,
    RawModbus,
    closed_by_peer,
    recv_upto,
    rtu_frame,
    turned_away,
    wait_until,
)
from tests.winet_client import Winet, run

#: issue 9's cluster: a master with a battery and a slave, each with its LAN port.
CLUSTER: dict[str, Any] = {"inverter": [
    {"model": "SH10RT", "role": "master", "battery_kwh": 9.6, "ports": {"modbus": 0}},
    {"model": "SH10RT", "role": "slave", "battery_kwh": 0, "ports": {"modbus": 0}},
]}
#: Two stand-alone hybrids, each with its own WiNet-S (web API and encrypted Modbus port).
TWO_DONGLES: dict[str, Any] = {"inverter": [
    {"model": "SH10RT", "ports": {"http": 0, "sungrow": 0}, "sungrow": {"encryption": "aes"},
     "winet": {"profile": "login"}},
    {"model": "SH10RT", "ports": {"http": 0, "sungrow": 0}, "sungrow": {"encryption": "aes"},
     "winet": {"profile": "login"}},
]}
SH10RT = 0x0E03  # its device type code (input 5000), ../shared/spec/models.csv
DEVICE_TYPE = struct.pack(">BHH", 4, 4999, 1)


@pytest.fixture
def cluster() -> Iterator[MockSungrowServer]:
    with MockSungrowServer(installation=CLUSTER, clock=ManualClock()) as server:
        yield server


@pytest.fixture
def dongles() -> Iterator[MockSungrowServer]:
    with MockSungrowServer(installation=TWO_DONGLES, clock=ManualClock()) as server:
        yield server


def lan_port(server: MockSungrowServer, device: str) -> int:
    port: int = server.get_connection_info("modbus", device=device)["port"]
    return port


def test_max_clients_counts_each_lan_port_on_its_own(cluster: MockSungrowServer,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A limit of one client per port: the slave's port takes a client while the master's has
    one; a second client of the master's port is refused. A refused connection, which never
    got a request path, ends without an error in the event loop's callbacks."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    cluster.inject("max-clients", limit=1, front_end="modbus")
    master, slave = lan_port(cluster, "inverter[1]"), lan_port(cluster, "inverter[2]")
    with RawModbus("127.0.0.1", master) as first, RawModbus("127.0.0.1", slave) as other:
        assert first.read(4, 4999, 1, unit=1) == [SH10RT]
        assert other.read(4, 4999, 1, unit=2) == [SH10RT]  # not refused: its own port
        assert turned_away(master)  # the master's port has its one client already
        assert turned_away(master)  # and a refused client gave no place back
        # answered after the refused connections' connection_lost callbacks have run
        assert first.read(4, 4999, 1, unit=1) == [SH10RT]
    refused = cluster.requests.find(outcome="refused")
    assert [(r.front_end, r.fault) for r in refused] == [("modbus", "max-clients")] * 2
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_a_frozen_lan_port_leaves_the_other_answering(cluster: MockSungrowServer) -> None:
    """Illegal reads freeze the port they were sent to, not every port of the kind."""
    cluster.inject("freeze-after-illegal-reads", reads=2, recover=3600)
    master, slave = lan_port(cluster, "inverter[1]"), lan_port(cluster, "inverter[2]")
    with RawModbus("127.0.0.1", master) as m, RawModbus("127.0.0.1", slave) as s:
        assert [m.read(4, 100, 5, unit=1) for _ in range(2)] == [2, 2]  # illegal: frozen
        m.send(m.frame(1, DEVICE_TYPE))
        wait_until(lambda: cluster.requests.find(outcome="silence"), what="the ignored read")
        assert s.read(4, 4999, 1, unit=2) == [SH10RT]  # the slave's port answers
        assert s.read(4, 100, 5, unit=2) == 2  # and counts its own illegal reads: one so far
        assert s.read(4, 4999, 1, unit=2) == [SH10RT]


def test_a_frozen_lan_port_ignores_every_function_code(cluster: MockSungrowServer) -> None:
    """A frozen port ignores a request naming no register too (FC 1, which it refuses)."""
    cluster.inject("freeze-after-illegal-reads", reads=1, recover=3600)
    master, slave = lan_port(cluster, "inverter[1]"), lan_port(cluster, "inverter[2]")
    coils = struct.pack(">BHH", 1, 0, 1)  # read coils: illegal function (exception 1)
    with RawModbus("127.0.0.1", master) as m, RawModbus("127.0.0.1", slave) as s:
        assert m.read(4, 100, 5, unit=1) == 2  # illegal: the master's port freezes
        m.send(m.frame(1, coils))
        wait_until(lambda: cluster.requests.find(outcome="silence"), what="the ignored FC 1")
        assert s.request(2, coils) == bytes((0x81, 1))  # the slave's port still refuses it
    assert [(r.function, r.outcome) for r in cluster.requests.all()] == [
        (4, "exception 2"), (1, "silence"), (1, "exception 1")]


def test_a_min_gap_lockup_locks_the_port_it_happened_on(cluster: MockSungrowServer) -> None:
    """Two reads too close on the master's port lock it up; the slave's port answers."""
    cluster.inject("min-gap", gap=3600, overload="lockup")
    master, slave = lan_port(cluster, "inverter[1]"), lan_port(cluster, "inverter[2]")
    with RawModbus("127.0.0.1", master) as m, RawModbus("127.0.0.1", slave) as s:
        assert m.read(4, 4999, 1, unit=1) == [SH10RT]
        m.send(m.frame(1, DEVICE_TYPE))  # too soon: ignored, and the port locks up
        wait_until(lambda: cluster.requests.find(outcome="silence"), what="the ignored read")
        assert s.read(4, 4999, 1, unit=2) == [SH10RT]  # its first: not locked


def test_min_gap_measures_each_port_on_its_own(cluster: MockSungrowServer) -> None:
    """Requests to two ports never make a gap too short: each port has its own last request."""
    cluster.inject("min-gap", gap=3600, overload="drop")  # any second request on one port
    master, slave = lan_port(cluster, "inverter[1]"), lan_port(cluster, "inverter[2]")
    with RawModbus("127.0.0.1", master) as m, RawModbus("127.0.0.1", slave) as s:
        assert m.read(4, 4999, 1, unit=1) == [SH10RT]
        assert s.read(4, 4999, 1, unit=2) == [SH10RT]  # first on its port: answered
        m.send(m.frame(1, DEVICE_TYPE))
        assert closed_by_peer(m.sock)  # second on the master's port: too soon, dropped


def test_min_gap_measures_each_dongle_port_on_its_own() -> None:
    """The same for two WiNet-S dongles' Modbus ports (plain, so each request is one)."""
    plain = {"inverter": [{"model": "SH10RT", "ports": {"sungrow": 0},
                           "sungrow": {"encryption": "none"}} for _ in range(2)]}
    with MockSungrowServer(installation=plain, clock=ManualClock()) as server:
        server.inject("min-gap", gap=3600, overload="drop", front_end="sungrow")
        first, second = (server.get_connection_info("sungrow", device=d)["port"]
                         for d in ("inverter[1]", "inverter[2]"))
        with RawModbus("127.0.0.1", first) as a, RawModbus("127.0.0.1", second) as b:
            assert a.read(4, 4999, 1, unit=1) == [SH10RT]
            assert b.read(4, 4999, 1, unit=1) == [SH10RT]  # first on its port: answered
            a.send(a.frame(1, DEVICE_TYPE))
            assert closed_by_peer(a.sock)  # second on the first dongle's port: dropped


def test_min_gap_measures_each_rtu_gateway_on_its_own() -> None:
    """And for two inverters' RTU-over-TCP gateways (RTU frames on a TCP connection)."""
    gateways = {"inverter": [{"model": "SH10RT", "ports": {"rtu-tcp": 0}} for _ in range(2)]}
    request = rtu_frame(1, DEVICE_TYPE)
    answer = rtu_frame(1, struct.pack(">BBH", 4, 2, SH10RT))
    with MockSungrowServer(installation=gateways, clock=ManualClock()) as server:
        server.inject("min-gap", gap=3600, overload="drop", front_end="rtu-tcp")
        first, second = (server.get_connection_info("rtu-tcp", device=d)["port"]
                         for d in ("inverter[1]", "inverter[2]"))
        with socket.create_connection(("127.0.0.1", first), timeout=5) as a, \
                socket.create_connection(("127.0.0.1", second), timeout=5) as b:
            for sock in (a, b):  # first on its gateway: answered
                sock.sendall(request)
                assert recv_upto(sock, len(answer)) == answer
            a.sendall(request)
            assert closed_by_peer(a)  # second on the first gateway: dropped


def _key(server: MockSungrowServer, device: str) -> tuple[EncryptedModbus, bytes]:
    client = EncryptedModbus("127.0.0.1",
                             server.get_connection_info("sungrow", device=device)["port"])
    return client, client.fetch_key()


def test_key_rotate_rotates_the_named_dongle_only(dongles: MockSungrowServer) -> None:
    second = dongles.inverters[1]
    first_client, first_key = _key(dongles, "inverter[1]")
    second_client, second_key = _key(dongles, "inverter[2]")
    with first_client, second_client:
        second.inject("key-rotate")
        assert first_client.eread(4, 4999, 1) == [SH10RT]  # its key still decrypts
        second_client.send(second_client.eframe(1, DEVICE_TYPE))
        assert closed_by_peer(second_client.sock)  # a rotated key no longer decrypts
    fresh_first, again_first = _key(dongles, "inverter[1]")
    fresh_second, again_second = _key(dongles, "inverter[2]")
    with fresh_first, fresh_second:
        assert again_first == first_key
        assert again_second != second_key
        assert fresh_second.eread(4, 4999, 1) == [SH10RT]


def test_key_silent_naming_an_inverter_silences_its_dongle_only(dongles: MockSungrowServer
                                                                 ) -> None:
    """The key request (unit 247) reaches the dongle's own inverter: a ``key-silent`` fault
    naming the second inverter leaves the first dongle's key request answered, and the request
    log names the device the unanswered request reached."""
    second = dongles.inverters[1].serial
    dongles.inject("key-silent", device=second)
    first_client, first_key = _key(dongles, "inverter[1]")
    with first_client:
        assert len(first_key) == 16  # answered: not the device the fault names
    port = dongles.get_connection_info("sungrow", device="inverter[2]")["port"]
    with EncryptedModbus("127.0.0.1", port) as client:
        client.send(GET_KEY)
        wait_until(lambda: dongles.requests.find(outcome="silence"), what="the silenced key")
    silenced = dongles.requests.find(outcome="silence")
    assert [(r.unit, r.device, r.fault) for r in silenced] == [(247, second, "key-silent")]


def test_session_faults_naming_no_device_act_on_every_dongle(dongles: MockSungrowServer
                                                             ) -> None:
    keys = [_key(dongles, d) for d in ("inverter[1]", "inverter[2]")]
    for client, _key_before in keys:
        client.close()
    dongles.inject("key-rotate")
    for device, (_client, before) in zip(("inverter[1]", "inverter[2]"), keys, strict=True):
        client, after = _key(dongles, device)
        client.close()
        assert after != before


def _web(server: MockSungrowServer, device: str) -> Winet:
    return Winet(server, port=server.get_connection_info("http", device=device)["port"])


def test_winet_kick_kicks_the_sessions_of_the_named_dongle(dongles: MockSungrowServer) -> None:
    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with _web(dongles, "inverter[1]") as one, _web(dongles, "inverter[2]") as two:
            kept, kicked = await one.session(), await two.session()
            assert (await kept.login())["result_code"] == 1
            assert (await kicked.login())["result_code"] == 1
            dongles.inject("winet-kick", device=dongles.inverters[1].serial)
            notice = await kicked.receive()  # pushed, unrequested
            return (notice, await kicked.call("real", dev_id="1"),
                    await kept.call("real", dev_id="1"))

    notice, after_kick, untouched = run(go())
    assert notice == {"result_code": 100, "result_msg": "normal user limit",
                      "result_data": {"service": "notice"}}
    assert after_kick["result_code"] == 106 and after_kick["result_data"] == {"service": "real"}
    assert untouched["result_code"] == 1


def test_winet_profile_switches_the_named_dongle(dongles: MockSungrowServer) -> None:
    first, second = dongles.inverters

    def profiles() -> list[str]:
        return [dongles.get_connection_info("http", device=d)["winet_profile"]
                for d in (first, second)]

    older = dongles.inject("winet-profile", profile="legacy", unit=1)  # both are unit 1
    assert profiles() == ["legacy", "legacy"]
    newer = second.inject("winet-profile", profile="login")
    assert profiles() == ["legacy", "login"]
    newer.remove()  # the older fault still names the second dongle
    assert profiles() == ["legacy", "legacy"]
    older.remove()
    assert profiles() == ["login", "login"]


def test_tls_only_needs_a_tls_listener_on_the_dongles_it_names() -> None:
    """Only the first dongle has a TLS listener: tls-only may name it, not the other."""
    site = {"inverter": [{"model": "SH10RT", "ports": {"http": 0, "tls": 0}},
                         {"model": "SH10RT", "ports": {"http": 0}}]}
    with MockSungrowServer(installation=site, clock=ManualClock()) as server:
        first, second = server.inverters
        with pytest.raises(FaultSpecError, match="needs a TLS listener"):
            second.inject("winet-profile", profile="tls-only")
        with first.inject("winet-profile", profile="tls-only"):
            assert [server.get_connection_info("http", device=d)["winet_profile"]
                    for d in (first, second)] == ["tls-only", "legacy"]  # the default


def test_a_session_fault_naming_no_dongle_is_refused(cluster: MockSungrowServer,
                                                      dongles: MockSungrowServer) -> None:
    with pytest.raises(ValueError, match=r"winet-kick: no dongle \(an inverter's http or "
                                         r"sungrow endpoint\) serves device='nobody'"):
        dongles.inject("winet-kick", device="nobody")
    with pytest.raises(ValueError, match=r"winet-profile: no dongle .* serves unit=2"):
        cluster.inject("winet-profile", profile="legacy", unit=2)  # the slave has no WiNet-S
    assert not dongles.faults and not cluster.faults


def test_connection_faults_naming_a_device_act_on_its_ports(cluster: MockSungrowServer) -> None:
    """``device.inject("refuse")`` refuses that inverter's LAN port, not the other's; a unit
    reaches the ports that serve it (the master's battery: unit 200 on the master's port)."""
    master, slave = cluster.inverters
    assert master.battery is not None
    refusal = slave.inject("refuse")
    assert turned_away(lan_port(cluster, "inverter[2]"))
    with RawModbus("127.0.0.1", lan_port(cluster, "inverter[1]")) as m:
        assert m.read(4, 4999, 1, unit=1) == [SH10RT]
    refusal.remove()
    # Only the master's port serves unit 200; the front end is matched on that port too.
    cluster.inject("max-clients", limit=1, unit=200, front_end="modbus")
    with RawModbus("127.0.0.1", lan_port(cluster, "inverter[1]")) as first, \
            RawModbus("127.0.0.1", lan_port(cluster, "inverter[2]")) as s1, \
            RawModbus("127.0.0.1", lan_port(cluster, "inverter[2]")) as s2:
        assert s1.read(4, 4999, 1, unit=2) == s2.read(4, 4999, 1, unit=2) == [SH10RT]
        assert first.read(4, 4999, 1, unit=1) == [SH10RT]
        assert turned_away(lan_port(cluster, "inverter[1]"))
    refused_by = [(r.fault, r.front_end) for r in cluster.requests.find(outcome="refused")]
    assert refused_by == [("refuse", "modbus"), ("max-clients", "modbus")]


def test_idle_timeout_naming_a_device_closes_its_connections_only(cluster: MockSungrowServer
                                                                   ) -> None:
    cluster.inverters[1].inject("idle-timeout", seconds=0.2)
    with RawModbus("127.0.0.1", lan_port(cluster, "inverter[1]")) as m, \
            RawModbus("127.0.0.1", lan_port(cluster, "inverter[2]")) as s:
        assert closed_by_peer(s.sock, timeout=10)  # idle on the slave's port: closed
        assert m.read(4, 4999, 1, unit=1) == [SH10RT]  # the master's stays open


def test_an_inverter_fault_naming_a_unit_trips_that_inverter(cluster: MockSungrowServer) -> None:
    """Unit 2 is the slave: it trips (input 13000, running state 0x0100: fault), the master
    runs on."""
    cluster.inject("inverter-fault", code=37, unit=2)
    with RawModbus("127.0.0.1", lan_port(cluster, "inverter[1]")) as m, \
            RawModbus("127.0.0.1", lan_port(cluster, "inverter[2]")) as s:
        assert s.read(4, 12999, 1, unit=2) == [0x0100]
        running = m.read(4, 12999, 1, unit=1)
        assert isinstance(running, list) and running != [0x0100]


def test_a_grid_outage_naming_a_unit_takes_that_inverter_off_grid(
    cluster: MockSungrowServer,
) -> None:
    """A hybrid off the grid runs from its backup port: input 13000 reads 0x1000 on the
    slave (unit 2) only."""
    cluster.inject("grid-outage", unit=2)
    with RawModbus("127.0.0.1", lan_port(cluster, "inverter[1]")) as m, \
            RawModbus("127.0.0.1", lan_port(cluster, "inverter[2]")) as s:
        assert s.read(4, 12999, 1, unit=2) == [0x1000]
        running = m.read(4, 12999, 1, unit=1)
        assert isinstance(running, list) and running != [0x1000]


def test_key_rotate_asks_the_named_dongle_for_a_key_to_rotate() -> None:
    """Two dongles, only the first with an AES port: ``key-rotate`` naming the second is
    refused (its port has no key), naming the first it rotates that one's key."""
    site = {"inverter": [
        {"model": "SH10RT", "ports": {"sungrow": 0}, "sungrow": {"encryption": "aes"}},
        {"model": "SH10RT", "ports": {"sungrow": 0}, "sungrow": {"encryption": "none"}},
    ]}
    with MockSungrowServer(installation=site, clock=ManualClock()) as server:
        first, second = server.inverters
        with pytest.raises(ValueError, match="key-rotate needs the sungrow front end"):
            second.inject("key-rotate")
        assert not server.faults
        assert first.inject("key-rotate").fired == 1
