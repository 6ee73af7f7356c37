"""Plant faults: the simulated device itself changes state while the fault is active.

They act in ``changed`` through the :class:`~mock_sungrow.faults.effects.FaultHost` (the plant
of the fault's ``device``, or behind its ``unit``), at the fault's own instant: an
``inverter-fault`` that ended a minute ago restarted the inverter a minute ago. While another
fault of the same kind is still active when one ends, that one's state stays (the newest trip
code, the outage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_sungrow.faults.kinds.base import ALL_FRONT_ENDS, Change, Effect, FaultKind
from mock_sungrow.faults.params import Param, positive

if TYPE_CHECKING:
    from mock_sungrow.faults.spec import Fault


class InverterFault(Effect):
    """The inverter trips with a fault code; it restarts when the last such fault ends."""

    def changed(self, fault: Fault, change: Change) -> bool:
        """Trip with the newest active code, or recover when none is left."""
        plant = change.host.plant_for(fault.match.unit, fault.match.device)
        if change.added:
            plant.trip(fault.params["code"], at=change.at)
        elif change.remaining:
            plant.trip(change.remaining[-1].params["code"], at=change.at)
        else:
            plant.recover(at=change.at)
        return True


class GridOutage(Effect):
    """The grid fails (string inverters trip, hybrids run off-grid) until the last one ends."""

    def changed(self, fault: Fault, change: Change) -> bool:
        """The grid is down while any outage is active."""
        plant = change.host.plant_for(fault.match.unit, fault.match.device)
        plant.set_grid_outage(change.added or bool(change.remaining), at=change.at)
        return True


KINDS = (
    FaultKind("inverter-fault", "plant", ALL_FRONT_ENDS,
              "the inverter trips: fault code, Fault work state, output falls to zero",
              (), (Param("code", int, 37, check=positive,
                         doc="fault code shown in input 5045 (37: high ambient temp.)"),),
              effect=InverterFault()),
    FaultKind("grid-outage", "plant", ALL_FRONT_ENDS,
              "the grid fails: fault code 10, no export (hybrids keep their backup load)",
              (), effect=GridOutage()),
)
