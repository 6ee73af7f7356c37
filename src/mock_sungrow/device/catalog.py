"""The shipped data: Sungrow's model catalogue and register catalogue.

Both come from CSV files inside the package (``data/models.csv``, ``data/registers.csv``, copied
verbatim from the research notes so they can be diffed against new findings) and are parsed and
validated once, on first use. Nothing here knows about plants or protocols: this module turns
text into typed, checked records so that a bad row fails loudly in CI rather than in a user's
test run.
"""

from __future__ import annotations

import csv
import difflib
import fnmatch
import functools
import io
import itertools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal, cast

Table = Literal["input", "holding"]
Family = Literal["string", "hybrid"]
Kind = Literal["U16", "S16", "U32", "S32", "UTF8"]
TABLES: tuple[Table, ...] = ("input", "holding")


class CatalogError(ValueError):
    """A shipped data file is inconsistent (raised at load time, never at request time)."""


@dataclass(frozen=True, slots=True)
class InverterModel:
    """One row of ``models.csv``: what a model reports about itself."""

    name: str
    device_type_code: int
    rated_power_w: int
    phases: int
    mppt_count: int
    is_hybrid: bool
    source: str

    @property
    def family(self) -> Family:
        """``"hybrid"`` for SH/MG battery inverters, ``"string"`` for SG grid-tied ones."""
        return "hybrid" if self.is_hybrid else "string"


@dataclass(frozen=True, slots=True)
class RegisterDef:
    """One row of ``registers.csv``.

    ``address`` is the *documented* register number (1-based, as in Sungrow's PDFs); the wire
    address a client sends is ``address - 1``. ``kind`` is the element type, ``count`` how many
    elements start at ``address`` (strings count characters in pairs: ``UTF-8*10`` is 10
    registers), and ``words`` the number of 16-bit registers the row occupies.
    """

    address: int
    table: Table
    name: str
    kind: Kind
    count: int
    words: int
    unit: str
    scale: float
    models: tuple[str, ...]
    source: str
    _pattern: re.Pattern[str] = field(repr=False, compare=False)

    @property
    def end(self) -> int:
        """One past the last documented register number the row occupies."""
        return self.address + self.words

    @property
    def element_words(self) -> int:
        """Registers per element: 2 for 32-bit types, 1 otherwise (strings count as one)."""
        return 2 if self.kind in ("U32", "S32") else 1

    @property
    def is_array(self) -> bool:
        """True for ``U16*n`` / ``U32*n`` rows, which carry a list of values."""
        return self.kind != "UTF8" and self.count > 1

    def matches(self, model: str) -> bool:
        """Whether the row's ``models`` column names ``model`` (``all``, names or globs)."""
        return self._pattern.match(model) is not None


_TYPE_RE = re.compile(r"^(U16|S16|U32|S32|UTF-8)(?:\*(\d+))?$")


def read_data(name: str) -> str:
    """The text of a file shipped in ``mock_sungrow/data``."""
    data = resources.files("mock_sungrow").joinpath("data")
    return data.joinpath(name).read_text(encoding="utf-8")


def _parse_models(text: str) -> dict[str, InverterModel]:
    models: dict[str, InverterModel] = {}
    for line_no, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            model = InverterModel(
                name=row["name"].strip(),
                device_type_code=int(row["device_type_code"], 16),
                rated_power_w=int(row["rated_power_w"]),
                phases=int(row["phases"]),
                mppt_count=int(row["mppt_count"]),
                is_hybrid={"true": True, "false": False}[row["is_hybrid"].strip()],
                source=row["source"].strip(),
            )
        except (KeyError, ValueError) as exc:
            raise CatalogError(f"models.csv line {line_no}: {exc!r}") from exc
        if model.phases not in (1, 3) or not 1 <= model.mppt_count <= 16:
            raise CatalogError(f"models.csv line {line_no}: implausible phases/MPPT for {model}")
        if model.name in models:
            raise CatalogError(f"models.csv line {line_no}: duplicate model {model.name}")
        models[model.name] = model
    return models


def _parse_registers(text: str) -> tuple[RegisterDef, ...]:
    rows: list[RegisterDef] = []
    for line_no, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        match = _TYPE_RE.match(row["type"].strip())
        table = row["table"].strip()
        if match is None or table not in TABLES:
            raise CatalogError(f"registers.csv line {line_no}: bad type or table in {row}")
        base, n = match.group(1), int(match.group(2) or 1)
        kind = "UTF8" if base == "UTF-8" else base
        words = n if kind == "UTF8" else n * (2 if kind in ("U32", "S32") else 1)
        models = tuple(m.strip() for m in row["models"].split(",") if m.strip())
        try:
            scale = float(row["scale"] or 1)
        except ValueError as exc:
            raise CatalogError(f"registers.csv line {line_no}: bad scale {row['scale']!r}") from exc
        rows.append(
            RegisterDef(
                address=int(row["address"]),
                table=cast(Table, table),  # checked against TABLES above
                name=row["name"].strip(),
                kind=cast(Kind, kind),  # constrained by _TYPE_RE
                count=n,
                words=words,
                unit=row["unit"].strip(),
                scale=scale,
                models=models,
                source=row["source"].strip(),
                _pattern=_compile_patterns(models),
            )
        )
    return tuple(rows)


def _compile_patterns(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regular expression for a ``models`` cell (``all``, exact names, shell globs)."""
    if "all" in patterns:
        return re.compile(r"(?s:.*)\Z")
    if not patterns:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile("|".join(fnmatch.translate(p) for p in patterns))


@dataclass(frozen=True)
class Catalog:
    """The validated model and register catalogues."""

    models: dict[str, InverterModel]
    registers: tuple[RegisterDef, ...]
    _families: dict[int, frozenset[Family]] = field(default_factory=dict, repr=False)

    def model(self, name: str) -> InverterModel:
        """Look a model up by name, ignoring case when that names one model.

        ``sg5k-d`` is ``SG5K-D`` (people type model names as they read them); a name that
        matches nothing gets the closest names as suggestions and the list of what is accepted.
        """
        found = self.models.get(name)
        if found is not None:
            return found
        folded = [m for m in self.models if m.casefold() == name.casefold()]
        if len(folded) == 1:
            return self.models[folded[0]]
        # Several models differing only in case: name them all; a typo: the closest one.
        close = folded or difflib.get_close_matches(name.upper(), self.models, n=1)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} Accepted models ({len(self.models)}): "
            + ", ".join(sorted(self.models))
        )

    def row_families(self, row: RegisterDef) -> frozenset[Family]:
        """Which families implement a row at all (as a value or as an "unavailable" sentinel).

        A row that names only some string models (an MPPT 3 register, say) is still part of
        every string inverter's map: the others answer it with the sentinel, as the protocol
        says. A row naming no catalogued model (MPPT 13-16) belongs to the family its source
        document describes.
        """
        cached = self._families.get(id(row))
        if cached is not None:
            return cached
        fams = {m.family for m in self.models.values() if row.matches(m.name)}
        if not fams:
            if row.source.startswith("SGproto"):
                fams.add("string")
            if row.source.startswith("SHproto"):
                fams.add("hybrid")
        result = self._families[id(row)] = frozenset(fams)
        return result


def validate_catalog(cat: Catalog) -> None:
    """Check the cross-row invariants the server relies on.

    This costs about 0.1 s, so it runs in the test suite (``tests/test_catalog.py``) rather
    than on every import: the data is shipped, not user input, and CI is where a bad row
    must fail.
    """
    # A pattern may name a model the catalogue does not carry (the protocol lists SG*TX, for
    # example); that is data, not an error. A row no family implements is an error.
    for row in cat.registers:
        if not cat.row_families(row):
            raise CatalogError(f"register {row.name} at {row.address} belongs to no family")
    # Within one table, rows that one model serves must not overlap.
    for model in cat.models.values():
        for table in TABLES:
            spans = sorted(
                (r.address, r.end, r.name)
                for r in cat.registers
                if r.table == table and r.matches(model.name)
            )
            for (a0, e0, n0), (a1, _e1, n1) in itertools.pairwise(spans):
                if a1 < e0:
                    raise CatalogError(
                        f"{model.name}: {table} registers {n0}@{a0} and {n1}@{a1} overlap"
                    )


@functools.cache
def load_catalog() -> Catalog:
    """Parse the shipped CSV files (cached: the data never changes at run time).

    ``registers.csv`` is the research catalogue, kept verbatim; ``registers_clients.csv`` adds
    registers that real client libraries read from real devices but no protocol document
    lists (each row names the client and the line that reads it); ``registers_recorded.csv``
    adds registers seen only in recordings of real units (each row names the dump in
    ``../shared/dumps`` and what it shows).
    """
    return Catalog(
        models=_parse_models(read_data("models.csv")),
        registers=_parse_registers(read_data("registers.csv"))
        + _parse_registers(read_data("registers_clients.csv"))
        + _parse_registers(read_data("registers_recorded.csv")),
    )


@functools.cache
def load_device_registers(name: str) -> tuple[RegisterDef, ...]:
    """The register rows a device other than an inverter serves, from ``data/<name>``.

    The file has the same columns as ``registers.csv``; its ``source`` column names where each
    row was seen. Rows of one table must not overlap.
    """
    rows = _parse_registers(read_data(name))
    for table in TABLES:
        spans = sorted((r.address, r.end, r.name) for r in rows if r.table == table)
        for (a0, e0, n0), (a1, _e1, n1) in itertools.pairwise(spans):
            if a1 < e0:
                raise CatalogError(f"{name}: {n0}@{a0} and {n1}@{a1} overlap")
    return rows


def load_battery_registers() -> tuple[RegisterDef, ...]:
    """The rows a Sungrow SBR battery serves on its own unit (``sbr_registers.csv``).

    There is no public SBR protocol document: the ``source`` column names the community
    register notes each row was seen in.
    """
    return load_device_registers("sbr_registers.csv")


def model_names() -> list[str]:
    """Every selectable model name, in catalogue order."""
    return list(load_catalog().models)
