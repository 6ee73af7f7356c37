"""Faults: the catalogue of failures, fault specs and their lifetimes, where they meet traffic.

The public names are re-exported here; code inside the package imports the submodules.
"""

from __future__ import annotations

from mock_sungrow.faults.spec import (
    KINDS,
    LATENCY_PROFILES,
    Fault,
    FaultKind,
    FaultSet,
    FaultSpecError,
    Match,
    Request,
    parse_fault,
    parse_fault_text,
)

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
    "parse_fault_text",
]
