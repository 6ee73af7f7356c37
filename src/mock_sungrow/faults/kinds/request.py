"""Request faults: how a request is answered -- late, wrongly, not at all, or with the line cut.

They act in ``before`` (when a request arrives, on every front end they apply to) by filling in
the request's :class:`~mock_sungrow.faults.decision.Decision`; the first fault that sets an
action wins, delays add up. Network timing (latency, gaps) runs on real time, a frozen
dongle's recovery on the server's clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mock_sungrow.endpoints import MODBUS_FRONT_ENDS
from mock_sungrow.faults.decision import DROP, ERROR, SILENCE
from mock_sungrow.faults.kinds.base import (
    ALL_FRONT_ENDS,
    HTTP_FRONT_END,
    Effect,
    FaultKind,
    Settled,
    Turn,
)
from mock_sungrow.faults.params import Param, non_negative, one_of, positive, with_schema

if TYPE_CHECKING:
    from mock_sungrow.faults.spec import Fault

#: Named latency profiles (seconds): a uniform delay between ``low`` and ``high``.
LATENCY_PROFILES: dict[str, tuple[float, float]] = {
    "lan": (0.002, 0.010),  # inverter LAN port: milliseconds (field-survey §5.1)
    "winet-modbus": (0.040, 0.150),  # Modbus TCP through a WiNet-S dongle
    "winet-http": (0.150, 0.400),  # WiNet-S HTTP / WebSocket
}


def latency_for(fault: Fault, rng: Any) -> float:
    """The delay a latency fault adds to one request (seconds)."""
    profile = fault.params.get("profile")
    if profile is not None:
        low, high = LATENCY_PROFILES[profile]
        return float(rng.uniform(low, high))
    return float(fault.params.get("delay", 0.0) + rng.uniform(0.0, fault.params.get("jitter", 0.0)))


@with_schema({"minimum": 1, "maximum": 255})
def _exception_code(v: int) -> str | None:
    return None if 1 <= v <= 255 else "must be a Modbus exception code 1..255"


class AnswerError(Effect):
    """Answer with an error code: a Modbus exception, or a WiNet-S result code."""

    def before(self, fault: Fault, turn: Turn) -> bool:
        """Answer with ``code`` (and ``message``) unless another fault already decided."""
        d = turn.decision
        if d.action is None:
            d.action, d.code, d.message = ERROR, fault.params["code"], fault.params.get("message")
            turn.fire(fault)
        return False


class Withhold(Effect):
    """No answer: stay silent, or cut the connection."""

    def __init__(self, action: str) -> None:
        self.action = action

    def before(self, fault: Fault, turn: Turn) -> bool:
        """Stay silent or drop, unless another fault already decided."""
        d = turn.decision
        if d.action is None:
            d.action = self.action
            turn.fire(fault)
        return False


@with_schema({"anyOf": [  # the same rule for the control API's OpenAPI document
    {"required": ["profile"], "properties": {"profile": {"type": "string"}}},
    {"required": ["delay"], "properties": {"delay": {"type": "number", "exclusiveMinimum": 0}}},
    {"required": ["jitter"], "properties": {"jitter": {"type": "number",
                                                       "exclusiveMinimum": 0}}},
]})
def _some_delay(params: dict[str, Any]) -> str | None:
    """A latency fault must delay something: a profile, a delay or a jitter above 0."""
    if params.get("profile") is None and not (params["delay"] > 0 or params["jitter"] > 0):
        return ("give a profile (" + ", ".join(LATENCY_PROFILES) + ") or a delay and/or "
                "jitter above 0 seconds; without them it would never delay an answer")
    return None


class Latency(Effect):
    """Answer late (delays of several latency faults add up)."""

    def before(self, fault: Fault, turn: Turn) -> bool:
        """Add this fault's delay."""
        turn.decision.delay += latency_for(fault, turn.traffic.rng)
        turn.fire(fault)
        return False


class MinGap(Effect):
    """A dongle that needs a pause between requests: too fast and it drops or locks up."""

    def before(self, fault: Fault, turn: Turn) -> bool:
        """Overload on a request that came sooner than ``gap`` after the last one."""
        previous, now_real = turn.previous, turn.now_real
        too_fast = previous is not None and now_real - previous < fault.params["gap"]
        d = turn.decision
        if fault.params["overload"] == "lockup":
            locked_by: dict[str, bool] = fault.state.setdefault("locked", {})
            where = turn.req.where  # each endpoint is its own dongle
            locked = locked_by.get(where, False)
            if locked and previous is not None and now_real - previous >= fault.params["idle"]:
                locked_by[where] = locked = False
            if too_fast or locked:
                locked_by[where] = True
                turn.fire(fault)
                d.action = SILENCE
                return True
        elif too_fast:
            turn.fire(fault)
            d.action = DROP
            return True
        return False


class WriteScale(Effect):
    """Written words multiplied before the range check (the firmware's own bug)."""

    def before(self, fault: Fault, turn: Turn) -> bool:
        """Take part in rewriting the words of a write."""
        if turn.req.write:
            turn.decision.rewrite.append(fault)
            turn.fire(fault)
        return False

    def rewrite(self, fault: Fault, words: list[int]) -> list[int] | None:
        """The words times ``factor`` (a front end refuses a write whose words overflow)."""
        return [w * fault.params["factor"] for w in words]


class FreezeAfterIllegalReads(Effect):
    """After N reads answered with exception 2 the front end answers nothing for a while."""

    def settled(self, fault: Fault, settled: Settled) -> None:
        """Count illegal reads (exception 2) per endpoint; freeze it at ``reads``."""
        if settled.outcome != "exception 2":
            return
        counts: dict[str, int] = fault.state.setdefault("illegal", {})
        where = settled.req.where
        counts[where] = counts.get(where, 0) + 1
        if counts[where] >= fault.params["reads"]:
            counts[where] = 0
            settled.traffic.freeze(where, settled.now + fault.params["recover"], fault)
            settled.traffic.faults.fire(fault)


KINDS = (
    FaultKind("exception", "request", MODBUS_FRONT_ENDS,
              "answer with a Modbus exception (one bad register kills the whole block)",
              (16, 21), (Param("code", int, 2, check=_exception_code,
                               doc="exception code (Sungrow uses 2 and 4)"),),
              registers=True, effect=AnswerError()),
    FaultKind("silence", "request", ALL_FRONT_ENDS,
              "never answer: the client waits for its full timeout", (17, 26),
              registers=True, effect=Withhold(SILENCE)),
    FaultKind("drop", "request", ALL_FRONT_ENDS,
              "close the connection instead of answering", (9, 11, 18), registers=True,
              effect=Withhold(DROP)),
    FaultKind("latency", "request", ALL_FRONT_ENDS,
              "delay answers (a named profile or a delay plus uniform jitter)", (26,),
              (Param("profile", str, None, check=one_of(*LATENCY_PROFILES),
                     doc="lan (2-10 ms), winet-modbus (40-150 ms), winet-http (150-400 ms)"),
               Param("delay", float, 0.0, check=non_negative, doc="seconds"),
               Param("jitter", float, 0.0, check=non_negative,
                     doc="extra uniform random delay, seconds")),
              registers=True, effect=Latency(), validate=_some_delay),
    FaultKind("min-gap", "request", ALL_FRONT_ENDS,
              "a dongle that needs a pause between requests; too fast overloads it", (26,),
              (Param("gap", float, 0.03, check=positive,
                     doc="minimum seconds between requests (WiNet-S Modbus: 0.03)"),
               Param("overload", str, "drop", check=one_of("drop", "lockup"),
                     doc="drop the connection, or lock up until the line is idle"),
               Param("idle", float, 2.0, check=positive,
                     doc="lockup: seconds without requests before it answers again")),
              effect=MinGap()),
    FaultKind("write-scale", "request", MODBUS_FRONT_ENDS,
              "written values multiplied before the range check (holding 13074 on some "
              "SH*RT firmware: write 123, read 1230; above max/10: exception 4)", (28,),
              (Param("factor", int, 10, check=positive),), registers=True,
              effect=WriteScale()),
    FaultKind("freeze-after-illegal-reads", "request", ALL_FRONT_ENDS,
              "after N illegal reads the dongle stops answering, then recovers", (24,),
              (Param("reads", int, 3, check=positive),
               Param("recover", float, 60.0, check=positive,
                     doc="seconds until it answers again")),
              effect=FreezeAfterIllegalReads()),
    FaultKind("winet-result", "request", HTTP_FRONT_END,
              "WiNet-S answers with an error result code (106 token expired, 301 busy, "
              "401 not logged in, 114 account locked, ...)", (2, 4, 6, 7),
              (Param("code", int, 301, check=positive),
               Param("message", str, None, doc="result_msg (default: the dongle's text)")),
              effect=AnswerError()),
)
