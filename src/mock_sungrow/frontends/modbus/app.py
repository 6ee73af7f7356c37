"""The Modbus application layer every Modbus transport shares: one request PDU, one reply PDU.

:class:`ModbusApplication` implements function codes 3, 4, 6 and 16 with Sungrow's exception
behaviour against the devices of one endpoint (by unit id). It knows no socket and no framing,
so the plain MBAP port, the AES-framed port and the WiNet-S RTU passthrough share it unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.device.device import Device
from mock_sungrow.device.family import View
from mock_sungrow.diagnostics import Diagnostics
from mock_sungrow.errors import ExceptionCode, ModbusError
from mock_sungrow.frontends.modbus.pdu import (
    KEY_REQUEST_PDU,
    KEY_UNIT,
    MAX_READ,
    MAX_WRITE,
    READ,
    WRITE_MULTI,
    Handled,
    Reply,
    exception_pdu,
    read_reply,
)

#: A decoded request: block, documented address, count, words to write (None for a read),
#: and a write's response PDU. A plain tuple: this is built once per request.
_Operation = tuple[SungrowModbusDataBlock, int, int, list[int] | None, bytes]


#: The unit a WiNet-S dongle's Modbus port serves its inverter's battery on (the inverter's
#: LAN port serves it on its own unit, 200 by default): unit 1 is the inverter, 2 its battery.
DONGLE_BATTERY_UNIT = 2
#: How many connections' first-try state the dongle view remembers (oldest dropped first).
FIRST_TRY_PEERS = 1024


class ModbusApplication:
    """Function codes 3, 4, 6 and 16 against the devices of one endpoint, by unit.

    ``devices`` is the endpoint's own map, read on every request and never copied: when a
    server is reset, the installation rebuilds its devices into the same map, and live
    connections carry on against the new ones.

    ``handle`` returns the response PDU, ``None`` for "no reply" (a broadcast write), or an
    awaitable of either when a data block overrides an ``async_`` method.

    ``unknown_unit`` chooses what a unit id with no device gets: ``"exception"`` (0x0B,
    gateway target failed to respond, what a dongle reports) or ``"silence"``.
    ``key_reply`` is the 16-byte public key returned to Sungrow's key request on unit 247;
    the default of 16 zero bytes tells encryption-capable clients "this port is plain", the
    fast fallback real plain ports allow. ``None`` treats the key request like any other read.
    """

    def __init__(
        self,
        devices: Mapping[int, Device],
        diagnostics: Diagnostics,
        *,
        unknown_unit: str = "exception",
        key_reply: bytes | None = bytes(16),
        max_read: int = MAX_READ,
        max_write: int = MAX_WRITE,
        view: View = "lan",
    ) -> None:
        if unknown_unit not in ("exception", "silence"):
            raise ValueError("unknown_unit must be 'exception' or 'silence'")
        if key_reply is not None and len(key_reply) != 16:
            raise ValueError("key_reply must be exactly 16 bytes")
        self.diagnostics = diagnostics
        self.unknown_unit = unknown_unit
        self.key_reply = key_reply
        self.max_read = max_read
        self.max_write = max_write
        self.devices = devices
        #: Which port's view of each device this application serves: ``"lan"`` (the
        #: inverter's own port) or ``"winet"`` (its WiNet-S dongle's Modbus port).
        self.view: View = view
        #: Per peer (connection), the ``(table, address)`` reads a ``retry`` rule has failed.
        self._tried: dict[str, set[tuple[str, int]]] = {}
        #: Input-register replies of stock devices, with the state each was read in: a
        #: request PDU -> (device, plant snapshot, bank version, reply PDU). See _read_input.
        self._inputs: dict[bytes, tuple[Device, object, int, bytes]] = {}

    def serial_of(self, unit: int, pdu: bytes = b"") -> str | None:
        """The serial of the device a request reaches (``None``: nobody answers there).

        Sungrow's key request (unit 247) is answered by the port itself, not by a unit
        behind it: it reaches the port's own inverter, the endpoint's lowest unit (never its
        battery at 200), so a ``key-silent`` fault naming that inverter silences it.
        """
        device = self.device_at(unit)
        if device is None and unit == KEY_UNIT and pdu == KEY_REQUEST_PDU and self.devices:
            device = self.devices[min(self.devices)]
        return None if device is None else device.serial

    def device_at(self, unit: int) -> Device | None:
        """The device answering ``unit`` here (``None``: nobody).

        The endpoint's device, or on a dongle's port unit 2 for the inverter's battery, so
        faults, the request log and word distortions see the battery there too.
        """
        device = self.devices.get(unit)
        if device is None and unit == DONGLE_BATTERY_UNIT and self.view == "winet":
            device = self._dongle_battery()
        return device

    def handle(self, unit: int, pdu: bytes, peer: str = "-", front_end: str = "modbus") -> Handled:
        """Answer one request PDU addressed to ``unit``.

        ``peer`` and ``front_end`` say where it came from, for the problem a failing data
        block leaves in the diagnostics.
        """
        if not pdu:
            return exception_pdu(0, ExceptionCode.ILLEGAL_FUNCTION)
        if unit == KEY_UNIT and pdu == KEY_REQUEST_PDU and self.key_reply is not None:
            return b"\x04\x10" + self.key_reply
        device = self.device_at(unit)
        if device is None:
            if unit == 0:  # broadcast: apply writes on every device, never answer
                if pdu[0] in (6, 16):
                    for dev in self.devices.values():
                        self._dispatch(dev, pdu, peer, front_end)
                return None
            if self.unknown_unit == "silence":
                return None
            return exception_pdu(pdu[0], ExceptionCode.GATEWAY_TARGET_FAILED)
        if device.is_async:
            return self._dispatch_async(device, pdu, peer, front_end)
        return self._dispatch(device, pdu, peer, front_end)

    def _dispatch(self, device: Device, pdu: bytes, peer: str, front_end: str) -> Reply:
        """The synchronous path: no awaits, so a request costs a few function calls."""
        if pdu[0] == 4 and device.stock_blocks:
            return self._read_input(device, pdu, peer, front_end)
        return self._operate(device, pdu, peer, front_end)

    def _read_input(self, device: Device, pdu: bytes, peer: str, front_end: str) -> Reply:
        """An FC4 read of stock blocks, answered again while the words cannot have changed.

        Stock blocks return the bank's words, a function of the plant's snapshot and the
        bank's version (holding memory, pins): the same request in the same state gets the
        same reply, so it is kept and sent again. The state is taken before the read, so a
        change meanwhile makes the kept reply older than its state, never newer. Word
        faults apply later, to the reply (the request path's ``distort_pdu``); a data-block
        override never gets here (``stock_blocks``).
        """
        snap, version = device.plant.snapshot(), device.bank.version
        kept = self._inputs.get(pdu)
        if kept is not None and kept[0] is device and kept[1] is snap and kept[2] == version:
            return kept[3]
        reply = self._operate(device, pdu, peer, front_end)
        if reply is not None and reply[0] == 4:  # not an exception: keep it
            if len(self._inputs) >= 256:
                self._inputs.clear()  # replies of earlier instants, mostly
            self._inputs[pdu] = (device, snap, version, reply)
        return reply

    def _operate(self, device: Device, pdu: bytes, peer: str, front_end: str) -> Reply:
        try:
            block, address, count, values, reply = self._parse(device, pdu)
            if values is None:
                if self.view != "lan":
                    self._first_try(block, address, peer)
                return read_reply(pdu[0], block.getValues(address, count))
            block.setValues(address, values)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
            return self._failure(pdu, peer, front_end, exc)
        return reply

    async def _dispatch_async(self, device: Device, pdu: bytes, peer: str,
                              front_end: str) -> Reply:
        """The same, for data blocks that override an ``async_`` method."""
        try:
            block, address, count, values, reply = self._parse(device, pdu)
            if values is None:
                if self.view != "lan":
                    self._first_try(block, address, peer)
                return read_reply(pdu[0], await block.async_getValues(address, count))
            await block.async_setValues(address, values)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
            return self._failure(pdu, peer, front_end, exc)
        return reply

    def _dongle_battery(self) -> Device | None:
        """The battery of the port's inverter (the lowest unit's), as the dongle serves it."""
        units = [u for u, d in self.devices.items() if d.kind == "inverter"]
        return self.devices[min(units)].battery if units else None

    def _first_try(self, block: SungrowModbusDataBlock, address: int, peer: str) -> None:
        """Exception 4 on a connection's first read starting where a ``retry`` rule says.

        The SH8.0RT-20's WiNet-S answered holding 33047+ and 33500+ so, then the words on the
        client's retry (alexanderlanin-sh8rt20-master-winet-wire.json). Connections are told
        apart by their peer address (the last :data:`FIRST_TRY_PEERS` are remembered).
        """
        if not block.follows_retry_rules or address not in block.bank.map.first_try[block.table]:
            return
        key = (block.table, address)
        tried = self._tried.get(peer)
        if tried is None:
            tried = self._tried[peer] = set()
            while len(self._tried) > FIRST_TRY_PEERS:
                del self._tried[next(iter(self._tried))]
        if key not in tried:
            tried.add(key)
            # The dongle fails this connection's first read here (a retry rule). A Modbus
            # client sees only the code, so the error carries no message of its own.
            raise ModbusError(ExceptionCode.DEVICE_FAILURE)

    def _failure(self, pdu: bytes, peer: str, front_end: str, exc: Exception) -> bytes:
        fc = pdu[0]
        if isinstance(exc, ModbusError):
            return exception_pdu(fc, exc.code)
        # A user's override or a bug: answer "device failure", record it, keep serving.
        self.diagnostics.report(
            front_end, peer, "handler-error", f"FC{fc} {pdu.hex(' ')}: {exc!r}", exc=exc
        )
        return exception_pdu(fc, ExceptionCode.DEVICE_FAILURE)

    def _parse(self, device: Device, pdu: bytes) -> _Operation:
        fc = pdu[0]
        if fc in (3, 4):
            if len(pdu) != 5:
                raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "a read PDU is 5 bytes")
            _, address, count = READ.unpack(pdu)
            if not 1 <= count <= self.max_read:
                raise ModbusError(
                    ExceptionCode.ILLEGAL_ADDRESS, f"count {count} outside 1..{self.max_read}"
                )
            blocks = device.view_blocks(self.view) if self.view != "lan" else (
                device.input, device.holding)
            return (blocks[1] if fc == 3 else blocks[0], address + 1, count, None, b"")
        if fc == 6:
            if len(pdu) != 5:
                raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "a single write PDU is 5 bytes")
            _, address, value = READ.unpack(pdu)
            return (device.holding, address + 1, 1, [value], pdu)
        if fc == 16:
            if len(pdu) < 6:
                raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "truncated FC16 request")
            _, address, count, byte_count = WRITE_MULTI.unpack_from(pdu)
            if not 1 <= count <= self.max_write or byte_count != 2 * count:
                raise ModbusError(
                    ExceptionCode.ILLEGAL_ADDRESS,
                    f"FC16 count {count} / byte count {byte_count} invalid (1..{self.max_write})",
                )
            if len(pdu) != 6 + byte_count:
                raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "FC16 byte count does not match")
            values = list(struct.unpack_from(f">{count}H", pdu, 6))
            return (device.holding, address + 1, count, values, pdu[:5])
        raise ModbusError(ExceptionCode.ILLEGAL_FUNCTION, f"function code {fc} not supported")

