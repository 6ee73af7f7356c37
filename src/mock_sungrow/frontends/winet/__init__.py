"""The WiNet-S dongle: its local HTTP + WebSocket API, firmware profiles, accounts and tokens.

This package is split so that only :mod:`mock_sungrow.frontends.winet.app` imports aiohttp: the
settings and the session store (:mod:`~mock_sungrow.frontends.winet.auth`) and the protocol
semantics (:mod:`~mock_sungrow.frontends.winet.api`, :mod:`~mock_sungrow.frontends.winet.payloads`)
are plain Python, so a server can validate its WiNet configuration, and a Modbus-only server can
run, without loading an HTTP stack.
"""

from __future__ import annotations

from mock_sungrow.frontends.winet.auth import (
    DEFAULT_ACCOUNTS,
    PROFILES,
    SessionStore,
    WinetSettings,
)

__all__ = ["DEFAULT_ACCOUNTS", "PROFILES", "SessionStore", "WinetSettings"]
