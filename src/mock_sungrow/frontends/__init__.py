"""The protocol front ends: each turns bytes on a socket into calls on the devices behind it.

* :mod:`~mock_sungrow.frontends.base` -- what every front end shares (binding, shutdown, the
  :class:`~mock_sungrow.frontends.base.Binding` a front end is built from);
* :mod:`~mock_sungrow.frontends.modbus` -- plain Modbus TCP and Sungrow's encrypted port;
* :mod:`~mock_sungrow.frontends.winet` -- the WiNet-S dongle's HTTP + WebSocket API;
* :mod:`~mock_sungrow.frontends.control` -- the control API.

This module is the registry: where each front end's builder lives. The names themselves are
:mod:`mock_sungrow.endpoints`'. It names modules as strings, so it imports nothing: a front
end's code (and its dependencies, aiohttp for ``http`` and ``control``) is loaded only when a
server that serves it starts. A builder takes the endpoint's
:class:`~mock_sungrow.frontends.base.Binding` (its devices, port, traffic, configuration),
never the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mock_sungrow.endpoints import SERVER_TYPE_ALIASES

if TYPE_CHECKING:
    from mock_sungrow.frontends.base import Binding, FrontEnd

#: Front ends each historical ``server_type`` serves (any ``+``-joined set works too: see
#: :func:`mock_sungrow.endpoints.parse_server_type`).
SERVER_TYPES: dict[str, tuple[str, ...]] = SERVER_TYPE_ALIASES
#: Where each front end's builder lives (``module:function``, called with a Binding). They
#: are imported only when a server that serves them starts, so a Modbus-only server never
#: imports an HTTP stack.
FRONT_END_BUILDERS: dict[str, str] = {
    "modbus": "mock_sungrow.frontends.modbus.tcp:build_front_end",
    "control": "mock_sungrow.frontends.control.app:build_front_end",
    "sungrow": "mock_sungrow.frontends.modbus.tcp:build_sungrow_front_end",
    "http": "mock_sungrow.frontends.winet.app:build_front_end",
    "rtu": "mock_sungrow.frontends.modbus.serial:build_front_end",
    "rtu-tcp": "mock_sungrow.frontends.modbus.tcp:build_rtu_tcp_front_end",
}
#: Front ends this version implements.
IMPLEMENTED_FRONT_ENDS = frozenset(FRONT_END_BUILDERS)


def build_front_end(binding: Binding) -> FrontEnd:
    """Import the builder of the binding's front end and build it."""
    module, function = FRONT_END_BUILDERS[binding.endpoint.kind].split(":")
    front_end: FrontEnd = getattr(importlib.import_module(module), function)(binding)
    return front_end
