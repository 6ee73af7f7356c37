"""The server's configuration: grouped settings and the one table of choices and validators.

Each setting is an :class:`Option` of one group: the plant (:class:`PlantConfig`), the Modbus
front ends (:class:`ModbusConfig`), the encrypted port (:class:`EncryptedConfig`), the WiNet-S
dongle (:class:`WinetConfig`) and the control API (:class:`ControlConfig`). The option knows
its keyword argument (``winet_token_lifetime``), its key in its group (``token_lifetime``: the
key in an installation file's ``[inverter.winet]`` table), its default, its accepted choices
and its check. The keyword arguments of :class:`~mock_sungrow.server.MockSungrowServer`, the
CLI's flags (choices, help, defaults), installation files and the control API all validate
through the same options, so they cannot drift apart.

A check (:mod:`mock_sungrow.checks`) raises :class:`ValueError` (or
:class:`~mock_sungrow.errors.FrontEndUnavailableError` for a front end this version lacks)
with a message naming the setting, what was given and what is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from mock_sungrow import checks
from mock_sungrow.checks import (  # the checks other modules call through this one
    Network,
)
from mock_sungrow.frontends.winet.auth import DEFAULT_ACCOUNTS, PROFILES
from mock_sungrow.plant.battery import BATTERY_MAKES

if TYPE_CHECKING:
    from mock_sungrow.device.family import View
    from mock_sungrow.dumps.formats import Dump

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

T = TypeVar("T")


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
    Option("model", "model", "SG5K-D", checks.model_name,
           "model name (mock-sungrow models lists them)"),
    Option("seed", "seed", 0, checks.integer, "seed for every simulated value"),
    Option("serial", "serial", None, checks.serial, "serial number (default: from the seed)"),
    Option("tick", "tick", 1.0, checks.tick, "seconds within which every read sees one instant"),
    Option("cloud_factor", "cloud_factor", 1.0, checks.cloud,
           "scale clear-sky PV (0..1.5), or 'random' for seeded passing clouds"),
    Option("meter", "meter", None, checks.meter, "a smart meter at the grid connection (default: "
                                           "hybrids yes)"),
    Option("battery_kwh", "battery_kwh", None, checks.battery_kwh,
           "battery capacity of a hybrid (default by model; 0 = none)"),
    Option("battery_make", "battery_make", "sungrow", checks.choice(BATTERY_MAKES),
           "the battery's maker: sungrow (default; an SBR tower, with its own Modbus unit "
           "and BCU firmware) or third-party (a pack on the BMS link, such as a Pylontech "
           "Force H: neither)",
           BATTERY_MAKES),
    Option("house_load", "house_load", None, checks.house_load,
           "house load: constant W, 24 hourly values in W (default: a household curve)"),
    Option("settings_from", "settings_from", None, checks.settings_from,
           "a dump (YAML, wire trace or fingerprint) whose recorded settings the inverter "
           "starts with (docs/dumps.md; default: the model's)"),
)
MODBUS_OPTIONS = _options(
    Option("unknown_unit", "unknown_unit", "exception", checks.choice(UNKNOWN_UNIT_POLICIES),
           "what a unit with no device gets: exception (0x0B) or silence",
           UNKNOWN_UNIT_POLICIES),
)
ENCRYPTED_OPTIONS = _options(
    Option("encryption", "encryption", "aes", checks.choice(ENCRYPTION_MODES),
           "what the sungrow port does: aes (hands out a key, AES frames), none (key request "
           "answered 'no encryption', then plain Modbus), lan (a plain LAN port; see "
           "lan_key_reply)", ENCRYPTION_MODES),
    Option("lan_key_reply", "lan_key_reply", "exception", checks.choice(LAN_KEY_REPLIES),
           "with encryption lan: the key request gets exception 2 or no answer",
           LAN_KEY_REPLIES),
    Option("plain_requests", "plain_requests", "strict", checks.choice(PLAIN_REQUEST_POLICIES),
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
    Option("winet_accounts", "accounts", None, checks.accounts,
           "user name -> password (default admin/pw8888 and user/pw1111)"),
    Option("winet_token_lifetime", "token_lifetime", None,
           checks.positive(none=True, message="must be positive seconds or None"),
           "tokens expire this many seconds after issue (default: never)"),
    Option("winet_single_session", "single_session", None, checks.optional_boolean,
           "one logged-in session at a time (default: the profile's choice)"),
    Option("winet_lockout_after", "lockout_after", 5, checks.lockout_after,
           "consecutive bad passwords that lock an account"),
    Option("winet_lockout_seconds", "lockout_seconds", 1800.0, checks.positive(),
           "how long a locked account stays locked (s)"),
    Option("winet_scan_seconds", "scan_seconds", 3.0,
           checks.positive(zero=True, message="must be >= 0"), "how long a Wi-Fi scan takes (s)"),
)
RTU_PARITIES = ("N", "E", "O")
RTU_OPTIONS = _options(
    Option("rtu_baudrate", "baudrate", 9600, checks.baudrate,
           "the RS485 line's baud rate (the rtu pty and the rtu-tcp gateway's serial side)"),
    Option("rtu_bytesize", "bytesize", 8, checks.int_choice((7, 8)), "data bits per character"),
    Option("rtu_parity", "parity", "N", checks.choice(RTU_PARITIES), "parity: N, E or O",
           RTU_PARITIES),
    Option("rtu_stopbits", "stopbits", 1, checks.int_choice((1, 2)), "stop bits per character"),
    Option("rtu_turnaround", "turnaround", 0.0, checks.turnaround,
           "seconds the inverter takes before it answers a request (after the line's "
           "3.5-character silence)"),
    Option("rtu_link", "link", None, checks.link,
           "a symlink made to the rtu pty's device path (a stable name for configurations)"),
)
CONTROL_OPTIONS = _options(
    Option("control_port", "port", None, checks.control_port,
           "control API port (0 = any free port; default: not served)"),
    Option("control_allow_remote", "allow_remote", False, checks.boolean,
           "let clients outside control_trusted_networks use the control API (and any "
           "Host or Origin header)"),
    Option("control_trusted_networks", "trusted_networks", DEFAULT_CONTROL_TRUSTED, checks.networks,
           "client networks the control API serves"),
    Option("control_read_only", "read_only", False, checks.boolean,
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
    battery_make: str = "sungrow"
    house_load: Any = None
    #: A recorded device (:class:`~mock_sungrow.dumps.formats.Dump`) whose settings the
    #: inverter starts with (:mod:`mock_sungrow.dumps.settings`).
    settings_from: Dump | None = None


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

    @property
    def firmware(self) -> str:
        """The dongle's software version: its profile's (input 13265 of its inverter too)."""
        return PROFILES[self.profile].firmware

    @property
    def modbus_rules(self) -> View:
        """The family-rule view of the dongle's Modbus port (``winet`` or ``winet-legacy``)."""
        return PROFILES[self.profile].modbus_rules


@dataclass(frozen=True)
class ControlConfig:
    """The control API: its port (``None``: not served) and who may use it."""

    port: int | None = None
    allow_remote: bool = False
    trusted_networks: tuple[Network, ...] = field(
        default_factory=lambda: checks.check_networks("trusted_networks", DEFAULT_CONTROL_TRUSTED))
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
    if isinstance(default, float) and checks.is_number(value):
        return float(value) != default
    return bool(value != default)
