"""The request log's ``peer`` filter matches a whole host or a whole ``host:port``.

Two real clients connect from different loopback addresses (Linux routes all of 127.0.0.0/8
to loopback), one of which is a string prefix of the other: 127.0.0.1 and 127.0.0.12. What
each client's peer is comes from its own socket (``getsockname``), not from the server.
"""

from __future__ import annotations

import socket
import urllib.parse
from typing import Any

from mock_sungrow import MockSungrowServer
from tests.helpers import RawModbus, control_call


def _client_from(source: str, port: int) -> RawModbus:
    """A RawModbus client whose connection leaves from ``source``."""
    client = RawModbus.__new__(RawModbus)
    client.sock = socket.create_connection(("127.0.0.1", port), timeout=2,
                                           source_address=(source, 0))
    client.tid = 0
    return client


def _peer(client: RawModbus) -> str:
    host, port = client.sock.getsockname()[:2]
    return f"{host}:{port}"


def test_peer_filter_matches_whole_hosts_and_whole_host_ports(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", control_port=0)
    port = server.get_connection_info("modbus")["port"]
    base = server.get_connection_info("control")["url"].rstrip("/")
    short = _client_from("127.0.0.1", port)
    long = _client_from("127.0.0.12", port)
    try:
        # Different addresses read, so each log entry says which client it came from.
        assert short.read(4, 4999, 1) == [0x0126]
        assert long.read(4, 5000, 1) == [50]
        assert long.read(4, 5000, 1) == [50]
        short_peer, long_peer = _peer(short), _peer(long)
    finally:
        short.close()
        long.close()

    def addresses(**filters: Any) -> list[int | None]:
        return [r.address for r in server.requests.find(**filters)]

    assert addresses(peer="127.0.0.1") == [5000]  # not 127.0.0.12's two reads
    assert addresses(peer="127.0.0.12") == [5001, 5001]
    assert addresses(peer=short_peer) == [5000]
    assert addresses(peer=long_peer) == [5001, 5001]
    # A port is a whole port too: a prefix of it matches nothing.
    port_text = short_peer.rpartition(":")[2]
    assert addresses(peer=f"127.0.0.1:{port_text[:-1]}") == []
    assert addresses(peer="127.0.0") == []

    def over_http(peer: str) -> list[int]:
        status, entries = control_call(base, "GET",
                                       "/requests?" + urllib.parse.urlencode({"peer": peer}))
        assert status == 200
        return [e["address"] for e in entries]

    assert over_http("127.0.0.1") == [5000]
    assert over_http("127.0.0.12") == [5001, 5001]
    assert over_http(short_peer) == [5000]
    assert over_http(f"127.0.0.1:{port_text[:-1]}") == []
