"""What the dashboard needs beyond the plain control API: an event stream, history, registers.

``GET /events`` is a server-sent event stream (``text/event-stream``): one ``data:`` line of
JSON whenever something the page shows changed (the plant snapshot, the clocks, the active
faults with their remaining lifetime, today's power curves, the per-client counters) and
every request logged since the previous message. The page holds one such connection instead
of polling a handful of endpoints; the server looks for changes twice a second. The stream
notices the listener stopping (``stopping``, as ``/faults/wait`` does) or its page going
away within a tenth of a second and ends, so ``stop()`` is never held up by an open browser
tab and a closed tab leaves no listener on the request log.

``GET /history`` is the plant's energy history (:meth:`PlantState.history
<mock_sungrow.plant.state.PlantState.history>`), and ``GET /register-map`` the registers a
device serves, decoded and raw, searchable by name or address.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mock_sungrow.device.codec import decode_words
from mock_sungrow.frontends.control.parse import (
    ApiError,
    device_of,
    integer,
    json_response,
    snapshot_dict,
)

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device
    from mock_sungrow.faults.requestlog import LoggedRequest
    from mock_sungrow.server import MockSungrowServer

#: The kinds of energy the plant's history keeps (plant/history.py), and the power curves
#: it keeps for today only.
HISTORY_KINDS = ("pv", "direct", "export", "charge")
POWER_KINDS = ("load", "grid", "battery")
HISTORY_PERIODS = ("today", "days", "months", "years")
#: The curves the page plots: what the issue's picture shows, PV, load, battery and grid.
CURVES = ("pv", "load", "battery", "grid")
#: Seconds between the stream's looks for changes, and between its checks of ``stopping``.
EVENT_INTERVAL = 0.5
STOP_CHECK = 0.1
#: Seconds of silence after which the stream sends a comment, so proxies keep it open.
HEARTBEAT = 15.0
#: Requests the stream's first message carries (the most recent ones).
BACKLOG = 200
#: Requests queued between two messages at most (a flood is cut to its newest ones).
QUEUE = 5000
#: The per-client "requests per minute" window, in seconds of server clock.
MINUTE = 60.0


def clock_dict(server: MockSungrowServer) -> dict[str, Any]:
    """The server clock and the inverter's own clock (``GET /clock``'s answer)."""
    now = server.clock.time()
    return {
        "clock": type(server.clock).__name__,
        "time": now,
        "utc": datetime.fromtimestamp(now, timezone.utc).isoformat(),
        "inverter_time": server.snapshot().local.isoformat(),
    }


def active_faults(server: MockSungrowServer) -> list[dict[str, Any]]:
    """Every active fault, with what is left of its lifetime (seconds and firings)."""
    now = server.clock.time()
    out = []
    for fault in server.faults:
        entry = fault.to_dict()
        end = fault.ends_at
        entry["remaining_s"] = None if end is None else max(0.0, end - now)
        entry["remaining_times"] = (None if fault.times is None
                                    else max(0, fault.times - fault.fired))
        out.append(entry)
    return out


def today_curves(device: Device) -> dict[str, list[float | int | None]]:
    """Today's quarter-hour average powers (W): PV, load, battery and grid."""
    device.snapshot()  # brings the plant up to the clock: history() alone does not
    return {kind: device.plant.history(kind, "today") for kind in CURVES}


class ClientCounters:
    """Requests and errors per client (host and front end), and requests in the last minute.

    Fed from the request log as the stream hears it (a flood of more than :data:`QUEUE`
    requests between two messages is counted by its newest ones); "last minute" is on the
    server clock, so a manual clock that stands still keeps its requests in the window.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], list[int]] = {}
        self._times: dict[tuple[str, str], collections.deque[float]] = {}

    def add(self, entry: LoggedRequest) -> None:
        """Count one request."""
        key = (entry.client, entry.front_end)
        counts = self._counts.setdefault(key, [0, 0])
        counts[0] += 1
        if entry.outcome != "ok":
            counts[1] += 1
        self._times.setdefault(key, collections.deque(maxlen=100_000)).append(entry.time)

    def clear(self) -> None:
        """Forget every count (the log was cleared)."""
        self._counts.clear()
        self._times.clear()

    def summary(self, now: float) -> list[dict[str, Any]]:
        """One row per client: totals and the requests of the last minute."""
        rows = []
        for key, (total, errors) in sorted(self._counts.items()):
            times = self._times[key]
            while times and times[0] < now - MINUTE:
                times.popleft()
            recent = sum(1 for t in times if t <= now)
            rows.append({"client": key[0], "front_end": key[1], "requests": total,
                         "errors": errors, "per_minute": recent})
        return rows


class EventStream:
    """What one ``/events`` connection has sent, so that each message carries only changes."""

    def __init__(self, server: MockSungrowServer, device: Callable[[], Device]) -> None:
        self.server = server
        #: The device shown, found again for every message: ``POST /reset`` rebuilds them.
        self.device = device
        self.queue: collections.deque[LoggedRequest] = collections.deque(maxlen=QUEUE)
        self.counters = ClientCounters()
        self.sent: dict[str, Any] = {}
        self._logged = len(server.requests)

    def heard(self, entry: LoggedRequest) -> None:
        """A request was logged (called on the front end's thread: a deque append only)."""
        self.queue.append(entry)

    def backlog(self) -> list[LoggedRequest]:
        """The log so far, counted; the newest :data:`BACKLOG` of it are sent.

        Without the requests the listener heard while the log was read: they are in the
        queue already.
        """
        entries = self.server.requests.all()
        pending = list(self.queue)
        # The listener was added first: requests logged since are in both; keep the queue's.
        overlap = 0
        for n in range(min(len(pending), len(entries)), 0, -1):
            if entries[-n:] == pending[:n]:
                overlap = n
                break
        entries = entries[:len(entries) - overlap]
        for entry in entries:
            self.counters.add(entry)
        return entries[-BACKLOG:]

    def message(self, first: list[LoggedRequest] | None = None) -> dict[str, Any] | None:
        """The changes since the previous message (``None``: nothing changed)."""
        logged = len(self.server.requests)
        if logged < self._logged or (logged == 0 and self._logged):
            self.counters.clear()  # DELETE /requests or a reset
            self.sent.pop("clients", None)
        self._logged = logged
        new = list(first or ())
        while self.queue:
            entry = self.queue.popleft()
            self.counters.add(entry)
            new.append(entry)
        now = self.server.clock.time()
        device = self.device()
        current = {
            "state": snapshot_dict(device),
            "clock": clock_dict(self.server),
            "faults": active_faults(self.server),
            "history": today_curves(device),
            "clients": self.counters.summary(now),
        }
        out = {key: value for key, value in current.items() if self.sent.get(key) != value}
        self.sent.update(out)
        if new:
            out["requests"] = [r.to_dict() for r in new]
        return out or None


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, default=str).encode() + b"\n\n"


class LiveHandlers:
    """The dashboard's routes, mixed into the control API's handlers (``ControlApi``)."""

    server: MockSungrowServer
    stopping: bool
    #: Also ends a stream when true (the fleet's listener, whose per-site APIs are made per
    #: request and so never see the listener's own flag).
    stopping_of: Callable[[], bool] | None = None

    def _stopping(self) -> bool:
        return self.stopping or (self.stopping_of is not None and self.stopping_of())

    def _ended(self, request: web.Request) -> bool:
        """The listener stops, or the page went away (its connection closed)."""
        transport = request.transport
        return self._stopping() or transport is None or transport.is_closing()

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: the page's state, changes only (see the module docstring)."""
        device_of(self.server, request)  # a device that does not exist: 404 before the stream
        stream = EventStream(self.server, lambda: device_of(self.server, request))
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})
        log = self.server.requests
        log.add_listener(stream.heard)
        try:
            await response.prepare(request)
            message = stream.message(stream.backlog())
            await response.write(_event(message or {}))
            quiet_since = time.monotonic()
            while not self._ended(request):
                next_look = time.monotonic() + EVENT_INTERVAL
                while not self._ended(request) and time.monotonic() < next_look:
                    await asyncio.sleep(STOP_CHECK)
                if self._ended(request):
                    break
                message = stream.message()
                if message is not None:
                    await response.write(_event(message))
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > HEARTBEAT:
                    await response.write(b": still here\n\n")
                    quiet_since = time.monotonic()
        except ConnectionError:
            pass  # the page went away
        finally:
            log.remove_listener(stream.heard)
        return response

    async def history(self, request: web.Request) -> web.Response:
        """The plant's energy history: one ``period``, every kind (``?period=today``).

        Today's also has the load, grid and battery power curves (signed as the snapshot).
        """
        period = request.query.get("period", "today")
        if period not in HISTORY_PERIODS:
            raise ApiError(422, f"period must be one of {', '.join(HISTORY_PERIODS)}; "
                                f"got {period[:40]!r}")
        device = device_of(self.server, request)
        device.snapshot()  # brings the plant up to the clock: history() alone does not
        today = period == "today"
        kinds = HISTORY_KINDS + POWER_KINDS if today else HISTORY_KINDS
        return json_response({
            "period": period, "unit": "W (quarter-hour average)" if today else "kWh",
            "kinds": {kind: device.plant.history(kind, period) for kind in kinds}})

    async def register_map(self, request: web.Request) -> web.Response:
        """The registers a device serves, decoded and raw (``?table=&search=&limit=``).

        ``search`` is a part of a name (any case) or a register number the row spans.
        """
        q = request.query
        table = q.get("table", "input")
        if table not in ("input", "holding"):
            raise ApiError(422, f"table must be 'input' or 'holding'; got {table[:40]!r}")
        limit = integer(q.get("limit", 100), "limit", 1, 1000)
        search = q.get("search", "").strip().lower()
        device = device_of(self.server, request)
        rows = [s.row for s in device.map.rows[table] if s.live]  # type: ignore[index]
        if search.isdigit():
            number = int(search)
            rows = [r for r in rows if r.address <= number < r.end]
        elif search:
            rows = [r for r in rows if search in r.name.lower()]
        pins = device.bank.pinned(table)  # type: ignore[arg-type]
        out = []
        for row in rows[:limit]:
            entry: dict[str, Any] = {
                "address": row.address, "name": row.name, "kind": row.kind,
                "words": row.words, "unit": row.unit,
                "pinned": any(a in pins for a in range(row.address, row.end))}
            # A live row of the map always reads (only a client's request meets faults).
            raw = device.read_registers(table, row.address, row.words)  # type: ignore[arg-type]
            entry.update(raw=raw, value=decode_words(row, raw))
            out.append(entry)
        return json_response({"table": table, "total": len(rows), "rows": out})
