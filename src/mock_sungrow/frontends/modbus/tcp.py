"""The Modbus TCP front ends: the plain "modbus" port and Sungrow's "sungrow" port.

Each is a listener whose connections run the request path
(:class:`~mock_sungrow.frontends.modbus.path.ModbusConnection`) with a framing: plain MBAP, or
the AES framing of :class:`~mock_sungrow.frontends.modbus.aes.SungrowConnection`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mock_sungrow.diagnostics import Diagnostics
from mock_sungrow.faults.faultset import FaultSet
from mock_sungrow.faults.requestlog import RequestLog
from mock_sungrow.faults.traffic import Traffic
from mock_sungrow.frontends.base import bind_server, bound_port, close_connections, stop_listening
from mock_sungrow.frontends.modbus.aes import SungrowConnection, SungrowKeys, refuse
from mock_sungrow.frontends.modbus.app import ModbusApplication
from mock_sungrow.frontends.modbus.path import Handler, ModbusConnection

if TYPE_CHECKING:
    from mock_sungrow.frontends.base import Binding


class ModbusTcpFrontEnd:
    """Plain Modbus TCP (MBAP) on one port."""

    def __init__(
        self,
        app: ModbusApplication,
        diagnostics: Diagnostics,
        host: str,
        port: int,
        *,
        name: str = "modbus",
        label: str = "Modbus TCP front end",
        protocol_factory: Callable[[ModbusTcpFrontEnd], asyncio.Protocol] | None = None,
        traffic: Traffic | None = None,
    ) -> None:
        self.app = app
        #: Fault decisions and the request log (a private one when none is given).
        self.traffic = traffic or Traffic(FaultSet(), RequestLog(1000), time.time)
        self.diagnostics = diagnostics
        self.host = host
        self.requested_port = port
        self.name = name
        self.label = label
        self.connections: set[Any] = set()
        self._protocol_factory = protocol_factory or ModbusConnection
        self._server: asyncio.Server | None = None
        self.port: int | None = None
        self.closing = False

    async def start(self) -> None:
        """Listen; returns once the port accepts connections."""
        self.closing = False
        self._server = await bind_server(
            lambda: self._protocol_factory(self), self.host, self.requested_port, self.label
        )
        self.port = bound_port(self._server)

    async def stop(self) -> None:
        """Close the listener, abort every connection, and finish their tasks."""
        server, self._server = self._server, None
        if server is None:
            return
        self.closing = True
        await stop_listening(server)
        await close_connections(self.connections)
        await server.wait_closed()

    def connection_info(self) -> dict[str, Any]:
        """Where clients connect."""
        return {"host": self.host, "port": self.port, "connection_type": self.name}

    async def rearm_idle(self) -> None:
        """An ``idle-timeout`` fault came or went: restart every connection's idle timer."""
        for conn in list(self.connections):
            conn._arm_idle()


def application(binding: Binding, **kwargs: Any) -> ModbusApplication:
    """The Modbus application for an endpoint: its devices by unit, its unit policy."""
    spec = binding.endpoint.inverter_spec
    return ModbusApplication(binding.endpoint.devices, binding.diagnostics,
                             unknown_unit=spec.modbus.unknown_unit, **kwargs)


def build_front_end(binding: Binding) -> ModbusTcpFrontEnd:
    """An inverter's LAN port (see ``frontends.FRONT_END_BUILDERS``)."""
    return ModbusTcpFrontEnd(application(binding), binding.diagnostics, binding.host,
                             binding.port, traffic=binding.traffic)


class SungrowFrontEnd(ModbusTcpFrontEnd):
    """The "sungrow" port: encrypted (or deliberately not) Modbus on the shared application."""

    def __init__(self, binding: Binding) -> None:
        dongle = binding.require_dongle()
        encryption = dongle.encrypted.encryption
        super().__init__(
            application(binding),
            binding.diagnostics,
            binding.host,
            binding.port,
            name="sungrow",
            label=f"Sungrow {'encrypted ' if encryption == 'aes' else ''}Modbus front end",
            protocol_factory=lambda _front_end: SungrowConnection(self),
            traffic=binding.traffic,
        )
        self.encryption = encryption
        self.plain_requests = dongle.encrypted.plain_requests
        lan_key_reply = dongle.encrypted.lan_key_reply
        self.keys: SungrowKeys | None = dongle.keys if encryption == "aes" else None
        if self.keys is not None:
            self.keys.current()  # loads cryptography now: a missing package fails start()
        self.answer_key_request: Handler = self._key_handler(lan_key_reply)

    def _key_handler(self, lan_key_reply: str) -> Handler:
        keys = self.keys
        if keys is not None:
            return lambda unit, pdu, peer: b"\x04\x10" + keys.current().public
        if self.encryption == "none":
            return lambda unit, pdu, peer: b"\x04\x10" + bytes(16)
        if lan_key_reply == "silence":
            return lambda unit, pdu, peer: None
        return refuse

    def connection_info(self) -> dict[str, Any]:
        """Where clients connect, and what the port does with the key request."""
        return {**super().connection_info(), "encryption": self.encryption}


def build_sungrow_front_end(binding: Binding) -> SungrowFrontEnd:
    """An inverter's WiNet-S Modbus port (see ``frontends.FRONT_END_BUILDERS``)."""
    return SungrowFrontEnd(binding)

