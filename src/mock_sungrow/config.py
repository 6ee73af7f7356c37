"""The server's settings: the accepted choices and the validators every way in shares.

Each check raises :class:`ValueError` (or :class:`~mock_sungrow.errors.FrontEndUnavailableError`
for a front end this version lacks) with a message naming the setting, what was given and what
is accepted. The keyword arguments of :class:`~mock_sungrow.server.MockSungrowServer` are
validated here; the grouped configuration (plant, Modbus, encrypted, WiNet-S, control) will
join them, so that the CLI, installation files and the control API use the same tables.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.errors import FrontEndUnavailableError
from mock_sungrow.frontends import IMPLEMENTED_FRONT_ENDS, SERVER_TYPES
from mock_sungrow.plant.physics import Site

#: What the "sungrow" port does (see ``mock_sungrow.frontends.modbus.aes``): the three port-502
#: behaviours found in the field, what a plain port answers the key request, and how an encrypting
#: port treats plain requests.
ENCRYPTION_MODES = ("aes", "none", "lan")
LAN_KEY_REPLIES = ("exception", "silence")
PLAIN_REQUEST_POLICIES = ("strict", "lenient")


def check_choice(name: str, value: object, accepted: tuple[str, ...]) -> str:
    """``value`` if it is one of ``accepted``."""
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(accepted)}; got {value!r}")
    return value


def check_optional_port(name: str, port: object) -> int | None:
    """A port (0 picks a free one), or ``None`` for "no such listener"."""
    return None if port is None else check_port(name, port)


def check_port(name: str, port: object) -> int:
    """A TCP port number; 0 picks a free port."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{name} must be an integer 0..65535 (0 picks a free port); got {port!r}")
    return port


#: Clients the control API serves by default: the loopback networks (all of 127.0.0.0/8).
DEFAULT_CONTROL_TRUSTED = ("127.0.0.0/8", "::1/128")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(name: str, item: object) -> Network:
    if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return item
    problem = f"{name}: {item!r} is not an IP network such as '10.0.0.0/8'"
    if not isinstance(item, str):  # ip_network() would take 42 for 0.0.0.42/32
        raise ValueError(problem)  # noqa: TRY004 - every bad argument is a ValueError here
    try:
        return ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise ValueError(problem) from None


def check_networks(name: str, networks: object) -> tuple[Network, ...]:
    """A non-empty list of IP networks (``"10.0.0.0/8"`` or network objects)."""
    if isinstance(networks, str) or not isinstance(networks, Sequence | frozenset | set):
        raise ValueError(  # noqa: TRY004 - every bad argument is a ValueError here
            f"{name} must be a list of networks such as '127.0.0.0/8'; got {networks!r}")
    parsed = tuple(_network(name, item) for item in networks)
    if not parsed:
        raise ValueError(f"{name} must name at least one network "
                         "(control_allow_remote=True serves everyone)")
    return parsed


def check_server_type(server_type: str) -> None:
    """A ``server_type`` of :data:`~mock_sungrow.frontends.SERVER_TYPES` whose front ends exist."""
    if server_type not in SERVER_TYPES:
        raise ValueError(
            f"unknown server_type {server_type!r}; accepted: " + ", ".join(SERVER_TYPES)
        )
    missing = [fe for fe in SERVER_TYPES[server_type] if fe not in IMPLEMENTED_FRONT_ENDS]
    if missing:
        raise FrontEndUnavailableError(
            f"server_type={server_type!r} needs front end(s) {', '.join(missing)}, "
            "which this version of mock-sungrow does not implement"
        )


def check_host(host: object) -> None:
    """The address the listeners bind: a non-empty string."""
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be a non-empty string such as '127.0.0.1'; got {host!r}")


def check_unit_id(name: str, unit: object, *, or_none: bool = False) -> None:
    """A Modbus unit id a device answers on (1..247)."""
    if isinstance(unit, bool) or not isinstance(unit, int) or not 1 <= unit <= 247:
        accepted = "an integer 1..247, or None" if or_none else "an integer 1..247"
        raise ValueError(f"{name} must be {accepted}; got {unit!r}")


def check_datablock_class(datablock_class: object) -> None:
    """A subclass of :class:`~mock_sungrow.device.datablock.SungrowModbusDataBlock`."""
    if not (isinstance(datablock_class, type)
            and issubclass(datablock_class, SungrowModbusDataBlock)):
        raise ValueError(  # noqa: TRY004 - every bad argument is a ValueError here
            "datablock_class must be a subclass of SungrowModbusDataBlock"
        )


def resolve_site(site: Site | None, latitude: float | None, longitude: float | None,
                 timezone: str | None) -> Site:
    """``site``, or one built from latitude/longitude/timezone (defaults for those omitted)."""
    if site is not None and (latitude, longitude, timezone) != (None, None, None):
        raise ValueError("give either site=Site(...) or latitude/longitude/timezone, not both")
    if site is not None:
        return site
    defaults = Site()
    return Site(
        latitude=defaults.latitude if latitude is None else latitude,
        longitude=defaults.longitude if longitude is None else longitude,
        timezone=defaults.timezone if timezone is None else timezone,
    )
