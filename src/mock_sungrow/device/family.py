"""Family rules: what real units of a model family answer beyond the documented rows.

The register catalogue (``registers.csv``) comes from protocol documents; real firmware answers
more, less and differently (../shared/dumps). ``data/family_rules.csv`` says so per family, each
rule with its provenance (the dump or document it rests on), so a model without a recording
gets its family's behaviour. Columns: ``models`` (names or globs, as in ``registers.csv``),
``table``, ``start`` and ``end`` (documented numbers, inclusive), ``rule``, ``words``, ``view``
and ``source``. Rules, in the order the map applies them:

* ``answer``: the band answers; every address no live row covers reads the ``words`` fill
  (one hex word, 0xFFFF when empty): the recorded "unavailable" word. Rows of the catalogue
  that the model does not implement (another model's, which would read their type's
  sentinel) give way to the fill, as the recordings show.
* ``live``: catalogue rows starting in the band are served with their plant quantity by the
  family although their ``models`` column names other models (input 5031 total active power,
  answered by hybrids as by string inverters).
* ``words``: constant words from ``start`` (space-separated hex; ``end`` must be where they
  end, or one word fills the band): identity words, settings and recorded constants. They
  replace any row there.
* ``refuse``: the band is refused (exception 2) even where documented rows lie.
* ``retry``: a connection's first read starting in the band fails with exception 4 and the
  next succeeds (the SH8.0RT-20's WiNet-S at holding 33047 and 33500); the front end keeps
  the per-connection state.

``view`` is ``any`` (every port), ``lan`` (the inverter's own port), ``winet`` (the WiNet-S
dongle's Modbus port, :mod:`mock_sungrow.frontends.modbus`' "sungrow" front end) or
``winet-legacy`` (that port on a dongle of the generation before the May 2024 login firmware,
the ``legacy`` profile's: its rules follow the ``winet`` ones). Later rows
win over earlier ones where they overlap, so a narrower family (one model) can follow a wider
one. Nothing here knows about plants or protocols.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import io
import re
from dataclasses import dataclass, field
from typing import Literal, cast

from mock_sungrow.device.catalog import TABLES, CatalogError, Table, read_data

Rule = Literal["answer", "live", "words", "refuse", "retry"]
View = Literal["any", "lan", "winet", "winet-legacy"]
RULES: tuple[Rule, ...] = ("answer", "live", "words", "refuse", "retry")
VIEWS: tuple[View, ...] = ("any", "lan", "winet", "winet-legacy")
#: The views whose rules a view applies, in order (a legacy dongle's follow a dongle's).
_APPLIES: dict[View, tuple[View, ...]] = {
    "any": ("any",), "lan": ("any", "lan"), "winet": ("any", "winet"),
    "winet-legacy": ("any", "winet", "winet-legacy")}
FILE = "family_rules.csv"


@dataclass(frozen=True, slots=True)
class FamilyRule:
    """One row of ``family_rules.csv`` (see the module docstring)."""

    models: tuple[str, ...]
    table: Table
    start: int
    end: int
    rule: Rule
    words: tuple[int, ...]
    view: View
    source: str
    _pattern: re.Pattern[str] = field(repr=False, compare=False)

    def matches(self, model: str) -> bool:
        """Whether the rule's family includes ``model``."""
        return self._pattern.match(model) is not None


@dataclass
class TableRules:
    """What one model's rules say about one table, address by address (later rules win)."""

    #: Address -> word of the ``answer`` bands and ``words`` rules (words replace rows).
    fill: dict[int, int] = field(default_factory=dict)
    #: Addresses whose word is a ``words`` constant (rows there give way).
    constant: set[int] = field(default_factory=set)
    #: Addresses a ``refuse`` rule refuses.
    refused: set[int] = field(default_factory=set)
    #: Addresses in a ``live`` band: catalogue rows starting there are served live.
    live: set[int] = field(default_factory=set)
    #: Start addresses whose first read on a connection fails once (``retry``).
    first_try: set[int] = field(default_factory=set)


def _parse(text: str) -> tuple[FamilyRule, ...]:
    rules: list[FamilyRule] = []
    for line_no, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        where = f"{FILE} line {line_no}"
        try:
            table, rule, view = row["table"].strip(), row["rule"].strip(), row["view"].strip()
            start, end = int(row["start"]), int(row["end"])
            words = tuple(int(w, 16) for w in row["words"].split())
            models = tuple(m.strip() for m in row["models"].split(",") if m.strip())
            source = row["source"].strip()
        except (KeyError, ValueError, AttributeError) as exc:
            raise CatalogError(f"{where}: {exc!r}") from exc
        if table not in TABLES or rule not in RULES or view not in VIEWS:
            raise CatalogError(f"{where}: table, rule or view not one of {TABLES}, {RULES}, "
                               f"{VIEWS}")
        if not 1 <= start <= end <= 65535 or not models or not source:
            raise CatalogError(f"{where}: needs 1 <= start <= end <= 65535, models and source")
        if any(not 0 <= w <= 0xFFFF for w in words):
            raise CatalogError(f"{where}: words are 16-bit hex words")
        if rule == "words" and len(words) not in (1, end - start + 1):
            raise CatalogError(f"{where}: {len(words)} words from {start} end at "
                               f"{start + len(words) - 1}, not {end}")
        if rule == "answer" and len(words) > 1:
            raise CatalogError(f"{where}: an answer band has one fill word")
        rules.append(FamilyRule(models, cast(Table, table), start, end, cast(Rule, rule),
                                words, cast(View, view), source, re.compile(
                                    "|".join(fnmatch.translate(m) for m in models))))
    return tuple(rules)


@functools.cache
def family_rules() -> tuple[FamilyRule, ...]:
    """Every rule of the shipped ``family_rules.csv``, checked (cached)."""
    return _parse(read_data(FILE))


@functools.lru_cache(maxsize=256)
def has_view_rules(model: str, view: View) -> bool:
    """Whether any rule of ``view`` itself (not ``any``) reaches ``model``."""
    own = _APPLIES[view][1:]
    return any(r.view in own and r.matches(model) for r in family_rules())


@functools.lru_cache(maxsize=1024)
def rules_for(model: str, table: Table, view: View = "lan") -> TableRules:
    """What the rules say for ``model``'s ``table`` as ``view`` serves it (shared: read only).

    The dongle's view (``winet``) applies the ``any`` rules, then its own; the LAN port
    (``lan``) the ``any`` rules and the ``lan`` ones; a legacy dongle (``winet-legacy``) the
    dongle's and then its own.
    """
    out = TableRules()
    applies = _APPLIES[view]
    for rule in family_rules():
        if rule.table != table or rule.view not in applies or not rule.matches(model):
            continue
        span = range(rule.start, rule.end + 1)
        if rule.rule == "retry":
            out.first_try.update(span)
            continue
        if rule.rule == "refuse":
            out.refused.update(span)
            for a in span:
                out.fill.pop(a, None)
            out.constant.difference_update(span)
            out.live.difference_update(span)
            continue
        out.refused.difference_update(span)
        if rule.rule == "answer":
            fill = rule.words[0] if rule.words else 0xFFFF
            for a in span:
                if a not in out.constant:
                    out.fill[a] = fill
        elif rule.rule == "words":
            words = rule.words * len(span) if len(rule.words) == 1 else rule.words
            out.fill.update(zip(span, words, strict=True))
            out.constant.update(span)
            out.live.difference_update(span)
        else:
            out.live.update(span)
            out.constant.difference_update(span)
    return out
