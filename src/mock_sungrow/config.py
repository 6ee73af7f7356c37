"""The server's configuration: grouped settings and the one table of choices and validators.

Each setting is an :class:`Option` of one group: the plant (:class:`PlantConfig`), the Modbus
front ends (:class:`ModbusConfig`), the encrypted port (:class:`EncryptedConfig`), the WiNet-S
dongle (:class:`WinetConfig`) and the control API (:class:`ControlConfig`). The option knows
its keyword argument (``winet_token_lifetime``), its key in its group (``token_lifetime``: the
key in an installation file's ``[inverter.winet]`` table), its default, its accepted choices
and its check. The keyword arguments of :class:`~mock_sungrow.server.MockSungrowServer`, the
CLI's flags (choices, help, defaults), installation files and the control API all validate
through the same options, so they cannot drift apart.

A check raises :class:`ValueError` (or :class:`~mock_sungrow.errors.FrontEndUnavailableError`
for a front end this version lacks) with a message naming the setting, what was given and what
is accepted.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.endpoints import parse_server_type
from mock_sungrow.errors import FrontEndUnavailableError
from mock_sungrow.frontends import IMPLEMENTED_FRONT_ENDS
from mock_sungrow.frontends.winet.auth import DEFAULT_ACCOUNTS, PROFILES
from mock_sungrow.plant.physics import Site, Wobble
from mock_sungrow.plant.weather import make_cloud_function, make_load_function

#: What the "sungrow" port does (see ``mock_sungrow.frontends.modbus.aes``): the three port-502
#: behaviours found in the field, what a plain port answers the key request, and how an encrypting
#: port treats plain requests.
ENCRYPTION_MODES = ("aes", "none", "lan")
LAN_KEY_REPLIES = ("exception", "silence")
PLAIN_REQUEST_POLICIES = ("strict", "lenient")
#: What a unit with no device gets: exception 0x0B (what a dongle answers) or nothing.
UNKNOWN_UNIT_POLICIES = ("exception", "silence")
WINET_PROFILES = tuple(PROFILES)
#: Clients the control API serves by default: the loopback networks (all of 127.0.0.0/8).
DEFAULT_CONTROL_TRUSTED = ("127.0.0.0/8", "::1/128")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")


# ----------------------------------------------------------------------------- checks


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


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _model(name: str, value: object) -> str:
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


def _integer(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer; got {value!r}")  # noqa: TRY004
    return value


def _serial(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value.encode()) <= 20:
        raise ValueError(f"{name} must be a string of 1-20 bytes (10 registers); got {value!r}")
    return value


def _tick(name: str, value: object) -> float:
    if not _is_number(value) or not value > 0 or not math.isfinite(value):  # type: ignore[operator, arg-type]
        raise ValueError(f"{name} must be positive seconds, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _cloud(name: str, value: object) -> Any:
    make_cloud_function(value, Wobble.from_seed(0), 0)  # type: ignore[arg-type]
    return value


def _meter(name: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be true, false or unset (hybrids have one); got "
                         f"{value!r}")
    return value


def _battery_kwh(name: str, value: object) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not 0 <= value <= 10_000:  # type: ignore[operator]
        raise ValueError(f"{name} must be a capacity 0..10000 kWh (0: no battery); got "
                         f"{value!r}")
    return float(value)  # type: ignore[arg-type]


def _house_load(name: str, value: object) -> Any:
    make_load_function(value, Wobble.from_seed(0), 1.0)  # type: ignore[arg-type]
    return list(value) if isinstance(value, tuple) else value


def _choice(accepted: tuple[str, ...]) -> Callable[[str, object], str]:
    return lambda name, value: check_choice(name, value, accepted)


def _positive(*, zero: bool = False, none: bool = False, message: str = "must be positive"
              ) -> Callable[[str, object], Any]:
    def check(name: str, value: object) -> Any:
        if none and value is None:
            return None
        if not _is_number(value) or not (value >= 0 if zero else value > 0):  # type: ignore[operator]
            raise ValueError(f"{name} {message}; got {value!r}")
        return value

    return check


def _lockout_after(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return value


def _accounts(name: str, value: object) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType(dict(DEFAULT_ACCOUNTS))
    if not isinstance(value, Mapping) or not value or not all(
        isinstance(u, str) and u and isinstance(p, str) for u, p in value.items()
    ):
        raise ValueError(f"{name} must map at least one non-empty user name to a password "
                         "string")
    return MappingProxyType(dict(value))


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false; got {value!r}")  # noqa: TRY004
    return value


def _optional_bool(name: str, value: object) -> bool | None:
    return None if value is None else _bool(name, value)


def _networks(name: str, value: object) -> tuple[Network, ...]:
    return check_networks(name, value)


def _control_port(name: str, value: object) -> int | None:
    return check_optional_port(name, value)


def _int_choice(accepted: tuple[int, ...]) -> Callable[[str, object], int]:
    def check(name: str, value: object) -> int:
        if isinstance(value, bool) or value not in accepted:
            raise ValueError(f"{name} must be one of {', '.join(map(str, accepted))}; "
                             f"got {value!r}")
        return int(value)

    return check


def _baudrate(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 50 <= value <= 4_000_000:
        raise ValueError(f"{name} must be a baud rate in bits per second (50..4000000, "
                         f"Sungrow documents 9600); got {value!r}")
    return value


def _turnaround(name: str, value: object) -> float:
    if not _is_number(value) or not 0 <= value <= 10 or not math.isfinite(value):  # type: ignore[operator, arg-type]
        raise ValueError(f"{name} must be seconds between 0 and 10; got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _link(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\0" in value:
        raise ValueError(f"{name} must be a file path for a symlink to the pty; got {value!r}")
    return value


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """One setting: its keyword argument, its key in its group, default, choices, check."""

    name: str
    key: str
    default: Any
    check: Callable[[str, Any], Any]
    help: str
    choices: tuple[str, ...] | None = None

    def validate(self, value: Any, where: str = "") -> Any:
        """``value`` checked and normalised; the error names ``where`` + the key (or the arg)."""
        return self.check(f"{where}.{self.key}" if where else self.name, value)


def _options(*options: Option) -> dict[str, Option]:
    return {o.key: o for o in options}


PLANT_OPTIONS = _options(
    Option("model", "model", "SG5K-D", _model, "model name (mock-sungrow models lists them)"),
    Option("seed", "seed", 0, _integer, "seed for every simulated value"),
    Option("serial", "serial", None, _serial, "serial number (default: from the seed)"),
    Option("tick", "tick", 1.0, _tick, "seconds within which every read sees one instant"),
    Option("cloud_factor", "cloud_factor", 1.0, _cloud,
           "scale clear-sky PV (0..1.5), or 'random' for seeded passing clouds"),
    Option("meter", "meter", None, _meter, "a smart meter at the grid connection (default: "
                                           "hybrids yes)"),
    Option("battery_kwh", "battery_kwh", None, _battery_kwh,
           "battery capacity of a hybrid (default by model; 0 = none)"),
    Option("house_load", "house_load", None, _house_load,
           "house load: constant W, 24 hourly values in W (default: a household curve)"),
)
MODBUS_OPTIONS = _options(
    Option("unknown_unit", "unknown_unit", "exception", _choice(UNKNOWN_UNIT_POLICIES),
           "what a unit with no device gets: exception (0x0B) or silence",
           UNKNOWN_UNIT_POLICIES),
)
ENCRYPTED_OPTIONS = _options(
    Option("encryption", "encryption", "aes", _choice(ENCRYPTION_MODES),
           "what the sungrow port does: aes (hands out a key, AES frames), none (key request "
           "answered 'no encryption', then plain Modbus), lan (a plain LAN port; see "
           "lan_key_reply)", ENCRYPTION_MODES),
    Option("lan_key_reply", "lan_key_reply", "exception", _choice(LAN_KEY_REPLIES),
           "with encryption lan: the key request gets exception 2 or no answer",
           LAN_KEY_REPLIES),
    Option("plain_requests", "plain_requests", "strict", _choice(PLAIN_REQUEST_POLICIES),
           "with encryption aes: plain Modbus requests are ignored (strict, like an "
           "encrypting dongle) or answered (lenient)", PLAIN_REQUEST_POLICIES),
)


def _profile(name: str, value: object) -> str:
    if not isinstance(value, str) or value not in PROFILES:
        raise ValueError(f"unknown {name} {value!r}; accepted: " + ", ".join(PROFILES))
    return value


WINET_OPTIONS = _options(
    Option("winet_profile", "profile", "legacy", _profile,
           "WiNet-S firmware: legacy (connect gives a working token), login (services need a "
           "login first) or tls-only (only the TLS port answers)", WINET_PROFILES),
    Option("winet_accounts", "accounts", None, _accounts,
           "user name -> password (default admin/pw8888 and user/pw1111)"),
    Option("winet_token_lifetime", "token_lifetime", None,
           _positive(none=True, message="must be positive seconds or None"),
           "tokens expire this many seconds after issue (default: never)"),
    Option("winet_single_session", "single_session", None, _optional_bool,
           "one logged-in session at a time (default: the profile's choice)"),
    Option("winet_lockout_after", "lockout_after", 5, _lockout_after,
           "consecutive bad passwords that lock an account"),
    Option("winet_lockout_seconds", "lockout_seconds", 1800.0, _positive(),
           "how long a locked account stays locked (s)"),
    Option("winet_scan_seconds", "scan_seconds", 3.0,
           _positive(zero=True, message="must be >= 0"), "how long a Wi-Fi scan takes (s)"),
)
RTU_PARITIES = ("N", "E", "O")
RTU_OPTIONS = _options(
    Option("rtu_baudrate", "baudrate", 9600, _baudrate,
           "the RS485 line's baud rate (the rtu pty and the rtu-tcp gateway's serial side)"),
    Option("rtu_bytesize", "bytesize", 8, _int_choice((7, 8)), "data bits per character"),
    Option("rtu_parity", "parity", "N", _choice(RTU_PARITIES), "parity: N, E or O",
           RTU_PARITIES),
    Option("rtu_stopbits", "stopbits", 1, _int_choice((1, 2)), "stop bits per character"),
    Option("rtu_turnaround", "turnaround", 0.0, _turnaround,
           "seconds the inverter takes before it answers a request (after the line's "
           "3.5-character silence)"),
    Option("rtu_link", "link", None, _link,
           "a symlink made to the rtu pty's device path (a stable name for configurations)"),
)
CONTROL_OPTIONS = _options(
    Option("control_port", "port", None, _control_port,
           "control API port (0 = any free port; default: not served)"),
    Option("control_allow_remote", "allow_remote", False, _bool,
           "let clients outside control_trusted_networks use the control API (and any "
           "Host or Origin header)"),
    Option("control_trusted_networks", "trusted_networks", DEFAULT_CONTROL_TRUSTED, _networks,
           "client networks the control API serves"),
    Option("control_read_only", "read_only", False, _bool,
           "serve the control API and its dashboard read-only: every request that would "
           "change something gets HTTP 403"),
)


# ----------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class PlantConfig:
    """One inverter's plant: model, seed, serial, weather, meter, battery, house load."""

    model: str = "SG5K-D"
    seed: int = 0
    serial: str | None = None
    tick: float = 1.0
    cloud_factor: Any = 1.0
    meter: bool | None = None
    battery_kwh: float | None = None
    house_load: Any = None


@dataclass(frozen=True)
class ModbusConfig:
    """The Modbus front ends (LAN port, the dongle's Modbus port, its RTU passthrough)."""

    unknown_unit: str = "exception"


@dataclass(frozen=True)
class EncryptedConfig:
    """The "sungrow" port: encryption, the plain LAN port's key reply, plain requests."""

    encryption: str = "aes"
    lan_key_reply: str = "exception"
    plain_requests: str = "strict"


@dataclass(frozen=True)
class RtuConfig:
    """The RS485 line: its settings, the inverter's turnaround, a symlink to the pty."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    turnaround: float = 0.0
    link: str | None = None


@dataclass(frozen=True)
class WinetConfig:
    """The WiNet-S dongle: firmware profile, accounts, tokens, lockouts, Wi-Fi scans."""

    profile: str = "legacy"
    accounts: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_ACCOUNTS)))
    token_lifetime: float | None = None
    single_session: bool | None = None
    lockout_after: int = 5
    lockout_seconds: float = 1800.0
    scan_seconds: float = 3.0


@dataclass(frozen=True)
class ControlConfig:
    """The control API: its port (``None``: not served) and who may use it."""

    port: int | None = None
    allow_remote: bool = False
    trusted_networks: tuple[Network, ...] = field(
        default_factory=lambda: check_networks("trusted_networks", DEFAULT_CONTROL_TRUSTED))
    read_only: bool = False

    @property
    def trusted(self) -> tuple[Network, ...] | None:
        """The networks served, ``None`` for everyone (``allow_remote``)."""
        return None if self.allow_remote else self.trusted_networks


#: Each group's dataclass and its options, by the name its table has in an installation file.
GROUPS: dict[str, tuple[type[Any], dict[str, Option]]] = {
    "plant": (PlantConfig, PLANT_OPTIONS),
    "modbus": (ModbusConfig, MODBUS_OPTIONS),
    "sungrow": (EncryptedConfig, ENCRYPTED_OPTIONS),
    "winet": (WinetConfig, WINET_OPTIONS),
    "rtu": (RtuConfig, RTU_OPTIONS),
    "control": (ControlConfig, CONTROL_OPTIONS),
}
#: Every option by its keyword argument.
BY_ARGUMENT: dict[str, Option] = {o.name: o for _c, opts in GROUPS.values()
                                  for o in opts.values()}


def build(cls: type[T], values: Mapping[str, Any], where: str = "") -> T:
    """A group of ``cls`` from ``{key: value}``, every value checked (others keep defaults).

    ``where`` prefixes the keys in messages (``inverter[2].winet``); without it the messages
    name the keyword arguments.
    """
    options = next(opts for c, opts in GROUPS.values() if c is cls)
    checked = {key: options[key].validate(value, where) for key, value in values.items()}
    return cls(**checked)


def from_kwargs(cls: type[T], kwargs: Mapping[str, Any]) -> T:
    """A group of ``cls`` from the server's keyword arguments (``winet_profile=...``)."""
    options = next(opts for c, opts in GROUPS.values() if c is cls)
    return build(cls, {o.key: kwargs[o.name] for o in options.values() if o.name in kwargs})


def differs(option: Option, value: Any) -> bool:
    """Whether ``value`` is not the option's default (an argument that was really given)."""
    default = option.default
    if isinstance(default, float) and _is_number(value):
        return float(value) != default
    return bool(value != default)
