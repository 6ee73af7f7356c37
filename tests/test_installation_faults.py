"""Faults in an installation of several inverters: each endpoint and each dongle is its own device.

Two inverters' LAN ports are both front end ``modbus``, but a real site has two network
interfaces: a connection limit, a lock-up or a freeze of one leaves the other alone. Session
faults (``key-rotate``, ``winet-kick``, ``winet-profile``) act on the dongle serving the device
or unit they name, every dongle when they name none. Expectations are the fault catalogue's
documented behaviour (docs/faults.md) and the WiNet-S captures (winet-protocol.md §3-§4: notice
100 "normal user limit", result 106 for a token that no longer works).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus, closed_by_peer, wait_until

#: issue 9's cluster: a master with a battery and a slave, each with its LAN port.
CLUSTER: dict[str, Any] = {"inverter": [
    {"model": "SH10RT", "role": "master", "battery_kwh": 9.6, "ports": {"modbus": 0}},
    {"model": "SH10RT", "role": "slave", "battery_kwh": 0, "ports": {"modbus": 0}},
]}
SH10RT = 0x0E03  # its device type code (input 5000), ../shared/spec/models.csv
DEVICE_TYPE = struct.pack(">BHH", 4, 4999, 1)


@pytest.fixture
def cluster() -> Iterator[MockSungrowServer]:
    with MockSungrowServer(installation=CLUSTER, clock=ManualClock()) as server:
        yield server


def lan_port(server: MockSungrowServer, device: str) -> int:
    port: int = server.get_connection_info("modbus", device=device)["port"]
    return port


def test_max_clients_counts_each_lan_port_on_its_own(cluster: MockSungrowServer) -> None:
    """A limit of one client per port: the slave's port takes a client while the master's has
    one; a second client of the master's port is refused."""
    cluster.inject("max-clients", limit=1, front_end="modbus")
    master, slave = lan_port(cluster, "inverter[1]"), lan_port(cluster, "inverter[2]")
    with RawModbus("127.0.0.1", master) as first, RawModbus("127.0.0.1", slave) as other:
        assert first.read(4, 4999, 1, unit=1) == [SH10RT]
        assert other.read(4, 4999, 1, unit=2) == [SH10RT]  # not refused: its own port
        with socket.create_connection(("127.0.0.1", master), timeout=5) as second:
            assert closed_by_peer(second)  # the master's port has its one client already
        assert first.read(4, 4999, 1, unit=1) == [SH10RT]
    refused = cluster.requests.find(outcome="refused")
    assert [(r.front_end, r.fault) for r in refused] == [("modbus", "max-clients")]


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


def test_min_gap_measures_each_port_on_its_own(cluster: MockSungrowServer) -> None:
    """Requests to two ports never make a gap too short: each port has its own last request."""
    cluster.inject("min-gap", gap=3600, overload="drop")  # any second request on one port
    master, slave = lan_port(cluster, "inverter[1]"), lan_port(cluster, "inverter[2]")
    with RawModbus("127.0.0.1", master) as m, RawModbus("127.0.0.1", slave) as s:
        assert m.read(4, 4999, 1, unit=1) == [SH10RT]
        assert s.read(4, 4999, 1, unit=2) == [SH10RT]  # first on its port: answered
        m.send(m.frame(1, DEVICE_TYPE))
        assert closed_by_peer(m.sock)  # second on the master's port: too soon, dropped
