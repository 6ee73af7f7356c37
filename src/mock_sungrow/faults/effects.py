"""What plant and session faults do when they start and when they end.

Request-, word-, frame- and connection-phase faults act where traffic passes
(:mod:`mock_sungrow.faults.traffic`); plant and session faults change state instead: an
inverter trips, the grid fails, the dongle rotates its key, kicks its sessions or switches
firmware, idle timers restart. They act through a :class:`FaultHost`, the small set of
operations the server offers, so this package never imports the
server.

The change takes effect at the fault's own instant (``injected_at``, ``ended_at``): a fault
whose duration ran out a while ago ends the plant's fault back then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mock_sungrow.faults.faultset import FaultSet
    from mock_sungrow.faults.spec import Fault
    from mock_sungrow.plant.state import PlantState


class FaultHost(Protocol):
    """What plant and session faults act on."""

    @property
    def faults(self) -> FaultSet:
        """The fault set the fault belongs to."""
        ...

    def plant_for(self, unit: int | None, device: str | None = None) -> PlantState:
        """The plant of the device with serial ``device``, or at ``unit`` (else the first)."""
        ...

    def rotate_key(self) -> None:
        """The dongle hands out a new public key; every earlier key stops working."""
        ...

    def kick_sessions(self) -> None:
        """Another login takes the single session: notice 100 to all, every token ends."""
        ...

    def set_winet_profile(self, profile: str | None, *, wait: bool) -> None:
        """Switch the dongle's firmware profile (``None``: back to the configured one)."""
        ...

    def rearm_idle(self, *, wait: bool) -> None:
        """Restart every connection's idle timer (an ``idle-timeout`` fault came or went)."""
        ...


def fault_changed(host: FaultHost, fault: Fault, added: bool) -> None:
    """Carry out what a plant or session fault does as it is added or removed."""
    name = fault.name
    at = fault.injected_at if added else fault.ended_at
    # Faults of the same kind still active at that instant (another trip, another profile).
    remaining = [f for f in host.faults.live(at) if f.name == name and f is not fault]
    if name == "inverter-fault":
        plant = host.plant_for(fault.match.unit, fault.match.device)
        if added:
            plant.trip(fault.params["code"], at=at)
        elif remaining:
            plant.trip(remaining[-1].params["code"], at=at)
        else:
            plant.recover(at=at)
    elif name == "grid-outage":
        plant = host.plant_for(fault.match.unit, fault.match.device)
        plant.set_grid_outage(added or bool(remaining), at=at)
    elif name == "key-rotate" and added:
        host.rotate_key()
    elif name == "winet-kick" and added:
        host.kick_sessions()
    elif name == "idle-timeout":
        host.rearm_idle(wait=not fault.expired)  # connections already idle count from now
        return
    elif name == "winet-profile":
        active = [fault, *remaining] if added else remaining
        host.set_winet_profile(active[-1].params["profile"] if active else None,
                               wait=not fault.expired)
    else:
        return
    if added:
        host.faults.fire(fault)
