"""A stopped server is garbage: nothing module-level keeps it alive (issue 10, item 4).

aiohttp caches the middleware chains it builds in a module-level ``lru_cache`` keyed by the
route handler and the application; with middlewares and handlers that were methods of the
front end, every stopped server (its plant, register images and request log) stayed reachable
from there, +560 KB per cycle. The figure over 1,000 cycles is measured by
``benchmarks/bench_start_stop_memory.py``; this only checks reachability (no timing).
"""

from __future__ import annotations

import gc
import json
import socket
import struct
import urllib.error
import urllib.request
import weakref

from mock_sungrow import MockSungrowServer
from tests.helpers import control_call


def _http(url: str, data: bytes | None = None, method: str = "GET") -> int:
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        with exc:
            exc.read()
            return int(exc.code)


def _exercise(server: MockSungrowServer) -> None:
    """A request on every kind of route: WiNet-S GET and POST, unknown paths, the control API."""
    web = server.get_connection_info("http")
    base = f"http://{web['host']}:{web['port']}"
    assert _http(base + "/about/list?lang=en_us") == 200
    body = json.dumps({"lang": "en_us", "service": "connect"}).encode()
    assert _http(base + "/user/connect", body, "POST") == 200
    assert _http(base + "/no/such/path") == 404
    control = server.get_connection_info("control")["url"].rstrip("/")
    assert control_call(control, "GET", "/info")[0] == 200
    assert control_call(control, "GET", "/nowhere")[0] == 404
    assert control_call(control, "PATCH", "/clock", {})[0] == 405
    info = server.get_connection_info("modbus")
    with socket.create_connection((info["host"], info["port"]), timeout=10) as sock:
        sock.sendall(struct.pack(">HHHBBHH", 1, 0, 6, 1, 4, 5002, 1))
        assert len(sock.recv(64)) == 11  # MBAP 7 + FC, byte count, one word


def test_a_stopped_server_is_garbage_collected() -> None:
    server = MockSungrowServer(modbus_port=0, http_port=0, control_port=0)
    server.start()
    _exercise(server)
    server.stop()
    ref = weakref.ref(server)
    del server
    gc.collect()
    assert ref() is None, [type(r).__name__ for r in gc.get_referrers(ref())]

