"""Session faults: what a server refuses to inject, and the key request's own fault
(docs/faults.md: "one that names a device no dongle serves is refused when injected",
``winet-profile`` "tls-only (the plain ports refuse; needs tls_port)", ``key-silent`` "the
encryption key request gets no answer").
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from mock_sungrow.faults import FaultSpecError
from tests.helpers import GET_KEY, RawModbus


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
