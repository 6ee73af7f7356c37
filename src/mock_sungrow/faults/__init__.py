"""Faults: the catalogue of failures, fault specs and their lifetimes, where they meet traffic.

* :mod:`~mock_sungrow.faults.catalogue` -- :data:`KINDS`, every kind as data;
* :mod:`~mock_sungrow.faults.params` -- parameters, their checks and coercion;
* :mod:`~mock_sungrow.faults.spec` -- :class:`Fault`, :class:`Match`, :class:`Request`, the
  parser every way in shares;
* :mod:`~mock_sungrow.faults.faultset` -- :class:`FaultSet`, the active faults of a server;
* :mod:`~mock_sungrow.faults.lifetimes` -- duration faults end on time;
* :mod:`~mock_sungrow.faults.traffic` -- where faults meet traffic (decisions, the log);
* :mod:`~mock_sungrow.faults.requestlog` -- every request, and assertions about them.

The fault API's public names are re-exported here; code inside the package imports the
submodules.
"""

from __future__ import annotations

from mock_sungrow.faults.catalogue import KINDS, LATENCY_PROFILES, FaultKind
from mock_sungrow.faults.faultset import FaultSet
from mock_sungrow.faults.params import FaultSpecError
from mock_sungrow.faults.spec import Fault, Match, Request, parse_fault, parse_fault_text

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
