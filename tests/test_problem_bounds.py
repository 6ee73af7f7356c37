"""Problems from untrusted input are bounded, and so is their log (issue 10, item 10).

300,000 bad frames used to keep 300,000 records (~105 MB) and write one log line each (40 MB
of stderr). Now the first and the latest halves of ``MAX_PROBLEMS`` are kept with a count of
the ones between, and each (front end, kind) logs a burst per window, then says how many it
left out.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from mock_sungrow import MockSungrowServer, diagnostics

BAD = 3000


@pytest.mark.mock_sungrow_expect_errors
def test_bad_websocket_frames_are_recorded_within_bounds(
        mock_sungrow_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="http")
    info = server.get_connection_info("http")

    async def flood() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"ws://{info['host']}:{info['port']}/ws/home/overview")
            replies = []
            for i in range(BAD):
                await ws.send_str(f"not json {i}")
                replies.append(await ws.receive_json())
            await ws.close()
            return replies

    with caplog.at_level(logging.WARNING, logger="mock_sungrow"):
        replies = asyncio.run(flood())
    assert all(r["result_code"] == 400 for r in replies)  # every frame answered
    kept = server.problems
    limit = diagnostics.MAX_PROBLEMS
    assert len(kept) == limit
    assert server.diagnostics.dropped == BAD - limit
    assert "'not json 0'" in kept[0].message  # the first ones...
    assert f"'not json {BAD - 1}'" in kept[-1].message  # ...and the latest
    logged = [r for r in caplog.records if r.name == "mock_sungrow"]
    assert len(logged) <= diagnostics.LOG_BURST + 1, len(logged)
    server.diagnostics.clear()
    assert server.problems == [] and server.diagnostics.dropped == 0


def test_log_summarises_what_a_window_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    record = diagnostics.Diagnostics(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="mock_sungrow"):
        for i in range(31):
            if i == 30:
                now[0] = diagnostics.LOG_WINDOW_S  # the next window
            record.report("modbus", "peer", "bad-frame", f"frame {i}")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == diagnostics.LOG_BURST + 2
    assert messages[-2] == "modbus bad-frame: 10 more problems not logged in the last 10 s"
    assert messages[-1].endswith("frame 30")
