"""Replies built from a device's words, kept for as long as those words cannot change.

A ``real`` reply reads some forty registers one by one through the device's data blocks and
formats and encodes each of them: about 0.7 ms of the server's CPU, for the same bytes every
time while the plant stays at one instant. When both blocks are the stock
:class:`~mock_sungrow.device.datablock.SungrowModbusDataBlock` (no ``getValues`` override),
what a read returns is a function of the plant's snapshot and the bank's
:attr:`~mock_sungrow.device.bank.RegisterBank.version` (its holding memory and pinned words), so
a reply built from them can be sent again, already encoded, until either changes.

Nothing else changes: a ``datablock_class`` override, a word fault of the request being
answered (``scale``, ``stale``...) or an async block always take the full path, one read at a
time, exactly as before; the fault layer and the request log see every request either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_sungrow.faults.decision import CURRENT_DECISION
from mock_sungrow.frontends.jsonlimits import dumps_text
from mock_sungrow.frontends.winet.protocol import Encoded, Reply

if TYPE_CHECKING:
    from collections.abc import Hashable

    from mock_sungrow.device.device import Device

#: What a stock device's words depend on: the device, the plant's snapshot, the bank's version.
State = tuple[object, object, int]


def state_of(device: Device) -> State | None:
    """The state a reply read from ``device`` now depends on; ``None``: do not keep it."""
    if not device.stock_blocks or CURRENT_DECISION.get().words:
        return None
    bank = device.bank
    return (device, bank.plant.snapshot(), bank.version)


class ReplyMemo:
    """A few encoded replies, each with the state it was built in (at most ``limit``)."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._replies: dict[Hashable, tuple[State, Encoded]] = {}

    def get(self, name: Hashable, state: State | None) -> Encoded | None:
        """The reply kept under ``name`` if it was built in ``state``."""
        if state is None:
            return None
        entry = self._replies.get(name)
        if entry is None:
            return None
        kept, reply = entry
        if kept[0] is state[0] and kept[1] is state[1] and kept[2] == state[2]:
            return reply
        return None

    def put(self, name: Hashable, state: State | None, reply: Reply) -> Reply:
        """Keep ``reply`` (encoded once, here) under ``name``; returns what to send."""
        if state is None:
            return reply
        if len(self._replies) >= self.limit:
            self._replies.clear()  # stale entries of earlier instants, mostly
        encoded = Encoded(reply)
        encoded.text = dumps_text(reply)  # as listeners.dumps encodes every reply
        self._replies[name] = (state, encoded)
        return encoded
