"""Word faults: register words read wrong, wherever registers are read.

They act in ``word``, once per register a read returns that the fault's table and range
cover: in a Modbus reply, a WiNet-S ``getParam`` and every value the dongle formats from
registers (``real``, ``direct``...), because the dongle polls the inverter's registers. A fault
counts one firing per read it changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mock_sungrow.faults.kinds.base import ALL_FRONT_ENDS, Effect, FaultKind, WordRead
from mock_sungrow.faults.params import Param, positive, with_schema

if TYPE_CHECKING:
    from mock_sungrow.faults.spec import Fault


@with_schema({"minItems": 1, "items": {"type": "integer", "minimum": 0, "maximum": 0xFFFF}})
def _words(v: list[Any]) -> str | None:
    ok = v and all(isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= 0xFFFF
                   for w in v)
    return None if ok else "must be a non-empty list of 16-bit words (0..65535)"


class Scale(Effect):
    """Values multiplied by a factor (saturating at 0xFFFF)."""

    def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
        """The word times ``factor``, at most 0xFFFF."""
        return int(min(0xFFFF, round(word * fault.params["factor"])))


class Zeros(Effect):
    """Registers read 0."""

    def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
        """0."""
        return 0


class Sentinel(Effect):
    """Registers read their type's "unavailable" sentinel (from the device's own map)."""

    def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
        """The register's sentinel word."""
        return read.sentinel_of(register)


class Value(Effect):
    """Registers read fixed words, the pattern repeated from the start of the fault's range."""

    def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
        """The pattern's word for this register."""
        pattern: list[int] = fault.params["words"]
        start = read.address if fault.match.address is None else fault.match.address[0]
        return pattern[(register - start) % len(pattern)]


class Stale(Effect):
    """Values stop updating: each register keeps the first word the fault saw for it."""

    def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
        """The first word seen for this register."""
        frozen: dict[tuple[str, int], int] = fault.state.setdefault("words", {})
        return frozen.setdefault((read.table, register), word)


class StaleAfterWrite(Effect):
    """After a write, reads return the replaced words until ``hold`` has passed."""

    def written(self, fault: Fault, table: str, address: int, old: list[int],
                now: float) -> None:
        """Remember the replaced words the fault covers until ``hold`` has passed."""
        held: dict[tuple[str, int], tuple[int, float]] = fault.state.setdefault("old", {})
        until = now + fault.params["hold"]
        for i, word in enumerate(old):
            if fault.match.covers(table, address + i):
                held[table, address + i] = (word, until)

    def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
        """The replaced word while it is held."""
        old = fault.state.get("old", {}).get((read.table, register))
        if old is None or old[1] <= read.now:
            return None
        return int(old[0])


KINDS = (
    FaultKind("scale", "words", ALL_FRONT_ENDS,
              "values multiplied by a factor (grid frequency x10 on early WiNet-S)", (28,),
              (Param("factor", float, 10.0, check=positive),), registers=True,
              effect=Scale()),
    FaultKind("zeros", "words", ALL_FRONT_ENDS,
              "registers read 0 (an unsupported register inside a larger block)", (19,),
              registers=True, effect=Zeros()),
    FaultKind("sentinel", "words", ALL_FRONT_ENDS,
              "registers read their 'unavailable' sentinel (0xFFFF, 0x7FFF, ...)", (),
              registers=True, effect=Sentinel()),
    FaultKind("value", "words", ALL_FRONT_ENDS,
              "registers read fixed words (running state 0 through a WiNet-S)", (28,),
              (Param("words", list, None, required=True, check=_words,
                     doc="words, repeated over the matched range"),), registers=True,
              effect=Value()),
    FaultKind("stale", "words", ALL_FRONT_ENDS,
              "values stop updating: reads repeat the words seen when the fault began",
              (27,), registers=True, effect=Stale()),
    FaultKind("stale-after-write", "words", ALL_FRONT_ENDS,
              "after a write, reads keep returning the old value for a while", (27,),
              (Param("hold", float, 60.0, check=positive,
                     doc="seconds the old value is still served"),), registers=True,
              effect=StaleAfterWrite()),
)
