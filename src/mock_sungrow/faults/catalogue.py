"""The fault catalogue: every kind of failure real installations show, as data.

Each :class:`FaultKind` says when the fault acts (its phase), which front ends it applies to,
what it takes (:class:`~mock_sungrow.faults.params.Param`) and which field-survey rows
(field-survey.md §4) it reproduces. The parser, the CLI, the control API's OpenAPI enum and
the docs table (checked by a test) all read :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mock_sungrow.endpoints import FRONT_END_NAMES, MODBUS_FRONT_ENDS
from mock_sungrow.faults.params import Param

if TYPE_CHECKING:
    from mock_sungrow.faults.spec import Fault

Phase = Literal["connect", "request", "words", "frame", "plant", "session"]

#: Front-end names a fault may target (``None`` in a match means any; the names are
#: :mod:`mock_sungrow.endpoints`').
FRONT_ENDS = FRONT_END_NAMES

#: Named latency profiles (seconds): a uniform delay between ``low`` and ``high``.
LATENCY_PROFILES: dict[str, tuple[float, float]] = {
    "lan": (0.002, 0.010),  # inverter LAN port: milliseconds (field-survey §5.1)
    "winet-modbus": (0.040, 0.150),  # Modbus TCP through a WiNet-S dongle
    "winet-http": (0.150, 0.400),  # WiNet-S HTTP / WebSocket
}


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



def latency_for(fault: Fault, rng: Any) -> float:
    """The delay a latency fault adds to one request (seconds)."""
    profile = fault.params.get("profile")
    if profile is not None:
        low, high = LATENCY_PROFILES[profile]
        return float(rng.uniform(low, high))
    return float(fault.params.get("delay", 0.0) + rng.uniform(0.0, fault.params.get("jitter", 0.0)))
