"""Connection faults: who may connect, and for how long a connection stays.

They act in ``admit`` when a connection arrives (a refusal accepts the connection and resets
it at once, so the listening socket stays the test's and the decision is taken lazily, on any
clock), and some also per request (``night-shutdown`` drops connections opened by day) or once
a request is answered (``block-after-bad-reads`` counts refused reads).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mock_sungrow.endpoints import CONNECTION_FRONT_ENDS
from mock_sungrow.faults.decision import DROP
from mock_sungrow.faults.kinds.base import (
    REFUSE,
    Arrival,
    Change,
    Effect,
    FaultKind,
    Settled,
    Turn,
)
from mock_sungrow.faults.params import Param, one_of, positive

if TYPE_CHECKING:
    from mock_sungrow.faults.spec import Fault


class MaxClients(Effect):
    """Only N connections at a time: refuse the newcomer, or close the oldest."""

    def admit(self, fault: Fault, arrival: Arrival) -> str | list[Any] | None:
        """Refuse, or name the oldest connections to close, once ``limit`` are open."""
        open_conns = arrival.traffic.open_connections(arrival.endpoint)
        limit = fault.params["limit"]
        if len(open_conns) < limit:
            return None
        if fault.params["policy"] == "refuse":
            return REFUSE
        return open_conns[: len(open_conns) - limit + 1]


class IdleTimeout(Effect):
    """Connections idle for a while are closed (each connection runs its own timer)."""

    def idle_timeout(self, fault: Fault) -> float | None:
        """The fault's ``seconds``."""
        return float(fault.params["seconds"])

    def changed(self, fault: Fault, change: Change) -> bool:
        """Restart every idle timer: connections already idle count from now."""
        change.host.rearm_idle(wait=change.wait)  # connections already idle count from now
        return False


class ReconnectCooldown(Effect):
    """A client reconnecting too soon after its last connection closed is refused."""

    def admit(self, fault: Fault, arrival: Arrival) -> str | list[Any] | None:
        """Refuse a client whose last connection closed less than ``seconds`` ago."""
        last = arrival.traffic.last_close(arrival.endpoint, arrival.client)
        if last is not None and time.monotonic() - last < fault.params["seconds"]:
            return REFUSE
        return None


class Refuse(Effect):
    """Every connection is refused."""

    def admit(self, fault: Fault, arrival: Arrival) -> str | list[Any] | None:
        """Refuse every connection."""
        return REFUSE


class NightShutdown(Effect):
    """Off while the sun is down: connections refused, those opened by day dropped."""

    def admit(self, fault: Fault, arrival: Arrival) -> str | list[Any] | None:
        """Refuse while the sun is down."""
        return REFUSE if arrival.traffic.is_night() else None

    def before(self, fault: Fault, turn: Turn) -> bool:
        """Drop a connection opened by day once the sun is down."""
        if not turn.traffic.is_night():
            return False
        turn.fire(fault)
        turn.decision.action = DROP
        return True


class BlockAfterBadReads(Effect):
    """After N refused reads (any exception) a client cannot connect for a while."""

    def admit(self, fault: Fault, arrival: Arrival) -> str | list[Any] | None:
        """Refuse a client that is blocked."""
        blocked: dict[str, float] = fault.state.get("blocked", {})
        if blocked.get(arrival.client, -1.0) > arrival.now:
            return REFUSE
        return None

    def settled(self, fault: Fault, settled: Settled) -> None:
        """Count the client's refused requests; block it at ``reads``."""
        if not settled.outcome.startswith("exception"):
            return
        client = settled.req.client
        bad: dict[str, int] = fault.state.setdefault("bad_reads", {})
        bad[client] = bad.get(client, 0) + 1
        if bad[client] >= fault.params["reads"]:
            bad[client] = 0
            fault.state.setdefault("blocked", {})[client] = settled.now + fault.params["seconds"]
            settled.traffic.faults.fire(fault)


KINDS = (
    FaultKind("max-clients", "connect", CONNECTION_FRONT_ENDS,
              "only N simultaneous clients (WiNet-S Modbus: one)", (10,),
              (Param("limit", int, 1, check=positive),
               Param("policy", str, "refuse", check=one_of("refuse", "kick-oldest"),
                     doc="refuse the newcomer, or close the oldest connection")),
              effect=MaxClients()),
    FaultKind("idle-timeout", "connect", CONNECTION_FRONT_ENDS,
              "connections idle for a while are closed by the server", (11,),
              (Param("seconds", float, 30.0, check=positive),), effect=IdleTimeout()),
    FaultKind("reconnect-cooldown", "connect", CONNECTION_FRONT_ENDS,
              "a client reconnecting too soon after a disconnect is refused", (12,),
              (Param("seconds", float, 2.0, check=positive),), effect=ReconnectCooldown()),
    FaultKind("refuse", "connect", CONNECTION_FRONT_ENDS,
              "refuse every connection (Modbus disabled on the dongle; port closed by "
              "new firmware)", (1, 13, 31), effect=Refuse()),
    FaultKind("night-shutdown", "connect", CONNECTION_FRONT_ENDS,
              "the inverter and its dongle are off while the sun is down: connections "
              "refused until sunrise", (32,), effect=NightShutdown()),
    FaultKind("block-after-bad-reads", "connect", CONNECTION_FRONT_ENDS,
              "after N refused reads a client is blocked from connecting", (25,),
              (Param("reads", int, 3, check=positive),
               Param("seconds", float, 600.0, check=positive,
                     doc="how long the block lasts")),
              effect=BlockAfterBadReads()),
)
