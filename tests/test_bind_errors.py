"""A port in use is reported once: which front end, which address, the system's reason.

asyncio's own bind error repeats the address ("error while attempting to bind on address
('127.0.0.1', 502): address already in use"); appended to the front end's message, the
address used to appear twice.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator

import pytest

from mock_sungrow import MockSungrowServer


@pytest.fixture
def busy_port() -> Iterator[int]:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        yield int(blocker.getsockname()[1])
    finally:
        blocker.close()


@pytest.mark.parametrize(("kwargs", "what"), [
    ({"server_type": "modbus", "modbus_port": "PORT"}, "Modbus TCP front end"),
    ({"server_type": "http", "http_port": "PORT"}, "WiNet-S HTTP/WebSocket front end"),
    ({"server_type": "modbus", "modbus_port": 0, "control_port": "PORT"}, "control API"),
])
def test_a_bind_error_names_the_address_once(busy_port: int, kwargs: dict[str, object],
                                             what: str) -> None:
    args = {k: busy_port if v == "PORT" else v for k, v in kwargs.items()}
    server = MockSungrowServer(**args)  # type: ignore[arg-type]
    with pytest.raises(OSError) as caught:
        server.start()
    assert caught.value.errno == errno.EADDRINUSE
    assert caught.value.strerror == (f"{what} cannot bind 127.0.0.1:{busy_port}: "
                                     f"{os.strerror(errno.EADDRINUSE)}")
    assert str(caught.value).count(str(busy_port)) == 1
    assert not server.running
