"""Hostile JSON on the WiNet-S front end: a WiNet-style error reply, and the session survives.

Three WebSocket frames used to end the session with aiohttp's raw HTTP 500 page written into
the WebSocket stream (a RecursionError, the int conversion limit, a UnicodeEncodeError when
the reply echoed a lone surrogate), and the same bodies on HTTP answered 301 with a traceback
recorded. A malformed request is answered like any other bad request: result code 400
(mock-sungrow's own, no capture of the dongle's exists) with the reason, the ``service`` echo
empty because no service could be read; over HTTP inside a 200 reply (spec §4: errors are
reported inside a 200 response).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from mock_sungrow import MockSungrowServer
from tests.winet_client import Winet, run

#: Frames that used to end a session, and what the reply must say about each.
HOSTILE_FRAMES = [
    ("[" * 1000, "nesting 1000 deep"),
    ('{"service":"real","dev_id":' + "9" * 5000 + "}", "an integer of 5000 digits"),
    ('{"service":"\\ud800"}', "lone surrogate"),
    ('{"service":"real","dev_id":NaN}', "NaN is not a JSON number"),
    ('{"service":"real","dev_id":-Infinity}', "-Infinity is not a JSON number"),
    ('{"service":"real","dev_id":1e400}', "too large"),
]


@pytest.mark.mock_sungrow_expect_errors
def test_hostile_websocket_frames_get_a_reply_and_the_session_carries_on(
        mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SH10RT")

    async def go() -> tuple[list[aiohttp.WSMessage], dict[str, Any], dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            replies = []
            for frame, _why in HOSTILE_FRAMES:
                await s.ws.send_str(frame)
                replies.append(await s.ws.receive(timeout=5))
            real = await s.call("real", dev_id="1")
            other = await (await w.session()).call("devicelist", type="0", is_check_token="0")
            return replies, real, other

    replies, real, other = run(go())
    for (frame, why), message in zip(HOSTILE_FRAMES, replies, strict=True):
        assert message.type is aiohttp.WSMsgType.TEXT, (frame[:40], message)
        reply = json.loads(message.data)
        assert reply["result_code"] == 400, reply
        assert why in reply["result_msg"] and reply["result_data"] == {"service": ""}
        assert "Traceback" not in message.data
    assert real["result_code"] == 1 and real["result_data"]["count"] > 0  # the same session
    assert other["result_code"] == 1
    assert {p.kind for p in server.problems} == {"bad-request"}


@pytest.mark.mock_sungrow_expect_errors
def test_a_valid_surrogate_pair_is_text_and_is_echoed(mock_sungrow_factory: Any) -> None:
    """Only lone surrogates are refused: an escaped pair is one character (U+1F600)."""
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS")

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            await s.ws.send_str('{"service":"\\ud83d\\ude00","token":"' + s.token + '"}')
            return await s.receive()

    reply = run(go())
    assert reply["result_code"] == 211 and reply["result_data"]["service"] == "\U0001f600"
    assert [p.kind for p in server.problems] == ["unknown-service"]


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(("body", "why"), [
    ("[" * 2000, "nesting 2000 deep"),
    ('{"type":"3","dev_id":' + "1" * 5000 + "}", "an integer of 5000 digits"),
    ('{"type":"3","dev_id":1e999}', "too large"),
    ('{"type":"3","username":"\\udfff"}', "lone surrogate"),
])
def test_hostile_http_bodies_get_a_400_result_inside_a_200(
        mock_sungrow_factory: Any, body: str, why: str) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS")

    async def go() -> tuple[int, str, str, dict[str, Any]]:
        async with Winet(server) as w:
            token = (await w.session()).token
            status, ctype, text = await w.raw(
                "POST", "/device/getParam", data=body.encode(),
                headers={"Content-Type": "application/json"})
            after = await w.registers(token, "input", 5000, 1)
            return status, ctype, text, after

    status, ctype, text, after = run(go())
    assert (status, ctype) == (200, "application/json")
    reply = json.loads(text)
    assert reply["result_code"] == 400 and why in reply["result_msg"], reply
    assert "Traceback" not in text
    assert after["result_code"] == 1  # the front end carries on
    assert [p.kind for p in server.problems] == ["bad-request"]


@pytest.mark.mock_sungrow_expect_errors
def test_brackets_inside_strings_are_not_nesting(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS")
    service = "[{" * 100

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            await s.ws.send_str(json.dumps({"service": service, "token": s.token}))
            return await s.receive()

    reply = run(go())
    assert reply["result_code"] == 211 and reply["result_data"]["service"] == service


def test_a_reply_echoing_a_lone_surrogate_is_still_sendable() -> None:
    """Replies are built from what clients sent; one that cannot be UTF-8 is escaped instead."""
    from mock_sungrow.frontends.jsonlimits import dumps_text

    text = dumps_text({"service": "\ud800", "unit": "\u2103"})
    assert json.loads(text) == {"service": "\ud800", "unit": "\u2103"}
    text.encode("utf-8")  # would raise UnicodeEncodeError for a raw surrogate
    assert dumps_text({"unit": "\u2103"}) == '{"unit": "\u2103"}'  # UTF-8, as the dongle sends
