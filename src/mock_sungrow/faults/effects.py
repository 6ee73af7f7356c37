"""What plant and session faults act on, and the listener that tells them of a change.

Request-, word-, frame- and connection-phase faults act where traffic passes
(:mod:`mock_sungrow.faults.traffic`); plant and session faults change state instead: an
inverter trips, the grid fails, the dongle rotates its key, kicks its sessions or switches
firmware, idle timers restart. Each kind says how in its effect's ``changed`` hook
(:mod:`mock_sungrow.faults.kinds`), acting through a :class:`FaultHost`: the small set of
operations the server offers, so this package never imports the server.

The change takes effect at the fault's own instant (``injected_at``, ``ended_at``): a fault
whose duration ran out a while ago ends the plant's fault back then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from mock_sungrow.faults.kinds.base import Change

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

    def dongles_for(self, unit: int | None = None, device: str | None = None) -> list[int]:
        """The dongles a session fault naming ``unit`` / ``device`` acts on (none named: all).

        Dongles are named by their inverter's index; a dongle serves its inverter and its
        battery.
        """
        ...

    def rotate_key(self, dongles: Sequence[int] | None = None) -> None:
        """Those dongles (default: all) hand out a new public key; earlier keys stop working."""
        ...

    def kick_sessions(self, dongles: Sequence[int] | None = None) -> None:
        """Another login takes the single session: notice 100 to all, every token ends."""
        ...

    def set_winet_profile(self, profile: str | None, *, wait: bool,
                          dongles: Sequence[int] | None = None) -> None:
        """Switch dongles' firmware profile (``None``: back to the configured one)."""
        ...

    def rearm_idle(self, *, wait: bool) -> None:
        """Restart every connection's idle timer (an ``idle-timeout`` fault came or went)."""
        ...

    def can_rotate_key(self, dongles: Sequence[int] | None = None) -> bool:
        """Whether one of ``dongles`` hands out keys it can rotate (an AES "sungrow" port)."""
        ...

    def has_tls_listener(self, dongles: Sequence[int] | None = None) -> bool:
        """Whether the web APIs of ``dongles`` have a TLS listener clients can move to."""
        ...

    def settings_text(self) -> str:
        """The settings a refusal names (``server_type=..., encryption=...``)."""
        ...


def fault_changed(host: FaultHost, fault: Fault, added: bool) -> None:
    """Tell ``fault``'s kind that it was added or removed (a ``FaultSet`` listener).

    The kind's ``changed`` hook gets the instant of the change and the faults of the same
    kind still active then; an added fault that acted is counted as fired.
    """
    effect = fault.kind.effect
    if "changed" not in effect.hooks:
        return
    ended = fault.ended_at
    at = fault.injected_at if added or ended is None else ended
    # Faults of the same kind still active at that instant (another trip, another profile).
    remaining = [f for f in host.faults.live(at) if f.kind is fault.kind and f is not fault]
    change = Change(host, added, at, remaining, wait=not fault.expired)
    if effect.changed(fault, change) and added:
        host.faults.fire(fault)
