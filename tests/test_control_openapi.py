"""The OpenAPI document agrees with the handlers: the same operations, a response schema for
every status, and the fault body typed per kind from the fault catalogue.

Served over a socket (``GET /openapi.json``) and compared with the routes the application
really registers; the fuzz suite (``tests/test_fuzz_control.py``) then drives every operation
from this document and checks the answers against it.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from mock_sungrow import MockSungrowServer
from mock_sungrow.faults.catalogue import KINDS
from mock_sungrow.frontends import dashboard, web
from tests.helpers import control_call


@pytest.fixture
def served(mock_sungrow_factory: Any) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """The document as served, and the (method, path) pairs the application registered."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", control_port=0)
    base = server.get_connection_info("control")["url"].rstrip("/")
    status, doc = control_call(base, "GET", "/openapi.json")
    assert status == 200
    control: Any = next(fe for fe in server._front_ends if fe.name == "control")
    app = control._runner.app
    routes = {(route.method, route.resource.canonical) for route in app.router.routes()
              if route.method != "HEAD"  # aiohttp adds HEAD to every GET
              and route.resource.name != web.CATCH_ALL  # 404/405 for unrouted paths
              # The dashboard's HTML and assets are a page, not the JSON API the document
              # describes (its event stream, /events, is in the document).
              and route.resource.canonical not in dashboard.PAGE_PATHS}
    return doc, routes


@pytest.fixture
def doc(served: tuple[dict[str, Any], set[tuple[str, str]]]) -> dict[str, Any]:
    return served[0]


def test_the_document_lists_exactly_the_served_operations(
        served: tuple[dict[str, Any], set[tuple[str, str]]]) -> None:
    doc, routes = served
    documented = {(method.upper(), path) for path, item in doc["paths"].items()
                  for method in item}
    assert documented == routes
    # with GET /tls/ca.pem, /battery, /registers/{table}/{name}, /events, /history and
    # /register-map
    assert len(routes) == 26


def test_every_operation_has_a_response_schema_for_every_status(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            for code, response in op["responses"].items():
                # Every answer is JSON but the CA file itself (GET /tls/ca.pem's 200: PEM).
                media = {("/tls/ca.pem", "200"): "application/x-pem-file",
                         ("/events", "200"): "text/event-stream"}.get((path, code),
                                                                      "application/json")
                schema = response["content"][media]["schema"]
                assert schema, (method, path, code)
            # what the guard answers on any operation
            assert {"400", "403", "415"} <= set(op["responses"]), (method, path)


def _kinds(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    body = doc["paths"]["/faults"]["post"]["requestBody"]["content"]["application/json"]
    return {b["properties"]["kind"]["const"]: b for b in body["schema"]["oneOf"]}


def test_fault_bodies_are_typed_per_kind(doc: dict[str, Any]) -> None:
    kinds = _kinds(doc)
    assert set(kinds) == set(KINDS)
    # From docs/faults.md: exception's code is a Modbus exception code, latency's profile one
    # of three, value's words a list of words, max-clients' policy one of two.
    def prop(kind: str, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = kinds[kind]["properties"][name]
        return schema["anyOf"][0] if "anyOf" in schema else schema  # null: not given

    exception = kinds["exception"]["properties"]
    assert prop("exception", "code")["type"] == "integer"
    assert (prop("exception", "code")["minimum"], prop("exception", "code")["maximum"]) == (
        1, 255)
    assert set(prop("latency", "profile")["enum"]) == {"lan", "winet-modbus", "winet-http"}
    assert prop("latency", "delay")["type"] == "number"
    words = prop("value", "words")
    assert words["type"] == "array" and words["items"]["maximum"] == 65535
    assert "words" in kinds["value"]["required"]
    assert set(prop("max-clients", "policy")["enum"]) == {"refuse", "kick-oldest"}
    # Only register kinds take table/address; plant and session kinds have no times.
    assert "address" in exception and "address" not in kinds["refuse"]["properties"]
    assert "times" not in kinds["winet-profile"]["properties"]
    assert prop("winet-profile", "front_end")["enum"] == ["http"]
    for name, branch in kinds.items():
        assert branch["additionalProperties"] is False, name
        for param in KINDS[name].params:
            assert param.name in branch["properties"], (name, param.name)


@pytest.mark.parametrize(("spec", "valid"), [
    ({"kind": "exception", "code": 2, "table": "input", "address": [5031, 5032], "times": 1},
     True),
    ({"kind": "exception", "code": 0}, False),
    ({"kind": "latency", "profile": "dial-up"}, False),
    ({"kind": "refuse", "address": 5000}, False),
    ({"kind": "winet-profile", "profile": "login", "times": 1}, False),
    ({"kind": "silence", "ordered": True}, False),
    ({"kind": "silence", "ordered": True, "times": 2}, True),
    ({"kind": "meteor"}, False),
    ({"kind": "exception", "code": None, "unit": None}, True),  # null: not given
    ({"kind": "exception", "code": 2.0, "address": [5000.0, 5001]}, True),  # JSON integers
    ({"kind": "exception", "code": 2.5}, False),
    ({"kind": "winet-profile", "profile": None}, False),  # required: null is not a value
    ({"kind": "zeros", "address": " 5031 - 5032 "}, True),
    ({"kind": "zeros", "address": "0x13a7"}, False),
    ({"kind": "value", "words": None}, False),
])
def test_the_fault_schema_accepts_what_the_api_accepts(
            doc: dict[str, Any], mock_sungrow_factory: Any, spec: dict[str, Any],
        valid: bool) -> None:
    body = doc["paths"]["/faults"]["post"]["requestBody"]["content"]["application/json"]
    schema = {**body["schema"], "components": doc["components"]}
    assert jsonschema.Draft202012Validator(schema).is_valid(spec) is valid
    server = mock_sungrow_factory(server_type="modbus", control_port=0)
    base = server.get_connection_info("control")["url"].rstrip("/")
    status, _reply = control_call(base, "POST", "/faults", spec)
    assert status == (201 if valid else 422)
