"""``stop()`` and SIGTERM under load: bounded, every front end stopped, no port left bound.

Issue 10, item 3: with ten WebSocket requests held by a 30 s latency fault, ``stop()`` used
to close the sessions one at a time (a second each), raise ``TimeoutError`` after 10 s and
never stop the Modbus front end, whose port then accepted connections nobody answered. The
bound asserted here is generous (a loaded two-core machine); the target (2 s) is measured by
``benchmarks/bench_start_stop_memory.py``.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from websockets.sync.client import connect as ws_connect

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import control_call

CONNECT = json.dumps({"lang": "en_us", "token": "", "service": "connect"})
#: Far above the 2 s target, far below the 10 s + "never" of the defect.
GENEROUS_S = 6.0


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _hold_modbus(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` connections, each with a read the latency fault holds."""
    socks = []
    for tid in range(count):
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(struct.pack(">HHHBBHH", tid, 0, 6, 1, 4, 5002, 1))
        socks.append(sock)
    return socks


def test_stop_with_held_requests_is_bounded_and_frees_every_port() -> None:
    server = MockSungrowServer(server_type="modbus+http+sungrow", modbus_port=0, http_port=0,
                               sungrow_port=0, encryption="none", control_port=0,
                               clock=ManualClock(),
                               faults=[{"kind": "latency", "delay": 30.0}])
    server.start()
    info = server.get_connection_info("http")
    host, ports = info["host"], {kind: server.get_connection_info(kind)["port"]
                                 for kind in ("modbus", "http", "sungrow", "control")}
    stack = contextlib.ExitStack()
    sessions = [stack.enter_context(ws_connect(f"ws://{host}:{ports['http']}/ws/home/overview",
                                               open_timeout=5, close_timeout=1))
                for _ in range(10)]
    held: list[socket.socket] = []
    waiter: threading.Thread | None = None
    try:
        for ws in sessions:
            ws.send(CONNECT)  # each answer is 30 s away
        held = _hold_modbus(host, ports["modbus"], 5) + _hold_modbus(host, ports["sungrow"], 2)
        # A control request that waits too: a fault that never fires, waited for a minute.
        server.inject("silence", function=16, times=1)
        base = server.get_connection_info("control")["url"].rstrip("/")
        waiter = threading.Thread(target=lambda: _ignore(
            control_call, base, "POST", "/faults/wait", {"timeout": 60}, timeout=30))
        waiter.start()
        latency = next(iter(server.faults))
        _wait_until(lambda: latency.fired >= 17)  # every request arrived and is held
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
    finally:
        stack.close()
        for sock in held:
            sock.close()
        server.stop()
        if waiter is not None:
            waiter.join(30)
    assert elapsed < GENEROUS_S, f"stop() took {elapsed:.2f} s"
    for kind, port in ports.items():
        assert _refused(host, port), f"{kind} port {port} still accepts after stop()"


def _wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def _ignore(call: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(OSError):  # the server stopped under it: the point of the test
        call(*args, **kwargs)


@pytest.mark.slow
def test_sigterm_stops_the_cli_with_held_requests() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_sungrow", "serve", "--modbus-port", "0", "--http-port",
         "0", "--control-port", "0", "--manual-clock", "--fault", "latency:delay=30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        host = ready["http"]["host"]
        stack = contextlib.ExitStack()
        sessions = [stack.enter_context(ws_connect(
            f"ws://{host}:{ready['http']['port']}/ws/home/overview", open_timeout=10,
            close_timeout=1)) for _ in range(10)]
        for ws in sessions:
            ws.send(CONNECT)
        held = _hold_modbus(host, ready["modbus"]["port"], 5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - started
        stack.close()
        for sock in held:
            sock.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert elapsed < GENEROUS_S, f"SIGTERM took {elapsed:.2f} s"
    for kind in ("modbus", "http", "control"):
        assert _refused(host, ready[kind]["port"]), kind
