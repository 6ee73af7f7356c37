"""What ``mock-sungrow models``, ``registers MODEL`` and ``faults`` print: the catalogues.

The register names a test passes to ``server.read(name)``, the fault kinds and their
parameters live in data files and in :data:`mock_sungrow.faults.KINDS`; these listings print
them from there (as a table for people, or ``--json`` for scripts), so the command line and the
code can never disagree.
"""

from __future__ import annotations

import json
from typing import Any, TextIO


def model_rows() -> list[dict[str, Any]]:
    """Every model of the catalogue, in catalogue order."""
    from mock_sungrow.device.catalog import load_catalog

    return [
        {"name": m.name, "device_type_code": m.device_type_code,
         "rated_power_w": m.rated_power_w, "phases": m.phases, "mppt_count": m.mppt_count,
         "family": m.family}
        for m in load_catalog().models.values()
    ]


def print_models(out: TextIO, *, as_json: bool) -> None:
    """The model catalogue as a table or JSON."""
    rows = model_rows()
    if as_json:
        print(json.dumps(rows, indent=1), file=out)
        return
    print(f"{'model':<16}{'code':>8}{'rated W':>10}{'phases':>8}{'MPPT':>6}  family", file=out)
    for m in rows:
        print(f"{m['name']:<16}{m['device_type_code']:>#8x}{m['rated_power_w']:>10}"
              f"{m['phases']:>8}{m['mppt_count']:>6}  {m['family']}", file=out)


def _type_name(kind: str, count: int) -> str:
    """The type as registers.csv writes it: ``U16``, ``S32``, ``U16*6``, ``UTF-8*10``."""
    if kind == "UTF8":
        return f"UTF-8*{count}"
    return f"{kind}*{count}" if count > 1 else kind


def register_rows(model: str) -> tuple[str, list[dict[str, Any]]]:
    """The model's canonical name and every register it serves with a value, by address.

    Registers a model answers only with an "unavailable" sentinel (another family's rows,
    MPPTs it does not have) are left out: ``server.read(name)`` does not know them either.
    ``ValueError`` (naming what is accepted) for an unknown model.
    """
    from mock_sungrow.device.catalog import load_catalog
    from mock_sungrow.device.registermap import RegisterMap

    name = load_catalog().model(model).name
    regmap = RegisterMap.for_model(name)
    rows = []
    for table in ("input", "holding"):
        for served in regmap.rows[table]:
            if not served.live:
                continue
            r = served.row
            rows.append({"name": r.name, "table": r.table, "address": r.address,
                         "type": _type_name(r.kind, r.count), "unit": r.unit or None,
                         "scale": r.scale, "source": r.source})
    return name, rows


def print_registers(model: str, out: TextIO, *, as_json: bool) -> None:
    """The registers one model serves, as a table or JSON (``ValueError``: unknown model)."""
    name, rows = register_rows(model)
    if as_json:
        print(json.dumps(rows, indent=1), file=out)
        return
    width = max(len(r["name"]) for r in rows)
    print(f"# {name}: {len(rows)} registers; addresses are documented numbers (wire "
          "address + 1)", file=out)
    print(f"{'name':<{width}}  {'table':<7}{'address':>8}  {'type':<10}{'unit':<8}"
          f"{'scale':>7}  source", file=out)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['table']:<7}{r['address']:>8}  {r['type']:<10}"
              f"{r['unit'] or '-':<8}{r['scale']:>7g}  {r['source']}", file=out)


def _param_type(types: type | tuple[type, ...]) -> str:
    names = {int: "integer", float: "number", str: "string", bool: "boolean", list: "list"}
    return " | ".join(names.get(t, t.__name__) for t in (types if isinstance(types, tuple)
                                                          else (types,)))


def fault_rows() -> list[dict[str, Any]]:
    """Every fault kind with its phase, front ends, parameters and what it does."""
    from mock_sungrow.faults.catalogue import KINDS

    return [
        {"kind": k.name, "phase": k.phase, "front_ends": sorted(k.front_ends),
         "what_it_does": k.summary, "survey_rows": list(k.survey_rows),
         "matches_registers": k.registers,
         "params": [{"name": p.name, "type": _param_type(p.type), "default": p.default,
                     "required": p.required, "doc": p.doc} for p in k.params]}
        for k in KINDS.values()
    ]


def print_faults(out: TextIO, *, as_json: bool) -> None:
    """The fault catalogue, as text or JSON."""
    rows = fault_rows()
    if as_json:
        print(json.dumps(rows, indent=1), file=out)
        return
    print(f"# {len(rows)} fault kinds. Inject with --fault 'KIND:param=value,...', POST "
          "/faults or server.inject(KIND, ...); every kind also takes the match keys "
          "(front_end, unit, device, function, client; table and address where it acts on "
          "registers) and the lifetime (times, duration, ordered). docs/faults.md has an "
          "example of each.", file=out)
    for k in rows:
        where = ", ".join(k["front_ends"])
        print(f"\n{k['kind']}  ({k['phase']}; {where})\n    {k['what_it_does']}", file=out)
        for p in k["params"]:
            default = "required" if p["required"] else f"default {p['default']!r}"
            doc = f": {p['doc']}" if p["doc"] else ""
            print(f"    {p['name']} ({p['type']}, {default}){doc}", file=out)
