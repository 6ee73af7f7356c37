"""The control API over HTTP, as a test in another process would use it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import control_call


class Api:
    def __init__(self, server: MockSungrowServer) -> None:
        self.base = server.get_connection_info("control")["url"].rstrip("/")

    def call(self, method: str, path: str, body: Any = None,
             raw: bytes | None = None) -> tuple[int, Any]:
        return control_call(self.base, method, path, body, raw=raw)


@pytest.fixture
def api(mock_sungrow_factory: Any) -> Api:
    server = mock_sungrow_factory(control_port=0, clock=ManualClock())
    return Api(server)


def test_openapi_document_lists_every_route(api: Api) -> None:
    status, doc = api.call("GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    for path in ("/state", "/registers/{table}", "/faults", "/faults/wait", "/clock",
                 "/requests", "/reset", "/plant", "/registers/holding/write"):
        assert path in doc["paths"], path
    kinds = [branch["properties"]["kind"]["const"] for branch in doc["paths"]["/faults"][
        "post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"]]
    assert "exception" in kinds and "night-shutdown" in kinds


def test_info_state_and_registers(api: Api) -> None:
    status, info = api.call("GET", "/info")
    assert status == 200 and info["model"] == "SG5K-D"
    assert set(info["connections"]) == {"modbus", "http", "control"}
    status, state = api.call("GET", "/state")
    assert status == 200 and state["mode"] in ("run", "standby", "starting")
    status, regs = api.call("GET", "/registers/input?address=5000&count=2")
    assert (status, regs["words"]) == (200, [0x0126, 50])
    status, err = api.call("GET", "/registers/input?address=100&count=5")
    assert status == 409 and err["modbus_exception"] == 2
    assert api.call("GET", "/registers/coils?address=1")[0] == 404
    status, err = api.call("GET", "/registers/input?address=x")
    assert status == 422 and "address must be an integer" in err["error"]
    assert api.call("GET", "/registers/input?address=5000&count=126")[0] == 422


def test_write_pin_and_unpin(api: Api) -> None:
    assert api.call("POST", "/registers/holding/write", {"address": 5008, "values": [500]})[0] \
        == 200
    assert api.call("GET", "/registers/holding?address=5008")[1]["words"] == [500]
    status, err = api.call("POST", "/registers/holding/write", {"address": 5006,
                                                                "values": [0x12]})
    assert status == 409 and err["modbus_exception"] == 4
    assert api.call("PUT", "/registers/input", {"address": 5045, "words": [37]})[0] == 200
    assert api.call("GET", "/registers/input?address=5045")[1]["words"] == [37]
    assert api.call("DELETE", "/registers")[0] == 200
    assert api.call("GET", "/registers/input?address=5045")[1]["words"] == [0]
    assert api.call("PUT", "/registers/input", {"address": 5045, "words": [70000]})[0] == 422


def test_faults_inject_list_remove_clear_and_refuse_bad_specs(api: Api) -> None:
    status, fault = api.call("POST", "/faults", {"kind": "exception", "code": 2,
                                                 "table": "input", "address": [5031, 5032]})
    assert status == 201 and fault["id"] == 1 and fault["address"] == [5031, 5032]
    assert [f["kind"] for f in api.call("GET", "/faults")[1]] == ["exception"]
    status, err = api.call("POST", "/faults", {"kind": "exception", "times": -3})
    assert status == 422 and "times must be a positive integer" in err["error"]
    status, err = api.call("POST", "/faults", {"kind": "meteor"})
    assert status == 422 and "unknown fault kind 'meteor'" in err["error"]
    assert "exception" in err["kinds"]
    assert api.call("DELETE", "/faults/1")[0] == 200
    assert api.call("DELETE", "/faults/1")[0] == 404
    api.call("POST", "/faults", {"kind": "silence"})
    assert api.call("DELETE", "/faults")[0] == 200
    assert api.call("GET", "/faults")[1] == []


def test_wait_reports_pending_faults(api: Api) -> None:
    api.call("POST", "/faults", {"kind": "silence", "times": 1})
    status, err = api.call("POST", "/faults/wait", {"timeout": 0.1})
    assert status == 408 and err["pending"][0]["kind"] == "silence"
    assert api.call("POST", "/faults/wait", {"timeout": -1})[0] == 422


def test_clock_advance_and_inverter_time(api: Api) -> None:
    before = api.call("GET", "/clock")[1]
    after = api.call("POST", "/clock", {"advance": 3600})[1]
    assert after["time"] == before["time"] + 3600
    status, clock = api.call("POST", "/clock", {"inverter_time": "2027-01-02T03:04:05"})
    assert status == 200 and clock["inverter_time"].startswith("2027-01-02T03:04:05")
    assert api.call("POST", "/clock", {"advance": -5})[0] == 422
    assert api.call("POST", "/clock", {})[0] == 422


def test_real_clock_cannot_be_moved(mock_sungrow_factory: Any) -> None:
    api = Api(mock_sungrow_factory(control_port=0))
    status, err = api.call("POST", "/clock", {"advance": 10})
    assert status == 409 and "manual clock" in err["error"]


def test_plant_commands_and_reset(api: Api) -> None:
    status, state = api.call("POST", "/plant", {"action": "stop"})
    assert status == 200 and state["mode"] == "stop"
    assert api.call("POST", "/plant", {"action": "explode"})[0] == 422
    assert api.call("POST", "/plant", {"cloud_factor": 7})[0] == 422
    api.call("POST", "/faults", {"kind": "silence"})
    assert api.call("POST", "/reset")[0] == 200
    assert api.call("GET", "/state")[1]["mode"] != "stop"
    assert api.call("GET", "/faults")[1] == []


def test_bad_bodies_and_paths_get_json_errors(api: Api) -> None:
    status, err = api.call("POST", "/faults", raw=b"{not json")
    assert status == 400 and "not valid JSON" in err["error"]
    status, err = api.call("POST", "/faults", raw=b"[1, 2]")
    assert status == 400 and "JSON object" in err["error"]
    status, err = api.call("GET", "/nowhere")
    assert status == 404 and "error" in err
    status, err = api.call("DELETE", "/state")
    assert status == 405 and "error" in err


def test_requests_endpoint_filters(api: Api) -> None:
    status, entries = api.call("GET", "/requests?table=input&limit=5")
    assert status == 200 and isinstance(entries, list)
    assert api.call("GET", "/requests?since=yesterday")[0] == 422
    assert api.call("DELETE", "/requests")[0] == 200


def _get_info_from(source: str, url: str) -> tuple[int, dict[str, Any]]:
    """``GET /info`` over a socket bound to ``source``: the server sees that client address."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10,
                                      source_address=(source, 0))
    try:
        conn.request("GET", "/info")
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_untrusted_clients_are_refused_over_the_socket(mock_sungrow_factory: Any) -> None:
    """The served app judges the real peer address.

    Every address of 127.0.0.0/8 reaches loopback on Linux, so a client bound to 127.0.0.2 is
    "another machine" for a server that trusts only 127.0.0.1/32.
    """
    only_one = mock_sungrow_factory(server_type="modbus", control_port=0,
                                    control_trusted_networks=["127.0.0.1/32"])
    url = only_one.get_connection_info("control")["url"]
    status, body = _get_info_from("127.0.0.2", url)
    assert status == 403 and "127.0.0.2" in body["error"]
    assert _get_info_from("127.0.0.1", url)[0] == 200
    assert only_one.read("device_type_code") == 0x0126  # refusing touched nothing

    default = mock_sungrow_factory(server_type="modbus", control_port=0)
    assert _get_info_from("127.0.0.2", default.get_connection_info("control")["url"])[0] == 200

    everyone = mock_sungrow_factory(server_type="modbus", control_port=0,
                                    control_trusted_networks=["127.0.0.1/32"],
                                    control_allow_remote=True)
    assert _get_info_from("127.0.0.2", everyone.get_connection_info("control")["url"])[0] == 200


def test_trusted_networks_judge_mapped_and_odd_addresses() -> None:
    from ipaddress import ip_network

    from mock_sungrow.frontends.control.app import is_trusted

    loopback = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
    assert is_trusted("::ffff:127.0.0.9", loopback)  # an IPv4 client of a dual-stack socket
    assert is_trusted("::1", loopback) and not is_trusted("fe80::1%eth0", loopback)
    assert not is_trusted("10.1.2.3", loopback) and not is_trusted(None, loopback)
    assert not is_trusted("not an address", loopback)
    assert is_trusted("10.1.2.3", None)


@pytest.mark.parametrize("bad", ["127.0.0.0/8", [], ["localhost"], [42]])
def test_bad_trusted_networks_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="control_trusted_networks"):
        MockSungrowServer(server_type="modbus", modbus_port=0,
                          control_trusted_networks=bad)  # type: ignore[arg-type]


def test_tls_ca_is_served_only_with_a_tls_listener(api: Api, mock_sungrow_factory: Any) -> None:
    status, err = api.call("GET", "/tls/ca.pem")  # the fixture's server has no TLS listener
    assert status == 404 and "no TLS listener" in err["error"]
    import ssl
    import urllib.request

    server = mock_sungrow_factory(server_type="http", tls_port=0, control_port=0)
    base = server.get_connection_info("control")["url"].rstrip("/")
    with urllib.request.urlopen(base + "/tls/ca.pem") as r:  # noqa: S310 - http, our own
        pem = r.read().decode()
    context = ssl.create_default_context(cadata=pem)  # verifies, trusting only that CA
    tls = server.get_connection_info("http")["tls_port"]
    with urllib.request.urlopen(f"https://127.0.0.1:{tls}/about/list", context=context) as r:
        assert json.load(r)["result_code"] == 1
    assert "/tls/ca.pem" in api.call("GET", "/openapi.json")[1]["paths"]
