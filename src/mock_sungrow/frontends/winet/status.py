"""The dongle's summary flags and power adjustment, from the inverter's registers.

``state`` says whether the inverter has a fault or an alarm (``total_fault``, ``total_alarm``) and
``statistics`` how far its output is limited (``adjust_power``). A real WiNet-S derives them from
what it polls, so here they are read through the device's data blocks like every other value
(:class:`~mock_sungrow.frontends.winet.payloads.Registers`): an ``inverter-fault``, a pinned
register, a limit write or a word fault on those registers shows in them as on Modbus.

Which registers count is a choice (no capture shows the firmware's rule): string inverters
report one code in 5045, an alarm when it is in the protocol's alarm groups (spec B.5), a fault
otherwise, plus the work state (5038: 0x5500 fault, 0x9100 alarm run). Hybrids report bit
fields in 13050-13079: the ``*_alarm`` words and BMS protection are alarms, the ``*_fault``
words faults; a word reading 0xFFFF is "not available" (the high word of BMS alarm 2 does so
on real units) and counts as nothing.
"""

from __future__ import annotations

from mock_sungrow.device.states import RUNNING_STATE, WORK_STATE_1
from mock_sungrow.device.writes import SWITCH_ON
from mock_sungrow.errors import ModbusError
from mock_sungrow.frontends.winet.payloads import Registers, fmt
from mock_sungrow.plant.snapshot import Mode

#: String-inverter codes (input 5045) the protocol lists as alarms (spec B.5): "system alarm"
#: and the named alarm groups. Every other non-zero code is a fault.
ALARM_CODES = frozenset({
    59, 70, 71, 72, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 89, 514,
    216, 217, 218, *range(220, 232), *range(332, 364), 432, 433, 434,
    *range(500, 514), *range(515, 519), *range(532, 596), *range(635, 639),
    900, 901, 910, 911,
})
WORK_STATE_FAULT = WORK_STATE_1[Mode.FAULT]
WORK_STATE_ALARM_RUN = 0x9100
RUNNING_STATE_FAULT = RUNNING_STATE[Mode.FAULT]
#: Hybrid fault and alarm words (input 13050-13079, U32 bit fields; SHproto V1.1.9).
HYBRID_FAULT_WORDS = (
    "grid_side_fault", "system_fault_1", "system_fault_2", "dc_side_fault", "permanent_fault",
    "bdc_side_fault", "bdc_side_permanent_fault", "battery_fault", "bms_fault_1", "bms_fault_2",
)
HYBRID_ALARM_WORDS = ("inverter_alarm", "battery_alarm", "bms_alarm", "bms_protection",
                      "bms_alarm_2")
#: The power limitation: (switch, ratio in 0.1 %) for string inverters and hybrids.
STRING_LIMIT = ("power_limitation_switch", "power_limitation_setting")
HYBRID_LIMIT = ("active_power_limitation", "active_power_limit_ratio")


async def _raw(regs: Registers, name: str) -> list[int]:
    """The words of a named input row (none when the model lacks it or the read fails)."""
    row = regs.row(name)
    if row is None:
        return []
    try:
        return await regs.words("input", row.address, row.words)
    except ModbusError:
        return []


async def _any_bits(regs: Registers, names: tuple[str, ...]) -> bool:
    for name in names:
        if any(w not in (0, 0xFFFF) for w in await _raw(regs, name)):
            return True
    return False


async def fault_and_alarm(regs: Registers) -> tuple[bool, bool]:
    """Whether the inverter reports a fault, and whether it reports an alarm."""
    if regs.device.catalog_model.is_hybrid:
        state = await regs.value("running_state")
        fault = state == RUNNING_STATE_FAULT or await _any_bits(regs, HYBRID_FAULT_WORDS)
        return fault, await _any_bits(regs, HYBRID_ALARM_WORDS)
    code = await regs.value("fault_code_1")
    code = code if isinstance(code, int) and code not in (0, 0xFFFF) else 0
    state = await regs.value("work_state_1")
    fault = (code != 0 and code not in ALARM_CODES) or state == WORK_STATE_FAULT
    alarm = code in ALARM_CODES or state == WORK_STATE_ALARM_RUN
    return fault, alarm


async def adjust_power(regs: Registers) -> str:
    """``adjust_power``: the active-power limit in % of rating (100.0 when not limited)."""
    switch_name, ratio_name = HYBRID_LIMIT if regs.device.catalog_model.is_hybrid else STRING_LIMIT
    switch = await regs.value(switch_name, "holding")
    ratio = await regs.value(ratio_name, "holding")
    if switch == SWITCH_ON and isinstance(ratio, int | float):
        return fmt(ratio, 1)
    return fmt(100.0, 1)
