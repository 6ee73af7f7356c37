"""The checks behind every setting: ports, hosts, networks, units, models and the options' values.

Each takes the setting's name and the value given, and returns the value to use or raises
:class:`ValueError` (or :class:`~mock_sungrow.errors.FrontEndUnavailableError` for a front end
this version lacks) with a message naming the setting, what was given and what is accepted.
:mod:`mock_sungrow.config` puts them in its table of options; the server, the CLI,
installation files and the control API all check through that table.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.endpoints import parse_server_type
from mock_sungrow.errors import FrontEndUnavailableError
from mock_sungrow.frontends import IMPLEMENTED_FRONT_ENDS
from mock_sungrow.frontends.winet.auth import DEFAULT_ACCOUNTS
from mock_sungrow.plant.physics import Site, Wobble
from mock_sungrow.plant.weather import make_cloud_function, make_load_function

if TYPE_CHECKING:
    from mock_sungrow.dumps.formats import Dump

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def check_server_type(server_type: object) -> tuple[str, ...]:
    """The front ends of a ``server_type`` (any ``+``-joined set, or a historical name)."""
    kinds = parse_server_type(server_type)
    missing = [fe for fe in kinds if fe not in IMPLEMENTED_FRONT_ENDS]
    if missing:
        raise FrontEndUnavailableError(
            f"server_type={server_type!r} needs front end(s) {', '.join(missing)}, "
            "which this version of mock-sungrow does not implement"
        )
    return kinds


def check_host(host: object) -> str:
    """The address the listeners bind: a non-empty string."""
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be a non-empty string such as '127.0.0.1'; got {host!r}")
    return host


def check_unit_id(name: str, unit: object, *, or_none: bool = False) -> int:
    """A Modbus unit id a device answers on (1..247)."""
    if isinstance(unit, bool) or not isinstance(unit, int) or not 1 <= unit <= 247:
        accepted = "an integer 1..247, or None" if or_none else "an integer 1..247"
        raise ValueError(f"{name} must be {accepted}; got {unit!r}")
    return unit


def check_datablock_class(datablock_class: object) -> type[SungrowModbusDataBlock]:
    """A subclass of :class:`~mock_sungrow.device.datablock.SungrowModbusDataBlock`."""
    if not (isinstance(datablock_class, type)
            and issubclass(datablock_class, SungrowModbusDataBlock)):
        raise ValueError(  # noqa: TRY004 - every bad argument is a ValueError here
            "datablock_class must be a subclass of SungrowModbusDataBlock"
        )
    return datablock_class


def resolve_site(site: Site | None, latitude: float | None, longitude: float | None,
                 timezone: str | None) -> Site:
    """``site``, or one built from latitude/longitude/timezone (defaults for those omitted)."""
    if site is not None and (latitude, longitude, timezone) != (None, None, None):
        raise ValueError("give either site=Site(...) or latitude/longitude/timezone, not both")
    if site is not None:
        return site
    defaults = Site()
    for name, value in (("latitude", latitude), ("longitude", longitude)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{name} must be a number of degrees; got {value!r}")
    if timezone is not None and not isinstance(timezone, str):
        raise ValueError(f"timezone must be an IANA name such as 'Europe/Berlin'; got "
                         f"{timezone!r}")
    return Site(
        latitude=defaults.latitude if latitude is None else latitude,
        longitude=defaults.longitude if longitude is None else longitude,
        timezone=defaults.timezone if timezone is None else timezone,
    )


def is_number(value: object) -> bool:
    """A number that is not a bool (``True`` would pass as 1 otherwise)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def model_name(name: str, value: object) -> str:
    """A model of the catalogue, as the catalogue spells it (any case when unambiguous)."""
    from mock_sungrow.device.catalog import load_catalog

    if not isinstance(value, str):
        raise ValueError(  # noqa: TRY004 - every bad argument is a ValueError here
            f"{name} must be a model name such as 'SH10RT'; got {value!r}")
    try:
        return load_catalog().model(value).name
    except ValueError as exc:
        if name == "model":  # a keyword argument: the catalogue's message says it all
            raise
        raise ValueError(f"{name}: {exc}") from None


def integer(name: str, value: object) -> int:
    """An integer, not a bool."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer; got {value!r}")  # noqa: TRY004
    return value


def serial(name: str, value: object) -> str | None:
    """A serial number of 1-20 bytes (the 10 registers it is read from), or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value.encode()) <= 20:
        raise ValueError(f"{name} must be a string of 1-20 bytes (10 registers); got {value!r}")
    return value


def tick(name: str, value: object) -> float:
    """A positive, finite number of seconds."""
    if not is_number(value) or not value > 0 or not math.isfinite(value):  # type: ignore[operator, arg-type]
        raise ValueError(f"{name} must be positive seconds, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def cloud(name: str, value: object) -> Any:
    """A cloud setting the weather accepts (a number 0..1.5, 'random', a walk)."""
    make_cloud_function(value, Wobble.from_seed(0), 0)  # type: ignore[arg-type]
    return value


def meter(name: str, value: object) -> bool | None:
    """True, false or None (None: what the model has)."""
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be true, false or unset (hybrids have one); got "
                         f"{value!r}")
    return value


def battery_kwh(name: str, value: object) -> float | None:
    """A battery capacity 0..10000 kWh (0: no battery), or None (the model's)."""
    if value is None:
        return None
    if not is_number(value) or not 0 <= value <= 10_000:  # type: ignore[operator]
        raise ValueError(f"{name} must be a capacity 0..10000 kWh (0: no battery); got "
                         f"{value!r}")
    return float(value)  # type: ignore[arg-type]


def settings_from(name: str, value: object) -> Dump | None:
    """A recorded device whose settings a device starts with: a dump, its path, or None.

    A path is read here (any of the three dump formats), so a missing or unreadable file is
    refused with the setting's name before anything is built.
    """
    from mock_sungrow.dumps.formats import Dump, DumpError, load_dump

    if value is None or isinstance(value, Dump):
        return value
    if not isinstance(value, str | Path):
        raise ValueError(  # noqa: TRY004 - every bad argument is a ValueError here
            f"{name} must be the path of a dump (YAML, wire trace or fingerprint) or a Dump; "
            f"got {value!r}")
    try:
        return load_dump(value)
    except DumpError as exc:
        raise ValueError(f"{name}: {exc}") from None


def house_load(name: str, value: object) -> Any:
    """A house load the load model accepts (a profile name, watts, a list)."""
    make_load_function(value, Wobble.from_seed(0), 1.0)  # type: ignore[arg-type]
    return list(value) if isinstance(value, tuple) else value


def choice(accepted: tuple[str, ...]) -> Callable[[str, object], str]:
    """A check that the value is one of ``accepted``."""
    return lambda name, value: check_choice(name, value, accepted)


def positive(*, zero: bool = False, none: bool = False, message: str = "must be positive"
              ) -> Callable[[str, object], Any]:
    """A check for a positive number (``zero``: or 0; ``none``: or None)."""
    def check(name: str, value: object) -> Any:
        if none and value is None:
            return None
        if not is_number(value) or not (value >= 0 if zero else value > 0):  # type: ignore[operator]
            raise ValueError(f"{name} {message}; got {value!r}")
        return value

    return check


def lockout_after(name: str, value: object) -> int:
    """A count of failed logins >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return value


def accounts(name: str, value: object) -> Mapping[str, str]:
    """The WiNet-S accounts: at least one non-empty user name with its password."""
    if value is None:
        return MappingProxyType(dict(DEFAULT_ACCOUNTS))
    if not isinstance(value, Mapping) or not value or not all(
        isinstance(u, str) and u and isinstance(p, str) for u, p in value.items()
    ):
        raise ValueError(f"{name} must map at least one non-empty user name to a password "
                         "string")
    return MappingProxyType(dict(value))


def boolean(name: str, value: object) -> bool:
    """True or false."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false; got {value!r}")  # noqa: TRY004
    return value


def optional_boolean(name: str, value: object) -> bool | None:
    """True, false or None."""
    return None if value is None else boolean(name, value)


def networks(name: str, value: object) -> tuple[Network, ...]:
    """A non-empty list of IP networks (:func:`check_networks`)."""
    return check_networks(name, value)


def control_port(name: str, value: object) -> int | None:
    """The control API's port, or None for none (:func:`check_optional_port`)."""
    return check_optional_port(name, value)


def int_choice(accepted: tuple[int, ...]) -> Callable[[str, object], int]:
    """A check that the value is one of the integers ``accepted``."""
    def check(name: str, value: object) -> int:
        if isinstance(value, bool) or value not in accepted:
            raise ValueError(f"{name} must be one of {', '.join(map(str, accepted))}; "
                             f"got {value!r}")
        return int(value)

    return check


def baudrate(name: str, value: object) -> int:
    """A baud rate in bits per second, 50..4000000."""
    if isinstance(value, bool) or not isinstance(value, int) or not 50 <= value <= 4_000_000:
        raise ValueError(f"{name} must be a baud rate in bits per second (50..4000000, "
                         f"Sungrow documents 9600); got {value!r}")
    return value


def turnaround(name: str, value: object) -> float:
    """Seconds 0..10 (an RS485 device's turnaround)."""
    if not is_number(value) or not 0 <= value <= 10 or not math.isfinite(value):  # type: ignore[operator, arg-type]
        raise ValueError(f"{name} must be seconds between 0 and 10; got {value!r}")
    return float(value)  # type: ignore[arg-type]


def link(name: str, value: object) -> str | None:
    """A path for the symlink to the RTU pty, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\0" in value:
        raise ValueError(f"{name} must be a file path for a symlink to the pty; got {value!r}")
    return value


