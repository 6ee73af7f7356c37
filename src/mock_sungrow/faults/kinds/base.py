"""A fault kind: its catalogue entry (:class:`FaultKind`) and what it does (:class:`Effect`).

An :class:`Effect` has one hook per point where faults meet the server. Front ends and the
traffic layer call the hooks of the active faults at those points and never look at a kind's
name, so a kind is entirely its entry and its effect, defined together in one module of this
package. The hooks, and the phase whose faults they are called for:

==============  ===========================  =================================================
hook            phases                       when
==============  ===========================  =================================================
``admit``       connect                      a connection arrives: refuse it, close older ones
``before``      connect, request, session    a request arrives: fill in the ``Decision``
``settled``     connect, request             a request was answered (counters: bad reads...)
``idle_timeout`` connect                     how long a connection may stay idle
``word``        words                        one register word of a read, on its way out
``written``     words                        the words a write is about to replace
``rewrite``     request                      the words of a write, before it is applied
``reply``       frame                        the shape of a read or exception reply (PDU)
``adu``         frame                        the framed reply (``framing`` names the framing)
``check``       any                          a fault is about to be injected: refuse it?
``changed``     any                          a fault was added or removed (plant, session)
==============  ===========================  =================================================

A hook an effect does not override is never called; :attr:`Effect.hooks` names the ones it
does, so the callers skip the rest at no cost. Effects are stateless singletons: what a fault
remembers (its counters, its frozen words) lives in its ``Fault.state``, per-server memory in
the server's ``Traffic``, per endpoint (two inverters' LAN ports are two devices).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from mock_sungrow.endpoints import DEVICE_FRONT_ENDS, FRONT_END_NAMES
from mock_sungrow.faults.params import FaultSpecError, Param

if TYPE_CHECKING:
    from mock_sungrow.faults.decision import Decision
    from mock_sungrow.faults.effects import FaultHost
    from mock_sungrow.faults.spec import Fault, Request
    from mock_sungrow.faults.traffic import Traffic

Phase = Literal["connect", "request", "words", "frame", "plant", "session"]
PHASES: tuple[Phase, ...] = ("connect", "request", "words", "frame", "plant", "session")

#: Front-end names a fault may target (``None`` in a match means any; the names are
#: :mod:`mock_sungrow.endpoints`', as is ``MODBUS_FRONT_ENDS``).
FRONT_ENDS = FRONT_END_NAMES
#: Modbus and the WiNet-S API (every front end a client under test talks to).
ALL_FRONT_ENDS = frozenset(DEVICE_FRONT_ENDS)
#: The WiNet-S API only.
HTTP_FRONT_END = frozenset({"http"})

_ANY_PHASE = frozenset({"check", "changed"})
#: Which hooks are called for the faults of which phase (plus ``check`` and ``changed``).
PHASE_HOOKS: dict[str, frozenset[str]] = {
    "connect": frozenset({"admit", "before", "settled", "idle_timeout"}),
    "request": frozenset({"before", "settled", "rewrite"}),
    "words": frozenset({"word", "written"}),
    "frame": frozenset({"reply", "adu"}),
    "plant": frozenset(),
    "session": frozenset({"before"}),
}
HOOKS = ("admit", "before", "settled", "idle_timeout", "word", "written", "rewrite", "reply",
         "adu", "check", "changed")


# ----------------------------------------------------------------------------- contexts


@dataclass(slots=True)
class Arrival:
    """A connection arriving (``admit``)."""

    traffic: Traffic
    front_end: str
    peer: str
    client: str  # the peer's host
    now: float  # server clock
    endpoint: str  # the endpoint whose connections these are (``inverter[1].modbus``)


@dataclass(slots=True)
class Turn:
    """One request being decided (``before``)."""

    traffic: Traffic
    req: Request
    decision: Decision
    now: float  # server clock
    now_real: float  # monotonic: network timing runs on real time
    previous: float | None  # monotonic time of the front end's previous request

    def fire(self, fault: Fault) -> None:
        """Count a firing of ``fault`` and name it in this request's log entry."""
        self.traffic.fired(self.decision, fault)


@dataclass(slots=True)
class Settled:
    """A request that has been answered (``settled``)."""

    traffic: Traffic
    req: Request
    outcome: str  # as logged: "ok", "exception 2", "silence", ...
    now: float  # server clock


@dataclass(slots=True)
class WordRead:
    """Register words being read (``word``)."""

    table: str
    address: int  # the documented address of the first word read
    now: float  # server clock
    sentinel_of: Callable[[int], int]  # the "unavailable" word of a register of ``table``


@dataclass(slots=True)
class ReplyShape:
    """A read or exception reply, as the frame faults may reshape it (``reply``)."""

    fc: int
    exception: bool
    table: str | None
    address: int | None  # documented address of the first register read
    count: int  # registers the reply carries before any distortion
    words: list[int]
    live: Callable[[int], bool]  # whether a documented address holds a live value
    filler: int  # what an unmapped register reads
    done: bool = False  # set by a distortion that leaves nothing for the others


@dataclass(slots=True)
class Change:
    """A fault added or removed (``changed``)."""

    host: FaultHost
    added: bool
    at: float  # the instant of the change (server clock): injected_at or ended_at
    remaining: list[Fault]  # faults of the same kind still active at that instant
    wait: bool  # False when the change runs under the plant's lock (an expiry)


# ----------------------------------------------------------------------------- the effect


#: What ``Effect.admit`` returns to refuse a connection. The client is reset and the request
#: log records "refused" with the fault's name; no text goes anywhere, so a refusal has none.
REFUSE = "refuse"


class Effect:
    """What a fault kind does. Override the hooks the kind needs (see the module docstring)."""

    #: The hooks this effect overrides (computed for every subclass).
    hooks: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.hooks = frozenset(h for h in HOOKS if getattr(cls, h) is not getattr(Effect, h))

    def admit(self, fault: Fault, arrival: Arrival) -> str | list[Any] | None:
        """A connection arrives: :data:`REFUSE`, older connections to close, or None."""
        return None

    def before(self, fault: Fault, turn: Turn) -> bool:
        """A request arrives: fill in ``turn.decision``; True settles it (skip the others)."""
        return False

    def settled(self, fault: Fault, settled: Settled) -> None:
        """A request was answered (with ``settled.outcome``)."""

    def idle_timeout(self, fault: Fault) -> float | None:
        """Seconds an idle connection may stay open (None: no limit)."""
        return None

    def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
        """The word register ``register`` reads instead of ``word`` (None: unchanged)."""
        return None

    def written(self, fault: Fault, table: str, address: int, old: list[int],
                now: float) -> None:
        """A write is about to replace ``old`` (the words from ``address`` on)."""

    def rewrite(self, fault: Fault, words: list[int]) -> list[int] | None:
        """The words a write applies instead of ``words``; None: they do not fit (exception 4)."""
        return words

    def reply(self, fault: Fault, shape: ReplyShape) -> bool:
        """Reshape a reply; True when the fault acted (it is counted)."""
        return False

    def adu(self, fault: Fault, framing: str, adu: bytes) -> bytes:
        """The framed reply (``framing``: ``"mbap"``, ...) as it goes out."""
        return adu

    def check(self, fault: Fault, host: FaultHost) -> None:
        """Raise :class:`FaultSpecError` if ``fault`` cannot act on this server."""

    def changed(self, fault: Fault, change: Change) -> bool:
        """The fault was added or removed; True when it acted (an added fault is counted)."""
        return False


#: The effect of a kind that does nothing by itself (tests, placeholders).
NO_EFFECT = Effect()


# ----------------------------------------------------------------------------- the entry


@dataclass(frozen=True)
class FaultKind:
    """A catalogue entry: when the fault acts, where it applies, what it takes, what it does."""

    name: str
    phase: Phase
    front_ends: frozenset[str]
    summary: str
    survey_rows: tuple[int, ...] = ()
    params: tuple[Param, ...] = ()
    #: Whether the kind can match a register range (and so a table / address).
    registers: bool = False
    effect: Effect = field(default=NO_EFFECT, compare=False)
    #: A rule across the parameters (after each was checked on its own): what is wrong with
    #: them, or None. A latency fault with neither a profile nor a delay would do nothing.
    validate: Callable[[dict[str, Any]], str | None] | None = field(default=None,
                                                                    compare=False)

    def __post_init__(self) -> None:
        if self.phase not in PHASE_HOOKS:
            raise FaultSpecError(f"fault kind {self.name!r}: unknown phase {self.phase!r}; "
                                 f"accepted: {', '.join(PHASES)}")
        unknown = sorted(self.front_ends - set(FRONT_ENDS))
        if unknown:
            raise FaultSpecError(f"fault kind {self.name!r}: unknown front end(s) {unknown}; "
                                 f"accepted: {', '.join(FRONT_ENDS)}")
        stray = sorted(self.effect.hooks - PHASE_HOOKS[self.phase] - _ANY_PHASE)
        if stray:
            raise FaultSpecError(
                f"fault kind {self.name!r} ({self.phase}): hook(s) {', '.join(stray)} are "
                f"never called for that phase; it may use "
                f"{', '.join(sorted(PHASE_HOOKS[self.phase] | _ANY_PHASE))}"
            )

    def param(self, name: str) -> Param | None:
        """The parameter called ``name``, if the kind has one."""
        return next((p for p in self.params if p.name == name), None)
