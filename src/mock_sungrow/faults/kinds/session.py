"""Session faults: the dongle's key exchange and its WiNet-S sessions.

``key-silent`` acts per request (``before``) on the key request only (a request the Modbus
front ends describe as a *handshake*); the others act in ``changed`` through the
:class:`~mock_sungrow.faults.effects.FaultHost`: a new key, a kick of every session, a firmware
profile switched for as long as the fault lasts, on the dongles that serve the device or unit
the fault names (every dongle when it names none). ``check`` refuses a fault the server cannot
carry out before it is injected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_sungrow.faults.decision import SILENCE
from mock_sungrow.faults.kinds.base import HTTP_FRONT_END, Change, Effect, FaultKind, Turn
from mock_sungrow.faults.params import FaultSpecError, Param, one_of

if TYPE_CHECKING:
    from mock_sungrow.faults.effects import FaultHost
    from mock_sungrow.faults.spec import Fault


class KeySilent(Effect):
    """The key request goes unanswered (every other request is answered)."""

    def before(self, fault: Fault, turn: Turn) -> bool:
        """Swallow the key request."""
        if turn.req.handshake:
            turn.decision.action = SILENCE
            turn.fire(fault)
        return False


class _OnDongles(Effect):
    """A fault that acts on dongles: those serving the device or unit it names, else all."""

    @staticmethod
    def dongles(fault: Fault, host: FaultHost) -> list[int]:
        """The dongles ``fault`` acts on."""
        return host.dongles_for(fault.match.unit, fault.match.device)

    def check(self, fault: Fault, host: FaultHost) -> None:
        """A fault naming a device or unit no dongle serves would do nothing: refuse it."""
        match = fault.match
        if (match.unit is not None or match.device is not None) and not self.dongles(fault,
                                                                                       host):
            named = ", ".join(f"{key}={value!r}" for key, value in
                              (("device", match.device), ("unit", match.unit))
                              if value is not None)
            raise FaultSpecError(f"{fault.name}: no dongle (an inverter's http or sungrow "
                                 f"endpoint) serves {named}")


class KeyRotate(_OnDongles):
    """The dongle hands out a new public key; every key handed out before stops working."""

    def check(self, fault: Fault, host: FaultHost) -> None:
        """Only a dongle with an AES sungrow port has a key to rotate."""
        super().check(fault, host)
        if not host.can_rotate_key(self.dongles(fault, host)):
            raise FaultSpecError(f"key-rotate needs the sungrow front end with encryption='aes' "
                                 f"(this server: {host.settings_text()})")

    def changed(self, fault: Fault, change: Change) -> bool:
        """Rotate the key of the fault's dongles as the fault is added."""
        if change.added:
            change.host.rotate_key(self.dongles(fault, change.host))
        return change.added  # acted (fired) only as it is added


class WinetKick(_OnDongles):
    """Another login takes the single session: notice 100 to all, every token ends."""

    def changed(self, fault: Fault, change: Change) -> bool:
        """Kick every session of the fault's dongles as the fault is added."""
        if change.added:
            change.host.kick_sessions(self.dongles(fault, change.host))
        return change.added  # acted (fired) only as it is added


class WinetProfile(_OnDongles):
    """The dongle's firmware profile, for as long as the newest such fault is active."""

    def check(self, fault: Fault, host: FaultHost) -> None:
        """``tls-only`` needs a TLS listener clients can move to."""
        super().check(fault, host)
        if (fault.params["profile"] == "tls-only"
                and not host.has_tls_listener(self.dongles(fault, host))):
            raise FaultSpecError(
                "switching to the tls-only profile needs a TLS listener: start the server with "
                "tls_port (0 picks a free port) so clients have somewhere to go"
            )

    def changed(self, fault: Fault, change: Change) -> bool:
        """Each of the fault's dongles: the newest active profile naming it, else its own."""
        host = change.host
        for dongle in self.dongles(fault, host):
            active = [f for f in change.remaining if dongle in self.dongles(f, host)]
            if change.added:
                active.append(fault)
            host.set_winet_profile(active[-1].params["profile"] if active else None,
                                   wait=change.wait, dongles=[dongle])
        return True


KINDS = (
    FaultKind("key-silent", "session", frozenset({"sungrow", "modbus"}),
              "the encryption key request goes unanswered", (15,), effect=KeySilent()),
    FaultKind("key-rotate", "session", frozenset({"sungrow"}),
              "the dongle hands out a new public key; clients fail until they re-fetch",
              (), effect=KeyRotate()),
    FaultKind("winet-kick", "session", HTTP_FRONT_END,
              "another login takes the single session: notice 100 to every session, "
              "their tokens stop working", (8,), effect=WinetKick()),
    FaultKind("winet-profile", "session", HTTP_FRONT_END,
              "switch the dongle's firmware profile at run time", (1, 2, 3, 5, 31),
              (Param("profile", str, "login", required=True,
                     check=one_of("legacy", "login", "tls-only")),), effect=WinetProfile()),
)
