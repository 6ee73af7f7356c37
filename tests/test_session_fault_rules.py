"""Session faults: what a server refuses to inject, and the key request's own fault
(docs/faults.md: "one that names a device no dongle serves is refused when injected",
``winet-profile`` "tls-only (the plain ports refuse; needs tls_port)", ``key-silent`` "the
encryption key request gets no answer").
"""

from __future__ import annotations

import contextlib
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer, SungrowModbusDataBlock
from mock_sungrow.faults import FaultSpecError
from tests.helpers import GET_KEY, RawModbus

READ_5000 = struct.pack(">BHH", 4, 4999, 1)


@pytest.mark.parametrize(("fields", "named"), [
    ({"unit": 5, "device": "X"}, "device='X', unit=5"),
    ({"unit": 5}, "unit=5"),
    ({"device": "X"}, "device='X'"),
])
def test_a_session_fault_naming_no_dongle_says_what_it_named(fields: dict[str, Any],
                                                             named: str) -> None:
    server = MockSungrowServer(http_port=0, server_type="http")
    with pytest.raises(FaultSpecError) as e:
        server.inject("winet-kick", **fields)
    assert str(e.value) == ("winet-kick: no dongle (an inverter's http or sungrow endpoint) "
                            f"serves {named}")
    assert not server.faults
    assert server.inject("winet-kick", unit=1).fired == 1  # the dongle's own unit: accepted


def test_tls_only_needs_a_tls_listener() -> None:
    server = MockSungrowServer(http_port=0, server_type="http")
    with pytest.raises(FaultSpecError) as e:
        server.inject("winet-profile", profile="tls-only")
    assert str(e.value) == ("switching to the tls-only profile needs a TLS listener: start "
                            "the server with tls_port (0 picks a free port) so clients have "
                            "somewhere to go")
    assert not server.faults
    with server.inject("winet-profile", profile="login") as fault:  # no listener needed
        assert fault.fired == 1


def test_key_silent_leaves_other_requests_to_the_other_faults(mock_sungrow_factory: Any
                                                              ) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    silent = server.inject("key-silent")
    error = server.inject("exception", code=4, function=3)  # not the key request's FC 4
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(3, 4999, 1) == 4  # an ordinary read: the exception fault answers it
        c.sock.settimeout(0.5)
        c.send(GET_KEY)
        with pytest.raises(TimeoutError):
            c.sock.recv(1)  # the key request: no answer at all
    assert (silent.fired, error.fired) == (1, 1)


def test_key_rotate_counts_once_as_it_is_added(mock_sungrow_factory: Any) -> None:
    """The rotation happens as the fault is added: fired once then, never on removal."""
    server = mock_sungrow_factory(server_type="sungrow", encryption="aes")
    before = server.sungrow_public_key()
    fault = server.inject("key-rotate")
    assert fault.fired == 1 and server.sungrow_public_key() != before
    fault.remove()
    assert fault.fired == 1


class _LoopHolder(SungrowModbusDataBlock):
    """A read of input 5000 holds the server's event loop until ``release`` is set.

    The held read then answers zeros without reading the plant: a fault's end holds the
    plant's lock while it runs, and a loop that waited for that lock would deadlock with an
    end that (wrongly) waited for the loop, hanging the test instead of failing it.
    """

    holding = threading.Event()
    release = threading.Event()

    def getValues(self, address: int, count: int = 1) -> list[int]:
        if self.table == "input" and address == 5000:
            type(self).holding.set()
            type(self).release.wait(10)  # a failing test must not hang the loop for good
            return [0] * count
        return super().getValues(address, count)


@contextlib.contextmanager
def _loop_held(server: MockSungrowServer) -> Iterator[None]:
    """While inside, the server's loop is busy in a data block: nothing it runs can finish."""
    _LoopHolder.holding.clear()
    _LoopHolder.release.clear()
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        c.send(c.frame(1, READ_5000))
        assert _LoopHolder.holding.wait(10)
        try:
            yield
        finally:
            _LoopHolder.release.set()
        assert c.recv_frame()[2] == b"\x04\x02\x00\x00"


def _tls_server(**kwargs: Any) -> MockSungrowServer:
    return MockSungrowServer(server_type="modbus+http", modbus_port=0, http_port=0, tls_port=0,
                             datablock_class=_LoopHolder, **kwargs)


def test_injecting_tls_only_returns_once_the_plain_connections_are_closed() -> None:
    """``inject`` from a test's thread waits for the dongle to act (it closes its plain
    connections on its loop): while the loop is busy, the call has not returned."""
    with _tls_server() as server, _loop_held(server):
        injecting = threading.Thread(
            target=lambda: server.inject("winet-profile", profile="tls-only"))
        injecting.start()
        injecting.join(0.5)
        assert injecting.is_alive()  # waiting for the loop, as it must
    injecting.join(10)
    assert not injecting.is_alive()


def test_a_tls_only_profile_coming_back_at_an_expiry_does_not_wait_for_the_loop() -> None:
    """A fault's end runs under the plant's lock, which the loop may be waiting for: the
    profile it brings back (here the older tls-only fault's) closes plain connections on the
    loop without waiting for it, so moving the clock returns while the loop is busy."""
    clock = ManualClock()
    with _tls_server(clock=clock) as server:
        server.inject("winet-profile", profile="tls-only")
        server.inject("winet-profile", profile="legacy", duration=60)
        with _loop_held(server):
            moving = threading.Thread(target=clock.advance, args=(120,))
            moving.start()
            moving.join(10)  # moments, unless it waits for the held loop
            assert not moving.is_alive()
        moving.join(10)
        assert server.get_connection_info("http")["winet_profile"] == "tls-only"
