"""What a server remembers about its traffic for the faults, and when it forgets.

Connections, the last request's time and a frozen endpoint are kept per endpoint
(docs/faults.md); ``server.reset()`` forgets the per-client memory ("rebuilds the plant and
clears faults, pins and the request log, keeping the ports"). Raw Modbus TCP sockets.
"""

from __future__ import annotations

import time
from typing import Any

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus, closed_by_peer, turned_away, wait_until

#: The endpoint a single inverter's LAN port is (docs/faults.md: ``inverter[2].modbus``).
LAN_PORT = "inverter[1].modbus"
DEVICE_TYPE = 0x0126


def _port(server: MockSungrowServer) -> int:
    port = server.get_connection_info("modbus")["port"]
    assert isinstance(port, int)
    return port


def test_the_shortest_idle_timeout_closes_the_connection(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("idle-timeout", seconds=120)
    server.inject("idle-timeout", seconds=0.3, front_end="modbus")
    with RawModbus("127.0.0.1", _port(server)) as c:
        host, port = c.sock.getsockname()[:2]
        started = time.monotonic()
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
        assert closed_by_peer(c.sock, timeout=20)  # the 0.3 s one, not the 120 s one
        assert time.monotonic() - started >= 0.3
    closed = wait_until(lambda: server.requests.find(outcome="closed: idle"))
    assert [(r.front_end, r.function, r.fault, r.table, r.address) for r in closed] == [
        ("modbus", "connection", "idle-timeout", None, None)]
    assert closed[0].peer == f"{host}:{port}"  # the connection it closed


def test_an_idle_timeout_for_another_front_end_leaves_modbus_alone(
    mock_sungrow_factory: Any,
) -> None:
    server = mock_sungrow_factory(server_type="modbus+http")
    server.inject("idle-timeout", seconds=0.2, front_end="http")
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
        assert not closed_by_peer(c.sock, timeout=0.6)
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]


def test_reset_forgets_the_last_close_and_the_last_request(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    port = _port(server)
    server.inject("zeros", table="holding", address=1)  # requests pass the faults
    with RawModbus("127.0.0.1", port) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
    wait_until(lambda: not server.traffic.open_connections(LAN_PORT), what="the close")
    server.reset()
    # Neither the close nor the request before the reset counts against what comes now.
    server.inject("reconnect-cooldown", seconds=600)
    server.inject("min-gap", gap=600)
    with RawModbus("127.0.0.1", port) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
    assert [r.outcome for r in server.requests.all()] == ["ok"]


def test_without_a_reset_the_last_close_and_request_count(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    port = _port(server)
    server.inject("zeros", table="holding", address=1)  # requests pass the faults
    with RawModbus("127.0.0.1", port) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
        server.inject("min-gap", gap=600)
        late = server.inject("latency", delay=0.01)  # the drop settles it: never counted
        c.send(c.frame(1, bytes.fromhex("04 13 87 00 01")))
        assert closed_by_peer(c.sock)  # too soon after the request before the fault
    assert late.fired == 0
    wait_until(lambda: not server.traffic.open_connections(LAN_PORT), what="the close")
    server.clear_faults()
    server.inject("reconnect-cooldown", seconds=600)
    assert turned_away(port)  # its last connection closed just now
    assert [r.outcome for r in server.requests.all()] == ["ok", "dropped", "refused"]


def test_reset_thaws_a_frozen_endpoint(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus", clock=ManualClock())
    server.inject("freeze-after-illegal-reads", reads=1, recover=3600)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(4, 100, 1) == 2
    server.reset()
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]


def test_every_connection_fault_is_asked_until_one_refuses(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    limit = server.inject("max-clients", limit=5)  # not full: it lets the connection pass
    refuse = server.inject("refuse")
    assert turned_away(_port(server))
    assert (limit.fired, refuse.fired) == (0, 1)
    assert [(r.outcome, r.fault) for r in server.requests.all()] == [("refused", "refuse")]


def test_a_fault_that_settles_a_request_leaves_the_rest_unasked(mock_sungrow_factory: Any
                                                                ) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", _port(server)) as c:
        gap = server.inject("min-gap", gap=600)
        error = server.inject("exception", code=4)
        assert c.read(4, 4999, 1) == 4  # the first request under the faults: not too fast
        c.send(c.frame(1, bytes.fromhex("04 13 87 00 01")))
        assert closed_by_peer(c.sock)  # too fast: dropped, and nothing else was asked
    assert (gap.fired, error.fired) == (1, 1)
    assert [(r.outcome, r.fault) for r in server.requests.all()] == [
        ("exception 4", "exception"), ("dropped", "min-gap")]


def test_an_idle_timeout_naming_a_client_closes_that_clients_connections(
    mock_sungrow_factory: Any,
) -> None:
    """``client`` matches the peer's address (docs/faults.md), for idle timeouts too."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("idle-timeout", seconds=0.3, client="127.0.0.2")  # another client
    server.inject("idle-timeout", seconds=0.3, client="127.0.0.1")
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
        assert closed_by_peer(c.sock, timeout=20)
    closed = wait_until(lambda: server.requests.find(outcome="closed: idle"))
    assert [r.fault for r in closed] == ["idle-timeout"]


def test_an_idle_timeout_naming_another_client_leaves_this_one_open(
    mock_sungrow_factory: Any,
) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("idle-timeout", seconds=0.2, client="127.0.0.2")
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
        assert not closed_by_peer(c.sock, timeout=0.6)
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
