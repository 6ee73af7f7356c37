"""The servers bench_winet.py measures, as scripts each run in a process of its own.

Each prints one ready line and then serves until it is terminated. mock-sungrow's plant is held
at one instant (a manual clock nobody moves), so its replies are the same bytes every time and
every reply can be compared with them; the bare aiohttp server is given those bytes.
"""

from __future__ import annotations

import textwrap

#: mock-sungrow's WiNet-S front end through its Python API. The ready line carries the port
#: and, read through the same API, the input words the getParam request reads.
MOCK_WINET_SERVER = textwrap.dedent(
    """
    import json, sys, threading
    from datetime import datetime
    from mock_sungrow import MockSungrowServer
    from mock_sungrow.clock import ManualClock

    model, serial, at, address, count = (
        sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    server = MockSungrowServer(server_type="http", http_port=0, model=model, serial=serial,
                               clock=ManualClock(datetime.fromisoformat(at))).start()
    words = server.read_registers("input", address, count)
    print(json.dumps({"port": server.get_connection_info("http")["port"], "words": words}),
          flush=True)
    threading.Event().wait()
    """
)

#: The baseline: a bare aiohttp server answering the same routes with fixed bytes (the same
#: content type and charset as mock-sungrow's), as cheaply as an aiohttp handler can.
BARE_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from aiohttp import WSMsgType, web

    get_param = open(sys.argv[1], encoding="utf-8").read()
    real = open(sys.argv[2], encoding="utf-8").read()

    async def http(request):
        return web.Response(text=get_param, content_type="application/json", charset="utf-8")

    async def websocket(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(real)
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/device/getParam", http)
        app.router.add_get("/ws/home/overview", websocket)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)

#: wrk's script: every reply's status, content type and body are compared with the expected
#: ones (the body file is wrk's first script argument); done() prints one parseable line.
WRK_CHECK = textwrap.dedent(
    """
    local threads = {}

    function setup(thread)
      table.insert(threads, thread)
    end

    function init(args)
      local f = assert(io.open(args[1], "rb"))
      expected = f:read("*a")
      f:close()
      bad = 0
      first_bad = ""
    end

    function response(status, headers, body)
      local ctype = headers["Content-Type"]
      if status ~= 200 or body ~= expected or ctype ~= "application/json; charset=utf-8" then
        bad = bad + 1
        if first_bad == "" then
          first_bad = "status " .. status .. ", " .. tostring(ctype) .. ", " .. #body ..
            " bytes: " .. string.sub(body, 1, 120)
        end
      end
    end

    function done(summary, latency, requests)
      local total_bad, first = 0, ""
      for _, t in ipairs(threads) do
        total_bad = total_bad + t:get("bad")
        if first == "" then first = t:get("first_bad") end
      end
      local e = summary.errors
      io.write(string.format("WRK %d %d %d %d %d %d %d %d\\n", summary.requests,
        summary.duration, total_bad, e.connect, e.read, e.write, e.status, e.timeout))
      io.write("WRKBAD " .. first .. "\\n")
    end
    """
)
