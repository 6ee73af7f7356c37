"""Slow and silent HTTP clients are closed on every HTTP listener (issue 10, item 12).

A connection must send a whole request head within the idle timeout of connecting (or of its
previous response) and the body within the body timeout of its head
(``frontends/web.HttpTimeouts``: 30 s and 10 s). Before, aiohttp's defaults kept a slowloris or a
half-sent request open for an hour. The tests shorten the timeouts (the listeners read them at
start) so that they can watch the close; the deadlines they wait with are generous.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from typing import Any

import pytest
from websockets.sync.client import connect as ws_connect

from mock_sungrow import MockSungrowServer
from mock_sungrow.frontends import web

SHORT = web.HttpTimeouts(idle=0.5, body=0.5, linger=0.5)
WAIT_S = 15.0  # generous: the close is due after 0.5 s


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "TIMEOUTS", SHORT)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (fails if it is still open after WAIT_S)."""
    sock.settimeout(WAIT_S)
    data = b""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, ssl.SSLError):
            return data
        except TimeoutError:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"still open after {WAIT_S} s; got {data!r}")


def _listeners(server: MockSungrowServer) -> dict[str, tuple[str, int, bool]]:
    web_info = server.get_connection_info("http")
    control = server.get_connection_info("control")
    return {"winet": (web_info["host"], web_info["port"], False),
            "winet-tls": (web_info["host"], web_info["tls_port"], True),
            "control": (control["host"], control["port"], False)}


def _open(host: str, port: int, tls: bool) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=WAIT_S)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context.wrap_socket(sock, server_hostname=host)
    return sock


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.usefixtures("short_timeouts")
@pytest.mark.parametrize("listener", ["winet", "winet-tls", "control"])
def test_silent_slow_and_half_sent_requests_are_closed(
        mock_sungrow_factory: Any, listener: str) -> None:
    server = mock_sungrow_factory(server_type="http", tls_port=0, control_port=0)
    host, port, tls = _listeners(server)[listener]
    path = "/about/list" if listener.startswith("winet") else "/info"
    with _open(host, port, tls) as silent:  # connects, never sends
        assert _read_until_closed(silent) == b""
    if tls:  # connects, never starts its TLS handshake
        with socket.create_connection((host, port), timeout=WAIT_S) as plain:
            assert _read_until_closed(plain) == b""
    with _open(host, port, tls) as slowloris:  # a head that never ends
        slowloris.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n".encode())
        for _ in range(3):
            slowloris.sendall(b"X-a: b\r\n")  # trickling headers does not extend the time
        assert _read_until_closed(slowloris) == b""
    with _open(host, port, tls) as half:  # a whole head, then half a body
        post = "/device/getParam" if listener.startswith("winet") else "/faults"
        half.sendall(f"POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
                     f"\r\nContent-Length: 100\r\n\r\n{{\"lang\"".encode())
        reply = _read_until_closed(half)
        assert reply.startswith(b"HTTP/1.1 408 "), reply
    # A complete request still gets its answer, and the listener keeps serving.
    with _open(host, port, tls) as ok:
        ok.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        assert _read_until_closed(ok).startswith(b"HTTP/1.1 200 ")


@pytest.mark.usefixtures("short_timeouts")
def test_an_idle_websocket_session_is_not_an_idle_http_connection(
        mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="http")
    info = server.get_connection_info("http")
    with ws_connect(f"ws://{info['host']}:{info['port']}/ws/home/overview") as ws:
        time.sleep(4 * SHORT.idle)  # not a synchronisation: silent past the idle timeout
        ws.send(json.dumps({"lang": "en_us", "token": "", "service": "connect"}))
        assert json.loads(ws.recv(WAIT_S))["result_code"] == 1
