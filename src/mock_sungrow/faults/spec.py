"""Faults as data: what a fault matches, what it does, and how long it lives.

A :class:`Fault` is built from a plain dictionary (the same one the Python API, the CLI and the
control API accept)::

    {"kind": "exception", "code": 2, "table": "input", "address": [5031, 5032], "times": 1}

``kind`` names an entry of :data:`KINDS` (the catalogue of failures real installations show,
field-survey.md §4); the kind's own parameters come next; then what the fault matches
(:class:`Match`: front end, unit, function or WiNet service, table, register range, client);
then its lifetime: ``times`` (fire N times, then it is used up; omitted = permanent),
``duration`` (seconds on the server's clock, after which it expires) and ``ordered`` (ordered
faults fire one after the other, in injection order, like pytest-httpserver's ordered
handlers).

Every mistake in a spec is refused with :class:`FaultSpecError`, whose message says what is
wrong and what is accepted, before anything changes.

The :class:`FaultSet` holds the active faults of one server, thread-safely: tests inject from
their thread while the front ends consult the set on the server's loop. Front ends ask it
questions at fixed points ("a connection arrives", "a request arrives", "words are about to be
sent"), so a fault kind only needs to say at which point it acts.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

Phase = Literal["connect", "request", "words", "frame", "plant", "session"]

#: Front-end names a fault may target (``None`` in a match means any).
FRONT_ENDS = ("modbus", "sungrow", "http", "control")
#: Front ends that speak Modbus PDUs (plain MBAP and Sungrow's AES framing).
MODBUS_FRONT_ENDS = frozenset({"modbus", "sungrow"})

#: Named latency profiles (seconds): a uniform delay between ``low`` and ``high``.
LATENCY_PROFILES: dict[str, tuple[float, float]] = {
    "lan": (0.002, 0.010),  # inverter LAN port: milliseconds (field-survey §5.1)
    "winet-modbus": (0.040, 0.150),  # Modbus TCP through a WiNet-S dongle
    "winet-http": (0.150, 0.400),  # WiNet-S HTTP / WebSocket
}


class FaultSpecError(ValueError):
    """A fault specification is invalid; the message says what is wrong."""


# ----------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param:
    """One parameter of a fault kind."""

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    required: bool = False
    check: Callable[[Any], str | None] | None = None
    doc: str = ""

    def coerce(self, kind: str, value: Any) -> Any:
        """Validate ``value`` (with light coercion from CLI strings) or raise."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if isinstance(value, str) and str not in types:
            value = _from_text(value, types)
        if isinstance(value, bool) and bool not in types:
            raise FaultSpecError(f"{kind}: {self.name} must be {_type_names(types)}, not a bool")
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if list in types and isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, types):
            raise FaultSpecError(
                f"{kind}: {self.name} must be {_type_names(types)}; got {value!r}"
            )
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise FaultSpecError(f"{kind}: {self.name} {problem}; got {value!r}")
        return value


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "a list"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _from_text(text: str, types: tuple[type, ...]) -> Any:
    if bool in types and text.lower() in ("true", "false", "yes", "no", "on", "off"):
        return text.lower() in ("true", "yes", "on")
    for t in (int, float):
        if t in types:
            try:
                return int(text, 0) if t is int else float(text)
            except ValueError:
                continue
    if list in types:
        return [int(x, 0) for x in text.replace(";", " ").replace("/", " ").split()]
    return text


def _non_negative(v: float) -> str | None:
    return "must be >= 0" if v < 0 else None


def _positive(v: float) -> str | None:
    return "must be > 0" if v <= 0 else None


def _exception_code(v: int) -> str | None:
    return None if 1 <= v <= 255 else "must be a Modbus exception code 1..255"


def _words(v: list[Any]) -> str | None:
    ok = v and all(isinstance(w, int) and 0 <= w <= 0xFFFF for w in v)
    return None if ok else "must be a non-empty list of 16-bit words (0..65535)"


def _one_of(*allowed: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in allowed else f"must be one of {', '.join(allowed)}"

    return check


# ----------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class FaultKind:
    """A catalogue entry: when the fault acts, where it applies, what it takes."""

    name: str
    phase: Phase
    front_ends: frozenset[str]
    summary: str
    survey_rows: tuple[int, ...] = ()
    params: tuple[Param, ...] = ()
    #: Whether the kind can match a register range (and so a table / address).
    registers: bool = False

    def param(self, name: str) -> Param | None:
        """The parameter called ``name``, if the kind has one."""
        return next((p for p in self.params if p.name == name), None)


_MB = MODBUS_FRONT_ENDS
_ALL = frozenset({"modbus", "sungrow", "http"})
_HTTP = frozenset({"http"})

KINDS: dict[str, FaultKind] = {
    k.name: k
    for k in [
        FaultKind("exception", "request", _MB,
                  "answer with a Modbus exception (one bad register kills the whole block)",
                  (16, 21), (Param("code", int, 2, check=_exception_code,
                                   doc="exception code (Sungrow uses 2 and 4)"),),
                  registers=True),
        FaultKind("silence", "request", _ALL,
                  "never answer: the client waits for its full timeout", (17, 26),
                  registers=True),
        FaultKind("drop", "request", _ALL,
                  "close the connection instead of answering", (9, 11, 18), registers=True),
        FaultKind("latency", "request", _ALL,
                  "delay answers (a named profile or a delay plus uniform jitter)", (26,),
                  (Param("profile", str, None, check=_one_of(*LATENCY_PROFILES),
                         doc="lan (2-10 ms), winet-modbus (40-150 ms), winet-http (150-400 ms)"),
                   Param("delay", float, 0.0, check=_non_negative, doc="seconds"),
                   Param("jitter", float, 0.0, check=_non_negative,
                         doc="extra uniform random delay, seconds")),
                  registers=True),
        FaultKind("min-gap", "request", _ALL,
                  "a dongle that needs a pause between requests; too fast overloads it",
                  (26,),
                  (Param("gap", float, 0.03, check=_positive,
                         doc="minimum seconds between requests (WiNet-S Modbus: 0.03)"),
                   Param("overload", str, "drop", check=_one_of("drop", "lockup"),
                         doc="drop the connection, or lock up until the line is idle"),
                   Param("idle", float, 2.0, check=_positive,
                         doc="lockup: seconds without requests before it answers again"))),
        FaultKind("empty-frame", "frame", _MB,
                  "a read that touches unmapped registers gets a reply with no registers",
                  (21,), registers=True),
        FaultKind("bad-exception-frame", "frame", _MB,
                  "exception replies whose MBAP length says 2 while 3 bytes follow", (22,),
                  registers=True),
        FaultKind("padded-frame", "frame", _MB,
                  "read replies longer than their byte count (MBAP counts extra registers)",
                  (23,), (Param("extra", int, 4, check=_positive,
                                doc="padding registers after the data"),), registers=True),
        FaultKind("wrong-count", "frame", _MB,
                  "read replies carrying a different number of registers than asked", (23,),
                  (Param("count", int, 15, check=_positive,
                         doc="registers actually returned"),), registers=True),
        FaultKind("scale", "words", _ALL,
                  "values multiplied by a factor (grid frequency x10 on early WiNet-S)", (28,),
                  (Param("factor", float, 10.0, check=_positive),), registers=True),
        FaultKind("zeros", "words", _ALL,
                  "registers read 0 (an unsupported register inside a larger block)", (19,),
                  registers=True),
        FaultKind("sentinel", "words", _ALL,
                  "registers read their 'unavailable' sentinel (0xFFFF, 0x7FFF, ...)", (),
                  registers=True),
        FaultKind("value", "words", _ALL,
                  "registers read fixed words (running state 0 through a WiNet-S)", (28,),
                  (Param("words", list, None, required=True, check=_words,
                         doc="words, repeated over the matched range"),), registers=True),
        FaultKind("stale", "words", _ALL,
                  "values stop updating: reads repeat the words seen when the fault began",
                  (27,), registers=True),
        FaultKind("stale-after-write", "words", _ALL,
                  "after a write, reads keep returning the old value for a while", (27,),
                  (Param("hold", float, 60.0, check=_positive,
                         doc="seconds the old value is still served"),), registers=True),
        FaultKind("write-scale", "request", _MB,
                  "written values multiplied before the range check (holding 13074 on some "
                  "SH*RT firmware: write 123, read 1230; above max/10: exception 4)", (28,),
                  (Param("factor", int, 10, check=_positive),), registers=True),
        FaultKind("max-clients", "connect", _ALL,
                  "only N simultaneous clients (WiNet-S Modbus: one)", (10,),
                  (Param("limit", int, 1, check=_positive),
                   Param("policy", str, "refuse", check=_one_of("refuse", "kick-oldest"),
                         doc="refuse the newcomer, or close the oldest connection"))),
        FaultKind("idle-timeout", "connect", _ALL,
                  "connections idle for a while are closed by the server", (11,),
                  (Param("seconds", float, 30.0, check=_positive),)),
        FaultKind("reconnect-cooldown", "connect", _ALL,
                  "a client reconnecting too soon after a disconnect is refused", (12,),
                  (Param("seconds", float, 2.0, check=_positive),)),
        FaultKind("refuse", "connect", _ALL,
                  "refuse every connection (Modbus disabled on the dongle; port closed by "
                  "new firmware)", (1, 13, 31)),
        FaultKind("night-shutdown", "connect", _ALL,
                  "the inverter and its dongle are off while the sun is down: connections "
                  "refused until sunrise", (32,)),
        FaultKind("block-after-bad-reads", "connect", _ALL,
                  "after N refused reads a client is blocked from connecting", (25,),
                  (Param("reads", int, 3, check=_positive),
                   Param("seconds", float, 600.0, check=_positive,
                         doc="how long the block lasts"))),
        FaultKind("freeze-after-illegal-reads", "request", _ALL,
                  "after N illegal reads the dongle stops answering, then recovers", (24,),
                  (Param("reads", int, 3, check=_positive),
                   Param("recover", float, 60.0, check=_positive,
                         doc="seconds until it answers again"))),
        FaultKind("inverter-fault", "plant", _ALL,
                  "the inverter trips: fault code, Fault work state, output falls to zero",
                  (), (Param("code", int, 37, check=_positive,
                             doc="fault code shown in input 5045 (37: high ambient temp.)"),)),
        FaultKind("grid-outage", "plant", _ALL,
                  "the grid fails: fault code 10, no export (hybrids keep their backup load)",
                  ()),
        FaultKind("key-silent", "session", frozenset({"sungrow", "modbus"}),
                  "the encryption key request goes unanswered", (15,)),
        FaultKind("key-rotate", "session", frozenset({"sungrow"}),
                  "the dongle hands out a new public key; clients fail until they re-fetch",
                  ()),
        FaultKind("winet-result", "request", _HTTP,
                  "WiNet-S answers with an error result code (106 token expired, 301 busy, "
                  "401 not logged in, 114 account locked, ...)", (2, 4, 6, 7),
                  (Param("code", int, 301, check=_positive),
                   Param("message", str, None, doc="result_msg (default: the dongle's text)"))),
        FaultKind("winet-kick", "session", _HTTP,
                  "another login takes the single session: notice 100 to every session, "
                  "their tokens stop working", (8,)),
        FaultKind("winet-profile", "session", _HTTP,
                  "switch the dongle's firmware profile at run time", (1, 2, 3, 5, 31),
                  (Param("profile", str, "login", required=True,
                         check=_one_of("legacy", "login", "tls-only")),)),
    ]
}


# ----------------------------------------------------------------------------- matching


@dataclass(slots=True)
class Request:
    """What a front end knows about a request when it consults the faults.

    (Not frozen on purpose: one is built per request, and a frozen dataclass costs five times
    as much to construct.)

    ``address`` is the documented (1-based) register number; ``function`` is the Modbus
    function code or the WiNet service / HTTP endpoint name.
    """

    front_end: str
    peer: str = "-"
    unit: int | None = None
    function: int | str | None = None
    table: str | None = None
    address: int | None = None
    count: int = 0
    write: bool = False

    @property
    def client(self) -> str:
        """The peer's host without the port."""
        host, _, _port = self.peer.rpartition(":")
        return host or self.peer


@dataclass(frozen=True, slots=True)
class Match:
    """What a fault applies to. ``None`` everywhere means "everything"."""

    front_end: str | None = None
    unit: int | None = None
    function: int | str | None = None
    table: str | None = None
    address: tuple[int, int] | None = None  # documented, inclusive
    client: str | None = None

    def matches(self, req: Request, *, registers: bool = True) -> bool:
        """Whether ``req`` falls under this match.

        ``registers=False`` leaves table and address out: for a request that names no
        registers but reads some on its behalf (a WiNet-S ``real``), whose reads are matched
        one by one where they happen (:meth:`covers`).
        """
        if self.front_end is not None and req.front_end != self.front_end:
            return False
        if self.unit is not None and req.unit != self.unit:
            return False
        if self.function is not None and req.function != self.function:
            return False
        if self.client is not None and req.client != self.client:
            return False
        if not registers:
            return True
        if self.table is not None and req.table != self.table:
            return False
        if self.address is not None:
            if req.address is None:
                return False
            lo, hi = self.address
            if req.address > hi or req.address + max(req.count, 1) - 1 < lo:
                return False
        return True

    def covers(self, table: str, address: int) -> bool:
        """Whether register ``address`` of ``table`` is in this match's table and range."""
        if self.table is not None and table != self.table:
            return False
        return self.address is None or self.address[0] <= address <= self.address[1]

    def to_dict(self) -> dict[str, Any]:
        """The non-default fields, as a spec would give them."""
        out: dict[str, Any] = {}
        for name in ("front_end", "unit", "function", "table", "client"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.address is not None:
            out["address"] = list(self.address)
        return out


_MATCH_KEYS = ("front_end", "unit", "function", "service", "table", "address", "client")
_LIFETIME_KEYS = ("times", "duration", "ordered")


def _parse_address(value: Any) -> tuple[int, int]:
    if isinstance(value, bool):
        raise FaultSpecError(f"address must be a register number or a range; got {value!r}")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            if "-" in text[1:]:
                a, b = text.split("-", 1)
                lo, hi = int(a, 0), int(b, 0)
            else:
                lo = hi = int(text, 0)
        except ValueError:
            raise FaultSpecError(
                f"address {value!r} is not a register number or a range like '5031-5032'"
            ) from None
    elif isinstance(value, list | tuple) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        lo, hi = value
    else:
        raise FaultSpecError(
            f"address must be a register number, [first, last] or 'first-last'; got {value!r}"
        )
    if not 1 <= lo <= hi <= 65536:
        raise FaultSpecError(
            f"address range {lo}-{hi} is invalid: documented registers are 1..65536, "
            "first <= last"
        )
    return lo, hi


def _parse_match(kind: FaultKind, spec: Mapping[str, Any]) -> Match:
    front_end = spec.get("front_end")
    if front_end is not None:
        if front_end not in FRONT_ENDS:
            raise FaultSpecError(
                f"front_end {front_end!r} is unknown; accepted: {', '.join(FRONT_ENDS)}"
            )
        if front_end not in kind.front_ends:
            raise FaultSpecError(
                f"{kind.name} does not apply to the {front_end!r} front end; it applies to "
                + ", ".join(sorted(kind.front_ends))
            )
    unit = spec.get("unit")
    if unit is not None and (isinstance(unit, bool) or not isinstance(unit, int)
                             or not 0 <= unit <= 255):
        raise FaultSpecError(f"unit must be an integer 0..255; got {unit!r}")
    function = spec.get("function", spec.get("service"))
    if isinstance(function, str) and function.isdigit():
        function = int(function)
    if function is not None and not isinstance(function, int | str):
        raise FaultSpecError(f"function must be a function code or a service name; {function!r}")
    table = spec.get("table")
    if table is not None and table not in ("input", "holding"):
        raise FaultSpecError(f"table must be 'input' or 'holding'; got {table!r}")
    address = spec.get("address")
    if (address is not None or table is not None) and not kind.registers:
        raise FaultSpecError(f"{kind.name} does not act on registers: drop table/address")
    client = spec.get("client")
    if client is not None and not isinstance(client, str):
        raise FaultSpecError(f"client must be an IP address string; got {client!r}")
    return Match(
        front_end=front_end,
        unit=unit,
        function=function,
        table=table,
        address=None if address is None else _parse_address(address),
        client=client,
    )


# ----------------------------------------------------------------------------- a fault


class Fault:
    """One injected fault. Use it as a context manager to remove it on exit."""

    def __init__(
        self,
        kind: FaultKind,
        params: dict[str, Any],
        match: Match,
        *,
        times: int | None = None,
        duration: float | None = None,
        ordered: bool = False,
    ) -> None:
        self.kind = kind
        self.params = params
        self.match = match
        self.times = times
        self.duration = duration
        self.ordered = ordered
        self.id = 0
        self.fired = 0
        self.injected_at = 0.0
        #: When the fault ended (server clock): its end time when its duration ran out, the
        #: moment it was removed otherwise; ``None`` while it is active.
        self.ended_at: float | None = None
        #: Whether it ended because its duration ran out (rather than being removed).
        self.expired = False
        self.state: dict[str, Any] = {}  # per-fault memory (stale words, counters...)
        self._owner: FaultSet | None = None

    @property
    def name(self) -> str:
        """The kind's name."""
        return self.kind.name

    @property
    def finite(self) -> bool:
        """Whether the fault ends on its own (by count or by time)."""
        return self.times is not None or self.duration is not None

    @property
    def ends_at(self) -> float | None:
        """The server-clock time its duration runs out (``None`` without a duration)."""
        return None if self.duration is None else self.injected_at + self.duration

    def live_at(self, t: float) -> bool:
        """Whether it was active at server-clock time ``t`` (injected, duration not over)."""
        end = self.ends_at
        return self.injected_at <= t and (end is None or t < end)

    def used_up(self, now: float) -> bool:
        """Whether it has fired its last time, or its duration is over."""
        if self.times is not None and self.fired >= self.times:
            return True
        end = self.ends_at
        return end is not None and now >= end

    def to_dict(self) -> dict[str, Any]:
        """The spec this fault was built from, plus its id and how often it fired."""
        out: dict[str, Any] = {"id": self.id, "kind": self.name, **self.params,
                               **self.match.to_dict(), "fired": self.fired}
        if self.times is not None:
            out["times"] = self.times
        if self.duration is not None:
            out["duration"] = self.duration
        if self.ordered:
            out["ordered"] = True
        return out

    def remove(self) -> None:
        """Take the fault out of the server it was injected into."""
        if self._owner is not None:
            self._owner.remove(self.id)

    def __enter__(self) -> Fault:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        spec = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "kind")
        return f"Fault({self.name}: {spec})"


def parse_fault(spec: Mapping[str, Any] | str) -> Fault:
    """Build a :class:`Fault` from a dict (or the CLI's ``kind:key=value,...`` text)."""
    if isinstance(spec, str):
        spec = parse_fault_text(spec)
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"a fault spec is an object with a 'kind'; got {spec!r}")
    kind_name = spec.get("kind")
    if kind_name not in KINDS:
        raise FaultSpecError(
            f"unknown fault kind {kind_name!r}; accepted: {', '.join(sorted(KINDS))}"
        )
    kind = KINDS[kind_name]
    known = {"kind", *_MATCH_KEYS, *_LIFETIME_KEYS, *(p.name for p in kind.params)}
    unknown = sorted(set(spec) - known)
    if unknown:
        accepted = [p.name for p in kind.params] + list(_MATCH_KEYS) + list(_LIFETIME_KEYS)
        raise FaultSpecError(
            f"{kind.name}: unknown field(s) {', '.join(unknown)}; accepted: "
            + ", ".join(accepted)
        )
    params: dict[str, Any] = {}
    for p in kind.params:
        if p.name in spec and spec[p.name] is not None:
            params[p.name] = p.coerce(kind.name, spec[p.name])
        elif p.required:
            raise FaultSpecError(f"{kind.name}: {p.name} is required")
        elif p.default is not None:
            params[p.name] = p.default
    times = spec.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                              or times < 1):
        raise FaultSpecError(f"times must be a positive integer (omit it for 'permanent'); "
                             f"got {times!r}")
    duration = spec.get("duration")
    if duration is not None:
        if isinstance(duration, str):
            duration = _from_text(duration, (float,))
        if isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0:
            raise FaultSpecError(f"duration must be a positive number of seconds; got "
                                 f"{duration!r}")
        duration = float(duration)
    ordered = spec.get("ordered", False)
    if isinstance(ordered, str):
        ordered = _from_text(ordered, (bool,))
    if not isinstance(ordered, bool):
        raise FaultSpecError(f"ordered must be true or false; got {ordered!r}")
    if ordered and times is None:
        raise FaultSpecError("an ordered fault needs a finite 'times'")
    if kind.phase in ("plant", "session") and (times is not None or ordered):
        raise FaultSpecError(
            f"{kind.name} changes the device's state while it is active: give it a 'duration' "
            "or remove it, instead of 'times'/'ordered'"
        )
    return Fault(kind, params, _parse_match(kind, spec), times=times, duration=duration,
                 ordered=ordered)


def parse_fault_text(text: str) -> dict[str, Any]:
    """Parse the CLI form ``kind[:key=value,key=value...]`` (JSON objects are accepted too)."""
    text = text.strip()
    if text.startswith("{"):
        import json

        try:
            value = json.loads(text)
        except ValueError as exc:
            raise FaultSpecError(f"fault spec is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise FaultSpecError("a JSON fault spec must be an object")
        return value
    kind, _, rest = text.partition(":")
    spec: dict[str, Any] = {"kind": kind.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise FaultSpecError(f"expected key=value in fault spec, got {item!r}")
        spec[key.strip().replace("-", "_")] = value.strip()
    # Text values for integer match fields.
    for key in ("unit", "times"):
        if isinstance(spec.get(key), str):
            try:
                spec[key] = int(spec[key], 0)
            except ValueError:
                raise FaultSpecError(f"{key} must be an integer; got {spec[key]!r}") from None
    return spec


# ----------------------------------------------------------------------------- the set


class FaultSet:
    """The active faults of one server.

    A fault with a ``duration`` ends at its end time, not when somebody next looks: whatever
    moves or reads time calls :meth:`expire` (a manual clock when it is moved, a timer on the
    server's loop, every request, every plant read, every listing), and each fault due is
    removed in the order of its end, its listeners told with ``ended_at`` set to that end,
    so a plant fault's end takes effect at that instant however late it is noticed.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._listeners: list[Callable[[Fault, bool], None]] = []
        self._next_end: float | None = None
        self._expiring: int | None = None  # the thread inside expire(), if any
        #: Held while due faults are removed and their listeners run. The server gives it the
        #: plant's lock, so the plant can never integrate past a fault's end before the end
        #: has been applied (a request and a clock move racing each other).
        self.expiry_lock: threading.RLock = threading.RLock()
        #: Bumped on every change, so front ends can cache "no faults" cheaply.
        self.version = 0

    def __bool__(self) -> bool:
        if self._next_end is not None:  # only duration faults cost a clock read here
            self.expire()
        return bool(self._faults)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.live())

    def __len__(self) -> int:
        return len(self.live())

    def add_listener(self, callback: Callable[[Fault, bool], None]) -> None:
        """Call ``callback(fault, added)`` when a fault is added (True) or removed (False).

        Plant and session faults use this to change state when they start and end: the
        instant of the change is ``fault.injected_at`` or ``fault.ended_at`` (see
        :meth:`live`), which for an expired fault may lie a little before the call.
        """
        self._listeners.append(callback)

    def now(self) -> float:
        """The clock durations are measured on."""
        return self._clock()

    def next_end(self) -> float | None:
        """When the next duration fault ends (server clock), if any."""
        return self._next_end

    def live(self, at: float | None = None) -> list[Fault]:
        """Faults active at server-clock time ``at`` (default: now), in injection order.

        An ended fault is never listed, even before :meth:`expire` has removed it.
        """
        if at is None:
            self.expire()
        t = self._clock() if at is None else at
        with self._lock:
            return [f for f in self._faults if f.live_at(t)]

    def _changed_locked(self) -> None:
        self.version += 1
        ends = [end for f in self._faults if (end := f.ends_at) is not None]
        self._next_end = min(ends) if ends else None
        self._changed.notify_all()

    def _notify(self, fault: Fault, added: bool) -> None:
        for callback in self._listeners:
            callback(fault, added)

    def inject(self, fault: Fault) -> Fault:
        """Activate ``fault`` and return it (with its id)."""
        with self._lock:
            fault.id = next(self._ids)
            fault.injected_at = self._clock()
            fault.ended_at = None
            fault.expired = False
            fault._owner = self
            self._faults.append(fault)
            self._changed_locked()
        self._notify(fault, True)
        return fault

    def remove(self, fault_id: int) -> bool:
        """Remove one fault; False when there was none with that id (or it has ended)."""
        self.expire()  # a fault already over ends at its end, not now
        now = self._clock()
        with self._lock:
            found = [f for f in self._faults if f.id == fault_id]
            self._faults = [f for f in self._faults if f.id != fault_id]
            for fault in found:
                fault.ended_at = now
            self._changed_locked()
        for fault in found:
            self._notify(fault, False)
        return bool(found)

    def clear(self) -> None:
        """Remove every fault."""
        self.expire()
        now = self._clock()
        with self._lock:
            removed, self._faults = self._faults, []
            for fault in removed:
                fault.ended_at = now
            self._changed_locked()
        for fault in removed:
            self._notify(fault, False)

    def expire(self, now: float | None = None) -> None:
        """End every fault whose duration is over by ``now`` (default: the clock's time).

        Earliest end first; each one's listeners run before the next is removed, with
        ``ended_at`` = its end time. Count-limited faults stay (to show they fired). Cheap when
        nothing is due; a listener that looks at the set meanwhile does not re-enter.
        """
        next_end = self._next_end
        if next_end is None:
            return
        t = self._clock() if now is None else now
        if t < next_end:
            return
        me = threading.get_ident()
        with self.expiry_lock:
            if self._expiring == me:
                return
            self._expiring = me
            try:
                while True:
                    with self._lock:
                        due = [f for f in self._faults
                               if (end := f.ends_at) is not None and end <= t]
                        if not due:
                            return
                        fault = min(due, key=lambda f: (f.ends_at, f.id))
                        self._faults.remove(fault)
                        fault.ended_at = fault.ends_at
                        fault.expired = True
                        self._changed_locked()
                    self._notify(fault, False)
            finally:
                self._expiring = None

    def active(self, phase: Phase, req: Request | None = None, *,
               registers: bool = True) -> list[Fault]:
        """Faults of ``phase`` that are live and match ``req`` (without firing them).

        ``registers=False``: match everything but table and address (see :meth:`Match.matches`).
        """
        if not self._faults:
            return []
        now = self._clock()
        next_end = self._next_end
        if next_end is not None and now >= next_end:
            self.expire(now)
        out = []
        with self._lock:
            ordered_turn = next(
                (f for f in self._faults if f.ordered and not f.used_up(now)), None
            )
            for f in self._faults:
                if f.kind.phase != phase or f.used_up(now):
                    continue
                if f.ordered and f is not ordered_turn:
                    continue
                if f.kind.front_ends and req is not None and (
                    req.front_end not in f.kind.front_ends
                ):
                    continue
                if req is not None and not f.match.matches(req, registers=registers):
                    continue
                out.append(f)
        return out

    def fire(self, fault: Fault) -> None:
        """Count one firing of ``fault`` (and wake :meth:`wait`)."""
        with self._lock:
            fault.fired += 1
            self._changed.notify_all()

    def wait(self, timeout: float = 5.0) -> None:
        """Return once every fault with a finite ``times`` has fired its last time.

        Faults limited by ``duration`` are waited for until they end (and have ended: their
        listeners have run when this returns). Raises :class:`TimeoutError` naming the faults
        still pending.
        """
        deadline = time.monotonic() + timeout

        def pending() -> list[Fault]:
            now = self._clock()
            return [f for f in self._faults if f.finite and not f.used_up(now)]

        with self._lock:
            while True:
                left = pending()
                if not left:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        "faults still waiting to fire: "
                        + "; ".join(f"{f!r} ({_pending_text(f, self._clock())})" for f in left)
                    )
                self._changed.wait(min(remaining, 0.05))
        self.expire()

    def describe(self) -> list[dict[str, Any]]:
        """Every fault as a dict (for the control API and messages)."""
        return [f.to_dict() for f in self]


def _pending_text(fault: Fault, now: float) -> str:
    parts = []
    if fault.times is not None:
        parts.append(f"fired {fault.fired}/{fault.times}")
    end = fault.ends_at
    if end is not None:
        parts.append(f"ends in {end - now:g} s of server clock")
    return ", ".join(parts)


def latency_for(fault: Fault, rng: Any) -> float:
    """The delay a latency fault adds to one request (seconds)."""
    profile = fault.params.get("profile")
    if profile is not None:
        low, high = LATENCY_PROFILES[profile]
        return float(rng.uniform(low, high))
    return float(fault.params.get("delay", 0.0) + rng.uniform(0.0, fault.params.get("jitter", 0.0)))


__all__ = [
    "KINDS",
    "LATENCY_PROFILES",
    "Fault",
    "FaultKind",
    "FaultSet",
    "FaultSpecError",
    "Match",
    "Request",
    "parse_fault",
]
