"""The fault kinds, one module per point where they act; each kind is its entry and its effect.

* :mod:`~mock_sungrow.faults.kinds.base` -- :class:`FaultKind` (the entry), :class:`Effect`
  (its hooks) and what the hooks are given;
* :mod:`~mock_sungrow.faults.kinds.connect` -- who may connect, and for how long;
* :mod:`~mock_sungrow.faults.kinds.request` -- how a request is answered (late, wrongly, not);
* :mod:`~mock_sungrow.faults.kinds.words` -- register words read wrong;
* :mod:`~mock_sungrow.faults.kinds.frame` -- replies whose shape or framing is wrong;
* :mod:`~mock_sungrow.faults.kinds.plant` -- the inverter trips, the grid fails;
* :mod:`~mock_sungrow.faults.kinds.session` -- keys, sessions and firmware profiles.

Adding a kind is its :class:`FaultKind` (with its effect) in the ``KINDS`` of one of these
modules and its row and example in docs/faults.md: the catalogue
(:mod:`mock_sungrow.faults.catalogue`) collects every module's ``KINDS``, and nothing outside
this package names a kind.
"""

from __future__ import annotations

from mock_sungrow.faults.kinds.base import Effect, FaultKind

__all__ = ["Effect", "FaultKind"]
