"""The control API's handlers: each one calls the same method a test calls in-process.

Read the plant and registers, write and pin registers, inject and clear faults, wait for them,
move the clock, read the request log, reset. ``GET /devices`` lists the installation's devices;
the register, state and plant endpoints act on the first inverter unless the query names a
device (``?device=inverter[2]`` or a serial, or ``?unit=200`` when one device has that unit),
and ``/requests?device=...`` filters the log by device. A bad request gets HTTP 400 / 404 /
422 with a JSON body saying what is wrong (:class:`ApiError`); the listener and its guard are
:mod:`mock_sungrow.frontends.control.app`, the OpenAPI description
:mod:`mock_sungrow.frontends.control.openapi`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mock_sungrow.device.setup import NoBatteryError, PlantSetup, SetupError
from mock_sungrow.errors import ModbusError
from mock_sungrow.faults.catalogue import KINDS
from mock_sungrow.faults.params import FaultSpecError, UnknownFaultKindError
from mock_sungrow.faults.spec import fault_from
from mock_sungrow.frontends.control.live import LiveHandlers, clock_dict
from mock_sungrow.frontends.control.openapi import openapi_document
from mock_sungrow.frontends.control.parse import (
    ApiError,
    device_of,
    integer,
    json_response,
    parse_time,
    read_body,
    snapshot_dict,
    table_of,
)

if TYPE_CHECKING:
    from mock_sungrow.server import MockSungrowServer

__all__ = ["ApiError", "ControlApi", "json_response"]


#: The most words one ``PUT /registers/{table}`` pins (a read's worth).
MAX_PIN = 125
#: The most words one ``POST /registers/holding/write`` writes (one Modbus FC16 request).
MAX_WRITE = 123


class ControlApi(LiveHandlers):
    """The aiohttp application behind the control port (the dashboard's routes too)."""

    def __init__(self, server: MockSungrowServer,
                 stopping_of: Callable[[], bool] | None = None) -> None:
        self.server = server
        #: Set when the listener stops: requests that wait (``/faults/wait``, ``/events``)
        #: give up.
        self.stopping = False
        self.stopping_of = stopping_of

    def routes(self) -> list[web.RouteDef]:
        """Every route (also the source of the OpenAPI description)."""
        return [
            web.get("/openapi.json", self.openapi),
            web.get("/info", self.info),
            web.get("/devices", self.devices),
            web.get("/state", self.state),
            web.get("/problems", self.problems),
            web.get("/registers/{table}", self.read_registers),
            web.put("/registers/{table}", self.pin_registers),
            web.get("/registers/{table}/{name}", self.read_named),
            web.delete("/registers", self.unpin_registers),
            web.post("/registers/holding/write", self.write_registers),
            web.get("/faults", self.list_faults),
            web.post("/faults", self.inject),
            web.delete("/faults", self.clear_faults),
            web.delete("/faults/{id}", self.remove_fault),
            web.post("/faults/wait", self.wait_faults),
            web.get("/clock", self.get_clock),
            web.post("/clock", self.set_clock),
            web.get("/requests", self.get_requests),
            web.delete("/requests", self.clear_requests),
            web.post("/plant", self.plant),
            web.get("/battery", self.battery),
            web.post("/reset", self.reset),
            web.get("/tls/ca.pem", self.tls_ca),
            web.get("/events", self.events),
            web.get("/history", self.history),
            web.get("/register-map", self.register_map),
        ]

    # ----------------------------------------------------------------------------- handlers

    async def openapi(self, request: web.Request) -> web.Response:
        """The OpenAPI 3.1 description of this API."""
        return json_response(openapi_document())

    async def tls_ca(self, request: web.Request) -> web.Response:
        """The PEM of the CA behind the WiNet-S TLS listener, for clients to trust.

        The one answer that is not JSON: it is the file ``curl --cacert`` and
        ``ssl.create_default_context(cafile=...)`` take. 404 (JSON) when no TLS listener is
        served, so there is no CA.
        """
        pem = self.server.winet_ca_pem
        if pem is None:
            raise ApiError(404, "no TLS listener is served, so there is no CA (start with "
                                "tls_port / --tls-port, or the tls-only profile)")
        return web.Response(body=pem, content_type="application/x-pem-file")

    async def info(self, request: web.Request) -> web.Response:
        """Model, server type and every front end's connection info."""
        s = self.server
        return json_response({
            "model": s.model.name,
            "device_type_code": s.model.device_type_code,
            "serial": s.plant.serial,
            "server_type": s.server_type,
            "clock": type(s.clock).__name__,
            "connections": s.connection_infos(),
            "read_only": s.control.read_only,
        })

    async def devices(self, request: web.Request) -> web.Response:
        """Every device: kind, id, model, role, unit, serial, endpoints (the ready line's)."""
        return json_response(self.server.describe_devices())

    async def state(self, request: web.Request) -> web.Response:
        """A device's plant snapshot in engineering units (``?device=``, ``?unit=``)."""
        return json_response(snapshot_dict(device_of(self.server, request)))

    async def problems(self, request: web.Request) -> web.Response:
        """Server-side problems recorded so far."""
        return json_response([dataclasses.asdict(p) for p in self.server.problems])

    async def read_registers(self, request: web.Request) -> web.Response:
        """Words as a client would read them (documented addresses)."""
        table = table_of(request)
        address = integer(request.query.get("address"), "address", 1, 65536)
        count = integer(request.query.get("count", 1), "count", 1, 125)
        device = device_of(self.server, request)
        try:
            words = device.read_registers(table, address, count)  # type: ignore[arg-type]
        except ModbusError as exc:
            raise ApiError(409, exc.message, modbus_exception=int(exc.code)) from None
        return json_response({"table": table, "address": address, "count": count, "words": words})

    async def pin_registers(self, request: web.Request) -> web.Response:
        """Force raw words into a table until ``DELETE /registers``."""
        table = table_of(request)
        body = await read_body(request, ("address", "words"))
        address = integer(body.get("address"), "address", 1, 65536)
        words = body.get("words")
        if not isinstance(words, list) or not 1 <= len(words) <= MAX_PIN:
            raise ApiError(422, f"words must be a list of 1..{MAX_PIN} 16-bit integers")
        device = device_of(self.server, request)
        try:
            device.set_register(table, address, [integer(w, "word", 0, 65535) for w in words])  # type: ignore[arg-type]
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        return json_response({"table": table, "address": address, "words": words})

    async def unpin_registers(self, request: web.Request) -> web.Response:
        """Drop every pinned word (of the device named, else the first inverter)."""
        device_of(self.server, request).clear_registers()
        return json_response({"cleared": True})

    async def write_registers(self, request: web.Request) -> web.Response:
        """A holding-register write with a client's validation and effects."""
        body = await read_body(request, ("address", "values"))
        address = integer(body.get("address"), "address", 1, 65536)
        values = body.get("values")
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_WRITE:
            raise ApiError(422, f"values must be a list of 1..{MAX_WRITE} 16-bit integers (one "
                                "Modbus write)")
        words = [integer(v, "value", 0, 65535) for v in values]
        device = device_of(self.server, request)
        try:
            device.write_registers(address, words)
        except ModbusError as exc:
            raise ApiError(409, exc.message, modbus_exception=int(exc.code)) from None
        return json_response({"address": address, "values": words})

    async def list_faults(self, request: web.Request) -> web.Response:
        """The active faults."""
        return json_response(self.server.faults.describe())

    async def inject(self, request: web.Request) -> web.Response:
        """Inject a fault from a spec object (same fields as ``server.inject``)."""
        body = await read_body(request)
        try:
            fault = fault_from(body)
        except UnknownFaultKindError as exc:
            raise ApiError(422, str(exc), kinds=sorted(KINDS)) from None
        except FaultSpecError as exc:
            raise ApiError(422, str(exc)) from None
        try:
            fault = self.server.inject(fault)
        except FaultSpecError as exc:  # a valid spec this server cannot carry out
            raise ApiError(409, str(exc)) from None
        return json_response(fault.to_dict(), status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Remove every fault."""
        self.server.clear_faults()
        return json_response({"cleared": True})

    async def remove_fault(self, request: web.Request) -> web.Response:
        """Remove one fault by id."""
        fault_id = integer(request.match_info["id"], "id", 1, 2**31)
        if not self.server.faults.remove(fault_id):
            raise ApiError(404, f"no fault with id {fault_id}")
        return json_response({"removed": fault_id})

    async def wait_faults(self, request: web.Request) -> web.Response:
        """Wait until every finite fault has fired (HTTP 408 with the pending ones if not)."""
        body = await read_body(request, ("timeout",))
        timeout = body.get("timeout", 5.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
            0 < timeout <= 600
        ):
            raise ApiError(422, "timeout must be a number of seconds in (0, 600]")
        # In short slices: a thread blocked in a long wait would hold up stop(), which
        # waits for the loop's executor threads.
        deadline = time.monotonic() + float(timeout)
        while True:
            if self._stopping():
                raise ApiError(503, "the server is stopping")
            try:
                await asyncio.to_thread(self.server.faults.wait,
                                        max(0.0, min(0.25, deadline - time.monotonic())))
            except TimeoutError as exc:
                if time.monotonic() < deadline:
                    continue
                raise ApiError(408, str(exc), pending=self.server.faults.describe()) from None
            return json_response({"done": True})

    async def get_clock(self, request: web.Request) -> web.Response:
        """The server clock and the inverter's own clock."""
        return json_response(clock_dict(self.server))

    async def set_clock(self, request: web.Request) -> web.Response:
        """``{"advance": s}`` or ``{"set": iso}`` (manual clock), ``{"inverter_time": iso}``."""
        from mock_sungrow.clock import ManualClock

        body = await read_body(request, ("advance", "set", "inverter_time"))
        s = self.server
        if not body:
            raise ApiError(422, "give one of advance, set, inverter_time")
        if "advance" in body or "set" in body:
            if not isinstance(s.clock, ManualClock):
                raise ApiError(409, "the server runs on the real clock; start it with a manual "
                                    "clock (--manual-clock) to move time")
            try:
                if "advance" in body:
                    seconds = body["advance"]
                    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                        raise ApiError(422, "advance must be a number of seconds")
                    s.clock.advance(seconds)  # it checks: finite, in range
                else:
                    s.clock.set(parse_time(body["set"], "set"))
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
        if "inverter_time" in body:
            value = body["inverter_time"]
            if not isinstance(value, str):  # a number here once set the year to 1639
                raise ApiError(422, "inverter_time must be an ISO 8601 string (the inverter's "
                                    f"local time, for example 2026-06-21T12:00:00); got {value!r}")
            try:
                s.set_clock(parse_time(value, "inverter_time", naive_ok=True))
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
        return await self.get_clock(request)

    async def get_requests(self, request: web.Request) -> web.Response:
        """The request log, filtered by query parameters."""
        q = request.query
        filters: dict[str, Any] = {}
        for key in ("front_end", "table", "peer", "outcome", "fault", "device"):
            if key in q:
                filters[key] = q[key]
        if "function" in q:
            function = q["function"]
            number = function.isascii() and function.isdigit()
            filters["function"] = int(function) if number else function
        if "address" in q:
            filters["address"] = integer(q["address"], "address", 1, 65536)
        if "since" in q:
            try:
                filters["since"] = float(q["since"])
            except ValueError:
                raise ApiError(422, "since must be a number (server clock seconds)") from None
        limit = integer(q.get("limit", 1000), "limit", 1, 100_000)
        found = self.server.requests.find(**filters)[-limit:]
        return json_response([r.to_dict() for r in found])

    async def clear_requests(self, request: web.Request) -> web.Response:
        """Forget the request log."""
        self.server.requests.clear()
        return json_response({"cleared": True})

    async def plant(self, request: web.Request) -> web.Response:
        """Set the plant up as the Python API does (:class:`~mock_sungrow.device.setup.PlantSetup`).

        ``action`` start/stop is written to the device's start/stop register, as a client
        would; the other fields are the plant's set-up calls (``set_battery_soc``,
        ``set_grid_outage``, ``set_power_limit``...). Everything is checked before anything
        is applied: a refused request changes nothing.
        """
        device = device_of(self.server, request)
        try:
            setup = PlantSetup.parse(await read_body(request))
            setup.apply(device)
        except NoBatteryError as exc:
            raise ApiError(409, str(exc)) from None
        except SetupError as exc:
            raise ApiError(422, str(exc)) from None
        except ModbusError as exc:
            raise ApiError(409, exc.message, modbus_exception=int(exc.code)) from None
        return json_response(snapshot_dict(device))

    async def read_named(self, request: web.Request) -> web.Response:
        """One catalogued register by name, decoded (what ``server.read(name)`` returns)."""
        table = table_of(request)
        name = request.match_info["name"]
        device = device_of(self.server, request)
        try:
            value = device.read(name, table)  # type: ignore[arg-type]
        except KeyError as exc:
            raise ApiError(404, str(exc.args[0])) from None
        except ModbusError as exc:
            raise ApiError(409, exc.message, modbus_exception=int(exc.code)) from None
        return json_response({"table": table, "name": name, "value": value})

    async def battery(self, request: web.Request) -> web.Response:
        """The battery's readings (``server.battery_readings()``): 404 without a battery."""
        device = device_of(self.server, request)
        try:
            readings = device.readings()
        except ValueError as exc:
            raise ApiError(404, str(exc)) from None
        return json_response(dataclasses.asdict(readings))

    async def reset(self, request: web.Request) -> web.Response:
        """Rebuild the plant, clear faults, registers pins and the log; keep the ports."""
        self.server.reset()
        return json_response({"reset": True})
