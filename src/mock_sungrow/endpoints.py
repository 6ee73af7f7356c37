"""The kinds of endpoint a server can serve, named once.

Every layer that names a front end takes the names from here: the front-end registry
(:mod:`mock_sungrow.frontends`), the fault catalogue (which front ends a fault applies to), the
configuration (``server_type``, the CLI's flags), installation files (``[inverter.ports]``) and
the CLI's ready line. It imports nothing, so the lowest layers can use it.

``server_type`` names the front ends of an inverter: any ``+``-joined set of
:data:`DEVICE_FRONT_ENDS` (``"modbus+http+sungrow"``), or one of the historical names in
:data:`SERVER_TYPE_ALIASES` (``"both"``, ``"all"``...). The control API is not an inverter's: a
server serves it when it is given a control port.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrontEndName:
    """One kind of endpoint: its name, what it is, the port it listens on by default."""

    name: str
    label: str
    default_port: int | None
    #: ``True`` for an inverter's own endpoints, ``False`` for the server's control API.
    per_device: bool


FRONT_ENDS: dict[str, FrontEndName] = {
    "modbus": FrontEndName("modbus", "Modbus TCP (the inverter's LAN port)", 5020, True),
    "http": FrontEndName("http", "WiNet-S HTTP + WebSocket API", 8082, True),
    "sungrow": FrontEndName("sungrow", "Sungrow encrypted Modbus (the WiNet-S Modbus port)",
                            5021, True),
    "rtu": FrontEndName("rtu", "Modbus RTU on the inverter's RS485 port (a pseudo-terminal)",
                        0, True),
    "rtu-tcp": FrontEndName("rtu-tcp", "Modbus RTU over TCP (an RS485-to-Ethernet gateway)",
                            8899, True),
    "control": FrontEndName("control", "control API", 8090, False),
}
#: Every front-end name, in the order the ready line lists them.
FRONT_END_NAMES: tuple[str, ...] = tuple(FRONT_ENDS)
#: The front ends an inverter can have (the rest belong to the server).
DEVICE_FRONT_ENDS: tuple[str, ...] = tuple(n for n, f in FRONT_ENDS.items() if f.per_device)
#: Front ends that speak Modbus PDUs (plain MBAP, Sungrow's AES framing, RTU).
MODBUS_FRONT_ENDS = frozenset({"modbus", "sungrow", "rtu", "rtu-tcp"})
#: Front ends with connections (a serial line is not one: the connection faults skip it).
CONNECTION_FRONT_ENDS = frozenset(n for n in DEVICE_FRONT_ENDS if n != "rtu")
#: The historical ``server_type`` names and the front ends each stands for.
SERVER_TYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "modbus": ("modbus",),
    "http": ("http",),
    "both": ("modbus", "http"),
    "sungrow": ("sungrow",),
    "modbus+sungrow": ("modbus", "sungrow"),
    "http+sungrow": ("http", "sungrow"),
    "all": ("modbus", "http", "sungrow"),
}
#: The front ends a WiNet-S dongle serves: an inverter with one of them has a dongle plugged in
#: (its input 13265 names the dongle's firmware; without one it reads empty).
DONGLE_FRONT_ENDS = frozenset({"http", "sungrow"})
#: The WiNet-S front end's extra listeners (ports of an inverter's ``http`` endpoint).
WINET_EXTRA_PORTS = ("plain_http", "tls")


def port_argument(kind: str) -> str:
    """The keyword argument of ``kind``'s port: ``modbus_port``, ``rtu_tcp_port``."""
    return kind.replace("-", "_") + "_port"


def parse_server_type(server_type: object) -> tuple[str, ...]:
    """The front ends ``server_type`` stands for, in :data:`DEVICE_FRONT_ENDS` order.

    Raises :class:`ValueError` naming what is accepted.
    """
    accepted = (", ".join(SERVER_TYPE_ALIASES)
                + f", or any '+'-joined set of {', '.join(DEVICE_FRONT_ENDS)}")
    if not isinstance(server_type, str) or not server_type:
        raise ValueError(f"unknown server_type {server_type!r}; accepted: {accepted}")
    if server_type in SERVER_TYPE_ALIASES:
        return SERVER_TYPE_ALIASES[server_type]
    parts = server_type.split("+")
    unknown = [p for p in parts if p not in DEVICE_FRONT_ENDS]
    if unknown:
        if len(parts) == 1:
            raise ValueError(f"unknown server_type {server_type!r}; accepted: {accepted}")
        hint = (" (the control API is served when a control port is given)"
                if "control" in unknown else "")
        raise ValueError(f"server_type {server_type!r} names unknown front end(s) "
                         f"{', '.join(unknown)}{hint}; accepted: {accepted}")
    if len(set(parts)) != len(parts):
        raise ValueError(f"server_type {server_type!r} names a front end twice")
    return tuple(n for n in DEVICE_FRONT_ENDS if n in parts)
