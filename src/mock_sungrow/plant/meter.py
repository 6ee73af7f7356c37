"""The smart meter at the grid connection: per-phase power and current from the balance."""

from __future__ import annotations

import math
from collections.abc import Sequence


class SmartMeter:
    """The meter at the grid connection point (a DTSU666-style three- or single-phase meter).

    It measures what the plant's balance puts through the connection, per phase: the house
    load is spread unevenly over the phases (seeded shares, as real houses are), while the
    inverter feeds every phase alike, so a phase can import while the total exports.
    """

    def __init__(self, phases: int, seed: int) -> None:
        self.phases = phases
        if phases == 1:
            self.load_shares: tuple[float, ...] = (1.0,)
        else:
            raw = [1.0 + 0.35 * math.sin(seed * 1.7 + i * 2.1) for i in range(3)]
            total = sum(raw)
            self.load_shares = tuple(r / total for r in raw)

    def phase_powers(self, load_w: float, ac_w: float) -> tuple[float, ...]:
        """Per-phase grid power (W, positive importing); sums to ``load_w - ac_w``."""
        per_phase_ac = ac_w / self.phases
        return tuple(load_w * share - per_phase_ac for share in self.load_shares)

    def phase_currents(
        self, powers: Sequence[float], volts: Sequence[float]
    ) -> tuple[float, ...]:
        """Per-phase current magnitude (A) at unity power factor."""
        return tuple(abs(p) / v if v > 0 else 0.0 for p, v in zip(powers, volts, strict=False))
