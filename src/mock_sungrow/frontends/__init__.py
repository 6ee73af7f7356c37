"""The protocol front ends: each turns bytes on a socket into calls on the devices behind it.

* :mod:`~mock_sungrow.frontends.base` -- what every front end shares (binding, shutdown);
* :mod:`~mock_sungrow.frontends.modbus` -- plain Modbus TCP and Sungrow's encrypted port;
* :mod:`~mock_sungrow.frontends.winet` -- the WiNet-S dongle's HTTP + WebSocket API;
* :mod:`~mock_sungrow.frontends.control` -- the control API.

This module is the registry: which front ends exist, where each one's builder lives, and
which ones each ``server_type`` serves. It names modules as strings, so it imports nothing:
a front end's code (and its dependencies, aiohttp for ``http`` and ``control``) is loaded only
when a server that serves it starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mock_sungrow.frontends.base import FrontEnd
    from mock_sungrow.server import MockSungrowServer

#: Front ends each ``server_type`` serves.
SERVER_TYPES: dict[str, tuple[str, ...]] = {
    "modbus": ("modbus",),
    "http": ("http",),
    "both": ("modbus", "http"),
    "sungrow": ("sungrow",),
    "modbus+sungrow": ("modbus", "sungrow"),
    "http+sungrow": ("http", "sungrow"),
    "all": ("modbus", "http", "sungrow"),
}
#: Where each front end's builder lives (``module:function``, called with the server). They
#: are imported only when a server that serves them starts, so a Modbus-only server never
#: imports an HTTP stack.
FRONT_END_BUILDERS: dict[str, str] = {
    "modbus": "mock_sungrow.frontends.modbus.tcp:build_front_end",
    "control": "mock_sungrow.frontends.control.app:build_front_end",
    "sungrow": "mock_sungrow.frontends.modbus.tcp:build_sungrow_front_end",
    "http": "mock_sungrow.frontends.winet.app:build_front_end",
}
#: Front ends this version implements.
IMPLEMENTED_FRONT_ENDS = frozenset(FRONT_END_BUILDERS)


def build_front_end(kind: str, server: MockSungrowServer) -> FrontEnd:
    """Import the builder of front end ``kind`` and build it for ``server``."""
    module, function = FRONT_END_BUILDERS[kind].split(":")
    front_end: FrontEnd = getattr(importlib.import_module(module), function)(server)
    return front_end
