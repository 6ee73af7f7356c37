"""What a front end is told to do with one request: the vocabulary between faults and wires.

Fault kinds (:mod:`mock_sungrow.faults.kinds`) fill in a :class:`Decision`; front ends carry it
out without knowing which kind asked. The vocabulary is small on purpose: answer (after a
``delay``), or one of three :data:`ACTIONS`, each of which every front end renders in its own
protocol:

* :data:`SILENCE` -- never answer (the client waits for its timeout);
* :data:`DROP` -- close the connection instead of answering;
* :data:`ERROR` -- answer with an error ``code``: a Modbus exception on the Modbus ports, a
  WiNet-S ``result_code`` (with ``message``) on the dongle's API.

and the distortions to apply on the way out: ``words`` (register words of a read),
``frame`` (the reply's shape and framing) and ``rewrite`` (the words of a write, before it is
applied). Adding a fault kind that uses these needs no change in any front end.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from mock_sungrow.faults.spec import Fault

#: Never answer.
SILENCE: Final = "silence"
#: Close the connection instead of answering.
DROP: Final = "drop"
#: Answer with an error code (Modbus exception / WiNet-S result code).
ERROR: Final = "error"
ACTIONS = (SILENCE, DROP, ERROR)


@dataclass(slots=True)
class Decision:
    """What a front end should do with one request."""

    delay: float = 0.0
    action: str | None = None  # None (answer), SILENCE, DROP or ERROR
    code: int = 0  # the ERROR's code: Modbus exception code or WiNet result code
    message: str | None = None  # the ERROR's WiNet result message (None: the dongle's text)
    fired: list[Fault] = field(default_factory=list)  # faults that shaped the answer
    words: list[Fault] = field(default_factory=list)  # word distortions to apply
    frame: list[Fault] = field(default_factory=list)  # frame distortions (one per kind)
    rewrite: list[Fault] = field(default_factory=list)  # rewrites of written words

    @property
    def fault(self) -> str | None:
        """Names of the faults that shaped this answer, for the request log."""
        return ",".join(f.name for f in self.fired) or None

    @property
    def notes_writes(self) -> bool:
        """Whether a word fault wants the words a write replaces (see ``Traffic.note_write``)."""
        return any("written" in f.kind.effect.hooks for f in self.words)


#: The answer for "no fault applies" (shared, never mutated).
NO_FAULT = Decision()

#: The decision for the request being answered, where the answer is built far from the
#: transport (the WiNet-S front end reads registers deep inside its payload builders).
CURRENT_DECISION: contextvars.ContextVar[Decision] = contextvars.ContextVar(
    "mock_sungrow_decision", default=NO_FAULT
)
