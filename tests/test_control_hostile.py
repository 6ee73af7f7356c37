"""The control API under hostile input: JSON errors naming the field, nothing applied.

Each reproducer used to answer a text/plain 500 (or, for a number where the schema says
string, to set the inverter's year to 1639). Cross-site writes (a ``text/plain`` body from a
page at ``http://evil.example``, or a DNS-rebinding ``Host``) used to be accepted.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from mock_sungrow import ManualClock, MockSungrowServer


def call(server: MockSungrowServer, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """One request over a socket with exactly these headers: (status, headers, JSON body)."""
    where = urlsplit(server.get_connection_info("control")["url"])
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json"), data
        return response.status, dict(response.getheaders()), json.loads(data)
    finally:
        conn.close()


JSON = {"Content-Type": "application/json"}


@pytest.fixture
def server(mock_sungrow_factory: Any) -> MockSungrowServer:
    made: MockSungrowServer = mock_sungrow_factory(server_type="modbus", control_port=0,
                                                   clock=ManualClock())
    return made


def _state(server: MockSungrowServer) -> tuple[Any, ...]:
    """What a refused request must leave alone."""
    return (server.faults.describe(), server.read_registers("holding", 5008, 1),
            server.clock.time(), server.snapshot().local)


@pytest.mark.parametrize(("method", "path", "body", "status", "names"), [
    ("POST", "/faults", '{"kind": {}}', 422, "kind must be a string"),
    ("POST", "/faults", '{"kind": ["exception"]}', 422, "kind must be a string"),
    ("POST", "/faults", '{"kind": "latency", "delay": 0.1, "duration": "nan"}', 422,
     "duration"),
    ("POST", "/registers/holding/write", '{"address": Infinity, "values": [1]}', 400, "address"),
    ("POST", "/registers/holding/write", '{"address": 1e400, "values": [1]}', 400, "address"),
    ("POST", "/registers/holding/write", '{"address": 5008.5, "values": [1]}', 422, "address"),
    ("POST", "/registers/holding/write", '{"address": 5008, "values": [NaN]}', 400,
     "values[0]"),
    ("PUT", "/registers/input", '{"address": Infinity, "words": [1]}', 400, "address"),
    ("PUT", "/registers/input", '{"address": 1e400, "words": [1]}', 400, "address"),
    ("PUT", "/registers/input", '{"address": 5045, "words": [1.5]}', 422, "word"),
    ("POST", "/clock", '{"inverter_time": 1e308}', 422, "inverter_time"),
    ("POST", "/clock", '{"inverter_time": -10431082281}', 422, "inverter_time"),
    ("POST", "/clock", '{"inverter_time": "next tuesday"}', 422, "inverter_time"),
    ("POST", "/clock", '{"set": 1e20}', 422, "set"),
    ("POST", "/clock", '{"advance": NaN}', 400, "advance"),
    ("POST", "/clock", '{"advance": Infinity}', 400, "advance"),
    ("POST", "/plant", '{"cloud_factor": NaN}', 400, "cloud_factor"),
    ("POST", "/faults", '{"kind": "exception", "times": ' + "9" * 5000 + "}", 400, "times"),
])
def test_bad_values_get_a_json_error_naming_the_field_and_change_nothing(  # noqa: PLR0917
        server: MockSungrowServer, method: str, path: str, body: str, status: int,
        names: str) -> None:
    before = _state(server)
    got, _headers, reply = call(server, method, path, body.encode(), JSON)
    assert (got, names in reply["error"]) == (status, True), reply
    assert _state(server) == before


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/faults"), ("POST", "/faults/wait"), ("POST", "/clock"), ("POST", "/plant"),
    ("POST", "/registers/holding/write"), ("PUT", "/registers/input"),
])
def test_deep_nesting_on_every_post_and_put_is_a_400(server: MockSungrowServer, method: str,
                                                     path: str) -> None:
    before = _state(server)
    status, _headers, reply = call(server, method, path, b'{"a": ' + b"[" * 5000 + b"}", JSON)
    assert (status, "nesting 5001 deep" in reply["error"]) == (400, True), reply
    assert _state(server) == before


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/faults"), ("POST", "/faults/wait"), ("POST", "/clock"), ("POST", "/plant"),
])
def test_a_body_of_blanks_is_not_json_but_an_empty_body_is_no_body(
        server: MockSungrowServer, method: str, path: str) -> None:
    """Schemathesis found ``POST /faults/wait`` with the body "\\n\\n" answered 200."""
    before = _state(server)
    status, _headers, reply = call(server, method, path, b"\n\n", JSON)
    assert (status, "not valid JSON" in reply["error"]) == (400, True), reply
    assert _state(server) == before
    status, _headers, reply = call(server, "POST", "/faults/wait", b"", JSON)
    assert (status, reply) == (200, {"done": True})


def test_cross_site_writes_are_refused(server: MockSungrowServer) -> None:
    spec = b'{"kind": "silence"}'
    refused = [
        call(server, "POST", "/faults", spec, {"Content-Type": "text/plain"}),
        call(server, "POST", "/faults", spec,
             {"Content-Type": "application/x-www-form-urlencoded"}),
        call(server, "POST", "/faults", spec, {**JSON, "Origin": "http://evil.example"}),
        call(server, "POST", "/faults", spec, {**JSON, "Origin": "null"}),
        call(server, "POST", "/faults", spec, {**JSON, "Host": "evil.example:8090"}),
        call(server, "POST", "/reset", None, {"Origin": "https://evil.example"}),
        call(server, "GET", "/faults", None, {"Host": "rebind.evil.example"}),
    ]
    assert [status for status, _h, _b in refused] == [415, 415, 403, 403, 403, 403, 403]
    assert "application/json" in refused[0][2]["error"]
    assert "evil.example" in refused[2][2]["error"] and "Host" in refused[4][2]["error"]
    assert server.faults.describe() == []

    ok = [
        call(server, "POST", "/faults", spec, {**JSON, "Origin": "http://localhost:3000"}),
        call(server, "POST", "/faults", spec, {**JSON, "Origin": "http://127.0.0.1:8090"}),
        call(server, "POST", "/faults", spec, {**JSON, "Host": "localhost:8090"}),
        call(server, "POST", "/faults", spec, {**JSON, "Host": "[::1]:8090"}),
        call(server, "POST", "/faults", spec,
             {"Content-Type": "application/json; charset=utf-8", "Host": "app.localhost"}),
        call(server, "POST", "/reset"),  # no body, no headers: curl -X POST
    ]
    assert [status for status, _h, _b in ok] == [201, 201, 201, 201, 201, 200]


def test_remote_access_lifts_the_name_checks_but_not_the_media_type(
        mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", control_port=0,
                                                     control_allow_remote=True)
    spec = b'{"kind": "silence"}'
    assert call(server, "POST", "/faults", spec,
                {**JSON, "Host": "inverter-sim.lab:8090",
                 "Origin": "http://dashboard.lab"})[0] == 201
    assert call(server, "POST", "/faults", spec, {"Content-Type": "text/plain"})[0] == 415
    assert len(server.faults.describe()) == 1


def test_405_keeps_allow(server: MockSungrowServer) -> None:
    status, headers, reply = call(server, "DELETE", "/state")
    assert status == 405 and "error" in reply
    assert set(headers["Allow"].split(",")) == {"GET", "HEAD"}
    status, headers, _reply = call(server, "PATCH", "/faults", b"{}", JSON)
    assert status == 405 and set(headers["Allow"].split(",")) == {"GET", "POST", "DELETE",
                                                                  "HEAD"}


def test_unicode_digits_are_not_numbers(server: MockSungrowServer) -> None:
    """'¹'.isdigit() is true but int('¹') fails: these were 500s (found by the fuzz suite)."""
    assert call(server, "DELETE", "/registers?device=%C2%B9")[0] == 404
    assert call(server, "GET", "/state?unit=-1720&device=1")[0] == 422  # unit is checked too
    status, _h, reply = call(server, "GET", "/registers/input?address=%C2%B9")
    assert status == 422 and "address must be an integer" in reply["error"]
    assert call(server, "GET", "/requests?function=%C2%B9")[0] == 200  # a service name
    status, _h, reply = call(server, "POST", "/faults",
                             b'{"kind": "silence", "function": "\\u00b9"}', JSON)
    assert status == 201 and reply["function"] == "\u00b9"


@pytest.mark.parametrize(("body", "names"), [
    ('{"kind": "write-scale", "function": false}', "function"),
    ('{"kind": "write-scale", "service": {}}', "service"),
    ('{"kind": "zeros", "address": "\\t09 \\t\\u000b"}', "address"),
    ('{"kind": "zeros", "address": "0x10"}', "address"),
])
def test_fault_match_fields_of_the_wrong_type_are_refused(server: MockSungrowServer, body: str,
                                                          names: str) -> None:
    status, _h, reply = call(server, "POST", "/faults", body.encode(), JSON)
    assert (status, names in reply["error"]) == (422, True), reply
    assert server.faults.describe() == []
