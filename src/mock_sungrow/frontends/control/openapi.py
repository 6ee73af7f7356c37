"""The control API's OpenAPI 3.1 description (served at ``/openapi.json``).

Built from the fault catalogue, so the fault body cannot drift from what the parser accepts:
``POST /faults`` takes one of the catalogue's kinds (``oneOf``, one schema per kind) with
*that* kind's parameters, typed and bounded from its :class:`~mock_sungrow.faults.params.Param`
entries, the match fields that kind takes (``table`` and ``address`` only for kinds that act
on registers, ``front_end`` among the front ends it applies to) and its lifetimes (``times``
and ``ordered`` not for plant and session kinds, which last a ``duration``). Every operation
has a response schema for each status it answers. ``tests/test_control_openapi.py`` checks
that the routes and the document list the same operations, and the fuzz suite
(``tests/test_fuzz_control.py``, schemathesis) that the handlers answer what it says.
"""

from __future__ import annotations

from typing import Any

from mock_sungrow.faults.catalogue import KINDS
from mock_sungrow.faults.kinds.base import FaultKind
from mock_sungrow.faults.spec import ADDRESS_TEXT

Schema = dict[str, Any]

_INTEGER: Schema = {"type": "integer"}
_STRING: Schema = {"type": "string"}
_NUMBER: Schema = {"type": "number"}
_WATTS: Schema = {"type": ["number", "null"], "minimum": 0,
                  "description": "watts (null: no limit)"}
_WORD: Schema = {"type": "integer", "minimum": 0, "maximum": 65535}
_WORDS: Schema = {"type": "array", "items": _WORD, "minItems": 1, "maxItems": 125}
_ADDRESS: Schema = {"type": "integer", "minimum": 1, "maximum": 65536}
_ERROR: Schema = {"$ref": "#/components/schemas/Error"}
_FAULT: Schema = {"$ref": "#/components/schemas/Fault"}
_OBJECT: Schema = {"type": "object"}
#: Statuses any operation may answer: a body outside the JSON limits (400), a client or
#: cross-site request the guard refuses (403), a body that is not JSON (415).
_ALWAYS = (400, 403, 415)


#: Years a clock may show (mock_sungrow.clock.EARLIEST .. LATEST): 1970-8999.
_CLOCK_YEARS = "^(19[7-9][0-9]|[2-8][0-9]{3})-"
#: ... and an inverter's own clock, at most 900 years from a server clock of this century.
_INVERTER_YEARS = "^(19[7-9][0-9]|2[0-8][0-9]{2})-"


def _object(properties: dict[str, Schema], required: tuple[str, ...] = (),
            extra: bool = False) -> Schema:
    schema: Schema = {"type": "object", "properties": properties,
                      "additionalProperties": extra}
    if required:
        schema["required"] = list(required)
    return schema


def _at_least_one(properties: dict[str, Schema]) -> Schema:
    """An object of these optional properties that names at least one of them."""
    return {**_object(properties), "minProperties": 1}


def fault_kind_schema(kind: FaultKind) -> Schema:
    """The body of ``POST /faults`` for one kind: its parameters, match and lifetime."""
    from mock_sungrow.endpoints import FRONT_END_NAMES

    properties: dict[str, Schema] = {"kind": {"const": kind.name}}
    for param in kind.params:
        properties[param.name] = param.json_schema()
    front_ends = [fe for fe in FRONT_END_NAMES if fe in kind.front_ends]
    properties.update({
        "front_end": {"type": "string", "enum": front_ends},
        "unit": {"type": "integer", "minimum": 0, "maximum": 255},
        "device": {"type": "string", "minLength": 1, "description": "a device's serial"},
        "function": {"type": ["integer", "string"],
                     "description": "a Modbus function code or a WiNet-S service / path"},
        "service": {"type": ["integer", "string"], "description": "the same as function"},
        "client": {"type": "string", "description": "a client's IP address"},
        "duration": {"type": "number", "exclusiveMinimum": 0,
                     "description": "seconds on the server clock"},
    })
    if kind.registers:
        properties["table"] = {"type": "string", "enum": ["input", "holding"]}
        properties["address"] = {"oneOf": [
            _ADDRESS,
            {"type": "array", "items": _ADDRESS, "minItems": 2, "maxItems": 2,
             "description": "[first, last], first <= last"},
            {"type": "string", "pattern": ADDRESS_TEXT,
             "description": "'first-last' or one register number"},
        ]}
    # The parser reads null as "not given" (the default, or no match on that field), which a
    # required parameter cannot be.
    required = {p.name for p in kind.params if p.required}
    for name in list(properties):
        if name != "kind" and name not in required:
            properties[name] = {"anyOf": [properties[name], {"type": "null"}]}
    schema = _object(properties, ("kind", *(p.name for p in kind.params if p.required)))
    if kind.phase not in ("plant", "session"):
        properties["times"] = {"anyOf": [{"type": "integer", "minimum": 1},
                                         {"type": "null"}]}  # null: permanent
        properties["ordered"] = {"type": "boolean",
                                 "description": "fire in injection order (needs times)"}
        # ordered: true needs a finite times (a number; null is "permanent").
        schema["if"] = {"properties": {"ordered": {"const": True}}, "required": ["ordered"]}
        schema["then"] = {"required": ["times"],
                          "properties": {"times": {"type": "integer", "minimum": 1}}}
    schema.update(getattr(kind.validate, "schema", {}))  # a rule across the parameters
    schema["description"] = kind.summary
    schema["title"] = kind.name
    return schema


def _fault_body() -> Schema:
    return {"oneOf": [fault_kind_schema(KINDS[name]) for name in sorted(KINDS)],
            "description": "A fault spec: a kind, that kind's parameters, a match and a "
                           "lifetime (docs/faults.md)."}


def _op(summary: str, ok: Schema, *, status: int = 200, body: Schema | None = None,
        params: list[Schema] | None = None, errors: tuple[int, ...] = (),
        body_required: bool = True) -> Schema:
    responses: dict[str, Schema] = {str(status): {
        "description": "success", "content": {"application/json": {"schema": ok}}}}
    for code in sorted({*errors, *_ALWAYS}):
        responses[str(code)] = {"description": "error",
                                "content": {"application/json": {"schema": _ERROR}}}
    spec: Schema = {"summary": summary, "responses": responses}
    if body is not None:
        spec["requestBody"] = {"required": body_required,
                               "content": {"application/json": {"schema": body}}}
    if params:
        spec["parameters"] = params
    return spec


def _tls_ca() -> Schema:
    """``GET /tls/ca.pem``: the one answer that is a PEM file, not JSON."""
    spec = _op("PEM of the CA that signed the WiNet-S TLS certificate", _STRING,
               errors=(404,))
    spec["responses"]["200"] = {"description": "the CA certificate",
                                "content": {"application/x-pem-file": {
                                    "schema": {"type": "string"}}}}
    return spec


def _events(device: list[Schema]) -> Schema:
    """``GET /events``: a server-sent event stream, not one JSON answer."""
    spec = _op("Server-sent events for the dashboard: every message a JSON object of what "
               "changed (state, clock, faults with remaining_s / remaining_times, history, "
               "clients) and the requests logged since the previous one", _OBJECT,
               params=device, errors=(404, 422))
    message = _object({
        "state": {"$ref": "#/components/schemas/State"},
        "clock": _OBJECT, "faults": {"type": "array", "items": _FAULT},
        "history": _OBJECT, "clients": {"type": "array", "items": _OBJECT},
        "requests": {"type": "array", "items": _OBJECT}}, extra=True)
    spec["responses"]["200"] = {
        "description": "a stream of `data: <JSON>` messages (the first one has everything); "
                       "it ends when the server stops",
        "content": {"text/event-stream": {"schema": {
            "type": "string", "description": "each message's data is this JSON object",
            "contentMediaType": "application/json", "contentSchema": message}}}}
    return spec


def _q(name: str, schema: Schema, required: bool = False, where: str = "query") -> Schema:
    return {"name": name, "in": where, "required": required, "schema": schema}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description, built from the routes' shapes and the fault catalogue."""
    table = _q("table", {"type": "string", "enum": ["input", "holding"]}, True, "path")
    #: Which device a register, state or plant request acts on (default: the first inverter).
    device = [_q("device", {"type": "string", "description": "a device id (inverter[2]) or "
                                                            "serial"}),
              _q("unit", {"type": "integer", "minimum": 0, "maximum": 255,
                          "description": "a unit only one device has"})]
    done = {"type": "object"}
    clock = _object({"clock": _STRING, "time": _NUMBER, "utc": _STRING,
                     "inverter_time": _STRING}, ("clock", "time", "utc", "inverter_time"))
    state = {"$ref": "#/components/schemas/State"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "mock-sungrow control API", "version": _version()},
        "paths": {
            "/openapi.json": {"get": _op("This document", _OBJECT)},
            "/info": {"get": _op("Model and connection info", _object({
                "model": _STRING, "device_type_code": _INTEGER, "serial": _STRING,
                "server_type": _STRING, "clock": _STRING,
                "connections": {"type": "object", "additionalProperties": _OBJECT}},
                ("model", "serial", "server_type", "clock", "connections"), extra=True))},
            "/devices": {"get": _op(
                "Every device: kind, id, model, role, unit, serial, endpoints",
                {"type": "array", "items": _object({
                    "kind": _STRING, "id": _STRING, "model": _STRING, "role": _STRING,
                    "unit": _INTEGER, "serial": _STRING, "endpoints": _OBJECT},
                    ("kind", "id", "model", "unit", "serial"), extra=True)})},
            "/state": {"get": _op("A device's plant snapshot", state, params=device,
                                  errors=(404, 422))},
            "/problems": {"get": _op("Server-side problems recorded", {
                "type": "array", "items": _object({
                    "time": _NUMBER, "front_end": _STRING, "peer": _STRING, "kind": _STRING,
                    "message": _STRING}, ("time", "front_end", "peer", "kind", "message"))})},
            "/registers/{table}": {
                "get": _op("Read registers (documented addresses)", _object({
                    "table": _STRING, "address": _INTEGER, "count": _INTEGER, "words": _WORDS},
                    ("table", "address", "count", "words")), params=[
                    table, _q("address", _ADDRESS, True),
                    _q("count", {"type": "integer", "minimum": 1, "maximum": 125}), *device],
                    errors=(404, 409, 422)),
                "put": _op("Pin raw words", _object({
                    "table": _STRING, "address": _INTEGER, "words": _WORDS},
                    ("table", "address", "words")), params=[table, *device],
                    body=_object({"address": _ADDRESS, "words": _WORDS}, ("address", "words")),
                    errors=(404, 422)),
            },
            "/registers/{table}/{name}": {"get": _op(
                "Read a catalogued register by name, decoded (mock-sungrow registers MODEL "
                "lists the names)", _object({"table": _STRING, "name": _STRING, "value": {}},
                                            ("table", "name", "value")),
                params=[table, _q("name", _STRING, True, "path"), *device],
                errors=(404, 409, 422))},
            "/registers": {"delete": _op("Unpin every word", done, params=device,
                                         errors=(404, 422))},
            "/registers/holding/write": {"post": _op(
                "Write holding registers as a client", _object({
                    "address": _INTEGER, "values": _WORDS}, ("address", "values")),
                body=_object({"address": _ADDRESS, "values": {**_WORDS, "maxItems": 123}},
                             ("address", "values")),
                params=device, errors=(404, 409, 422))},
            "/faults": {
                "get": _op("Active faults", {"type": "array", "items": _FAULT}),
                "post": _op("Inject a fault", _FAULT, status=201, body=_fault_body(),
                            errors=(409, 422)),
                "delete": _op("Clear every fault", done),
            },
            "/faults/{id}": {"delete": _op("Remove a fault", done, params=[
                _q("id", {"type": "integer", "minimum": 1, "maximum": 2**31}, True, "path")],
                errors=(404, 422))},
            "/faults/wait": {"post": _op(
                "Wait for finite faults to fire", done,
                body=_object({"timeout": {"type": "number", "exclusiveMinimum": 0,
                                          "maximum": 600}}),
                errors=(408, 422), body_required=False)},  # no body: wait 5 s
            "/clock": {
                "get": _op("Server and inverter clocks", clock),
                "post": _op("Move or set a clock", clock, body=_at_least_one({
                    "advance": {"type": "number", "minimum": 0,
                                "description": "seconds (manual clock)"},
                    "set": {"oneOf": [{"type": "string", "format": "date-time",
                                       "pattern": _CLOCK_YEARS},
                                      {"type": "number"}],
                            "description": "ISO 8601 with a zone, or POSIX seconds (manual "
                                           "clock)"},
                    "inverter_time": {"type": "string", "format": "date-time",
                                      "pattern": _INVERTER_YEARS,
                                      "description": "ISO 8601, the inverter's local time "
                                                     "unless it names a zone"}}),
                    errors=(409, 422)),
            },
            "/requests": {
                "get": _op("The request log", {"type": "array", "items": _object({
                    "time": _NUMBER, "front_end": _STRING, "peer": _STRING,
                    "unit": {"type": ["integer", "null"]},
                    "function": {"type": ["integer", "string", "null"]},
                    "table": {"type": ["string", "null"]},
                    "address": {"type": ["integer", "null"]}, "count": _INTEGER,
                    "outcome": _STRING, "fault": {"type": ["string", "null"]},
                    "values": {"type": ["array", "null"], "items": _INTEGER},
                    "device": {"type": ["string", "null"]}},
                    ("time", "front_end", "peer", "outcome"), extra=True)}, params=[
                    _q("front_end", _STRING), _q("table", _STRING),
                    _q("address", _ADDRESS), _q("function", _STRING),
                    _q("peer", _STRING), _q("outcome", _STRING),
                    _q("fault", _STRING), _q("device", _STRING),
                    _q("since", _NUMBER),
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 100_000})],
                    errors=(422,)),
                "delete": _op("Clear the request log", done),
            },
            "/plant": {"post": _op(
                "Start or stop the plant, set clouds, battery, grid and limits "
                "(checked together: a refused request changes nothing)", state,
                body=_at_least_one({
                    "action": {"type": "string", "enum": ["start", "stop"]},
                    "cloud_factor": {"type": "number", "minimum": 0, "maximum": 1.5},
                    "battery_soc": {"type": "number", "minimum": 0, "maximum": 100,
                                    "description": "percent (a device with a battery)"},
                    "grid": {"type": "string", "enum": ["up", "down"],
                             "description": "down: a grid outage"},
                    "power_limit_w": _WATTS, "export_limit_w": _WATTS,
                    "power_factor": {"oneOf": [
                        {"type": "number", "minimum": -1, "maximum": -0.8},
                        {"type": "number", "minimum": 0.8, "maximum": 1}],
                        "description": "signed, 0.8 <= |PF| <= 1"}}),
                params=device, errors=(404, 409, 422))},
            "/battery": {"get": _op("The battery's readings", _object({
                "voltage_v": _NUMBER, "current_a": _NUMBER, "power_w": _NUMBER,
                "soc_pct": _NUMBER, "status": {"type": "string",
                                               "enum": ["run", "standby", "stopped"]}},
                ("voltage_v", "current_a", "power_w", "soc_pct", "status"), extra=True),
                params=device, errors=(404, 422))},
            "/reset": {"post": _op("Rebuild the plant, clear faults and log", done)},
            "/tls/ca.pem": {"get": _tls_ca()},
            "/events": {"get": _events(device)},
            "/history": {"get": _op("The plant's energy history (today: quarter-hour average "
                                    "W; days, months, years: kWh)", _object({
                "period": _STRING, "unit": _STRING,
                "kinds": {"type": "object", "additionalProperties": {
                    "type": "array", "items": {"type": ["number", "null"]}}}},
                ("period", "unit", "kinds")), params=[
                _q("period", {"type": "string", "enum": ["today", "days", "months", "years"]}),
                *device], errors=(404, 422))},
            "/register-map": {"get": _op(
                "The registers a device serves, decoded and raw, by name or address",
                _object({"table": _STRING, "total": _INTEGER, "rows": {
                    "type": "array", "items": _object({
                        "address": _INTEGER, "name": _STRING, "kind": _STRING,
                        "words": _INTEGER, "unit": _STRING, "pinned": {"type": "boolean"},
                        "raw": {"type": "array", "items": _WORD}, "value": {}},
                        ("address", "name", "kind", "words", "unit", "pinned", "raw",
                         "value"))}}, ("table", "total", "rows")),
                params=[_q("table", {"type": "string", "enum": ["input", "holding"]}),
                        _q("search", {"type": "string",
                                      "description": "part of a name, or a register number"}),
                        _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                        *device], errors=(404, 422))},
        },
        "components": {"schemas": {
            "Error": _object({"error": _STRING}, ("error",), extra=True),
            "Fault": _object({"id": _INTEGER, "kind": {"type": "string", "enum": sorted(KINDS)},
                              "fired": _INTEGER}, ("id", "kind", "fired"), extra=True),
            "State": _object({"time": _NUMBER, "local": _STRING, "mode": _STRING},
                             ("time", "local", "mode"), extra=True),
        }},
    }


def _version() -> str:
    from mock_sungrow._version import __version__

    return __version__
