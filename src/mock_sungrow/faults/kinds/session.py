"""Session faults: the dongle's key exchange and its WiNet-S sessions.

``key-silent`` acts per request (``before``) on the key request only (a request the Modbus
front ends describe as a *handshake*); the others act in ``changed`` through the
:class:`~mock_sungrow.faults.effects.FaultHost`: a new key, a kick of every session, a firmware
profile switched for as long as the fault lasts. ``check`` refuses a fault the server cannot
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


class KeyRotate(Effect):
    """The dongle hands out a new public key; every key handed out before stops working."""

    def check(self, fault: Fault, host: FaultHost) -> None:
        """Only a server with an AES sungrow port has a key to rotate."""
        if not host.can_rotate_key():
            raise FaultSpecError(f"key-rotate needs the sungrow front end with encryption='aes' "
                                 f"(this server: {host.settings_text()})")

    def changed(self, fault: Fault, change: Change) -> bool:
        """Rotate the key as the fault is added."""
        if not change.added:
            return False
        change.host.rotate_key()
        return True


class WinetKick(Effect):
    """Another login takes the single session: notice 100 to all, every token ends."""

    def changed(self, fault: Fault, change: Change) -> bool:
        """Kick every session as the fault is added."""
        if not change.added:
            return False
        change.host.kick_sessions()
        return True


class WinetProfile(Effect):
    """The dongle's firmware profile, for as long as the newest such fault is active."""

    def check(self, fault: Fault, host: FaultHost) -> None:
        """``tls-only`` needs a TLS listener clients can move to."""
        if fault.params["profile"] == "tls-only" and not host.has_tls_listener():
            raise FaultSpecError(
                "switching to the tls-only profile needs a TLS listener: start the server with "
                "tls_port (0 picks a free port) so clients have somewhere to go"
            )

    def changed(self, fault: Fault, change: Change) -> bool:
        """The newest active fault's profile, or the configured one when none is left."""
        active = [*change.remaining, fault] if change.added else change.remaining
        change.host.set_winet_profile(active[-1].params["profile"] if active else None,
                                      wait=change.wait)
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
