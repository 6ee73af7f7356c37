"""Holding-register writes: validated against the map, decoded into plant commands.

A client's write goes through three steps, all under the plant's lock so it is all or nothing:

1. :func:`validate_write` checks every word against the model's map and ``holding.csv``
   (:mod:`mock_sungrow.device.limits`): a register the model cannot write is exception 2, a
   value out of range exception 4, before anything changes;
2. :func:`decode_write` finds the setting groups the write touches and decodes each one, from
   the device's holding memory with the new words in it, into a plant command in engineering
   units (:mod:`mock_sungrow.plant.commands`): one decoder per group, below;
3. the device stores the words (reads return what was written, as a real unit stores its
   settings) and the plant executes the commands, which it checks again before applying any.

The words that mean something (0xAA "on", 0xCF "start", EMS mode 3 "external"...) are defined
here and nowhere else; the plant only knows what they mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mock_sungrow.errors import ExceptionCode, ModbusError
from mock_sungrow.plant.commands import (
    Command,
    ConfigureEms,
    EmergencyStop,
    EmsHeartbeat,
    PlantSettings,
    SetClock,
    SetExportLimit,
    SetPowerFactor,
    SetPowerLimit,
    SettingCommand,
    Start,
    Stop,
)
from mock_sungrow.plant.ems import EVERY_DAY, BatteryCommand, ChargeWindow, EmsMode, EmsSettings

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import InverterModel
    from mock_sungrow.device.registermap import RegisterMap

#: A switch register's "on" and "off" words (SGproto / SHproto, every enable register).
SWITCH_ON = 0xAA
SWITCH_OFF = 0x55
#: The start/stop register's commands (5006 on string inverters, 13000 on hybrids).
START_VALUE = 0xCF
STOP_VALUE = 0xCE
EMERGENCY_STOP_VALUE = 0xBB
#: The word a real unit reads at a setting its firmware leaves unset (holding 13001 and
#: 13017 on the recorded SH8.0RT-20): kept as recorded by
#: :meth:`~mock_sungrow.device.bank.RegisterBank.load_settings`, though no client may write it.
UNSET = 0xFFFF
#: Documented addresses of the system clock (year, month, day, hour, minute, second).
CLOCK = range(5000, 5006)
#: EMS mode words (holding 13050, SHproto V1.1.9 appendix 6) and the battery command (13051).
EMS_MODE_WORDS: dict[int, EmsMode] = {
    0: EmsMode.SELF_CONSUMPTION,
    2: EmsMode.FORCED,
    3: EmsMode.EXTERNAL,
    4: EmsMode.VPP,
    8: EmsMode.MICROGRID,
}
COMMAND_WORDS: dict[int, BatteryCommand] = {
    0xAA: BatteryCommand.CHARGE,
    0xBB: BatteryCommand.DISCHARGE,
    0xCC: BatteryCommand.STOP,
}
EMS_EXTERNAL_WORD = 3
HEARTBEAT = 13080


def start_stop_address(model: InverterModel) -> int:
    """The start/stop register of ``model``'s family."""
    return 13000 if model.is_hybrid else 5006


def clock_with(current: datetime, words: Mapping[int, int]) -> datetime:
    """``current`` with some clock registers (documented 5000-5005: Y M D h m s) replaced.

    Raises :class:`ValueError` for an impossible date such as 30 February.
    """
    f = [current.year, current.month, current.day, current.hour, current.minute, current.second]
    for addr, word in words.items():
        f[addr - CLOCK.start] = word
    return datetime(f[0], f[1], f[2], f[3], f[4], f[5], tzinfo=current.tzinfo)


def validate_write(regmap: RegisterMap, address: int, words: Sequence[int], now: datetime
                   ) -> dict[int, int]:
    """Check a holding write (documented address) and return ``{address: word}``.

    Raises :class:`ModbusError` 2 for a register the model cannot write (read-only,
    undefined, or the second half of a 32-bit value) and 4 for a value out of range,
    before anything is applied: a write is all or nothing.
    """
    values: dict[int, int] = {}
    for offset, word in enumerate(words):
        addr = address + offset
        row = regmap.holding_row(addr)
        limit = regmap.holding_limits.get(addr)
        if row is None or limit is None:
            raise ModbusError(
                ExceptionCode.ILLEGAL_ADDRESS,
                f"holding register {addr} is not writable on {regmap.name}",
            )
        if row.address < address or row.end > address + len(words):
            raise ModbusError(
                ExceptionCode.ILLEGAL_ADDRESS,
                f"a write must cover all of {row.name} ({row.address}-{row.end - 1})",
            )
        problem = limit.check(word)
        if problem is not None:
            raise ModbusError(ExceptionCode.DEVICE_FAILURE, problem)
        values[addr] = word
    clock = {a: v for a, v in values.items() if a in CLOCK}
    if clock:
        try:
            clock_with(now, clock)
        except ValueError as exc:
            raise ModbusError(
                ExceptionCode.DEVICE_FAILURE, f"invalid clock setting {clock}: {exc}"
            ) from None
    return values


# ----------------------------------------------------------------------------- decoders

#: Decodes one setting group: (holding memory with the write in it, the words written, the
#: model, the plant's local time) -> the commands it means.
Decoder = Callable[[Mapping[int, int], Mapping[int, int], "InverterModel", datetime],
                   "list[Command]"]


@dataclass(frozen=True)
class SettingGroup:
    """Registers that together mean one thing to the plant, and their decoder."""

    name: str
    addresses: frozenset[int]
    decode: Decoder
    #: An event (a command, the clock, a heartbeat) rather than a setting: it happens when
    #: written and means nothing about the state a fresh device starts in.
    event: bool = False


def _s16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def _clock(h: Mapping[int, int], written: Mapping[int, int], model: InverterModel,
           now: datetime) -> list[Command]:
    words = {a: v for a, v in written.items() if a in CLOCK}
    return [SetClock(clock_with(now, words))]


def _start_stop(h: Mapping[int, int], written: Mapping[int, int], model: InverterModel,
                now: datetime) -> list[Command]:
    word = written.get(start_stop_address(model))
    if word == START_VALUE:
        return [Start()]
    if word == STOP_VALUE:
        return [Stop()]
    return [EmergencyStop()] if word == EMERGENCY_STOP_VALUE else []


def _string_power_limit(h: Mapping[int, int], written: Mapping[int, int],
                        model: InverterModel, now: datetime) -> list[Command]:
    """5007 on/off, 5008 in 0.1 % of rating, and the 5039 ceiling in 0.1 kW."""
    if h.get(5007, SWITCH_ON) != SWITCH_ON:
        return [SetPowerLimit(None)]
    limit = model.rated_power_w * h.get(5008, 1000) / 1000.0
    if 5039 in h:
        limit = min(limit, h[5039] * 100.0)
    return [SetPowerLimit(max(0.0, limit))]


def _hybrid_power_limit(h: Mapping[int, int], written: Mapping[int, int],
                        model: InverterModel, now: datetime) -> list[Command]:
    """13089 on/off and 13090 in 0.1 % of rating."""
    if h.get(13089) != SWITCH_ON:
        return [SetPowerLimit(None)]
    return [SetPowerLimit(model.rated_power_w * h.get(13090, 1000) / 1000.0)]


def _export_limit(switch: int, watts: int, ratio: int) -> Decoder:
    """A feed-in limit: a switch, a value in W and a share of the rating in 0.1 %."""

    def decode(h: Mapping[int, int], written: Mapping[int, int], model: InverterModel,
               now: datetime) -> list[Command]:
        if h.get(switch) != SWITCH_ON:
            return [SetExportLimit(None)]
        rated = model.rated_power_w
        share = h.get(ratio, 1000) / 1000.0 * rated
        return [SetExportLimit(min(float(h.get(watts, rated)), share))]

    return decode


def _power_factor(h: Mapping[int, int], written: Mapping[int, int], model: InverterModel,
                  now: datetime) -> list[Command]:
    """5019: the power factor in 0.001, signed."""
    return [SetPowerFactor(_s16(h.get(5019, 1000)) / 1000.0)]


def _watts_or_none(word: int | None, scale: float) -> float:
    return math.inf if word is None else word * scale


def ems_settings(h: Mapping[int, int]) -> EmsSettings:
    """A hybrid's EMS settings from its holding words (absent ones take protocol defaults).

    13050 mode, 13051 command, 13052 power (W), 13058/13059 SoC window (0.1 %), 13100 backup
    reserve (%), 33047/33048 charge/discharge limits (0.01 kW), 33149/33150 (or the older
    13084/13085) start powers (10 W), 33208-33219 the forced-charge schedule, 33209 its
    weekdays (bit 0 = Monday; 0 = every day: the protocol names the register "valid time"
    without defining the bits, this reading is an assumption).
    """
    windows: tuple[ChargeWindow, ...] = ()
    if h.get(33208) == SWITCH_ON:
        windows = tuple(
            ChargeWindow(
                start_min=h.get(base, 0) * 60 + h.get(base + 1, 0),
                end_min=h.get(base + 2, 0) * 60 + h.get(base + 3, 0),
                target_soc_pct=float(h.get(base + 4, 100)),
            )
            for base in (33210, 33215)
        )
    days = h.get(33209, 0)
    start_c = h.get(33149, h.get(13084, 10)) * 10.0
    start_d = h.get(33150, h.get(13085, 10)) * 10.0
    return EmsSettings(
        mode=EMS_MODE_WORDS.get(h.get(13050, 0), EmsMode.SELF_CONSUMPTION),
        command=COMMAND_WORDS.get(h.get(13051, 0xCC), BatteryCommand.STOP),
        command_w=float(h.get(13052, 0)),
        max_soc_pct=h.get(13058, 1000) / 10.0,
        min_soc_pct=h.get(13059, 50) / 10.0,
        reserve_soc_pct=float(h.get(13100, 0)),
        charge_limit_w=_watts_or_none(h.get(33047), 10.0),
        discharge_limit_w=_watts_or_none(h.get(33048), 10.0),
        schedule=windows,
        schedule_weekdays=frozenset(d for d in range(7) if days & (1 << d)) or EVERY_DAY,
        start_charge_w=start_c if start_c < 10_000 else 100.0,
        start_discharge_w=start_d if start_d < 10_000 else 100.0,
    )


def _ems(h: Mapping[int, int], written: Mapping[int, int], model: InverterModel,
         now: datetime) -> list[Command]:
    return [ConfigureEms(ems_settings(h))]


def _heartbeat(h: Mapping[int, int], written: Mapping[int, int], model: InverterModel,
               now: datetime) -> list[Command]:
    """Any write of 13080, or switching to external EMS (13050 = 3), is a heartbeat."""
    if HEARTBEAT in written or written.get(13050) == EMS_EXTERNAL_WORD:
        return [EmsHeartbeat()]
    return []


_EMS_ADDRESSES = frozenset({13050, 13051, 13052, 13058, 13059, 13084, 13085, 13100,
                            33047, 33048, 33149, 33150, *range(33208, 33220)})
_CLOCK = SettingGroup("clock", frozenset(CLOCK), _clock, event=True)
#: Each family's setting groups, in the order their commands are applied: settings first,
#: then the heartbeat, the clock and the start/stop command (a start then sees the new limits).
GROUPS: dict[str, tuple[SettingGroup, ...]] = {
    "string": (
        SettingGroup("power limit", frozenset({5007, 5008, 5039}), _string_power_limit),
        SettingGroup("export limit", frozenset({5010, 5011, 5015}),
                     _export_limit(5010, 5011, 5015)),
        SettingGroup("power factor", frozenset({5019}), _power_factor),
        _CLOCK,
        SettingGroup("start/stop", frozenset({5006}), _start_stop, event=True),
    ),
    "hybrid": (
        SettingGroup("power limit", frozenset({13089, 13090}), _hybrid_power_limit),
        SettingGroup("export limit", frozenset({13087, 13074, 13088}),
                     _export_limit(13087, 13074, 13088)),
        SettingGroup("EMS settings", _EMS_ADDRESSES, _ems),
        SettingGroup("EMS heartbeat", frozenset({HEARTBEAT, 13050}), _heartbeat, event=True),
        _CLOCK,
        SettingGroup("start/stop", frozenset({13000}), _start_stop, event=True),
    ),
}


def decode_write(model: InverterModel, holding: Mapping[int, int], written: Mapping[int, int],
                 now: datetime) -> list[Command]:
    """The commands a validated write means: each group it touches, decoded once.

    ``holding`` is the device's memory before the write; the groups are decoded from it with
    ``written`` applied, so a write of one register of a group keeps the others' values.
    """
    merged = {**holding, **written}
    touched = written.keys()
    commands: list[Command] = []
    for group in GROUPS[model.family]:
        if not group.addresses.isdisjoint(touched):
            commands.extend(group.decode(merged, written, model, now))
    return commands


def initial_settings(model: InverterModel, holding: Mapping[int, int]) -> PlantSettings:
    """The plant settings a device's holding memory means when it is built (its defaults)."""
    settings = PlantSettings()
    now = datetime(2000, 1, 1)  # unused: only the clock (an event) reads it
    for group in GROUPS[model.family]:
        if group.event:
            continue
        for command in group.decode(holding, {}, model, now):
            if isinstance(command, SettingCommand):
                settings = command.update(settings)
    return settings
