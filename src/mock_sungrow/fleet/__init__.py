"""Fleets: many simulated sites in one process, on one event loop (docs/fleet.md).

:class:`~mock_sungrow.fleet.spec.FleetSpec` is the fleet file (groups of sites, checked whole),
:class:`~mock_sungrow.fleet.fleet.Fleet` serves it (or one shard of it), and
:mod:`mock_sungrow.fleet.control` is its control API. ``mock-sungrow fleet FILE`` is
:mod:`mock_sungrow.fleet.cli`.
"""

from __future__ import annotations

from mock_sungrow.fleet.fleet import Fleet, raise_fd_limit
from mock_sungrow.fleet.spec import FleetError, FleetSpec, SiteSpec

__all__ = ["Fleet", "FleetError", "FleetSpec", "SiteSpec", "raise_fd_limit"]
