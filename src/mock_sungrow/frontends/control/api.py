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
import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mock_sungrow.config import PLANT_OPTIONS
from mock_sungrow.errors import ModbusError
from mock_sungrow.faults.catalogue import KINDS
from mock_sungrow.faults.params import FaultSpecError
from mock_sungrow.faults.spec import fault_from
from mock_sungrow.frontends import jsonlimits
from mock_sungrow.frontends.control.openapi import openapi_document

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device
    from mock_sungrow.server import MockSungrowServer


#: The most words one ``PUT /registers/{table}`` pins (a read's worth).
MAX_PIN = 125
#: The most words one ``POST /registers/holding/write`` writes (one Modbus FC16 request).
MAX_WRITE = 123


class ApiError(Exception):
    """An error with an HTTP status and a JSON body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON reply (the control API answers everything in JSON, errors included)."""
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, default=str))


async def _body(request: web.Request, fields: tuple[str, ...] | None = None
                ) -> dict[str, Any]:
    """The JSON object a request carries (``{}`` without a body), within the JSON limits.

    Nesting, integer size and non-finite numbers are limited
    (:mod:`mock_sungrow.frontends.jsonlimits`), so no value outside them reaches a handler.
    The media type was checked by the guard (:mod:`mock_sungrow.frontends.control.app`).
    A field not in ``fields`` (when given) is refused with 422 naming it: a misspelt
    ``inverter_tim`` would otherwise be ignored without a word.
    """
    if not request.body_exists:  # read already (frontends/web.py): still there
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = jsonlimits.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not valid JSON: it is not UTF-8") from None
    except jsonlimits.JsonLimitError as exc:
        raise ApiError(400, f"the body is outside the JSON limits: {exc}") from None
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = sorted(set(data) - set(fields)) if fields is not None else []
    if unknown:
        raise ApiError(422, f"unknown field(s) {', '.join(map(repr, unknown))}; accepted: "
                            f"{', '.join(fields or ())}")
    return data


def _int(value: Any, name: str, low: int, high: int) -> int:
    """An integer ``low..high`` from a JSON integer or a decimal string (a query value)."""
    problem = f"{name} must be an integer {low}..{high}; got {value!r}"
    if isinstance(value, float) and value.is_integer():  # JSON's 2.0 is the integer 2
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(422, problem)
    if isinstance(value, str):
        text = value.strip()
        digits = text.lstrip("+-")
        if not (digits.isascii() and digits.isdigit()) or len(text) > 20:  # not '¹
            raise ApiError(422, problem)
        value = int(text)
    number: int = value
    if not low <= number <= high:
        raise ApiError(422, f"{name} must be an integer {low}..{high}; got {number}")
    return number


def _table(request: web.Request) -> str:
    table = request.match_info["table"]
    if table not in ("input", "holding"):
        raise ApiError(404, f"unknown table {table!r}; tables are 'input' and 'holding'")
    return table


def _device(server: MockSungrowServer, request: web.Request) -> Device:
    """The device a request names (``?device=`` id or serial, ``?unit=``), else the first."""
    q = request.query
    unit = _int(q["unit"], "unit", 0, 255) if "unit" in q else None  # checked even if unused
    selector: str | int | None = q.get("device")
    if selector is None:
        selector = unit
    if selector is None:
        return server.device
    try:
        return server.find_device(selector)
    except LookupError as exc:
        raise ApiError(404, str(exc).strip("'\"")) from None


def _snapshot_dict(device: Device) -> dict[str, Any]:
    snap = device.snapshot()
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
        #: Set when the listener stops: requests that wait (``/faults/wait``) give up.
        self.stopping = False

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
            web.get("/tls/ca.pem", self.tls_ca),
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
        })

    async def devices(self, request: web.Request) -> web.Response:
        """Every device: kind, id, model, role, unit, serial, endpoints (the ready line's)."""
        return json_response(self.server.describe_devices())

    async def state(self, request: web.Request) -> web.Response:
        """A device's plant snapshot in engineering units (``?device=``, ``?unit=``)."""
        return json_response(_snapshot_dict(_device(self.server, request)))

    async def problems(self, request: web.Request) -> web.Response:
        """Server-side problems recorded so far."""
        return json_response([dataclasses.asdict(p) for p in self.server.problems])

    async def read_registers(self, request: web.Request) -> web.Response:
        """Words as a client would read them (documented addresses)."""
        table = _table(request)
        address = _int(request.query.get("address"), "address", 1, 65536)
        count = _int(request.query.get("count", 1), "count", 1, 125)
        device = _device(self.server, request)
        try:
            words = device.read_registers(table, address, count)  # type: ignore[arg-type]
        except ModbusError as exc:
            raise ApiError(409, exc.message, modbus_exception=int(exc.code)) from None
        return json_response({"table": table, "address": address, "count": count, "words": words})

    async def pin_registers(self, request: web.Request) -> web.Response:
        """Force raw words into a table until ``DELETE /registers``."""
        table = _table(request)
        body = await _body(request, ("address", "words"))
        address = _int(body.get("address"), "address", 1, 65536)
        words = body.get("words")
        if not isinstance(words, list) or not 1 <= len(words) <= MAX_PIN:
            raise ApiError(422, f"words must be a list of 1..{MAX_PIN} 16-bit integers")
        device = _device(self.server, request)
        try:
            device.set_register(table, address, [_int(w, "word", 0, 65535) for w in words])  # type: ignore[arg-type]
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        return json_response({"table": table, "address": address, "words": words})

    async def unpin_registers(self, request: web.Request) -> web.Response:
        """Drop every pinned word (of the device named, else the first inverter)."""
        _device(self.server, request).clear_registers()
        return json_response({"cleared": True})

    async def write_registers(self, request: web.Request) -> web.Response:
        """A holding-register write with a client's validation and effects."""
        body = await _body(request, ("address", "values"))
        address = _int(body.get("address"), "address", 1, 65536)
        values = body.get("values")
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_WRITE:
            raise ApiError(422, f"values must be a list of 1..{MAX_WRITE} 16-bit integers (one "
                                "Modbus write)")
        words = [_int(v, "value", 0, 65535) for v in values]
        device = _device(self.server, request)
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
        body = await _body(request)
        try:
            fault = fault_from(body)
        except FaultSpecError as exc:
            raise ApiError(422, str(exc), kinds=sorted(KINDS)) from None
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
        fault_id = _int(request.match_info["id"], "id", 1, 2**31)
        if not self.server.faults.remove(fault_id):
            raise ApiError(404, f"no fault with id {fault_id}")
        return json_response({"removed": fault_id})

    async def wait_faults(self, request: web.Request) -> web.Response:
        """Wait until every finite fault has fired (HTTP 408 with the pending ones if not)."""
        body = await _body(request, ("timeout",))
        timeout = body.get("timeout", 5.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
            0 < timeout <= 600
        ):
            raise ApiError(422, "timeout must be a number of seconds in (0, 600]")
        # In short slices: a thread blocked in a long wait would hold up stop(), which
        # waits for the loop's executor threads.
        deadline = time.monotonic() + float(timeout)
        while True:
            if self.stopping:
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
        s = self.server
        now = s.clock.time()
        return json_response({
            "clock": type(s.clock).__name__,
            "time": now,
            "utc": datetime.fromtimestamp(now, timezone.utc).isoformat(),
            "inverter_time": s.snapshot().local.isoformat(),
        })

    async def set_clock(self, request: web.Request) -> web.Response:
        """``{"advance": s}`` or ``{"set": iso}`` (manual clock), ``{"inverter_time": iso}``."""
        from mock_sungrow.clock import ManualClock

        body = await _body(request, ("advance", "set", "inverter_time"))
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
                    s.clock.set(_parse_time(body["set"], "set"))
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
        if "inverter_time" in body:
            value = body["inverter_time"]
            if not isinstance(value, str):  # a number here once set the year to 1639
                raise ApiError(422, "inverter_time must be an ISO 8601 string (the inverter's "
                                    f"local time, for example 2026-06-21T12:00:00); got {value!r}")
            try:
                s.set_clock(_parse_time(value, "inverter_time", naive_ok=True))
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
            filters["address"] = _int(q["address"], "address", 1, 65536)
        if "since" in q:
            try:
                filters["since"] = float(q["since"])
            except ValueError:
                raise ApiError(422, "since must be a number (server clock seconds)") from None
        limit = _int(q.get("limit", 1000), "limit", 1, 100_000)
        found = self.server.requests.find(**filters)[-limit:]
        return json_response([r.to_dict() for r in found])

    async def clear_requests(self, request: web.Request) -> web.Response:
        """Forget the request log."""
        self.server.requests.clear()
        return json_response({"cleared": True})

    async def plant(self, request: web.Request) -> web.Response:
        """Plant commands: ``{"action": "start"|"stop"}``, ``{"cloud_factor": x}``.

        A start or stop is written to the device's start/stop register, as a client would.
        """
        body = await _body(request, ("action", "cloud_factor"))
        device = _device(self.server, request)
        action = body.get("action")
        if action is not None:
            if action not in ("start", "stop"):
                raise ApiError(422, "action must be 'start' or 'stop'")
            try:
                device.start() if action == "start" else device.stop()
            except ModbusError as exc:
                raise ApiError(409, exc.message, modbus_exception=int(exc.code)) from None
        if "cloud_factor" in body:
            factor = body["cloud_factor"]
            if isinstance(factor, str) or not isinstance(factor, int | float):
                raise ApiError(422, f"cloud_factor must be a number 0..1.5; got {factor!r}")
            try:
                PLANT_OPTIONS["cloud_factor"].validate(factor)
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
            device.plant.set_cloud_factor(float(factor))
        if action is None and "cloud_factor" not in body:
            raise ApiError(422, "give action and/or cloud_factor")
        return json_response(_snapshot_dict(device))

    async def reset(self, request: web.Request) -> web.Response:
        """Rebuild the plant, clear faults, registers pins and the log; keep the ports."""
        self.server.reset()
        return json_response({"reset": True})


def _parse_time(value: Any, name: str, *, naive_ok: bool = False) -> datetime:
    """An ISO 8601 string or POSIX seconds as a datetime; ``ValueError`` naming ``name``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{name}: {value!r} POSIX seconds is not a time in years "
                             "1..9999") from None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 string or POSIX seconds; "  # noqa: TRY004
                         f"got {value!r}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: {value[:60]!r} is not an ISO 8601 time "
                         "(for example 2026-06-21T12:00:00+00:00)") from None
    if when.tzinfo is None and not naive_ok:
        raise ValueError(f"{name}: give the time zone (for example 2026-06-21T12:00:00+00:00)")
    return when
