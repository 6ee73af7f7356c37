"""The control API's OpenAPI 3.1 description (served at ``/openapi.json``).

Built from the routes and the fault catalogue, so the enum of fault kinds cannot drift from
what the parser accepts.
"""

from __future__ import annotations

from typing import Any

from mock_sungrow.endpoints import FRONT_END_NAMES
from mock_sungrow.faults.catalogue import KINDS


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
    #: Which device a register, state or plant request acts on (default: the first inverter).
    device = [q("device", {"type": "string", "description": "a device id (inverter[2]) or "
                                                          "serial"}),
              q("unit", {"type": "integer", "description": "a unit only one device has"})]
    integer = {"type": "integer"}
    words = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 65535},
             "minItems": 1}
    fault = {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {"type": "string", "enum": sorted(KINDS)},
            "front_end": {"type": "string", "enum": list(FRONT_END_NAMES)},
            "unit": integer, "device": {"type": "string"},
            "function": {"type": ["integer", "string"]},
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
            "/devices": {"get": op("Every device: kind, id, model, role, unit, serial, endpoints",
                                   errors=())},
            "/state": {"get": op("A device's plant snapshot", params=device, errors=(404,))},
            "/problems": {"get": op("Server-side problems recorded", errors=())},
            "/registers/{table}": {
                "get": op("Read registers (documented addresses)", params=[
                    table, q("address", integer, True), q("count", integer), *device],
                    errors=(404, 409, 422)),
                "put": op("Pin raw words", params=[table, *device], body={
                    "type": "object", "required": ["address", "words"],
                    "properties": {"address": integer, "words": words}},
                    errors=(400, 404, 422)),
            },
            "/registers": {"delete": op("Unpin every word", params=device, errors=(404,))},
            "/registers/holding/write": {"post": op("Write holding registers as a client", body={
                "type": "object", "required": ["address", "values"],
                "properties": {"address": integer, "values": words}}, params=device,
                errors=(400, 404, 409, 422))},
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
                    q("fault", {"type": "string"}), q("device", {"type": "string"}),
                    q("since", {"type": "number"}), q("limit", integer)]),
                "delete": op("Clear the request log", errors=()),
            },
            "/plant": {"post": op("Start or stop the plant, set clouds", body={
                "type": "object", "properties": {
                    "action": {"type": "string", "enum": ["start", "stop"]},
                    "cloud_factor": {"type": "number", "minimum": 0, "maximum": 1.5}}},
                params=device, errors=(400, 404, 409, 422))},
            "/reset": {"post": op("Rebuild the plant, clear faults and log", errors=())},
            "/tls/ca.pem": {"get": {
                "summary": "PEM of the CA that signed the WiNet-S TLS certificate",
                "responses": {
                    "200": {"description": "the CA certificate",
                            "content": {"application/x-pem-file": {}}},
                    "404": {"description": "no TLS listener",
                            "content": {"application/json": {"schema": error}}}}}},
        },
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {"type": "string"}}}}},
    }


def _version() -> str:
    from mock_sungrow._version import __version__

    return __version__
