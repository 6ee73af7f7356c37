"""Setting a device up for a test, as data: what ``POST /plant`` and a scenario's ``plant`` take.

The Python API sets a test's scene with calls (``server.set_battery_soc(40)``,
``server.plant.set_power_limit(1000)``, ``device.stop()``...). A test in another process does
the same with the control API's ``POST /plant``, and a scenario file with a ``plant`` step; both
take a :class:`PlantSetup`, so they accept the same fields, refuse with the same messages and
act the same way. Every field is checked, against the device as well, before any is applied:
a refused set-up changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_sungrow.plant.commands import (
    Command,
    SetExportLimit,
    SetPowerFactor,
    SetPowerLimit,
    finite_number,
)
from mock_sungrow.plant.weather import MAX_CLOUD_FACTOR

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device

#: The fields a set-up takes, in the order they are applied.
FIELDS = ("action", "cloud_factor", "battery_soc", "grid", "power_limit_w", "export_limit_w",
          "power_factor")
#: The clear-sky share a number may set (``"random"`` and walks are start-up options only).
CLOUD_RANGE = (0.0, MAX_CLOUD_FACTOR)


class SetupError(ValueError):
    """A set-up field is malformed or out of range (the message names it)."""


class NoBatteryError(SetupError):
    """A set-up asks for a battery state on a device without a battery."""


@dataclass(frozen=True)
class PlantSetup:
    """A checked set-up: each field ``None`` when not asked for."""

    action: str | None = None
    cloud_factor: float | None = None
    battery_soc: float | None = None
    grid: str | None = None
    #: The plant setting commands (power limit, export limit, power factor).
    commands: tuple[Command, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PlantSetup:
        """Check every field's type and range (:class:`SetupError` for the first bad one)."""
        if not isinstance(data, Mapping):
            raise SetupError(f"a plant set-up is an object with one or more of "
                             f"{', '.join(FIELDS)}; got {data!r}")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise SetupError(f"unknown field(s) {', '.join(map(repr, unknown))}; accepted: "
                             f"{', '.join(FIELDS)}")
        if not data:
            raise SetupError(f"give at least one of {', '.join(FIELDS)}")
        action = data.get("action")
        if action is not None and action not in ("start", "stop"):
            raise SetupError(f"action must be 'start' or 'stop'; got {action!r}")
        grid = data.get("grid")
        if grid is not None and grid not in ("up", "down"):
            raise SetupError(f"grid must be 'up' or 'down'; got {grid!r}")
        cloud: Any = data.get("cloud_factor")
        low, high = CLOUD_RANGE
        if "cloud_factor" in data and not (finite_number(cloud) and low <= cloud <= high):
            raise SetupError(f"cloud_factor must be a number {low:g}..{high:g}; got {cloud!r}")
        soc: Any = data.get("battery_soc")
        if "battery_soc" in data and not (finite_number(soc) and 0 <= soc <= 100):
            raise SetupError(f"battery_soc must be a percentage 0..100; got {soc!r}")
        return cls(action=action, grid=grid,
                   cloud_factor=None if cloud is None else float(cloud),
                   battery_soc=None if soc is None else float(soc),
                   commands=_setting_commands(data))

    def check(self, device: Device) -> None:
        """Refuse what ``device`` cannot do (no battery, a limit its settings refuse)."""
        plant = device.plant
        if self.battery_soc is not None and plant.battery is None:
            raise NoBatteryError(f"{device.id} ({plant.model.name}) has no battery")
        try:
            for command in self.commands:
                command.check(plant)
        except ValueError as exc:
            raise SetupError(str(exc)) from None

    def apply(self, device: Device) -> None:
        """Check, then carry out every field (start/stop through the start/stop register).

        A start or stop is written as a client writes it, so it is refused as a client's
        write would be (:class:`~mock_sungrow.errors.ModbusError`) before anything else acts.
        """
        self.check(device)
        plant = device.plant
        if self.action is not None:
            device.start() if self.action == "start" else device.stop()
        if self.commands:
            plant.execute(*self.commands)
        if self.cloud_factor is not None:
            plant.set_cloud_factor(self.cloud_factor)
        if self.battery_soc is not None:
            device.set_battery_soc(self.battery_soc)
        if self.grid is not None:
            plant.set_grid_outage(self.grid == "down")


def _setting_commands(data: Mapping[str, Any]) -> tuple[Command, ...]:
    """The setting commands asked for (their ranges are checked against the plant later)."""
    commands: list[Command] = []
    for name, command in (("power_limit_w", SetPowerLimit), ("export_limit_w", SetExportLimit)):
        if name in data:
            watts = data[name]
            if watts is not None and not finite_number(watts):
                raise SetupError(f"{name} must be a power in W (>= 0), or null for no limit; "
                                 f"got {watts!r}")
            commands.append(command(None if watts is None else float(watts)))
    if "power_factor" in data:
        pf = data["power_factor"]
        if not finite_number(pf):
            raise SetupError(f"power_factor must be a number with 0.8 <= |PF| <= 1; got {pf!r}")
        commands.append(SetPowerFactor(float(pf)))
    return tuple(commands)
