"""The control API: steer a running server from another process (or machine) over JSON/HTTP.

Everything a test can do to a :class:`~mock_sungrow.server.MockSungrowServer` in-process is
here too: read the plant and registers, write and pin registers, inject and clear faults, wait
for them, move the clock, read the request log, reset. The OpenAPI description is served at
``/openapi.json``. Only clients in ``control_trusted_networks`` (the loopback networks by
default) are served unless the server was started with ``control_allow_remote=True``. A bad
request gets HTTP 400 / 404 / 422 with a JSON body saying what is wrong; it never affects the
inverter's own front ends, which run beside it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mock_sungrow.errors import ModbusError
from mock_sungrow.faults.catalogue import KINDS
from mock_sungrow.faults.params import FaultSpecError
from mock_sungrow.frontends.base import bound_port

if TYPE_CHECKING:
    from mock_sungrow.config import Network
    from mock_sungrow.server import MockSungrowServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error with an HTTP status and a JSON body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, default=str))


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ApiError(422, f"{name} must be an integer {low}..{high}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(422, f"{name} must be an integer {low}..{high}; got {value!r}") from None
    if not low <= number <= high:
        raise ApiError(422, f"{name} must be an integer {low}..{high}; got {number}")
    return number


def _table(request: web.Request) -> str:
    table = request.match_info["table"]
    if table not in ("input", "holding"):
        raise ApiError(404, f"unknown table {table!r}; tables are 'input' and 'holding'")
    return table


def _snapshot_dict(server: MockSungrowServer) -> dict[str, Any]:
    snap = server.snapshot()
    out: dict[str, Any] = {}
    for f in dataclasses.fields(snap):
        value = getattr(snap, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif hasattr(value, "value") and not isinstance(value, float | int):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


class ControlApi:
    """The aiohttp application behind the control port."""

    def __init__(self, server: MockSungrowServer) -> None:
        self.server = server

    def routes(self) -> list[web.RouteDef]:
        """Every route (also the source of the OpenAPI description)."""
        return [
            web.get("/openapi.json", self.openapi),
            web.get("/info", self.info),
            web.get("/state", self.state),
            web.get("/problems", self.problems),
            web.get("/registers/{table}", self.read_registers),
            web.put("/registers/{table}", self.pin_registers),
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
            web.post("/reset", self.reset),
        ]

    # ----------------------------------------------------------------------------- handlers

    async def openapi(self, request: web.Request) -> web.Response:
        """The OpenAPI 3.1 description of this API."""
        return _json(openapi_document())

    async def info(self, request: web.Request) -> web.Response:
        """Model, server type and every front end's connection info."""
        s = self.server
        return _json({
            "model": s.model.name,
            "device_type_code": s.model.device_type_code,
            "serial": s.plant.serial,
            "server_type": s.server_type,
            "clock": type(s.clock).__name__,
            "connections": s.connection_infos(),
        })

    async def state(self, request: web.Request) -> web.Response:
        """The plant's snapshot in engineering units."""
        return _json(_snapshot_dict(self.server))

    async def problems(self, request: web.Request) -> web.Response:
        """Server-side problems recorded so far."""
        return _json([dataclasses.asdict(p) for p in self.server.problems])

    async def read_registers(self, request: web.Request) -> web.Response:
        """Words as a client would read them (documented addresses)."""
        table = _table(request)
        address = _int(request.query.get("address"), "address", 1, 65536)
        count = _int(request.query.get("count", 1), "count", 1, 125)
        try:
            words = self.server.read_registers(table, address, count)  # type: ignore[arg-type]
        except ModbusError as exc:
            raise ApiError(409, exc.message, modbus_exception=int(exc.code)) from None
        return _json({"table": table, "address": address, "count": count, "words": words})

    async def pin_registers(self, request: web.Request) -> web.Response:
        """Force raw words into a table until ``DELETE /registers``."""
        table = _table(request)
        body = await _body(request)
        address = _int(body.get("address"), "address", 1, 65536)
        words = body.get("words")
        if not isinstance(words, list) or not words:
            raise ApiError(422, "words must be a non-empty list of 16-bit integers")
        try:
            self.server.set_register(table, address, [_int(w, "word", 0, 65535) for w in words])  # type: ignore[arg-type]
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        return _json({"table": table, "address": address, "words": words})

    async def unpin_registers(self, request: web.Request) -> web.Response:
        """Drop every pinned word."""
        self.server.clear_registers()
        return _json({"cleared": True})

    async def write_registers(self, request: web.Request) -> web.Response:
        """A holding-register write with a client's validation and effects."""
        body = await _body(request)
        address = _int(body.get("address"), "address", 1, 65536)
        values = body.get("values")
        if not isinstance(values, list) or not values:
            raise ApiError(422, "values must be a non-empty list of 16-bit integers")
        words = [_int(v, "value", 0, 65535) for v in values]
        try:
            self.server.write_registers(address, words)
        except ModbusError as exc:
            raise ApiError(409, exc.message, modbus_exception=int(exc.code)) from None
        return _json({"address": address, "values": words})

    async def list_faults(self, request: web.Request) -> web.Response:
        """The active faults."""
        return _json(self.server.faults.describe())

    async def inject(self, request: web.Request) -> web.Response:
        """Inject a fault from a spec object (same fields as ``server.inject``)."""
        body = await _body(request)
        try:
            fault = self.server.inject(body)
        except FaultSpecError as exc:
            raise ApiError(422, str(exc), kinds=sorted(KINDS)) from None
        return _json(fault.to_dict(), status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Remove every fault."""
        self.server.clear_faults()
        return _json({"cleared": True})

    async def remove_fault(self, request: web.Request) -> web.Response:
        """Remove one fault by id."""
        fault_id = _int(request.match_info["id"], "id", 1, 2**31)
        if not self.server.faults.remove(fault_id):
            raise ApiError(404, f"no fault with id {fault_id}")
        return _json({"removed": fault_id})

    async def wait_faults(self, request: web.Request) -> web.Response:
        """Wait until every finite fault has fired (HTTP 408 with the pending ones if not)."""
        body = await _body(request)
        timeout = body.get("timeout", 5.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
            0 < timeout <= 600
        ):
            raise ApiError(422, "timeout must be a number of seconds in (0, 600]")
        try:
            await asyncio.to_thread(self.server.faults.wait, float(timeout))
        except TimeoutError as exc:
            raise ApiError(408, str(exc), pending=self.server.faults.describe()) from None
        return _json({"done": True})

    async def get_clock(self, request: web.Request) -> web.Response:
        """The server clock and the inverter's own clock."""
        s = self.server
        now = s.clock.time()
        return _json({
            "clock": type(s.clock).__name__,
            "time": now,
            "utc": datetime.fromtimestamp(now, timezone.utc).isoformat(),
            "inverter_time": s.snapshot().local.isoformat(),
        })

    async def set_clock(self, request: web.Request) -> web.Response:
        """``{"advance": s}`` or ``{"set": iso}`` (manual clock), ``{"inverter_time": iso}``."""
        from mock_sungrow.clock import ManualClock

        body = await _body(request)
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
                    s.clock.advance(float(seconds))
                else:
                    s.clock.set(_parse_time(body["set"]))
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
        if "inverter_time" in body:
            try:
                s.set_clock(_parse_time(body["inverter_time"], naive_ok=True))
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
        return await self.get_clock(request)

    async def get_requests(self, request: web.Request) -> web.Response:
        """The request log, filtered by query parameters."""
        q = request.query
        filters: dict[str, Any] = {}
        for key in ("front_end", "table", "peer", "outcome", "fault"):
            if key in q:
                filters[key] = q[key]
        if "function" in q:
            function = q["function"]
            filters["function"] = int(function) if function.isdigit() else function
        if "address" in q:
            filters["address"] = _int(q["address"], "address", 1, 65536)
        if "since" in q:
            try:
                filters["since"] = float(q["since"])
            except ValueError:
                raise ApiError(422, "since must be a number (server clock seconds)") from None
        limit = _int(q.get("limit", 1000), "limit", 1, 100_000)
        found = self.server.requests.find(**filters)[-limit:]
        return _json([r.to_dict() for r in found])

    async def clear_requests(self, request: web.Request) -> web.Response:
        """Forget the request log."""
        self.server.requests.clear()
        return _json({"cleared": True})

    async def plant(self, request: web.Request) -> web.Response:
        """Plant commands: ``{"action": "start"|"stop"}``, ``{"cloud_factor": x}``."""
        body = await _body(request)
        plant = self.server.plant
        action = body.get("action")
        if action is not None:
            if action not in ("start", "stop"):
                raise ApiError(422, "action must be 'start' or 'stop'")
            plant.start() if action == "start" else plant.stop()
        if "cloud_factor" in body:
            factor = body["cloud_factor"]
            if isinstance(factor, bool) or not isinstance(factor, int | float) or not (
                0 <= factor <= 1.5
            ):
                raise ApiError(422, "cloud_factor must be a number 0..1.5")
            plant.set_cloud_factor(float(factor))
        if action is None and "cloud_factor" not in body:
            raise ApiError(422, "give action and/or cloud_factor")
        return _json(_snapshot_dict(self.server))

    async def reset(self, request: web.Request) -> web.Response:
        """Rebuild the plant, clear faults, registers pins and the log; keep the ports."""
        self.server.reset()
        return _json({"reset": True})


def _parse_time(value: Any, *, naive_ok: bool = False) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), timezone.utc)
    if not isinstance(value, str):
        raise ValueError("a time is an ISO 8601 string or POSIX seconds")  # noqa: TRY004
    when = datetime.fromisoformat(value)
    if when.tzinfo is None and not naive_ok:
        raise ValueError("give the time zone (for example 2026-06-21T12:00:00+00:00)")
    return when


def is_trusted(remote: str | None, trusted: Sequence[Network] | None) -> bool:
    """Whether a client at ``remote`` may use the control API (``None`` trusts everyone).

    An IPv4 client of a dual-stack listener shows up as ``::ffff:a.b.c.d``; it is judged by
    its IPv4 address. A zone (``fe80::1%eth0``) is ignored.
    """
    if trusted is None:
        return True
    try:
        address = ipaddress.ip_address((remote or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted)


def _middlewares(trusted: Sequence[Network] | None) -> list[Any]:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_trusted(request.remote, trusted):
            return _json({"error": f"the control API does not serve {request.remote}: only "
                                   "clients in control_trusted_networks (loopback by default); "
                                   "start the server with control_allow_remote to allow others"},
                         status=403)
        try:
            return await handler(request)
        except ApiError as exc:
            return _json(exc.body, status=exc.status)
        except web.HTTPException as exc:
            return _json({"error": exc.reason}, status=exc.status)

    return [guard]


class ControlFrontEnd:
    """The control API's listener."""

    name = "control"

    def __init__(self, server: MockSungrowServer, host: str, port: int,
                 trusted: Sequence[Network] | None = None) -> None:
        self.server = server
        self.host = host
        self.requested_port = port
        #: Client networks served; ``None`` serves everyone (``control_allow_remote``).
        self.trusted = trusted
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and serve; returns once the port accepts connections."""
        from mock_sungrow.frontends.base import bind_server

        app = web.Application(middlewares=_middlewares(self.trusted))
        app.add_routes(ControlApi(self.server).routes())
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            server = await bind_server(runner.server, self.host, self.requested_port,
                                       "control API")
        except BaseException:
            await runner.cleanup()
            raise
        self._server = server
        self._runner = runner
        self.port = bound_port(server)

    async def stop(self) -> None:
        """Close the listener and every connection."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        from mock_sungrow.frontends.base import stop_listening

        await stop_listening(self._server)
        await runner.shutdown()
        await runner.cleanup()
        await self._server.wait_closed()

    def connection_info(self) -> dict[str, Any]:
        """Where the control API listens."""
        return {"host": self.host, "port": self.port, "connection_type": "control",
                "url": f"http://{self.host}:{self.port}/"}


def build_front_end(server: MockSungrowServer) -> ControlFrontEnd:
    """The control API of ``server`` (see ``frontends.FRONT_END_BUILDERS``)."""
    trusted = None if server.control_allow_remote else server.control_trusted_networks
    return ControlFrontEnd(server, server.host, server.configured_port("control"), trusted)


# ----------------------------------------------------------------------------- OpenAPI


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description, built from the routes and the fault catalogue."""
    error = {"$ref": "#/components/schemas/Error"}

    def op(summary: str, *, body: dict[str, Any] | None = None,
           params: list[dict[str, Any]] | None = None, ok: int = 200,
           errors: tuple[int, ...] = (422,)) -> dict[str, Any]:
        spec: dict[str, Any] = {"summary": summary, "responses": {
            str(ok): {"description": "success", "content": {"application/json": {}}}}}
        for code in errors:
            spec["responses"][str(code)] = {
                "description": "error", "content": {"application/json": {"schema": error}}}
        if body is not None:
            spec["requestBody"] = {"required": True,
                                   "content": {"application/json": {"schema": body}}}
        if params:
            spec["parameters"] = params
        return spec

    def q(name: str, schema: dict[str, Any], required: bool = False,
          where: str = "query") -> dict[str, Any]:
        return {"name": name, "in": where, "required": required, "schema": schema}

    table = q("table", {"type": "string", "enum": ["input", "holding"]}, True, "path")
    integer = {"type": "integer"}
    words = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 65535},
             "minItems": 1}
    fault = {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {"type": "string", "enum": sorted(KINDS)},
            "front_end": {"type": "string", "enum": ["modbus", "sungrow", "http", "control"]},
            "unit": integer, "function": {"type": ["integer", "string"]},
            "service": {"type": "string"},
            "table": {"type": "string", "enum": ["input", "holding"]},
            "address": {"type": ["integer", "string", "array"]},
            "client": {"type": "string"},
            "times": {"type": "integer", "minimum": 1},
            "duration": {"type": "number", "exclusiveMinimum": 0},
            "ordered": {"type": "boolean"},
        },
        "additionalProperties": True,
        "description": "A fault spec: kind, the kind's parameters, a match and a lifetime.",
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "mock-sungrow control API", "version": _version()},
        "paths": {
            "/openapi.json": {"get": op("This document", errors=())},
            "/info": {"get": op("Model and connection info", errors=())},
            "/state": {"get": op("The plant snapshot", errors=())},
            "/problems": {"get": op("Server-side problems recorded", errors=())},
            "/registers/{table}": {
                "get": op("Read registers (documented addresses)", params=[
                    table, q("address", integer, True), q("count", integer)],
                    errors=(404, 409, 422)),
                "put": op("Pin raw words", params=[table], body={
                    "type": "object", "required": ["address", "words"],
                    "properties": {"address": integer, "words": words}},
                    errors=(400, 404, 422)),
            },
            "/registers": {"delete": op("Unpin every word", errors=())},
            "/registers/holding/write": {"post": op("Write holding registers as a client", body={
                "type": "object", "required": ["address", "values"],
                "properties": {"address": integer, "values": words}}, errors=(400, 409, 422))},
            "/faults": {
                "get": op("Active faults", errors=()),
                "post": op("Inject a fault", body=fault, ok=201, errors=(400, 422)),
                "delete": op("Clear every fault", errors=()),
            },
            "/faults/{id}": {"delete": op("Remove a fault", params=[
                q("id", integer, True, "path")], errors=(404, 422))},
            "/faults/wait": {"post": op("Wait for finite faults to fire", body={
                "type": "object", "properties": {"timeout": {"type": "number"}}},
                errors=(400, 408, 422))},
            "/clock": {
                "get": op("Server and inverter clocks", errors=()),
                "post": op("Move or set a clock", body={"type": "object", "properties": {
                    "advance": {"type": "number"}, "set": {"type": ["string", "number"]},
                    "inverter_time": {"type": "string"}}}, errors=(400, 409, 422)),
            },
            "/requests": {
                "get": op("The request log", params=[
                    q("front_end", {"type": "string"}), q("table", {"type": "string"}),
                    q("address", integer), q("function", {"type": "string"}),
                    q("peer", {"type": "string"}), q("outcome", {"type": "string"}),
                    q("fault", {"type": "string"}), q("since", {"type": "number"}),
                    q("limit", integer)]),
                "delete": op("Clear the request log", errors=()),
            },
            "/plant": {"post": op("Start or stop the plant, set clouds", body={
                "type": "object", "properties": {
                    "action": {"type": "string", "enum": ["start", "stop"]},
                    "cloud_factor": {"type": "number", "minimum": 0, "maximum": 1.5}}},
                errors=(400, 422))},
            "/reset": {"post": op("Rebuild the plant, clear faults and log", errors=())},
        },
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {"type": "string"}}}}},
    }


def _version() -> str:
    from mock_sungrow._version import __version__

    return __version__
