"""What an installation is made of: inverters with roles, their batteries and endpoints.

An :class:`InstallationSpec` is data, checked whole before anything is built or bound: from
keyword arguments (:meth:`InstallationSpec.from_kwargs`, what ``MockSungrowServer(...)`` with
the original arguments means: one stand-alone inverter), from a dict, or from a TOML or YAML
file::

    [[inverter]]
    model = "SH10RT"
    role = "master"        # "standalone" (default), "master" or "slave"
    battery_kwh = 9.6
    [inverter.ports]       # this inverter's endpoints; 0 = any free port; absent = not served
    modbus = 0             # its LAN port
    http = 0               # its WiNet-S web API (and sungrow = its WiNet-S Modbus port, ...)

    [[inverter]]
    model = "SH10RT"
    role = "slave"
    battery_kwh = 0
    [inverter.ports]
    modbus = 0

A mistake is an :class:`InstallationError` naming the device (``inverter[2]``, counted from
1 in file order), the key and what is accepted: two devices on one unit of one endpoint, an
unknown model or key (with a did-you-mean), a slave with no master, a battery on a string
inverter, colliding ports, a value of the wrong type. The keys and their checks are the
configuration's (:mod:`mock_sungrow.config`); docs/installations.md lists them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mock_sungrow import checks, config
from mock_sungrow.config import (
    EncryptedConfig,
    ModbusConfig,
    PlantConfig,
    RtuConfig,
    WinetConfig,
)
from mock_sungrow.device.catalog import load_catalog
from mock_sungrow.device.device import DEFAULT_BATTERY_UNIT_ID, ROLES, Role
from mock_sungrow.endpoints import (
    DEVICE_FRONT_ENDS,
    FRONT_ENDS,
    WINET_EXTRA_PORTS,
    port_argument,
)
from mock_sungrow.installation.files import load_document
from mock_sungrow.plant.battery import battery_kind, default_battery_kwh
from mock_sungrow.plant.physics import Site

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import InverterModel
    from mock_sungrow.dumps.formats import Dump

#: Keys of an ``[inverter.ports]`` table: the inverter's endpoints and the WiNet-S's extra
#: listeners (its plain HTTP port 80 and TLS port 443).
PORT_KEYS: tuple[str, ...] = (*DEVICE_FRONT_ENDS, *WINET_EXTRA_PORTS)
#: The tables of an ``[[inverter]]`` and the configuration group each one is.
_TABLES: dict[str, type[Any]] = {"modbus": ModbusConfig, "sungrow": EncryptedConfig,
                                 "winet": WinetConfig, "rtu": RtuConfig}
_INVERTER_KEYS = ("role", "unit", "battery_unit", "ports", *config.PLANT_OPTIONS, *_TABLES)
_TOP_KEYS = ("inverter", "seed", "latitude", "longitude", "timezone")


class InstallationError(ValueError):
    """An installation is invalid; the message names the device, the key and what is accepted."""


def _unknown(where: str, keys: Sequence[str], accepted: Sequence[str]) -> None:
    unknown = [k for k in keys if k not in accepted]
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(str(key), accepted, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InstallationError(f"{where}: unknown key {key!r}{hint}; accepted: "
                            + ", ".join(accepted))


def _table(where: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InstallationError(f"{where} must be a table of keys; got {value!r}")
    return value


@dataclass(frozen=True)
class InverterSpec:
    """One inverter of an installation, with its battery (if any) and its endpoints.

    ``unit`` is the Modbus unit it answers on its LAN port (``None``: by role, 1 for a
    stand-alone inverter or a master, 2, 3... for slaves in order); ``battery_unit`` the SBR
    battery's (``None``: the battery is not served on its own unit). ``ports`` maps endpoint
    kinds (``modbus``, ``http``, ``sungrow``) and the WiNet-S's extra listeners
    (``plain_http``, ``tls``) to ports (0 = any free port); a kind that is absent is not served.
    ``served_by`` (0-based) names another inverter whose LAN port also serves this one, on
    its own unit: several inverters behind one data logger's Modbus port (a fleet's
    ``units``; not a file key of installations).
    """

    plant: PlantConfig = field(default_factory=PlantConfig)
    role: Role = "standalone"
    unit: int | None = None
    battery_unit: int | None = DEFAULT_BATTERY_UNIT_ID
    ports: Mapping[str, int] = field(default_factory=dict)
    modbus: ModbusConfig = field(default_factory=ModbusConfig)
    sungrow: EncryptedConfig = field(default_factory=EncryptedConfig)
    winet: WinetConfig = field(default_factory=WinetConfig)
    rtu: RtuConfig = field(default_factory=RtuConfig)
    served_by: int | None = None

    @property
    def has_sbr(self) -> bool:
        """Whether the inverter has an SBR battery that answers on a unit of its own."""
        model = load_catalog().model(self.plant.model)
        kwh = default_battery_kwh(model) if self.plant.battery_kwh is None \
            else self.plant.battery_kwh
        return model.is_hybrid and kwh > 0 and battery_kind(model, self.plant.battery_make) == "sbr"

    @classmethod
    def from_dict(cls, data: object, where: str, *, seed: int = 0) -> InverterSpec:
        """An inverter from its table in a file (``where`` names it: ``inverter[1]``)."""
        table = _table(where, data)
        _unknown(where, list(table), _INVERTER_KEYS)
        role = table.get("role", "standalone")
        if role not in ROLES:
            raise InstallationError(f"{where}.role must be one of {', '.join(ROLES)}; got "
                                    f"{role!r}")
        plant_values = {k: v for k, v in table.items() if k in config.PLANT_OPTIONS}
        plant_values.setdefault("seed", seed)
        groups: dict[str, Any] = {}
        try:
            plant = config.build(PlantConfig, plant_values, where)
            for key, cls_ in _TABLES.items():
                values = _table(f"{where}.{key}", table.get(key, {}))
                _unknown(f"{where}.{key}", list(values), list(config.GROUPS[key][1]))
                groups[key] = config.build(cls_, values, f"{where}.{key}")
        except InstallationError:
            raise
        except ValueError as exc:
            raise InstallationError(str(exc) if str(exc).startswith(where)
                                    else f"{where}: {exc}") from None
        unit = table.get("unit")
        if unit is not None:
            unit = _unit(f"{where}.unit", unit)
        battery_unit = table.get("battery_unit", DEFAULT_BATTERY_UNIT_ID)
        battery_unit = None if battery_unit in (None, 0) else _unit(
            f"{where}.battery_unit", battery_unit, zero=True)
        ports = _ports(where, table.get("ports", {}))
        return cls(plant=plant, role=cast(Role, role), unit=unit, battery_unit=battery_unit,
                   ports=ports, **groups)


def _check_settings_from(where: str, dump: Dump | None, model: InverterModel) -> None:
    """Refuse settings recorded on another model: their rows and ranges are another's."""
    code = None if dump is None else dump.device_type_code
    if dump is None or code is None or code == model.device_type_code:
        return
    names = sorted(m.name for m in load_catalog().models.values() if m.device_type_code == code)
    recorded = f"an {names[0]}" if names else "a device"
    raise InstallationError(
        f"{where}.settings_from: {dump.source} was recorded on {recorded} (device type code "
        f"0x{code:04X}), not on the {model.name} (0x{model.device_type_code:04X}) it would "
        f"configure; give model = {names[0] if names else 'the recorded model'!r}")


def _unit(where: str, value: object, *, zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 247:
        extra = " (0: not served on a unit of its own)" if zero else ""
        raise InstallationError(f"{where} must be a Modbus unit 1..247{extra}; got {value!r}")
    return value


def _ports(where: str, value: object) -> dict[str, int]:
    table = _table(f"{where}.ports", value)
    _unknown(f"{where}.ports", list(table), PORT_KEYS)
    try:
        ports = {key: checks.check_port(f"{where}.ports.{key}", port)
                 for key, port in table.items()}
    except ValueError as exc:
        raise InstallationError(str(exc)) from None
    if ports.get("rtu", 0) != 0:
        raise InstallationError(f"{where}.ports.rtu must be 0: the RS485 port is served on a "
                                f"pseudo-terminal (its settings go in [{where}.rtu]); got "
                                f"{ports['rtu']!r}")
    extra = [k for k in WINET_EXTRA_PORTS if k in ports]
    if extra and "http" not in ports:
        raise InstallationError(f"{where}.ports.{extra[0]} is a listener of the inverter's "
                                "WiNet-S: give its http port too")
    return ports


@dataclass(frozen=True)
class InstallationSpec:
    """The inverters of a site (in order: the first is the one the server's API means)."""

    inverters: tuple[InverterSpec, ...]
    site: Site = field(default_factory=Site)

    @classmethod
    def from_dict(cls, data: object, source: str = "installation") -> InstallationSpec:
        """An installation from a file's data (``source`` names the file in messages)."""
        table = _table(source, data)
        _unknown(source, list(table), _TOP_KEYS)
        inverters = table.get("inverter")
        if not isinstance(inverters, list) or not inverters:
            raise InstallationError(f"{source}: expected at least one [[inverter]] table "
                                    "(inverter: a list in YAML)")
        seed = table.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InstallationError(f"{source}: seed must be an integer; got {seed!r}")
        try:
            site = checks.resolve_site(None, table.get("latitude"), table.get("longitude"),
                                       table.get("timezone"))
        except ValueError as exc:
            raise InstallationError(f"{source}: {exc}") from None
        specs = tuple(
            InverterSpec.from_dict(item, f"inverter[{i}]", seed=seed + i - 1)
            for i, item in enumerate(inverters, start=1)
        )
        spec = cls(specs, site)
        spec.check()
        return spec

    @classmethod
    def from_file(cls, path: str | Path) -> InstallationSpec:
        """An installation from a TOML or YAML file.

        A relative ``settings_from`` path is the file's neighbour (as an installation is
        written next to its dumps), not the current directory's.
        """
        data = load_document(path, InstallationError, "installation")
        inverters = data.get("inverter") if isinstance(data, Mapping) else None
        for item in inverters if isinstance(inverters, list) else ():
            dump = item.get("settings_from") if isinstance(item, dict) else None
            if isinstance(dump, str) and not Path(dump).is_absolute():
                item["settings_from"] = str(Path(path).parent / dump)
        return cls.from_dict(data, str(path))

    @classmethod
    def coerce(cls, value: InstallationSpec | Mapping[str, Any] | str | Path
               ) -> InstallationSpec:
        """A spec, a dict (a file's data) or a path, as ``installation=`` takes them."""
        if isinstance(value, InstallationSpec):
            value.check()
            return value
        if isinstance(value, str | Path):
            return cls.from_file(value)
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise InstallationError("installation= takes an InstallationSpec, a dict or the path "
                                f"of a TOML/YAML file; got {value!r}")

    def units(self) -> list[int]:
        """Each inverter's unit on its LAN port (given, or by role)."""
        out = []
        slave = 0
        for inv in self.inverters:
            if inv.role == "slave":
                slave += 1
            default = 1 + slave if inv.role == "slave" else 1
            out.append(default if inv.unit is None else inv.unit)
        return out

    def cluster(self) -> list[tuple[int, int]]:
        """Each inverter's (position among the slaves, cluster size) for its cluster words."""
        size = sum(1 for inv in self.inverters if inv.role != "standalone")
        out = []
        slave = 0
        for inv in self.inverters:
            if inv.role == "slave":
                slave += 1
                out.append((slave, size))
            else:
                out.append((0, size if inv.role == "master" else 1))
        return out

    def check(self) -> None:
        """Refuse what cannot be built; every message names the device and the key."""
        if not self.inverters:
            raise InstallationError("an installation needs at least one inverter")
        roles = [inv.role for inv in self.inverters]
        masters = [i for i, r in enumerate(roles, start=1) if r == "master"]
        slaves = [i for i, r in enumerate(roles, start=1) if r == "slave"]
        if slaves and not masters:
            raise InstallationError(f"inverter[{slaves[0]}].role is 'slave' but no inverter "
                                    "is the master: give one role = \"master\"")
        if len(masters) > 1:
            raise InstallationError(f"inverter[{masters[1]}].role: a cluster has one master "
                                    f"(inverter[{masters[0]}] is already); accepted: "
                                    "standalone, slave")
        catalog = load_catalog()
        for i, (inv, unit) in enumerate(zip(self.inverters, self.units(), strict=True),
                                        start=1):
            try:
                model = catalog.model(inv.plant.model)
            except ValueError as exc:
                raise InstallationError(f"inverter[{i}].model: {exc}") from None
            if not model.is_hybrid and inv.plant.battery_kwh:
                raise InstallationError(
                    f"inverter[{i}].battery_kwh: only hybrid (SH/MG) models take a battery, "
                    f"and {model.name} is a string inverter (give 0 or leave it out)")
            _check_settings_from(f"inverter[{i}]", inv.plant.settings_from, model)
            if inv.has_sbr and inv.battery_unit == unit:
                raise InstallationError(
                    f"inverter[{i}].battery_unit: the inverter and its battery would both "
                    f"answer unit id {unit} on its endpoints; give the battery another unit "
                    "id 1..247 (or 0: not served on a unit of its own)")
        self._check_served_by()
        self.check_ports()

    def _check_served_by(self) -> None:
        """Inverters behind another's LAN port: it must have one, and every unit must differ."""
        units = self.units()
        answering: dict[int, dict[int, str]] = {}
        for i, inv in enumerate(self.inverters):
            host = i if inv.served_by is None else inv.served_by
            if inv.served_by is not None:
                target = self.inverters[host] if 0 <= host < len(self.inverters) else None
                if target is None or target.served_by is not None or "modbus" not in \
                        target.ports:
                    raise InstallationError(
                        f"inverter[{i + 1}] is served by inverter[{host + 1}], which has no "
                        "Modbus port of its own")
            seen = answering.setdefault(host, {})
            mine = [(units[i], f"inverter[{i + 1}]")]
            if inv.has_sbr and inv.battery_unit is not None:
                mine.append((inv.battery_unit, f"inverter[{i + 1}]'s battery"))
            for unit, name in mine:
                if unit in seen:
                    raise InstallationError(
                        f"{name} and {seen[unit]} would both answer unit id {unit} on "
                        f"inverter[{host + 1}].ports.modbus: give each its own unit")
                seen[unit] = name

    def check_ports(self, others: Mapping[str, int | None] | None = None) -> None:
        """Refuse two endpoints asking for one non-zero port (``others``: the server's own)."""
        seen: dict[int, str] = {}
        pairs: list[tuple[str, int | None]] = [(f"inverter[{i}].ports.{key}", port)
                 for i, inv in enumerate(self.inverters, start=1)
                 for key, port in inv.ports.items()]
        pairs += list((others or {}).items())
        for where, port in pairs:
            if port and port in seen:
                raise InstallationError(f"{where} = {port} collides with {seen[port]}: give "
                                        "each endpoint its own port (0 = any free port)")
            if port:
                seen[port] = where

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], kinds: Sequence[str], site: Site
                    ) -> InstallationSpec:
        """One stand-alone inverter from ``MockSungrowServer``'s per-device arguments."""
        plant = config.from_kwargs(PlantConfig, kwargs)
        # Every port argument is checked, served or not (a typo should not wait for the day
        # the front end is switched on).
        asked = {kind: checks.check_port(port_argument(kind),
                                         kwargs.get(port_argument(kind), default))
                 for kind, default in _DEFAULT_PORTS.items()}
        extra = {key: checks.check_optional_port(f"{key}_port", kwargs.get(f"{key}_port"))
                 for key in WINET_EXTRA_PORTS}
        ports = {kind: asked[kind] for kind in kinds}
        if "http" in kinds:
            ports.update((key, port) for key, port in extra.items() if port is not None)
        unit = checks.check_unit_id("unit_id", kwargs.get("unit_id", 1))
        battery_unit = kwargs.get("battery_unit_id", DEFAULT_BATTERY_UNIT_ID)
        if battery_unit is not None:
            checks.check_unit_id("battery_unit_id", battery_unit, or_none=True)
        spec = InverterSpec(
            plant=plant, unit=unit, battery_unit=battery_unit, ports=ports,
            modbus=config.from_kwargs(ModbusConfig, kwargs),
            sungrow=config.from_kwargs(EncryptedConfig, kwargs),
            winet=config.from_kwargs(WinetConfig, kwargs),
            rtu=config.from_kwargs(RtuConfig, kwargs),
        )
        return cls((spec,), site)


#: The port each of an inverter's front ends listens on unless told (``<kind>_port=``).
_DEFAULT_PORTS: dict[str, int] = {name: fe.default_port for name, fe in FRONT_ENDS.items()
                                  if fe.per_device and fe.default_port is not None}
