"""The registers of one device at the plant's current instant: images, pins, memory, writes.

:class:`RegisterBank` projects the plant onto a
:class:`~mock_sungrow.device.registermap.RegisterMap` (one compact table image per plant
snapshot, holding only the documented blocks and encoded lazily, so a read is a slice),
keeps the device's holding-register memory (what was written reads back, as a real unit
stores its settings) and turns writes into plant commands (:mod:`mock_sungrow.device.writes`).
The data blocks (:mod:`mock_sungrow.device.datablock`) every front end reads through sit
on top of it.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mock_sungrow.device.catalog import Table
from mock_sungrow.device.registermap import IMAGE_SIZE, RegisterMap
from mock_sungrow.device.writes import CLOCK, GROUPS, UNSET, decode_write, validate_write
from mock_sungrow.errors import ExceptionCode, ModbusError
from mock_sungrow.plant.state import PlantState

if TYPE_CHECKING:
    from datetime import datetime


class _TableState:
    """One table's image and which snapshot each of its live rows was encoded for."""

    __slots__ = ("filled", "image", "serial", "snap", "stamps")

    def __init__(self, regmap: RegisterMap, table: Table) -> None:
        self.image = regmap.new_image(table)
        #: An array, not a list: the cyclic collector walks every element of a list, and ten
        #: thousand sites' lists of a few hundred stamps made each full collection of a fleet
        #: take 100-150 ms (a latency spike for every request waiting behind it).
        self.stamps = array("Q", [0]) * regmap.row_count(table)
        self.serial = 0
        self.snap: object = None
        #: Spans already brought up to date for the current snapshot: a client polling the
        #: same block (or several clients) skips the per-row walk after the first read.
        self.filled: set[tuple[int, int]] = set()


class RegisterBank:
    """The registers of one device at the plant's current instant.

    Reads are on every request's path, so a table keeps one image whose rows are encoded
    lazily: a read encodes the rows it touches that are not yet encoded for the current
    snapshot, then slices. A day of minute-by-minute reads therefore costs what the client
    reads, not the whole register map per minute.
    """

    def __init__(self, plant: PlantState, regmap: RegisterMap,
                 holding: Mapping[int, int] | None = None) -> None:
        self.plant = plant
        self.map = regmap
        #: The device's holding-register memory (documented address -> word): the defaults
        #: it was built with, then whatever clients wrote. The clock is not kept here: it is
        #: the plant's, read live.
        self.holding: dict[int, int] = dict(regmap.holding_defaults() if holding is None
                                            else holding)
        self._tables: dict[Table, _TableState] = {
            "input": _TableState(regmap, "input"), "holding": _TableState(regmap, "holding"),
        }
        self._pins: dict[Table, dict[int, int]] = {"input": {}, "holding": {}}
        #: Counts changes the plant's snapshot does not show (holding memory, pins): what a
        #: read returns is a function of (snapshot, version), which lets a front end keep a
        #: reply it built from this bank's words (WiNet-S ``real``) for as long as both last.
        self.version = 0

    def share_memory(self, other: RegisterBank) -> None:
        """Read and write ``other``'s holding memory and pins (another view of one device)."""
        self.holding = other.holding
        self._pins = other._pins

    def read(self, table: Table, address: int, count: int) -> list[int]:
        """Words ``address .. address + count - 1`` (documented numbers) of ``table``.

        Raises :class:`ModbusError` 2 when the span leaves the address space or touches no
        documented block of the model (and no pinned word).
        """
        end = address + count
        served = self.map.touches_defined(table, address, count) or self._pinned(
            table, address, end
        )
        if address < 1 or end > IMAGE_SIZE or not served:
            raise ModbusError(
                ExceptionCode.ILLEGAL_ADDRESS,
                f"no {table} register of {self.map.name} in {address}..{end - 1}",
            )
        state = self._tables[table]
        with self.plant.lock:
            snap = self.plant.snapshot()
            if state.snap is not snap:
                state.snap = snap
                state.serial += 1
                state.filled.clear()
            span = (address, end)
            if span not in state.filled:
                self.map.fill(table, state.image, state.stamps, state.serial, address, end,
                              snap, self.plant, self.holding)
                state.filled.add(span)
            words = self.map.words(table, state.image, address, end)
        pins = self._pins[table]
        if pins:
            for addr, word in pins.items():
                if address <= addr < end:
                    words[addr - address] = word
        return words

    def _pinned(self, table: Table, address: int, end: int) -> bool:
        pins = self._pins[table]
        return bool(pins) and any(address <= a < end for a in pins)

    def write(self, address: int, values: Sequence[int]) -> None:
        """A client's holding-register write: validated in full, then applied atomically.

        The words are checked against the map, decoded into plant commands, the commands
        checked by the plant; only then are the words stored and the commands carried out,
        all under the plant's lock, so a reader sees the write whole or not at all.
        """
        plant = self.plant
        with plant.lock:
            now = plant.local_time()
            checked = validate_write(self.map, address, values, now)
            commands = decode_write(self.map.model, self.holding, checked, now)
            try:
                plant.execute(*commands)
            except ValueError as exc:
                raise ModbusError(ExceptionCode.DEVICE_FAILURE, str(exc)) from None
            self.holding.update((a, w) for a, w in checked.items() if a not in CLOCK)
            self.version += 1

    def load_settings(self, words: Mapping[int, int]) -> list[str]:
        """Take ``words`` (documented address -> word) as the device's settings; the problems.

        Each setting group (:data:`~mock_sungrow.device.writes.GROUPS`) is written as a client
        would write it: validated against the map and ``holding.csv``, decoded, executed by
        the plant, stored, so it reads back, stays writable and the plant follows it. A word
        the limits refuse is left at its default, a group whose settings the plant refuses
        is left whole at its defaults; each word left is named in the returned problems
        (``holding 13059 = 5000 (0x1388): min_soc must be <= 500; got 5000``).
        :data:`~mock_sungrow.device.writes.UNSET` (0xFFFF) is the exception to the limits:
        a real unit reads it at a setting its firmware leaves unset, so it is kept as that
        setting's word (a client can still write a real value) when the plant accepts what
        the group then decodes to.
        """
        problems: list[str] = []
        plant = self.plant
        with plant.lock:
            now = plant.local_time()
            accepted: dict[int, int] = {}
            for address, word in sorted(words.items()):
                refused = self._refusal(address, word, now)
                if refused is None or (word == UNSET and address in self.map.holding_limits):
                    accepted[address] = word
                else:
                    problems.append(f"holding {address} = {word} (0x{word:04X}): {refused}")
            groups = [g.addresses for g in GROUPS[self.map.model.family] if not g.event]
            alone = frozenset(accepted).difference(*groups)
            for members in [*groups, alone]:
                mine = {a: w for a, w in accepted.items() if a in members}
                if not mine:
                    continue
                try:
                    plant.execute(*decode_write(self.map.model, self.holding, mine, now))
                except ValueError as exc:
                    problems.extend(f"holding {a} = {w} (0x{w:04X}): {exc}"
                                    for a, w in sorted(mine.items()))
                    continue
                self.holding.update(mine)
            self.version += 1
        return problems

    def _refusal(self, address: int, word: int, now: datetime) -> str | None:
        """Why a client's write of ``word`` to ``address`` would be refused, or ``None``."""
        try:
            validate_write(self.map, address, [word], now)
        except ModbusError as exc:
            return exc.message
        return None

    def pin(self, table: Table, address: int, words: Sequence[int]) -> None:
        """Force words into a table, whatever the plant says, until :meth:`unpin`."""
        for offset, word in enumerate(words):
            if not 0 <= word <= 0xFFFF:
                raise ValueError(f"register words are 0..65535; got {word!r}")
            if not 1 <= address + offset < IMAGE_SIZE:
                raise ValueError(f"address {address + offset} is outside 1..65536")
        with self.plant.lock:
            for offset, word in enumerate(words):
                self._pins[table][address + offset] = word
            self.version += 1

    def pinned(self, table: Table) -> dict[int, int]:
        """A copy of the words pinned in ``table`` (address: word), for the dashboard."""
        with self.plant.lock:
            return dict(self._pins[table])

    def unpin(self) -> None:
        """Drop every pinned word, in both tables."""
        with self.plant.lock:
            for pins in self._pins.values():
                pins.clear()
            self.version += 1

