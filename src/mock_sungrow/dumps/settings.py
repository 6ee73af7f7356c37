"""Settings from a recording: a recorded unit's owner settings as a model's initial settings.

No model default can equal every installation's choices (an export limit, a minimum state of
charge, a backup reserve are an owner's), so ``settings_from=DUMP`` (``mock-sungrow serve
--settings-from DUMP``, an installation's ``settings_from`` key) starts a device with the
settings a real unit was recorded holding.

**Which recorded words are settings.** A holding word the dump recorded (answered, not
refused) at an address where the model's map has a *writable* row: a ``holding.csv`` row
the model serves (:attr:`~mock_sungrow.device.registermap.RegisterMap.holding_limits`), since
only a word a client can write can be an owner's choice. Left out of those:

* the clock (holding 5000-5005): the moment of the recording, not a setting;
* commands, the addresses that belong only to an event group of
  :data:`~mock_sungrow.device.writes.GROUPS` (start/stop 5006 or 13000, the EMS heartbeat
  13080): writing them does something once, it configures nothing.

Everything else a dump holds stays the model's: identity (input 4950-5000, the firmware
strings), measurements, and the read-only holding words a family rule answers (5038, the
cluster words 33500-33502, the 0xFFFF bands): a client cannot write them, so no owner chose
them, and where they differ from a recording that is a question for the model's data.

The settings are applied through the path a client's write takes
(:meth:`~mock_sungrow.device.bank.RegisterBank.load_settings`): they read back, stay
writable, and the plant follows them. A recorded word the model refuses (out of range, or a
group the plant cannot carry out) is left at the model's default and reported as a
:class:`RecordedSettingWarning` naming the address, the word and the reason: one odd word of
an owner's should not stop a whole installation from starting, and the warning says exactly
which word the simulator does not hold.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from mock_sungrow.device.writes import CLOCK, GROUPS
from mock_sungrow.dumps.formats import Dump

if TYPE_CHECKING:
    from mock_sungrow.device.bank import RegisterBank
    from mock_sungrow.device.registermap import RegisterMap


class RecordedSettingWarning(UserWarning):
    """A recorded setting the model does not take (the message names address and word)."""


def setting_addresses(regmap: RegisterMap) -> frozenset[int]:
    """The documented holding addresses whose recorded words are settings (module docstring)."""
    groups = GROUPS[regmap.model.family]
    settings = frozenset().union(*(g.addresses for g in groups if not g.event))
    commands = frozenset().union(*(g.addresses for g in groups if g.event)) - settings
    return frozenset(a for a in regmap.holding_limits if a not in CLOCK and a not in commands)


def recorded_settings(dump: Dump, regmap: RegisterMap) -> dict[int, int]:
    """The dump's words at ``regmap``'s setting addresses (documented address -> word)."""
    addresses = setting_addresses(regmap)
    return {a: w for a, w in sorted(dump.answered("holding").items()) if a in addresses}


def apply_settings(bank: RegisterBank, dump: Dump, device: str = "inverter[1]") -> list[str]:
    """Load ``dump``'s settings into a device's memory; warn of (and return) each word left.

    ``device`` names the device in the warnings (``inverter[2]``).
    """
    problems = [f"{device}.settings_from {dump.source}: {p}"
                for p in bank.load_settings(recorded_settings(dump, bank.map))]
    for problem in problems:
        warnings.warn(problem + " (left at the model's default)", RecordedSettingWarning,
                      stacklevel=3)
    return problems
