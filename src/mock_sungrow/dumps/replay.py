"""Replay: a recorded device served exactly as it was recorded.

:func:`replay_arguments` turns a :class:`~mock_sungrow.dumps.formats.Dump` into the server's
arguments: the model its device type code names, its unit, and a data block class that
answers every recorded word, refuses every address the device refused or that was never
recorded (exception 2, as the unit refuses what it does not serve), and fails a first read the
recording shows failing once (exception 4 from a WiNet-S, answered on the retry). Writes to a
recorded holding address are kept, so a client reads back what it wrote.

With ``live=True`` the plant's values are overlaid where the model's map has a live input
register outside the identity block (input 4950-5000: protocol, serial, device type stay the
recorded unit's), so the replayed unit's power and energy move as a plant does; settings and
every word the map does not know stay recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from mock_sungrow.device.catalog import load_catalog
from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.dumps.formats import Dump, DumpError, Table
from mock_sungrow.errors import ExceptionCode, ModbusError

if TYPE_CHECKING:
    from mock_sungrow.device.bank import RegisterBank

#: The identity block that ``live`` never overlays (documented addresses).
IDENTITY = range(4950, 5001)


def model_of(dump: Dump) -> str:
    """The catalogue model whose device type code the dump carries."""
    if dump.device_type_code is None:
        raise DumpError(f"{dump.source}: no device type code (input 5000) recorded: "
                        "give the model")
    names = sorted(m.name for m in load_catalog().models.values()
                   if m.device_type_code == dump.device_type_code)
    if not names:
        raise DumpError(f"{dump.source}: device type code 0x{dump.device_type_code:04X} is "
                        "no catalogued model: give the model")
    return names[0]


class ReplayDataBlock(SungrowModbusDataBlock):
    """A register table answering from a dump (subclassed per dump by :func:`replay_block`)."""

    dump: ClassVar[Dump]
    live: ClassVar[bool] = False
    follows_retry_rules: ClassVar[bool] = False  # the recording's own first tries apply

    def __init__(self, table: Table, bank: RegisterBank) -> None:
        super().__init__(table, bank)
        self.words = {a: w for (t, a), w in self.dump.words.items() if t == table}
        self._first_try = {a: c for (t, a), c in self.dump.first_try.items() if t == table}
        self._live = frozenset(
            a for served in bank.map.rows[table] if served.live
            for a in range(served.row.address, served.row.end) if a not in IDENTITY
        ) if self.live and table == "input" else frozenset()

    def validate(self, address: int, count: int = 1) -> bool:
        """Every address of the read was recorded as answered."""
        words = self.words
        return all(words.get(a) is not None for a in range(address, address + count))

    def getValues(self, address: int, count: int = 1) -> list[int]:
        """The recorded words (live plant values where asked); a recorded first-try failure."""
        span = range(address, address + count)
        failing = [self._first_try.pop(a) for a in span if a in self._first_try]
        if failing:
            for a in span:
                self._first_try.pop(a, None)
            raise ModbusError(ExceptionCode(failing[0]), "the recorded unit failed this read "
                                                         "once (answered on the retry)")
        if not self.validate(address, count):
            raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "not answered in the recording")
        words = [self.words[a] or 0 for a in span]
        if self._live:
            live = self.bank.read(self.table, address, count)
            words = [lv if a in self._live else w
                     for a, w, lv in zip(span, words, live, strict=True)]
        return words

    def setValues(self, address: int, values: Sequence[int]) -> None:
        """A write to recorded holding registers is kept; anything else is refused."""
        if self.table != "holding":
            raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "input registers are read-only")
        if not self.validate(address, len(values)):
            raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "not answered in the recording")
        for offset, word in enumerate(values):
            self.words[address + offset] = word


def replay_block(dump: Dump, *, live: bool = False) -> type[ReplayDataBlock]:
    """A data block class serving ``dump`` (one class per dump: the server builds instances)."""
    return type("ReplayDataBlock", (ReplayDataBlock,), {"dump": dump, "live": live})


def replay_arguments(dump: Dump, *, live: bool = False, model: str | None = None
                     ) -> dict[str, Any]:
    """``MockSungrowServer`` arguments that serve ``dump``: model, unit, data block class."""
    return {"model": model or model_of(dump), "unit_id": dump.unit, "battery_unit_id": None,
            "datablock_class": replay_block(dump, live=live)}
