"""One inverter's WiNet-S dongle: its firmware settings, its sessions, its public key.

A dongle serves two endpoints, the web API (``http``) and its own Modbus port (``sungrow``),
and its state belongs to it rather than to a socket or to the server: tokens outlive the
WebSocket that produced them, the public key outlives ``reset()`` (it is the dongle's, not the
plant's), and a ``winet-profile`` fault switches its firmware at run time. Each inverter of an
installation that has either endpoint has its own dongle (logging in on one never evicts a
session on another).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from mock_sungrow.frontends.winet.auth import SessionStore, WinetSettings

if TYPE_CHECKING:
    from mock_sungrow.config import EncryptedConfig, WinetConfig
    from mock_sungrow.frontends.modbus.aes import SungrowKeys
    from mock_sungrow.plant.state import PlantState


class Dongle:
    """The WiNet-S of one inverter (``plant`` returns that inverter's current plant)."""

    def __init__(self, winet: WinetConfig, encrypted: EncryptedConfig,
                 plant: Callable[[], PlantState], clock: Callable[[], float],
                 *, encrypts: bool) -> None:
        self.config = winet
        self.encrypted = encrypted
        self._clock = clock
        self._base_profile = winet.profile
        self.settings = WinetSettings(**{f.name: getattr(winet, f.name)
                                         for f in dataclasses.fields(winet)})
        #: WiNet-S tokens, failed logins and lockouts (on the server's clock).
        self.sessions = SessionStore(self.settings, clock)
        #: The public key of the "sungrow" port (``encryption="aes"`` only).
        self.keys: SungrowKeys | None = None
        if encrypts and encrypted.encryption == "aes":
            from mock_sungrow.frontends.modbus.aes import SungrowKeys

            self.keys = SungrowKeys(plant)

    def set_profile(self, profile: str | None) -> WinetSettings:
        """Switch the firmware profile (``None``: the configured one); the new settings."""
        settings = dataclasses.replace(self.settings, profile=profile or self._base_profile)
        self.settings = settings
        self.sessions.settings = settings
        return settings

    def reset(self) -> None:
        """Like a rebooted dongle: every token is forgotten, lockouts are lifted."""
        self.sessions = SessionStore(self.settings, self._clock)
