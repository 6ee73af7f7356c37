"""The dashboard's routes without a browser: the page, its event stream, history, registers,
and the read-only switch, over real sockets (urllib, http.client, pymodbus).

The event stream is read as any server-sent-event client reads it: ``data:`` lines up to a
blank line. Register values are decoded here from the words pymodbus reads (Sungrow's 32-bit
values low word first), not by the product's codec.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from mock_sungrow import MockSungrowServer
from mock_sungrow.clock import ManualClock
from mock_sungrow.faults.requestlog import LoggedRequest
from mock_sungrow.fleet import Fleet
from mock_sungrow.frontends.control import live
from mock_sungrow.frontends.control.live import EventStream
from tests.helpers import control_call, wait_until

#: 12:00 at the default site (UTC+11 in January).
NOON = datetime(2026, 1, 10, 1, 0, tzinfo=timezone.utc)


class Events:
    """A server-sent event stream read over http.client."""

    def __init__(self, host: str, port: int, path: str = "/events") -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=10)
        self.connection.request("GET", path)
        self.response = self.connection.getresponse()

    def next(self) -> dict[str, Any] | None:
        """The next message's JSON (comments skipped); ``None`` when the stream ended."""
        data: list[bytes] = []
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.rstrip(b"\r\n")
            if line.startswith(b"data: "):
                data.append(line[6:])
            elif not line and data:
                message: dict[str, Any] = json.loads(b"\n".join(data))
                return message

    def until(self, predicate: Any) -> dict[str, Any]:
        """The first message ``predicate`` accepts (messages carry changes only)."""
        while True:
            message = self.next()
            assert message is not None, "the stream ended"
            if predicate(message):
                return message

    def close(self) -> None:
        self.response.close()
        self.connection.close()


@pytest.fixture
def hybrid(mock_sungrow_factory: Any) -> MockSungrowServer:
    server: MockSungrowServer = mock_sungrow_factory(
        model="SH10RT", server_type="modbus", control_port=0, clock=ManualClock(NOON))
    return server


def base_of(server: MockSungrowServer) -> str:
    return str(server.get_connection_info("control")["url"]).rstrip("/")


def test_the_page_and_its_assets_are_served_from_this_origin_only(
        hybrid: MockSungrowServer) -> None:
    base = base_of(hybrid)
    with urllib.request.urlopen(base + "/") as response:  # noqa: S310 - loopback
        html = response.read().decode()
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    # Every script and style sheet the page names is this server's, and is served.
    assert "http://" not in html and "https://" not in html
    for asset, media in (("util.js", "text/javascript"), ("views.js", "text/javascript"),
                         ("app.js", "text/javascript"), ("style.css", "text/css")):
        assert f"/dashboard/{asset}" in html
        with urllib.request.urlopen(f"{base}/dashboard/{asset}") as response:  # noqa: S310
            assert response.headers["Content-Type"] == f"{media}; charset=utf-8"
            body = response.read().decode()
        assert "http://" not in body.replace("http://www.w3.org/2000/svg", "")
    status, error = control_call(base, "GET", "/dashboard/secrets.txt")
    assert status == 404 and "secrets.txt" in error["error"]


def test_the_page_has_the_control_apis_guard(hybrid: MockSungrowServer) -> None:
    port = hybrid.get_connection_info("control")["port"]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Host": "rebind.example.com"})
        response = connection.getresponse()
        assert response.status == 403
        assert "rebind.example.com" in json.loads(response.read())["error"]
    finally:
        connection.close()


def test_the_stream_carries_state_requests_and_faults(hybrid: MockSungrowServer) -> None:
    base = base_of(hybrid)
    info = hybrid.get_connection_info("control")
    events = Events(info["host"], info["port"])
    try:
        assert events.response.headers["Content-Type"] == "text/event-stream"
        first = events.next()
        assert first is not None
        status, state = control_call(base, "GET", "/state")
        assert first["state"] == state
        assert first["clock"]["utc"] == "2026-01-10T01:00:00+00:00"
        assert first["faults"] == [] and first["clients"] == []
        assert len(first["history"]["pv"]) == 96

        port = hybrid.get_connection_info("modbus")["port"]
        with ModbusTcpClient("127.0.0.1", port=port, timeout=10, retries=0) as client:
            assert not client.read_input_registers(5016, count=2, device_id=1).isError()
            heard = events.until(lambda m: "requests" in m)
            assert [(r["address"], r["count"], r["outcome"]) for r in heard["requests"]] == [
                (5017, 2, "ok")]
            assert heard["clients"] == [{"client": "127.0.0.1", "front_end": "modbus",
                                         "requests": 1, "errors": 0, "per_minute": 1}]

            status, fault = control_call(base, "POST", "/faults", {
                "kind": "exception", "code": 4, "address": 5017, "times": 2, "duration": 30})
            assert status == 201
            active = events.until(lambda m: "faults" in m)["faults"]
            assert [(f["id"], f["remaining_times"], f["remaining_s"]) for f in active] == [
                (fault["id"], 2, 30.0)]
            assert client.read_input_registers(5016, count=2, device_id=1).exception_code == 4
            fired = events.until(lambda m: "faults" in m and m["faults"][0]["fired"] == 1)
            assert fired["faults"][0]["remaining_times"] == 1
            status, _ = control_call(base, "POST", "/clock", {"advance": 10})
            assert status == 200
            later = events.until(lambda m: "faults" in m and m["faults"][0]["remaining_s"] != 30)
            assert later["faults"][0]["remaining_s"] == 20.0
            # A cleared log starts the counters again.
            status, _ = control_call(base, "DELETE", "/requests")
            assert status == 200
            events.until(lambda m: m.get("clients") == [])
    finally:
        events.close()


def test_the_stream_follows_a_reset_and_names_missing_devices(
        hybrid: MockSungrowServer) -> None:
    base = base_of(hybrid)
    info = hybrid.get_connection_info("control")
    events = Events(info["host"], info["port"])
    try:
        assert events.next() is not None
        status, _ = control_call(base, "POST", "/plant", {"battery_soc": 37.5})
        assert status == 200
        events.until(lambda m: m.get("state", {}).get("battery_soc_pct") == 37.5)
        status, _ = control_call(base, "POST", "/reset")
        assert status == 200
        status, fresh = control_call(base, "GET", "/state")
        assert fresh["battery_soc_pct"] != 37.5
        # The rebuilt device, not the one the stream started with.
        events.until(lambda m: m.get("state", {}).get("battery_soc_pct")
                     == fresh["battery_soc_pct"])
    finally:
        events.close()
    status, error = control_call(base, "GET", "/events?device=inverter[9]")
    assert status == 404 and "inverter[9]" in error["error"]


def test_a_new_stream_starts_with_the_recent_log(hybrid: MockSungrowServer) -> None:
    before = len(hybrid.requests._listeners)
    port = hybrid.get_connection_info("modbus")["port"]
    with ModbusTcpClient("127.0.0.1", port=port, timeout=10, retries=0) as client:
        for address in (5000, 5010, 5020):
            assert not client.read_input_registers(address, count=1, device_id=1).isError()
    info = hybrid.get_connection_info("control")
    events = Events(info["host"], info["port"])
    try:
        first = events.next()
        assert first is not None
        assert [r["address"] for r in first["requests"]] == [5001, 5011, 5021]
        assert first["clients"][0]["requests"] == 3
        assert len(hybrid.requests._listeners) == before + 1
    finally:
        events.close()
    # The stream's listener on the request log goes with its page.
    wait_until(lambda: len(hybrid.requests._listeners) == before,
               what="the closed stream's end")


def test_an_open_stream_ends_when_the_server_stops() -> None:
    server = MockSungrowServer(server_type="modbus", modbus_port=0, control_port=0,
                               clock=ManualClock(NOON))
    server.start()
    info = server.get_connection_info("control")
    events = Events(info["host"], info["port"])
    try:
        assert events.next() is not None
        server.stop()  # returns: the stream noticed and ended
        assert events.next() is None
        assert not server.problems
    finally:
        events.close()
        server.stop()


def test_the_first_message_leaves_out_what_the_listener_heard_twice(
        hybrid: MockSungrowServer) -> None:
    # The stream's listener is added before the log is read: a request logged in between
    # is in both, and is sent once (from the queue, with the rest of the new ones).
    entries = [LoggedRequest(time=1.0, front_end="modbus", peer="127.0.0.1:1", unit=1,
                             function=4, table="input", address=a, count=1, outcome="ok")
               for a in (5001, 5002, 5003)]
    stream = EventStream(hybrid, lambda: hybrid.device)
    hybrid.requests.append(entries[0])
    for entry in entries[1:]:
        hybrid.requests.append(entry)
        stream.heard(entry)
    first = stream.message(stream.backlog())
    assert first is not None
    assert [r["address"] for r in first["requests"]] == [5001, 5002, 5003]
    assert first["clients"][0]["requests"] == 3


def test_a_quiet_stream_says_it_is_still_there(hybrid: MockSungrowServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "HEARTBEAT", 0.0)
    info = hybrid.get_connection_info("control")
    events = Events(info["host"], info["port"])
    try:
        assert events.next() is not None  # the first message; then nothing changes
        while (line := events.response.readline()) != b": still here\n":
            assert line, "the stream ended"
    finally:
        events.close()


def test_history_periods(hybrid: MockSungrowServer) -> None:
    base = base_of(hybrid)
    status, today = control_call(base, "GET", "/history")
    assert status == 200 and today["period"] == "today"
    kinds = today["kinds"]
    assert set(kinds) == {"pv", "direct", "export", "charge", "load", "grid", "battery"}
    assert all(len(v) == 96 for v in kinds.values())  # quarter hours
    # The power curves agree with the day's energy counters: a quarter hour at W watts is
    # W / 4000 kWh; grid is + import, battery + charge.
    status, state = control_call(base, "GET", "/state")
    assert sum(kinds["grid"]) / 4000 == pytest.approx(
        state["daily_import_kwh"] - state["daily_export_kwh"], abs=0.05)
    assert sum(kinds["battery"]) / 4000 == pytest.approx(
        state["daily_charge_kwh"] - state["daily_discharge_kwh"], abs=0.05)
    assert max(kinds["load"]) > 0 and max(kinds["pv"]) > 1000  # noon: the morning is there
    for period, length in (("days", 31), ("months", 12), ("years", 20)):
        status, body = control_call(base, "GET", f"/history?period={period}")
        assert status == 200 and body["unit"] == "kWh"
        assert set(body["kinds"]) == {"pv", "direct", "export", "charge"}
        assert all(len(v) == length for v in body["kinds"].values())
    status, error = control_call(base, "GET", "/history?period=week")
    assert status == 422 and "today" in error["error"]
    with pytest.raises(ValueError, match="today's load power only"):
        hybrid.device.plant.history("load", "days")
    with pytest.raises(ValueError, match="no 'year' history"):  # not read as "years"
        hybrid.device.plant.history("pv", "year")


def test_the_register_map_agrees_with_a_modbus_client(hybrid: MockSungrowServer) -> None:
    base = base_of(hybrid)
    port = hybrid.get_connection_info("modbus")["port"]
    with ModbusTcpClient("127.0.0.1", port=port, timeout=10, retries=0) as client:
        words = client.read_input_registers(5016, count=2, device_id=1).registers
    status, found = control_call(base, "GET", "/register-map?search=TOTAL_DC_POWER")
    assert status == 200 and found["total"] == 1
    row = found["rows"][0]
    assert (row["address"], row["words"], row["unit"]) == (5017, 2, "W")
    assert row["raw"] == words and row["value"] == words[1] << 16 | words[0]
    status, by_address = control_call(base, "GET", "/register-map?search=5018")
    assert [r["name"] for r in by_address["rows"]] == ["total_dc_power"]  # spans 5017-5018

    status, _ = control_call(base, "PUT", "/registers/input", {"address": 5017,
                                                               "words": [1234, 0]})
    assert status == 200
    status, pinned = control_call(base, "GET", "/register-map?search=total_dc_power")
    assert pinned["rows"][0]["pinned"] is True and pinned["rows"][0]["value"] == 1234
    status, holding = control_call(base, "GET", "/register-map?table=holding&limit=3")
    assert status == 200 and len(holding["rows"]) == 3 and holding["total"] > 3
    status, error = control_call(base, "GET", "/register-map?limit=0")
    assert status == 422
    status, error = control_call(base, "GET", "/register-map?table=coils")
    assert status == 422 and "coils" in error["error"]


def test_read_only_refuses_every_change(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus", control_port=0, control_read_only=True,
                                  clock=ManualClock(NOON))
    base = base_of(server)
    status, info = control_call(base, "GET", "/info")
    assert status == 200 and info["read_only"] is True
    for method, path, body in (("POST", "/faults", {"kind": "silence"}),
                               ("DELETE", "/faults", None),
                               ("PUT", "/registers/input", {"address": 5017, "words": [1]}),
                               ("POST", "/clock", {"advance": 60}),
                               ("POST", "/plant", {"action": "stop"}),
                               ("POST", "/reset", None),
                               ("DELETE", "/requests", None)):
        status, error = control_call(base, method, path, body)
        assert status == 403, (method, path)
        assert "read-only" in error["error"] and error["read_only"] is True
    status, faults = control_call(base, "GET", "/faults")
    assert (status, faults) == (200, [])
    status, clock = control_call(base, "GET", "/clock")
    assert clock["utc"] == "2026-01-10T01:00:00+00:00"  # not moved
    status, _ = control_call(base, "POST", "/faults/wait", {"timeout": 1})  # only waits
    assert status == 200


def test_a_fleet_site_streams_and_the_fleet_can_be_read_only(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text("[[group]]\ncount = 2\nports = { modbus = 0 }\n")
    fleet = Fleet(path, control_port=0, control_read_only=True, clock=ManualClock(NOON))
    fleet.start()
    try:
        info = fleet.control_info()
        assert info is not None
        base = info["url"].rstrip("/")
        status, body = control_call(base, "GET", "/info")
        assert body["read_only"] is True
        site = fleet.site_ids[1]
        status, error = control_call(base, "POST", f"/sites/{site}/faults", {"kind": "silence"})
        assert status == 403 and "read-only" in error["error"]
        status, error = control_call(base, "POST", "/faults", {"kind": "silence"})
        assert status == 403 and "read-only" in error["error"]
        events = Events(info["host"], info["port"], f"/sites/{site}/events")
        try:
            first = events.next()
            assert first is not None
            status, state = control_call(base, "GET", f"/sites/{site}/state")
            assert first["state"] == state
            fleet.stop()
            assert events.next() is None  # the site's stream saw the fleet's listener stop
        finally:
            events.close()
    finally:
        fleet.stop()
