"""The inverter's state words, encoded from the plant's mode and EMS regime.

Work state 1 and 2 (input 5038 and 5081, string inverters, SGproto B.5), the hybrids'
running state (input 13000) and their power-flow bits (input 13001). The plant knows only
:class:`~mock_sungrow.plant.snapshot.Mode` and :class:`~mock_sungrow.plant.ems.Regime`; these
tables say which word a real unit sends for each. :mod:`mock_sungrow.device.reads` maps the
register names to them, and the WiNet-S ``real`` service shows the same states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_sungrow.plant.ems import Regime
from mock_sungrow.plant.snapshot import Mode

if TYPE_CHECKING:
    from mock_sungrow.plant.snapshot import PlantSnapshot
    from mock_sungrow.plant.state import PlantState

#: Battery and grid flows below this (W) do not set their power-flow bits (13001).
FLOW_BIT_THRESHOLD_W = 10.0
#: Input 5038 (string inverters), SGproto B.5.
WORK_STATE_1 = {
    Mode.RUN: 0x0000,
    Mode.STOP: 0x8000,
    Mode.EMERGENCY_STOP: 0x1500,
    Mode.STANDBY: 0x1400,
    Mode.STARTING: 0x1600,
    Mode.FAULT: 0x5500,
}
#: Input 5081 (string inverters, U32 bit field).
WORK_STATE_2 = {
    Mode.RUN: (1 << 0) | (1 << 17),
    Mode.STOP: 1 << 1,
    Mode.EMERGENCY_STOP: 1 << 5,
    Mode.STANDBY: 1 << 4,
    Mode.STARTING: 1 << 6,
    Mode.FAULT: (1 << 9) | (1 << 18),
}
#: Input 13000 (hybrids). Only the small set every client knows (pysungrow raises on others).
RUNNING_STATE = {
    Mode.RUN: 0x0040,
    Mode.STOP: 0x0002,
    Mode.EMERGENCY_STOP: 0x0002,
    Mode.STANDBY: 0x0008,
    Mode.STARTING: 0x0020,
    Mode.FAULT: 0x0100,
}
#: Input 13000 while a hybrid runs off-grid on its backup port (in the small, known set).
RUNNING_OFF_GRID = 0x1000
#: Input 13000 while an EMS regime owns the battery (also in the small, universally known set).
RUNNING_FORCED = 0x0800
RUNNING_EXTERNAL_EMS = 0x4000


def work_state_1(snap: PlantSnapshot) -> int:
    """Input 5038 for this snapshot (string inverters)."""
    return WORK_STATE_1[snap.mode]


def work_state_2(snap: PlantSnapshot) -> int:
    """Input 5081 bit field for this snapshot (string inverters)."""
    return WORK_STATE_2[snap.mode]


def running_state(snap: PlantSnapshot, plant: PlantState) -> int:
    """Input 13000 for this snapshot (hybrids): the mode, or the EMS regime in charge."""
    if plant.off_grid and snap.mode in (Mode.STANDBY, Mode.STARTING, Mode.RUN):
        return RUNNING_OFF_GRID
    if snap.mode in (Mode.STANDBY, Mode.RUN):
        if snap.regime is Regime.EXTERNAL:
            return RUNNING_EXTERNAL_EMS
        if snap.regime is Regime.FORCED:
            return RUNNING_FORCED
    return RUNNING_STATE[snap.mode]


def power_flow_bits(snap: PlantSnapshot) -> int:
    """Input 13001: which flows are present (bits 0-5; the thresholds ignore noise)."""
    bits = 0
    if snap.dc_power_w > 0.0:
        bits |= 1 << 0
    if snap.battery_power_w > FLOW_BIT_THRESHOLD_W:
        bits |= 1 << 1
    if snap.battery_power_w < -FLOW_BIT_THRESHOLD_W:
        bits |= 1 << 2
    if snap.load_power_w > 0.0:
        bits |= 1 << 3
    if snap.grid_power_w < -FLOW_BIT_THRESHOLD_W:
        bits |= 1 << 4
    if snap.grid_power_w > FLOW_BIT_THRESHOLD_W:
        bits |= 1 << 5
    return bits
