"""What the plant can be told, in engineering units: its commands and its settings.

A command is a small frozen value (:class:`Start`, :class:`SetPowerLimit`,
:class:`ConfigureEms`...). :meth:`~mock_sungrow.plant.state.PlantState.execute` checks every
command it is given before it applies any of them, and applies them together under the plant's
lock, so a client's write that changes several settings is all or nothing. The plant never
sees a register: which words carry which command is the device layer's business
(:mod:`mock_sungrow.device.writes`), and the Python API sends the same commands.

:class:`PlantSettings` is what the setting commands change: limits, power factor and the
energy manager's settings. A plant starts from the settings its device decodes from the
holding registers' defaults, so a fresh plant and a fresh device agree.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from mock_sungrow.clock import EARLIEST, LATEST, MAX_CLOCK_SHIFT_S, check_time, iso_date
from mock_sungrow.plant.ems import EmsSettings

if TYPE_CHECKING:
    from mock_sungrow.plant.state import PlantState


def finite_number(value: object) -> bool:
    """A finite int or float, not a bool (JSON's ``true`` is no number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class PlantSettings:
    """The plant's settings: output limits, power factor, energy management.

    ``power_limit_w``: the active-power ceiling (``None``: the rating); ``export_limit_w``:
    the feed-in limit at the grid connection (``None``: not limited); ``power_factor``: the
    set-point, signed (negative: the inverter absorbs reactive power), at least 0.8 in
    magnitude.
    """

    power_limit_w: float | None = None
    export_limit_w: float | None = None
    power_factor: float = 1.0
    ems: EmsSettings = field(default_factory=EmsSettings)

    def problems(self) -> list[str]:
        """Why these settings cannot be applied (empty when they can)."""
        out = []
        for name in ("power_limit_w", "export_limit_w"):
            value = getattr(self, name)
            if value is not None and not (finite_number(value) and value >= 0):
                out.append(f"{name} must be a power >= 0 W or None; got {value!r}")
        pf = self.power_factor
        if not (finite_number(pf) and 0.8 <= abs(pf) <= 1.0):
            out.append(f"power_factor must satisfy 0.8 <= |PF| <= 1; got {pf!r}")
        out.extend(self.ems.problems())
        return out


class Command:
    """One thing the plant is told. :meth:`check` raises, :meth:`apply` changes the plant."""

    __slots__ = ()

    def check(self, plant: PlantState) -> None:
        """Raise :class:`ValueError` if the command cannot be carried out (nothing changes)."""

    def apply(self, plant: PlantState) -> None:
        """Carry the command out (under the plant's lock, after every command was checked)."""
        raise NotImplementedError


class SettingCommand(Command):
    """A command that changes :class:`PlantSettings` (and nothing else)."""

    __slots__ = ()

    def update(self, settings: PlantSettings) -> PlantSettings:
        """``settings`` with this command's change."""
        raise NotImplementedError

    def check(self, plant: PlantState) -> None:
        """The settings this command leads to must be valid."""
        problems = self.update(plant.plant_settings).problems()
        if problems:
            raise ValueError("; ".join(problems))

    def apply(self, plant: PlantState) -> None:
        """Replace the plant's settings."""
        plant._configure(self.update(plant.plant_settings))


@dataclass(frozen=True, slots=True)
class SetPowerLimit(SettingCommand):
    """Limit the active power to ``watts`` (``None``: no limit beyond the rating)."""

    watts: float | None

    def update(self, settings: PlantSettings) -> PlantSettings:
        """See :class:`SettingCommand`."""
        return dataclasses.replace(settings, power_limit_w=self.watts)


@dataclass(frozen=True, slots=True)
class SetExportLimit(SettingCommand):
    """Limit what flows into the grid to ``watts`` (``None``: no feed-in limit)."""

    watts: float | None

    def update(self, settings: PlantSettings) -> PlantSettings:
        """See :class:`SettingCommand`."""
        return dataclasses.replace(settings, export_limit_w=self.watts)


@dataclass(frozen=True, slots=True)
class SetPowerFactor(SettingCommand):
    """Run at power factor ``pf`` (signed; ``|pf|`` 0.8..1)."""

    pf: float

    def update(self, settings: PlantSettings) -> PlantSettings:
        """See :class:`SettingCommand`."""
        return dataclasses.replace(settings, power_factor=self.pf)


@dataclass(frozen=True, slots=True)
class ConfigureEms(SettingCommand):
    """Give the energy manager new settings (a hybrid's EMS mode, limits, schedule...)."""

    settings: EmsSettings

    def update(self, settings: PlantSettings) -> PlantSettings:
        """See :class:`SettingCommand`."""
        return dataclasses.replace(settings, ems=self.settings)


@dataclass(frozen=True, slots=True)
class Start(Command):
    """The start command: a stopped inverter goes to standby and starts when the sun allows.

    A start does not clear a fault: the inverter restarts once the fault is gone.
    """

    def apply(self, plant: PlantState) -> None:
        """See :class:`Command`."""
        plant._start()


@dataclass(frozen=True, slots=True)
class Stop(Command):
    """The stop command: the AC relay opens at once, output falls to zero."""

    def apply(self, plant: PlantState) -> None:
        """See :class:`Command`."""
        plant._stop(emergency=False)


@dataclass(frozen=True, slots=True)
class EmergencyStop(Command):
    """An emergency stop (hybrids): like a stop, shown as its own state."""

    def apply(self, plant: PlantState) -> None:
        """See :class:`Command`."""
        plant._stop(emergency=True)


@dataclass(frozen=True, slots=True)
class SetClock(Command):
    """Set the inverter's own clock (a naive datetime is the site's local time)."""

    when: datetime

    def check(self, plant: PlantState) -> None:
        """See :class:`Command`."""
        if not isinstance(self.when, datetime):
            raise ValueError(f"the clock is set to a datetime; got {self.when!r}")  # noqa: TRY004
        when = self.when if self.when.tzinfo is not None else self.when.replace(tzinfo=plant.tz)
        try:
            target = check_time(when.timestamp(), "the inverter clock")
        except (OverflowError, OSError):
            raise ValueError(f"the inverter clock must stay between {iso_date(EARLIEST)} and "
                             f"{iso_date(LATEST)}; got {self.when.isoformat()}") from None
        except ValueError:
            raise ValueError(f"the inverter clock must stay between {iso_date(EARLIEST)} and "
                             f"{iso_date(LATEST)}; got {self.when.isoformat()}") from None
        if abs(target - plant.clock.time()) > MAX_CLOCK_SHIFT_S:
            raise ValueError(f"the inverter clock may be set at most 900 years from the server "
                             f"clock; got {self.when.isoformat()}")

    def apply(self, plant: PlantState) -> None:
        """See :class:`Command`."""
        plant._set_clock(self.when)


@dataclass(frozen=True, slots=True)
class EmsHeartbeat(Command):
    """The external EMS is alive: its commands stay in force for another timeout."""

    def apply(self, plant: PlantState) -> None:
        """See :class:`Command`."""
        plant._heartbeat()
