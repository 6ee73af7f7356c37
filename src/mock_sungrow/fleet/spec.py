"""What a fleet file describes: groups of sites, each site an installation of its own.

A fleet file (TOML or YAML) lists ``[[group]]`` tables; each group is ``count`` sites of one
``model`` with the same endpoints::

    [[group]]
    count = 600
    model = "SG5K-D"
    ports = { modbus = 0 }        # 0: any free port; a base port: 20000, 20001, ... per site
    [[group]]
    count = 400
    model = "SH10RT"
    ports = { modbus = 0, http = 0 }

Every site gets its own seed (the fleet's ``seed`` plus its inverter's position in the file,
or the group's ``seed`` plus its position in the group), its own serial (unique in the file:
its last six digits are that position), optionally its own place (``location_spread_km``
around the group's ``latitude``/``longitude``) and its own clouds (``cloud_factor`` as a
``[low, high]`` range, or ``"random"``: a seeded walk per site). ``units = N`` puts N
inverters behind one Modbus port on units 1..N, as a data logger serves them.

The file is checked whole before anything is built or bound: a mistake is a
:class:`FleetError` naming the group (``group[2]``, counted from 1), the key and what is
accepted. :meth:`FleetSpec.shard` picks shard ``i`` of ``n`` of the sites, deterministically
(contiguous runs of the file's order), so ``n`` processes serve the file between them with the
same ids, serials, seeds and ports as one process would.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mock_sungrow import checks
from mock_sungrow.installation.files import load_document
from mock_sungrow.installation.spec import (
    InstallationError,
    InstallationSpec,
    InverterSpec,
)
from mock_sungrow.plant.physics import Site

#: Keys of a ``[[group]]`` that are the fleet's (the rest are an ``[[inverter]]``'s).
_GROUP_KEYS = ("count", "name", "units", "seed", "latitude", "longitude", "timezone",
               "location_spread_km", "cloud_factor")
#: Keys of an ``[[inverter]]`` a group passes on to each of its inverters.
_INVERTER_KEYS = ("model", "tick", "meter", "battery_kwh", "battery_make", "house_load",
                  "battery_unit", "ports", "modbus", "sungrow", "winet")
_TOP_KEYS = ("group", "seed", "latitude", "longitude", "timezone", "request_log_size")
#: Serials end in the inverter's six-digit position in the file.
MAX_INVERTERS = 1_000_000
#: Requests each site's log keeps by default (a single server keeps 100 000; ten thousand
#: sites polled all day would hold gigabytes).
DEFAULT_SITE_LOG = 100
_KM_PER_DEGREE = 111.32


class FleetError(ValueError):
    """A fleet file is invalid; the message names the group, the key and what is accepted."""


def _unknown(where: str, keys: Sequence[str], accepted: Sequence[str]) -> None:
    for key in keys:
        if key not in accepted:
            close = difflib.get_close_matches(str(key), accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise FleetError(f"{where}: unknown key {key!r}{hint}; accepted: "
                             + ", ".join(accepted))


def _int(where: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FleetError(f"{where} must be an integer {low}..{high}; got {value!r}")
    return value


def _number(where: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            low <= value <= high):
        raise FleetError(f"{where} must be a number {low:g}..{high:g}; got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SiteSpec:
    """One site of a fleet: its id, its group and the installation it serves."""

    id: str
    index: int
    group: str
    installation: InstallationSpec

    @property
    def model(self) -> str:
        """The model of its inverters."""
        return self.installation.inverters[0].plant.model

    @property
    def serials(self) -> list[str]:
        """Its inverters' serials."""
        return [inv.plant.serial or "" for inv in self.installation.inverters]


@dataclass(frozen=True)
class GroupSpec:
    """A ``[[group]]``: ``count`` sites built from one inverter template."""

    name: str
    count: int
    units: int
    template: InverterSpec
    first_seed: int | None
    site: Site
    spread_km: float
    clouds: tuple[float, float] | None
    ports: Mapping[str, int]


@dataclass(frozen=True)
class FleetSpec:
    """A fleet file: its groups, in order, and what every site shares."""

    groups: tuple[GroupSpec, ...]
    seed: int = 0
    request_log_size: int = DEFAULT_SITE_LOG

    @classmethod
    def from_file(cls, path: str | Path) -> FleetSpec:
        """A fleet from a TOML or YAML file."""
        return cls.from_dict(load_document(path, FleetError, "fleet"), str(path))

    @classmethod
    def from_dict(cls, data: object, source: str = "fleet") -> FleetSpec:
        """A fleet from a file's data (``source`` names the file in messages)."""
        if not isinstance(data, Mapping):
            raise FleetError(f"{source} must be a table of keys; got {data!r}")
        _unknown(source, list(data), _TOP_KEYS)
        groups = data.get("group")
        if not isinstance(groups, list) or not groups:
            raise FleetError(f"{source}: expected at least one [[group]] table (group: a list "
                             "in YAML)")
        seed = _int(f"{source}: seed", data.get("seed", 0), -(2**62), 2**62)
        log = _int(f"{source}: request_log_size", data.get("request_log_size",
                                                          DEFAULT_SITE_LOG), 1, 1_000_000)
        try:
            site = checks.resolve_site(None, data.get("latitude"), data.get("longitude"),
                                       data.get("timezone"))
        except ValueError as exc:
            raise FleetError(f"{source}: {exc}") from None
        names: set[str] = set()
        specs = []
        for n, group in enumerate(groups, start=1):
            spec = _group(f"group[{n}]", group, n, site)
            if spec.name in names:
                raise FleetError(f"group[{n}].name: {spec.name!r} is another group's name too: "
                                 "give each group its own")
            names.add(spec.name)
            specs.append(spec)
        fleet = cls(tuple(specs), seed, log)
        fleet.check()
        return fleet

    @property
    def site_count(self) -> int:
        """How many sites the file describes."""
        return sum(g.count for g in self.groups)

    @property
    def inverter_count(self) -> int:
        """How many inverters the file describes."""
        return sum(g.count * g.units for g in self.groups)

    def check(self) -> None:
        """Refuse fleets too large for unique serials and base ports that collide or overflow."""
        if self.inverter_count > MAX_INVERTERS:
            raise FleetError(f"a fleet has at most {MAX_INVERTERS} inverters (serials end in "
                             f"their position); this one has {self.inverter_count}")
        taken: list[tuple[int, int, str]] = []
        for n, group in enumerate(self.groups, start=1):
            for kind, base in group.ports.items():
                if not base:
                    continue
                where = f"group[{n}].ports.{kind}"
                last = base + group.count - 1
                if last > 65535:
                    raise FleetError(f"{where} = {base}: {group.count} sites need ports "
                                     f"{base}..{last}, beyond 65535")
                for lo, hi, other in taken:
                    if base <= hi and lo <= last:
                        raise FleetError(f"{where} = {base}: ports {base}..{last} overlap "
                                         f"{other} ({lo}..{hi}): give each a range of its own")
                taken.append((base, last, where))

    def sites(self) -> list[SiteSpec]:
        """Every site, in file order (ids, serials, seeds and ports do not depend on shards)."""
        return self.shard(0, 1)

    def shard(self, index: int, count: int) -> list[SiteSpec]:
        """Sites ``[index * T // count, (index + 1) * T // count)`` of the file's ``T``."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise FleetError(f"a shard count is an integer >= 1; got {count!r}")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise FleetError(f"shard index must be 0..{count - 1}; got {index!r}")
        total = self.site_count
        lo, hi = index * total // count, (index + 1) * total // count
        out: list[SiteSpec] = []
        first_site = first_inverter = 0
        for group in self.groups:
            end = first_site + group.count
            for k in range(max(lo, first_site), min(hi, end)):
                inverter = first_inverter + (k - first_site) * group.units
                out.append(self._site(group, k, k - first_site, inverter))
            first_site = end
            first_inverter += group.count * group.units
        return out

    def _site(self, group: GroupSpec, index: int, k: int, inverter: int) -> SiteSpec:
        """Site ``k`` (0-based) of ``group``, the ``index``-th of the file."""
        base_seed = self.seed + inverter if group.first_seed is None \
            else group.first_seed + k * group.units
        rng = random.Random(f"mock-sungrow-site/{base_seed}")
        site = group.site
        if group.spread_km > 0:
            distance = group.spread_km * math.sqrt(rng.random())
            bearing = rng.uniform(0, 2 * math.pi)
            dlat = distance * math.cos(bearing) / _KM_PER_DEGREE
            cos_lat = max(math.cos(math.radians(site.latitude)), 0.01)
            dlon = distance * math.sin(bearing) / (_KM_PER_DEGREE * cos_lat)
            site = Site(latitude=max(-90.0, min(90.0, site.latitude + dlat)),
                        longitude=(site.longitude + dlon + 180.0) % 360.0 - 180.0,
                        timezone=site.timezone)
        cloud = None if group.clouds is None else round(rng.uniform(*group.clouds), 4)
        ports = {kind: base + k if base else 0 for kind, base in group.ports.items()}
        inverters = []
        for unit in range(group.units):
            seed = base_seed + unit
            position = inverter + unit
            serial = f"A{22 + seed % 4}{seed % 52 + 1:02d}{position:06d}"
            plant = dataclasses.replace(group.template.plant, seed=seed, serial=serial)
            if cloud is not None:
                plant = dataclasses.replace(plant, cloud_factor=cloud)
            inverters.append(dataclasses.replace(
                group.template, plant=plant,
                ports=ports if unit == 0 else {},
                unit=unit + 1 if group.units > 1 else None,
                served_by=0 if unit else None))
        return SiteSpec(f"{group.name}-{k + 1}", index, group.name,
                        InstallationSpec(tuple(inverters), site))


def _group(where: str, data: object, n: int, fleet_site: Site) -> GroupSpec:
    if not isinstance(data, Mapping):
        raise FleetError(f"{where} must be a table of keys; got {data!r}")
    _unknown(where, list(data), (*_GROUP_KEYS, *_INVERTER_KEYS))
    if "count" not in data:
        raise FleetError(f"{where}: count is required (how many sites the group has)")
    count = _int(f"{where}.count", data["count"], 1, MAX_INVERTERS)
    name = data.get("name", f"g{n}")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name):
        raise FleetError(f"{where}.name must be a non-empty name of letters, digits, '-', '_' "
                         f"or '.'; got {name!r}")
    units = _int(f"{where}.units", data.get("units", 1), 1, 247)
    seed = data.get("seed")
    if seed is not None:
        seed = _int(f"{where}.seed", seed, -(2**62), 2**62)
    site = fleet_site
    if any(k in data for k in ("latitude", "longitude", "timezone")):
        try:
            site = checks.resolve_site(
                None, data.get("latitude", fleet_site.latitude),
                data.get("longitude", fleet_site.longitude),
                data.get("timezone", fleet_site.timezone))
        except ValueError as exc:
            raise FleetError(f"{where}: {exc}") from None
    spread = _number(f"{where}.location_spread_km", data.get("location_spread_km", 0), 0, 20_000)
    cloud = data.get("cloud_factor", 1.0)
    clouds: tuple[float, float] | None = None
    if isinstance(cloud, list):
        if len(cloud) != 2:
            raise FleetError(f"{where}.cloud_factor: a range is [low, high]; got {cloud!r}")
        low = _number(f"{where}.cloud_factor[1]", cloud[0], 0.0, 1.5)
        high = _number(f"{where}.cloud_factor[2]", cloud[1], low, 1.5)
        clouds, cloud = (low, high), 1.0
    inverter = {k: v for k, v in data.items() if k in _INVERTER_KEYS}
    inverter["cloud_factor"] = cloud
    if units > 1:
        extra = sorted(set(inverter.get("ports", {}) or {}) - {"modbus"}) \
            if isinstance(inverter.get("ports"), Mapping) else []
        if extra:
            raise FleetError(f"{where}.ports.{extra[0]}: a site of several units (units = "
                             f"{units}) is a data logger's Modbus port; give only ports.modbus")
        inverter.setdefault("battery_unit", 0)
    try:
        template = InverterSpec.from_dict(inverter, where)
        # The whole site checked once per group: models, batteries, units behind the port.
        probe = [dataclasses.replace(template, unit=u + 1 if units > 1 else None,
                                     served_by=0 if u else None,
                                     ports=template.ports if u == 0 else {})
                 for u in range(units)]
        InstallationSpec(tuple(probe), site).check()
    except InstallationError as exc:
        raise FleetError(str(exc).replace("inverter[1]", where)) from None
    return GroupSpec(name=name, count=count, units=units, template=template, first_seed=seed,
                     site=site, spread_km=spread, clouds=clouds, ports=dict(template.ports))
