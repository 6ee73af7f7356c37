"""Faults as data: what a fault matches, what it does, and how long it lives.

A :class:`Fault` is built from a plain dictionary (the same one the Python API, the CLI and the
control API accept)::

    {"kind": "exception", "code": 2, "table": "input", "address": [5031, 5032], "times": 1}

``kind`` names an entry of :data:`KINDS` (the catalogue of failures real installations show,
field-survey.md §4); the kind's own parameters come next; then what the fault matches
(:class:`Match`: front end, unit, device, function or WiNet service, table, register range,
client);
then its lifetime: ``times`` (fire N times, then it is used up; omitted = permanent),
``duration`` (seconds on the server's clock, after which it expires) and ``ordered`` (ordered
faults fire one after the other, in injection order, like pytest-httpserver's ordered
handlers).

Every mistake in a spec is refused with :class:`FaultSpecError`, whose message says what is
wrong and what is accepted, before anything changes.

The kinds are in :mod:`mock_sungrow.faults.catalogue`, the active faults of a server in
:class:`~mock_sungrow.faults.faultset.FaultSet`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mock_sungrow.faults.catalogue import FRONT_ENDS, KINDS, FaultKind
from mock_sungrow.faults.params import FaultSpecError, UnknownFaultKindError, from_text, integral

if TYPE_CHECKING:
    from mock_sungrow.faults.faultset import FaultSet

# ----------------------------------------------------------------------------- matching


@dataclass(slots=True)
class Request:
    """What a front end knows about a request when it consults the faults.

    (Not frozen on purpose: one is built per request, and a frozen dataclass costs five times
    as much to construct.)

    ``address`` is the documented (1-based) register number; ``function`` is the Modbus
    function code or the WiNet service / HTTP endpoint name; ``device`` the serial of the
    device the request reaches (``None`` when it reaches none). ``handshake`` marks a request
    that is part of the protocol rather than register data (Sungrow's key request): word and
    frame faults leave its answer alone. ``endpoint`` names the endpoint the request reached
    (``inverter[2].modbus``): two inverters' LAN ports are both front end ``modbus``, but each
    keeps its own connection memory (:attr:`where`).
    """

    front_end: str
    peer: str = "-"
    unit: int | None = None
    function: int | str | None = None
    table: str | None = None
    address: int | None = None
    count: int = 0
    write: bool = False
    device: str | None = None
    handshake: bool = False
    endpoint: str | None = None

    @property
    def where(self) -> str:
        """The endpoint whose memory (connections, gaps, freezes) the request belongs to."""
        return self.endpoint or self.front_end

    @property
    def client(self) -> str:
        """The peer's host without the port."""
        host, _, _port = self.peer.rpartition(":")
        return host or self.peer


@dataclass(frozen=True, slots=True)
class Match:
    """What a fault applies to. ``None`` everywhere means "everything".

    ``device`` is a device's serial: a battery answers unit 200 on every hybrid's LAN port, so
    a unit alone does not name one device of an installation.
    """

    front_end: str | None = None
    unit: int | None = None
    function: int | str | None = None
    table: str | None = None
    address: tuple[int, int] | None = None  # documented, inclusive
    client: str | None = None
    device: str | None = None

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
        if self.device is not None and req.device != self.device:
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
        for name in ("front_end", "unit", "device", "function", "table", "client"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.address is not None:
            out["address"] = list(self.address)
        return out


_MATCH_KEYS = ("front_end", "unit", "device", "function", "service", "table", "address",
               "client")
_LIFETIME_KEYS = ("times", "duration", "ordered")
#: An address as text: one register number or "first-last" (decimal; spaces around allowed).
#: The OpenAPI document uses the same pattern, so the two cannot disagree.
ADDRESS_TEXT = r"^ *([0-9]{1,5}) *(?:- *([0-9]{1,5}) *)?$"


def _parse_address(value: Any) -> tuple[int, int]:
    value = [integral(v) for v in value] if isinstance(value, list | tuple) else integral(value)
    if isinstance(value, bool):
        raise FaultSpecError(f"address must be a register number or a range; got {value!r}")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, str):
        found = re.fullmatch(ADDRESS_TEXT, value)
        if found is None:
            raise FaultSpecError(
                f"address {value!r} is not a register number or a range like '5031-5032'")
        lo = int(found.group(1))
        hi = int(found.group(2) or found.group(1))
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
    unit = integral(spec.get("unit"))
    if unit is not None and (isinstance(unit, bool) or not isinstance(unit, int)
                             or not 0 <= unit <= 255):
        raise FaultSpecError(f"unit must be an integer 0..255; got {unit!r}")
    for key in ("function", "service"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | str)):
            raise FaultSpecError(f"{key} must be a function code or a service name; got "
                                 f"{value!r}")
    function = spec.get("function", spec.get("service"))
    if isinstance(function, str) and function.isascii() and function.isdigit():
        function = int(function)
    table = spec.get("table")
    if table is not None and table not in ("input", "holding"):
        raise FaultSpecError(f"table must be 'input' or 'holding'; got {table!r}")
    address = spec.get("address")
    if (address is not None or table is not None) and not kind.registers:
        raise FaultSpecError(f"{kind.name} does not act on registers: drop table/address")
    client = spec.get("client")
    if client is not None and not isinstance(client, str):
        raise FaultSpecError(f"client must be an IP address string; got {client!r}")
    device = spec.get("device")
    if device is not None and (not isinstance(device, str) or not device):
        raise FaultSpecError(f"device must be a device's serial number; got {device!r}")
    return Match(
        front_end=front_end,
        unit=unit,
        device=device,
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
    if kind_name is not None and not isinstance(kind_name, str):  # {} or [...]: unhashable
        raise UnknownFaultKindError(
            f"kind must be a string naming a fault kind; got {kind_name!r}; accepted: "
            f"{', '.join(sorted(KINDS))}"
        )
    if kind_name not in KINDS:
        raise UnknownFaultKindError(
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
    if kind.validate is not None:
        problem = kind.validate(params)
        if problem:
            raise FaultSpecError(f"{kind.name}: {problem}")
    times = integral(spec.get("times"))
    if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                              or times < 1):
        raise FaultSpecError(f"times must be a positive integer (omit it for 'permanent'); "
                             f"got {times!r}")
    duration = spec.get("duration")
    if duration is not None:
        if isinstance(duration, str):
            duration = from_text(duration, (float,))
        if isinstance(duration, bool) or not isinstance(duration, int | float) or not (
            0 < duration < math.inf
        ):
            raise FaultSpecError(f"duration must be a positive number of seconds; got "
                                 f"{duration!r}")
        duration = float(duration)
    ordered = spec.get("ordered", False)
    if isinstance(ordered, str):
        ordered = from_text(ordered, (bool,))
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
            spec_object: dict[str, Any] = json.loads(text)
        except ValueError as exc:
            raise FaultSpecError(f"fault spec is not valid JSON: {exc}") from None
        return spec_object  # valid JSON that starts with "{" is an object
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


def fault_from(spec: Mapping[str, Any] | str | Fault | None = None, /, **kwargs: Any) -> Fault:
    """A :class:`Fault` from any form ``inject`` accepts: a Fault, a kind name, text, a dict.

    Keyword arguments add to (or override) the spec's fields; they cannot be combined with a
    ready-made :class:`Fault`.
    """
    if isinstance(spec, Fault):
        if kwargs:
            raise TypeError("give either a Fault or keyword arguments, not both")
        return spec
    if spec is None:
        data: dict[str, Any] = {}
    elif isinstance(spec, str) and ":" not in spec and not spec.startswith("{"):
        data = {"kind": spec}
    elif isinstance(spec, str):
        data = dict(parse_fault_text(spec))
    elif isinstance(spec, Mapping):
        data = dict(spec)
    else:  # a list or a number would fail inside dict() with a puzzling message
        raise FaultSpecError(f"a fault spec is an object with a 'kind' (or a kind name, "
                             f"or 'kind:key=value' text); got {spec!r}")
    data.update(kwargs)
    return parse_fault(data)
