"""The fault catalogue: every kind of failure real installations show, as data.

Each :class:`FaultKind` says when the fault acts (its phase), which front ends it applies to,
what it takes (:class:`~mock_sungrow.faults.params.Param`), which field-survey rows
(field-survey.md §4) it reproduces and what it does (its
:class:`~mock_sungrow.faults.kinds.base.Effect`). The kinds are defined with their effects in
:mod:`mock_sungrow.faults.kinds`, one module per point where they act; this module collects
them. The parser, the CLI, the control API's OpenAPI enum and the docs table (checked by a
test) all read :data:`KINDS`.
"""

from __future__ import annotations

from mock_sungrow.endpoints import MODBUS_FRONT_ENDS
from mock_sungrow.faults.kinds import connect, frame, line, plant, request, session, words
from mock_sungrow.faults.kinds.base import FRONT_ENDS, FaultKind, Phase
from mock_sungrow.faults.kinds.request import LATENCY_PROFILES, latency_for
from mock_sungrow.faults.params import FaultSpecError

#: Every kind by name.
KINDS: dict[str, FaultKind] = {
    k.name: k
    for module in (request, frame, line, words, connect, plant, session)
    for k in module.KINDS
}
_SHIPPED = frozenset(KINDS)


def register(kind: FaultKind) -> FaultKind:
    """Add ``kind`` to the catalogue at run time (an extension, or a test's own kind).

    From then on it is parsed, injected and acted on like a shipped kind. Returns it.
    """
    if kind.name in KINDS:
        raise FaultSpecError(f"a fault kind called {kind.name!r} exists already")
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Take a kind added with :func:`register` out of the catalogue again."""
    if name in _SHIPPED:
        raise FaultSpecError(f"{name!r} is a shipped fault kind; only registered ones go")
    KINDS.pop(name, None)


__all__ = [
    "FRONT_ENDS",
    "KINDS",
    "LATENCY_PROFILES",
    "MODBUS_FRONT_ENDS",
    "FaultKind",
    "Phase",
    "latency_for",
    "register",
    "unregister",
]
