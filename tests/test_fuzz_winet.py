"""Hypothesis over real sockets against the WiNet-S front end: the WebSocket and the HTTP API.

Frames and requests are generated around what clients send (the real services and paths,
their fields with any JSON value in them, a valid token some of the time) and around what
broke sessions before (deep nesting, huge integers, NaN / Infinity, lone surrogates,
truncated and garbage text). The properties, from the WiNet-S protocol (spec §3, §4):

* every WebSocket text frame gets exactly one reply, a text frame holding the envelope
  (``result_code`` an integer, ``result_msg`` a string, ``result_data.service`` a string; only
  ``ping`` answers without ``result_data``), and the *same* session keeps working;
* every HTTP request gets JSON with an integer ``result_code`` (errors inside a 200, unknown
  paths 404, oversized bodies 413), and the front end keeps serving;
* no reply carries a traceback, and no request is a ``handler-error`` (an unexpected
  exception) in the server's problems.
"""

from __future__ import annotations

import asyncio
import json
import string
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_sungrow import MockSungrowServer
from tests.fuzzing import fuzz_settings

pytestmark = [pytest.mark.fuzz, pytest.mark.mock_sungrow_expect_errors]

SERVICES = ["connect", "login", "logout", "devicelist", "real", "real_battery", "direct",
            "state", "fault", "statistics", "runtime", "local", "stalist", "param", "ping"]
PATHS = ["/device/getParam", "/device/setParam", "/about/list", "/device/overview", "/time/get",
         "/device/getType", "/inverter/list", "/wifi/updateStaScan", "/product/list",
         "/user/connect", "/device/list", "/upgrade/upgradeStatus", "/device/passthroughway",
         "/i18n/en_US.properties", "/i18n/x.txt", "/nowhere"]
FIELDS = ["lang", "token", "dev_id", "type", "is_check_token", "username", "passwd", "list",
          "devid_array", "param_addr", "param_num", "param_type", "param_size", "param_value",
          "msgValue", "time123456", "power_switch", "param_pid"]
TOKEN = "\x00token\x00"  # replaced by the session's real token when drawn

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(["1", "0", "2", "3", "9", "", "admin", "pw8888", "5000", "13000",
                     TOKEN, "0104138700018567"]),
    st.integers(min_value=-(2**80), max_value=2**80),
)
requests_ = st.fixed_dictionaries(
    {"service": st.one_of(st.sampled_from(SERVICES), st.text(max_size=10), json_values)},
    optional=dict.fromkeys(FIELDS, field_values),
)
#: Text that broke sessions before, and its neighbours.
hostile = st.one_of(
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: '{"service":"real","x":' + "[" * n),
    st.integers(min_value=30, max_value=6000).map(
        lambda n: '{"service":"real","dev_id":' + "9" * n + "}"),
    st.sampled_from(['{"service":"\\ud800"}', '{"service":"real","dev_id":NaN}',
                     '{"service":"real","dev_id":-Infinity}', '{"service":"real","dev_id":1e999}',
                     '{"\\udfff":1,"service":"real"}', '{"service":"\\ud83d\\ude00"}']),
)


def _fill(request: dict[str, Any], token: str) -> dict[str, Any]:
    return {k: token if v == TOKEN else v for k, v in request.items()}


def frames(token_holder: list[str]) -> st.SearchStrategy[str]:
    """WebSocket text frames: requests as JSON, cut short, hostile, or any text at all."""
    as_json = requests_.map(lambda r: json.dumps(_fill(r, token_holder[0])))
    return st.one_of(
        as_json,
        st.tuples(as_json, st.integers(min_value=0)).map(lambda t: t[0][: t[1] % (len(t[0]) + 1)]),
        hostile,
        st.text(max_size=200),
        st.text(alphabet=string.printable, max_size=60).map(lambda t: "{" + t),
    )


def _envelope_ok(text: str) -> dict[str, Any]:
    assert "Traceback" not in text
    reply = json.loads(text)
    assert isinstance(reply, dict), text
    assert isinstance(reply["result_code"], int) and not isinstance(reply["result_code"], bool)
    assert isinstance(reply["result_msg"], str)
    return reply


class _Client:
    """An aiohttp session and one WebSocket on a loop of its own, driven from the test."""

    def __init__(self, server: MockSungrowServer) -> None:
        info = server.get_connection_info("http")
        self.base = f"http://{info['host']}:{info['port']}"
        self.loop = asyncio.new_event_loop()
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse[Any] | None = None
        self.token = [""]

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def open(self) -> None:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(self.base + "/ws/home/overview")
        reply = await self.exchange(json.dumps({"lang": "en_us", "token": "",
                                                "service": "connect"}))
        self.token[0] = reply["result_data"]["token"]

    async def exchange(self, frame: str) -> dict[str, Any]:
        assert self.ws is not None
        await self.ws.send_str(frame)
        message = await self.ws.receive(timeout=10)
        assert message.type is aiohttp.WSMsgType.TEXT, (frame[:80], message)
        return _envelope_ok(message.data)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()

    def finish(self) -> None:
        try:
            self.run(self.close())
            self.run(asyncio.sleep(0))
        finally:
            self.loop.close()


def _no_handler_errors(server: MockSungrowServer, since: int = 0) -> None:
    errors = [p for p in server.problems[since:] if p.kind == "handler-error"]
    assert errors == []


def test_websocket_frames_always_get_an_envelope_and_the_session_survives(
        mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SH10RT", server_type="http")
    client = _Client(server)
    try:
        client.run(client.open())

        cases = [0]

        @fuzz_settings(300)
        @given(frame=frames(client.token))
        def exchange(frame: str) -> None:
            cases[0] += 1
            seen = len(server.problems)
            reply = client.run(client.exchange(frame))
            _no_handler_errors(server, seen)
            if "result_data" in reply:
                assert isinstance(reply["result_data"].get("service"), str), reply
            else:  # only the keep-alive answers without result_data (captured)
                assert reply == {"result_code": 1, "result_msg": "success"}

        exchange()
        print(f"[fuzz] WebSocket: {cases[0]} frames on one session")  # shown by -rP
        # The same session, after everything above: a fresh connect and a read still work.
        connect = client.run(client.exchange(json.dumps({"service": "connect", "token": ""})))
        token = connect["result_data"]["token"]
        real = client.run(client.exchange(json.dumps({"service": "real", "token": token,
                                                      "dev_id": "1"})))
        assert (connect["result_code"], real["result_code"]) == (1, 1)
    finally:
        client.finish()
    _no_handler_errors(server)


bodies = st.one_of(
    st.none(),
    requests_.map(lambda r: json.dumps(r).encode()),
    hostile.map(str.encode),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=10), max_size=4).map(
        lambda d: "&".join(f"{k}={v}" for k, v in d.items()).encode("utf-8", "surrogatepass")),
)
queries = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(alphabet=string.ascii_letters, max_size=6)),
    st.one_of(st.sampled_from(["1", "0", "3", "5000", "125", "126", "-1", TOKEN, "x" * 40]),
              st.text(alphabet=string.printable, max_size=12),
              st.integers(min_value=-(2**70), max_value=2**70).map(str)),
    max_size=6,
)
content_types = st.sampled_from([None, "application/json", "text/plain",
                                 "application/x-www-form-urlencoded", "application/octet-stream"])


def test_http_requests_always_get_json_and_the_front_end_carries_on(
        mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SH10RT", server_type="http")
    client = _Client(server)
    try:
        client.run(client.open())

        async def request(method: str, path: str, query: dict[str, str], body: bytes | None,
                          content_type: str | None) -> tuple[int, str, str]:
            assert client.http is not None
            query = {k: client.token[0] if v == TOKEN else v for k, v in query.items()}
            headers = {} if content_type is None else {"Content-Type": content_type}
            async with client.http.request(method, client.base + path, params=query,
                                           data=body, headers=headers) as response:
                return response.status, response.content_type, await response.text()

        cases = [0]

        @fuzz_settings(300)
        @given(method=st.sampled_from(["GET", "POST"]),
               path=st.one_of(st.sampled_from(PATHS),
                              st.text(alphabet=string.ascii_letters + "/._-", max_size=20).map(
                                  lambda p: "/" + p)),
               query=queries, body=bodies, content_type=content_types)
        def call(method: str, path: str, query: dict[str, str], body: bytes | None,
                 content_type: str | None) -> None:
            cases[0] += 1
            seen = len(server.problems)
            status, ctype, text = client.run(request(method, path, query, body, content_type))
            _no_handler_errors(server, seen)
            if path.startswith("/i18n/") and status == 200:
                assert ctype == "text/plain" and "=" in text  # the properties file
                return
            assert status in (200, 400, 404, 413), (status, text[:200])
            assert ctype == "application/json", (status, ctype, text[:200])
            reply = _envelope_ok(text)
            assert isinstance(reply.get("result_data", {}), dict)

        call()
        print(f"[fuzz] HTTP: {cases[0]} requests")  # shown by -rP
        token = client.token[0]
        status, _ctype, text = client.run(request(
            "GET", "/device/getParam", {"dev_id": "1", "type": "3", "param_type": "0",
                                        "param_addr": "5000", "param_num": "1",
                                        "token": token}, None, None))
        assert status == 200 and json.loads(text)["result_code"] in (1, 106)
    finally:
        client.finish()
    _no_handler_errors(server)
