"""Every request every front end saw, and assertions that explain themselves.

Tests should prove what the software under test did ("it read 5031 every 10 s") instead of
trusting an exit code. Each front end appends one :class:`LoggedRequest` per request: who sent
it, which device it reached (its serial), what it asked for, how it was answered and which
fault (if any) shaped the answer. Addresses are documented register numbers (wire address + 1),
as everywhere in mock-sungrow.

The assertion helpers fail with messages that show what *did* happen::

    AssertionError: expected a read of input 5031, saw reads of input 5001-5038 (2x),
    5101-5200 (2x) and holding 5000-5009 (2x)
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

#: Requests kept per server (oldest dropped first), so a long-running CLI stays bounded.
DEFAULT_CAPACITY = 100_000

#: A request logged as raw fields and a decoder (see :meth:`RequestLog.append_raw`).
_Raw = tuple[Callable[..., "LoggedRequest"], tuple[Any, ...]]


class HasSerial(Protocol):
    """Anything with a serial (a :class:`~mock_sungrow.device.device.Device`)."""

    @property
    def serial(self) -> str:
        """The device's serial number."""
        ...


def _serial(device: str | HasSerial | None) -> str | None:
    return device if device is None or isinstance(device, str) else device.serial


@dataclass(slots=True)
class LoggedRequest:
    """One request as a front end saw it (treat it as read-only)."""

    time: float  # the server clock (simulated time with a ManualClock)
    front_end: str
    peer: str
    unit: int | None
    function: int | str | None  # Modbus function code, or WiNet service / HTTP endpoint
    table: str | None
    address: int | None  # documented register number
    count: int
    outcome: str  # "ok", "exception 2", "silence", "dropped", "result 106", "refused", ...
    fault: str | None = None
    values: tuple[int, ...] | None = None  # words written
    device: str | None = None  # the serial of the device it reached (None: none)

    @property
    def is_read(self) -> bool:
        """A register read (Modbus FC 3/4, or a WiNet getParam)."""
        return self.table is not None and self.values is None and self.address is not None

    @property
    def is_write(self) -> bool:
        """A register write."""
        return self.values is not None

    @property
    def client(self) -> str:
        """The peer's host without the port (``"-"`` when unknown)."""
        host, _, _port = self.peer.rpartition(":")
        return host or self.peer

    def covers(self, address: int) -> bool:
        """Whether the request spans documented register ``address``."""
        return self.address is not None and self.address <= address < self.address + self.count

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        if self.values is not None:
            out["values"] = list(self.values)
        return out


def _span(r: LoggedRequest) -> str:
    if r.address is None:
        return str(r.function)
    end = r.address + max(r.count, 1) - 1
    return str(r.address) if end == r.address else f"{r.address}-{end}"


def summarise(requests: Iterable[LoggedRequest]) -> str:
    """Group requests into readable text: ``reads of input 5001-5038 (2x) and holding 5000``."""
    groups: dict[tuple[str, str], collections.Counter[str]] = {}
    for r in requests:
        if r.is_write:
            verb = "writes"
        elif r.is_read:
            verb = "reads"
        else:
            verb = "requests"
        groups.setdefault((verb, r.table or r.front_end), collections.Counter())[_span(r)] += 1
    if not groups:
        return "no requests at all"
    parts = []
    for (verb, where), counter in groups.items():
        spans = [f"{s} ({n}x)" if n > 1 else s for s, n in counter.items()]
        parts.append(f"{verb} of {where} {', '.join(spans)}")
    return " and ".join(parts)


class RequestLog:
    """A bounded, thread-safe list of :class:`LoggedRequest`, with query and assert helpers."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: collections.deque[LoggedRequest | _Raw] = collections.deque(
            maxlen=capacity
        )
        self._lock = threading.Lock()
        self._listeners: list[Callable[[LoggedRequest], None]] = []

    def append(self, entry: LoggedRequest) -> None:
        """Record one request (called by the front ends)."""
        self._entries.append(entry)  # deque.append is atomic
        for callback in self._listeners:
            callback(entry)

    def append_raw(self, decode: Callable[..., LoggedRequest], *fields: Any) -> None:
        """Record a request as raw fields, decoded by ``decode(*fields)`` only when read.

        The Modbus front ends log every request this way: keeping the PDU and decoding it on
        demand costs a tuple per request instead of a parse and an object.
        """
        raw = (decode, fields)
        self._entries.append(raw)
        if self._listeners:
            entry = decode(*fields)
            for callback in self._listeners:
                callback(entry)

    def add_listener(self, callback: Callable[[LoggedRequest], None]) -> None:
        """Call ``callback`` for every request logged from now on."""
        # Copy on write: a front end's thread may be iterating the list as it changes.
        self._listeners = [*self._listeners, callback]

    def remove_listener(self, callback: Callable[[LoggedRequest], None]) -> None:
        """Stop calling ``callback`` (a dashboard's event stream that ended)."""
        # ==, not is: each ``obj.method`` is a new bound method, equal to the one added.
        self._listeners = [c for c in self._listeners if c != callback]

    def clear(self) -> None:
        """Forget every request."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def all(self) -> list[LoggedRequest]:
        """Every request kept, oldest first."""
        with self._lock:
            entries = list(self._entries)
        return [e if isinstance(e, LoggedRequest) else e[0](*e[1]) for e in entries]

    def find(
        self,
        *,
        front_end: str | None = None,
        function: int | str | None = None,
        table: str | None = None,
        address: int | None = None,
        peer: str | None = None,
        outcome: str | None = None,
        fault: str | None = None,
        reads: bool | None = None,
        writes: bool | None = None,
        since: float | None = None,
        device: str | HasSerial | None = None,
    ) -> list[LoggedRequest]:
        """Requests matching every filter given (``address`` = the request spans it).

        ``peer`` is a whole host (``"127.0.0.1"``: every port of it, but not 127.0.0.12) or a
        whole ``host:port`` (one connection). ``device`` is a device (or its serial): the
        requests that reached it.
        """
        serial = _serial(device)
        out = []
        for r in self.all():
            if front_end is not None and r.front_end != front_end:
                continue
            if serial is not None and r.device != serial:
                continue
            if function is not None and r.function != function:
                continue
            if table is not None and r.table != table:
                continue
            if address is not None and not r.covers(address):
                continue
            if peer is not None and peer not in (r.peer, r.client):
                continue
            if outcome is not None and r.outcome != outcome:
                continue
            if fault is not None and r.fault != fault:
                continue
            if reads is not None and r.is_read != reads:
                continue
            if writes is not None and r.is_write != writes:
                continue
            if since is not None and r.time < since:
                continue
            out.append(r)
        return out

    def assert_read(
        self,
        table: str,
        address: int,
        *,
        times: int | None = None,
        front_end: str | None = None,
        device: str | HasSerial | None = None,
    ) -> list[LoggedRequest]:
        """Assert a read of ``table`` spanning register ``address`` happened.

        With ``times``, exactly that many must have happened; with ``device`` (a device or
        its serial), on that device. Returns the matching reads.
        """
        serial = _serial(device)
        found = self.find(table=table, address=address, reads=True, front_end=front_end,
                          device=serial)
        if not found or (times is not None and len(found) != times):
            what = "a read" if times is None else f"{times} read(s)"
            seen = summarise(r for r in self.all() if front_end in (None, r.front_end)
                             and serial in (None, r.device))
            on = "" if serial is None else f" on device {serial}"
            got = "" if not found else f" (got {len(found)})"
            raise AssertionError(f"expected {what} of {table} {address}{on}{got}, saw {seen}")
        return found

    def assert_written(
        self, address: int, value: int | None = None, *, front_end: str | None = None,
        device: str | HasSerial | None = None,
    ) -> LoggedRequest:
        """Assert holding register ``address`` was written (with ``value``, if given).

        With ``device`` (a device or its serial), the write must have reached that device.
        """
        writes = self.find(table="holding", address=address, writes=True, front_end=front_end,
                           device=device)
        for w in reversed(writes):
            if value is None or (w.values and w.address is not None
                                 and w.values[address - w.address] == value):
                return w
        seen = summarise(r for r in self.all() if r.is_write) if writes or self.all() else ""
        expected = f"a write of {value} to" if value is not None else "a write to"
        serial = _serial(device)
        on = "" if serial is None else f" on device {serial}"
        raise AssertionError(
            f"expected {expected} holding {address}{on}, saw {seen or 'no requests at all'}"
        )

    def assert_not_requested(self, table: str, address: int) -> None:
        """Assert no request spanned ``table`` register ``address``."""
        found = self.find(table=table, address=address)
        if found:
            raise AssertionError(
                f"expected no request of {table} {address}, saw {summarise(found)}"
            )
