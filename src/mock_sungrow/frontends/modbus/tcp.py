"""The Modbus TCP front ends: the plain "modbus" port, Sungrow's "sungrow" port, RTU over TCP.

Each is a listener whose connections (:class:`~mock_sungrow.frontends.modbus.stream.
StreamConnection`) run the request path (:class:`~mock_sungrow.frontends.modbus.path.
RequestPath`) with a codec: plain MBAP (:class:`~mock_sungrow.frontends.modbus.codec.MbapCodec`),
or Sungrow's AES framing (:class:`~mock_sungrow.frontends.modbus.aes.SungrowAesCodec`). Another
framing over TCP is another ``codec``: ``rtu-tcp`` is RTU frames with their CRC
(:class:`~mock_sungrow.frontends.modbus.rtu.RtuCodec`), as an RS485-to-Ethernet gateway
forwards them, paced at its serial side's rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mock_sungrow.diagnostics import Diagnostics
from mock_sungrow.faults.traffic import Traffic
from mock_sungrow.frontends.base import (
    bind_server,
    bound_port,
    close_connections,
    stop_listening,
    stop_reading,
)
from mock_sungrow.frontends.modbus.aes import SungrowAesCodec, SungrowKeys, refuse
from mock_sungrow.frontends.modbus.app import ModbusApplication
from mock_sungrow.frontends.modbus.codec import Codec, MbapCodec
from mock_sungrow.frontends.modbus.rtu import LineSettings, rtu_codec
from mock_sungrow.frontends.modbus.stream import StreamConnection

if TYPE_CHECKING:
    from mock_sungrow.frontends.base import Binding
    from mock_sungrow.frontends.modbus.path import Handler, RequestPath


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
        codec: Callable[[RequestPath], Codec] = MbapCodec,
        traffic: Traffic,
        endpoint: str | None = None,
    ) -> None:
        self.app = app
        #: Builds each connection's codec (its framing) for its request path.
        self.codec = codec
        #: Fault decisions and the request log: the server's.
        self.traffic = traffic
        self.diagnostics = diagnostics
        self.host = host
        self.requested_port = port
        self.name = name
        #: The endpoint it serves (``inverter[2].modbus``): its connections, gaps and freezes
        #: are its own, not shared with another inverter's port of the same kind.
        self.endpoint_name = endpoint or name
        self.label = label
        self.connections: set[StreamConnection] = set()
        self._server: asyncio.Server | None = None
        self.port: int | None = None
        self.closing = False

    async def start(self) -> None:
        """Listen; returns once the port accepts connections."""
        self.closing = False
        self._server = await bind_server(
            lambda: StreamConnection(self), self.host, self.requested_port, self.label
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

    def quiesce(self) -> None:
        """Take no more work, now: accept nothing, abort every connection and its queue.

        A fleet's stop calls it on every front end before their stops take turns (see
        :func:`~mock_sungrow.frontends.base.quiesce_all`); :meth:`stop` still releases all.
        """
        self.closing = True
        if self._server is not None:
            stop_reading(self._server)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()

    def abort(self) -> None:
        """Close the listener and every connection at once (a stop that ran out of time)."""
        self.closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
            if conn.worker is not None:
                conn.worker.cancel()

    def connection_info(self) -> dict[str, Any]:
        """Where clients connect."""
        return {"host": self.host, "port": self.port, "connection_type": self.name}

    async def rearm_idle(self) -> None:
        """An ``idle-timeout`` fault came or went: restart every connection's idle timer."""
        for conn in list(self.connections):
            conn.arm_idle()


def application(binding: Binding, **kwargs: Any) -> ModbusApplication:
    """The Modbus application for an endpoint: its devices by unit, its unit policy."""
    spec = binding.endpoint.inverter_spec
    return ModbusApplication(binding.endpoint.devices, binding.diagnostics,
                             unknown_unit=spec.modbus.unknown_unit, **kwargs)


def build_front_end(binding: Binding) -> ModbusTcpFrontEnd:
    """An inverter's LAN port (see ``frontends.FRONT_END_BUILDERS``)."""
    return ModbusTcpFrontEnd(application(binding), binding.diagnostics, binding.host,
                             binding.port, traffic=binding.traffic,
                             endpoint=binding.endpoint.name)


class SungrowFrontEnd(ModbusTcpFrontEnd):
    """The "sungrow" port: encrypted (or deliberately not) Modbus on the shared application."""

    def __init__(self, binding: Binding) -> None:
        dongle = binding.require_dongle()
        encryption = dongle.encrypted.encryption
        super().__init__(
            application(binding, view="winet"),  # the dongle's own view of its devices
            binding.diagnostics,
            binding.host,
            binding.port,
            name="sungrow",
            label=f"Sungrow {'encrypted ' if encryption == 'aes' else ''}Modbus front end",
            codec=lambda path: SungrowAesCodec(self, path),
            traffic=binding.traffic,
            endpoint=binding.endpoint.name,
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
            return lambda unit, pdu, peer, front_end: b"\x04\x10" + keys.current().public
        if self.encryption == "none":
            return lambda unit, pdu, peer, front_end: b"\x04\x10" + bytes(16)
        if lan_key_reply == "silence":
            return lambda unit, pdu, peer, front_end: None
        return refuse

    def connection_info(self) -> dict[str, Any]:
        """Where clients connect, and what the port does with the key request."""
        return {**super().connection_info(), "encryption": self.encryption}


def build_sungrow_front_end(binding: Binding) -> SungrowFrontEnd:
    """An inverter's WiNet-S Modbus port (see ``frontends.FRONT_END_BUILDERS``)."""
    return SungrowFrontEnd(binding)



def line_settings(binding: Binding) -> LineSettings:
    """The endpoint's inverter's RS485 line settings (``[inverter.rtu]``, ``rtu_*=``)."""
    rtu = binding.endpoint.inverter_spec.rtu
    return LineSettings(rtu.baudrate, rtu.bytesize, rtu.parity, rtu.stopbits, rtu.turnaround)


def build_rtu_tcp_front_end(binding: Binding) -> ModbusTcpFrontEnd:
    """An RS485-to-Ethernet gateway in front of the inverter (``frontends.FRONT_END_BUILDERS``).

    Its units are those of the inverter's RS485 bus (the LAN port's: the inverter and its
    battery); frames for other units get no answer, as on a shared bus.
    """
    return ModbusTcpFrontEnd(application(binding, key_reply=None), binding.diagnostics,
                             binding.host, binding.port, name="rtu-tcp",
                             label="Modbus RTU over TCP front end",
                             codec=rtu_codec(line_settings(binding)), traffic=binding.traffic,
                             endpoint=binding.endpoint.name)
