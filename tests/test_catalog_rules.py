"""The catalogue loader's rules: what a row means, and how a bad row fails.

The shipped CSV files are the product's data; these tests feed the loader small CSV texts
written here, so each expectation is the literal meaning of a row (its type, its models, its
scale) or the literal error a maintainer adding a bad row must see, with its line number.
"""

from __future__ import annotations

import pytest

from mock_sungrow.device.catalog import (
    Catalog,
    CatalogError,
    _parse_models,
    _parse_registers,
    load_battery_registers,
    load_catalog,
    model_names,
    read_data,
    validate_catalog,
)

MODELS_HEADER = "name,device_type_code,rated_power_w,phases,mppt_count,is_hybrid,source\n"
REGISTERS_HEADER = "address,table,name,type,unit,scale,models,source\n"


def _models(*rows: str) -> str:
    return MODELS_HEADER + "".join(r + "\n" for r in rows)


def _registers(*rows: str) -> str:
    return REGISTERS_HEADER + "".join(r + "\n" for r in rows)


# ----------------------------------------------------------------------------- models.csv


def test_a_model_row_reads_as_written() -> None:
    models = _parse_models(_models(" SGX1 ,0x2C0A,8000,3,3,false, doc ",
                                   "SHX2,0x0E0F,5000,1,2,true,doc2"))
    assert list(models) == ["SGX1", "SHX2"]
    sg, sh = models["SGX1"], models["SHX2"]
    assert (sg.name, sg.device_type_code, sg.rated_power_w, sg.phases, sg.mppt_count) == (
        "SGX1", 0x2C0A, 8000, 3, 3)
    assert (sg.is_hybrid, sg.family, sg.source) == (False, "string", "doc")
    assert (sh.is_hybrid, sh.family, sh.phases, sh.mppt_count) == (True, "hybrid", 1, 2)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("SGX,0x01,1000,2,2,false,doc", "models.csv line 2: implausible phases/MPPT"),
        ("SGX,0x01,1000,3,0,false,doc", "models.csv line 2: implausible phases/MPPT"),
        ("SGX,0x01,1000,3,17,false,doc", "models.csv line 2: implausible phases/MPPT"),
        ("SGX,0x01,1000,3,2,yes,doc", "models.csv line 2: KeyError('yes')"),
        ("SGX,zz,1000,3,2,false,doc", "models.csv line 2: ValueError("),
        ("SGX,0x01,many,3,2,false,doc", "models.csv line 2: ValueError("),
    ],
)
def test_a_bad_model_row_names_its_line(row: str, message: str) -> None:
    with pytest.raises(CatalogError) as info:
        _parse_models(_models(row))
    assert str(info.value).startswith(message), str(info.value)


def test_model_limits_are_inclusive() -> None:
    models = _parse_models(_models("A,0x01,1000,1,1,false,d", "B,0x02,1000,3,16,true,d"))
    assert (models["A"].phases, models["A"].mppt_count) == (1, 1)
    assert (models["B"].phases, models["B"].mppt_count) == (3, 16)


def test_a_duplicate_model_names_the_second_line() -> None:
    with pytest.raises(CatalogError, match=r"^models.csv line 3: duplicate model SGX$"):
        _parse_models(_models("SGX,0x01,1000,3,2,false,d", "SGX,0x02,1000,3,2,false,d"))


def test_an_unknown_model_lists_what_is_accepted() -> None:
    catalog = Catalog(models=_parse_models(_models("SGB,0x01,1000,3,2,false,d",
                                                   "SGA,0x02,1000,3,2,false,d")),
                      registers=())
    with pytest.raises(ValueError) as info:
        catalog.model("SGAX")
    assert str(info.value) == (
        "unknown model 'SGAX'. Did you mean 'SGA'? Accepted models (2): SGA, SGB")
    with pytest.raises(ValueError) as info:
        catalog.model("nothing")
    assert str(info.value) == "unknown model 'nothing'. Accepted models (2): SGA, SGB"
    assert catalog.model("SGB").device_type_code == 1


def test_a_model_name_in_another_case_is_that_model_when_unambiguous() -> None:
    catalog = Catalog(models=_parse_models(_models("SGB,0x01,1000,3,2,false,d",
                                                   "SGA,0x02,1000,3,2,false,d",
                                                   "SGa,0x03,1000,3,2,false,d")),
                      registers=())
    assert catalog.model("sgb").name == "SGB"
    with pytest.raises(ValueError) as info:
        catalog.model("sga")  # SGA and SGa: which one is for the user to say
    assert str(info.value) == ("unknown model 'sga'. Did you mean 'SGA' or 'SGa'? Accepted "
                               "models (3): SGA, SGB, SGa")
    # a name written exactly is that model, even where another differs from it only in case
    assert catalog.model("SGa").device_type_code == 3
    assert catalog.model("SGA").device_type_code == 2


def test_a_typo_close_to_several_models_suggests_the_closest_one() -> None:
    # SGA10 is one edit from SGA1; SGA2 and SGB1, also close, are a substitution away
    catalog = Catalog(models=_parse_models(_models("SGA2,0x01,1000,3,2,false,d",
                                                   "SGB1,0x02,1000,3,2,false,d",
                                                   "SGA10,0x03,1000,3,2,false,d")),
                      registers=())
    with pytest.raises(ValueError) as info:
        catalog.model("SGA1")
    assert str(info.value) == ("unknown model 'SGA1'. Did you mean 'SGA10'? Accepted models "
                               "(3): SGA10, SGA2, SGB1")


def test_the_catalogue_reads_as_utf_8_whatever_the_locale() -> None:
    """registers.csv writes the unit of internal temperature (input 5008) as "°C"; a Python
    in the plain C locale (no UTF-8 mode, no coercion) must read it so too."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    code = ("import locale; from mock_sungrow.device.catalog import load_catalog; "
            "print(locale.getpreferredencoding(False)); "
            "print(ascii([r.unit for r in load_catalog().registers "
            "if r.name == 'internal_temperature']))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    encoding, units = out.stdout.splitlines()
    assert "utf" not in encoding.lower().replace("-", "")  # the test means a non-UTF-8 locale
    assert units == ascii(["\u00b0C"])


def test_model_names_keep_the_file_order() -> None:
    names = model_names()
    lines = read_data("models.csv").splitlines()[1:]
    assert names == [line.split(",")[0] for line in lines if line]
    assert names[:2] == ["SG10KTL", "SG30KTL"]  # the first rows of the shipped file


# ----------------------------------------------------------------------------- registers.csv


def test_register_types_give_words_counts_and_kinds() -> None:
    rows = _parse_registers(_registers(
        "5000,input, a ,U16,V,0.1,all, s1 ",
        "5001,input,b,S16,A,,SG*,s2",
        "5002,input,c,U32,W,1,\"SGA, SGB\",s3",
        "5004,holding,d,S32,,10,SH*,s4",
        "5006,input,e,UTF-8*10,,1,all,s5",
        "5016,input,f,U16*4,,1,all,s6",
        "5020,input,g,U32*3,kWh,0.01,all,s7",
    ))
    got = {r.name: (r.address, r.table, r.kind, r.count, r.words, r.unit, r.scale, r.models,
                    r.source) for r in rows}
    assert got == {
        "a": (5000, "input", "U16", 1, 1, "V", 0.1, ("all",), "s1"),
        "b": (5001, "input", "S16", 1, 1, "A", 1.0, ("SG*",), "s2"),
        "c": (5002, "input", "U32", 1, 2, "W", 1.0, ("SGA", "SGB"), "s3"),
        "d": (5004, "holding", "S32", 1, 2, "", 10.0, ("SH*",), "s4"),
        "e": (5006, "input", "UTF8", 10, 10, "", 1.0, ("all",), "s5"),
        "f": (5016, "input", "U16", 4, 4, "", 1.0, ("all",), "s6"),
        "g": (5020, "input", "U32", 3, 6, "kWh", 0.01, ("all",), "s7"),
    }
    by = {r.name: r for r in rows}
    assert [by[n].end for n in "acdefg"] == [5001, 5004, 5006, 5016, 5020, 5026]
    assert [by[n].element_words for n in "abcdefg"] == [1, 1, 2, 2, 1, 1, 2]
    assert [by[n].is_array for n in "abcdefg"] == [False] * 5 + [True, True]


@pytest.mark.parametrize(
    ("cell", "yes", "no"),
    [
        ("all", ["SG10RT", "SH5.0RT", "anything"], []),
        ("SG*", ["SG10RT", "SG5K-D"], ["SH10RT", "XSG10RT"]),
        ("\"SGA, SH1?RT\"", ["SGA", "SH10RT", "SH15RT"], ["SGAB", "SH5RT", "SGA "]),
        ("\",\"", [], ["", "SG10RT", ","]),
    ],
)
def test_the_models_cell_is_names_globs_or_all(cell: str, yes: list[str], no: list[str]) -> None:
    (row,) = _parse_registers(_registers(f"5000,input,a,U16,,1,{cell},doc"))
    assert [m for m in yes if row.matches(m)] == yes
    assert [m for m in no if row.matches(m)] == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("5000,input,a,U8,,1,all,d", "registers.csv line 2: bad type or table"),
        ("5000,input,a,U16*,,1,all,d", "registers.csv line 2: bad type or table"),
        ("5000,coils,a,U16,,1,all,d", "registers.csv line 2: bad type or table"),
        ("5000,input,a,U16,,0.1x,all,d", "registers.csv line 2: bad scale '0.1x'"),
    ],
)
def test_a_bad_register_row_names_its_line(row: str, message: str) -> None:
    with pytest.raises(CatalogError) as info:
        _parse_registers(_registers(row))
    assert str(info.value).startswith(message), str(info.value)


def test_the_type_and_table_cells_may_carry_spaces() -> None:
    (row,) = _parse_registers(_registers("5000, holding ,a, U32*2 ,,1,all,d"))
    assert (row.table, row.kind, row.count, row.words) == ("holding", "U32", 2, 4)


# ----------------------------------------------------------------------------- families


def _catalog(models: str, registers: str) -> Catalog:
    return Catalog(models=_parse_models(models), registers=_parse_registers(registers))


def test_row_families_come_from_the_models_or_the_source_document() -> None:
    catalog = _catalog(
        _models("SGA,0x01,1000,3,2,false,d", "SHA,0x02,1000,3,2,true,d"),
        _registers("5000,input,sg,U16,,1,SGA,x", "5001,input,sh,U16,,1,SH*,x",
                   "5002,input,both,U16,,1,all,x", "5003,input,mppt13,U16,,1,SG99,SGproto-V1",
                   "5004,input,shdoc,U16,,1,SH99,SHproto-V1", "5005,input,none,U16,,1,XX,notes",
                   "5006,input,sgnamed,U16,,1,SGA,SHproto-V1"),
    )
    fams = {r.name: catalog.row_families(r) for r in catalog.registers}
    assert fams == {
        "sg": {"string"}, "sh": {"hybrid"}, "both": {"string", "hybrid"},
        "mppt13": {"string"}, "shdoc": {"hybrid"}, "none": set(),
        "sgnamed": {"string"},  # a catalogued model decides; the document is only a fallback
    }
    # asked again (cached per row), the answer is the same
    assert catalog.row_families(catalog.registers[0]) == {"string"}


def test_validation_refuses_a_row_no_family_implements() -> None:
    catalog = _catalog(_models("SGA,0x01,1000,3,2,false,d"),
                       _registers("5000,input,orphan,U16,,1,XX,notes"))
    with pytest.raises(CatalogError, match=r"^register orphan at 5000 belongs to no family$"):
        validate_catalog(catalog)


def test_validation_refuses_overlapping_rows_of_one_model() -> None:
    catalog = _catalog(_models("SGA,0x01,1000,3,2,false,d"),
                       _registers("5000,input,wide,U32,,1,SGA,d", "5001,input,inner,U16,,1,all,d"))
    with pytest.raises(CatalogError,
                       match=r"^SGA: input registers wide@5000 and inner@5001 overlap$"):
        validate_catalog(catalog)


def test_rows_in_different_tables_or_for_other_models_do_not_overlap() -> None:
    catalog = _catalog(
        _models("SGA,0x01,1000,3,2,false,d", "SGB,0x02,1000,3,2,false,d"),
        _registers("5000,input,wide,U32,,1,SGA,d", "5001,holding,other_table,U16,,1,SGA,d",
                   "5001,input,other_model,U16,,1,SGB,d", "5002,input,next,U16,,1,all,d"),
    )
    validate_catalog(catalog)  # adjacent (5000-5001, then 5002) is not an overlap


def test_the_shipped_catalogue_passes_and_is_built_once() -> None:
    catalog = load_catalog()
    validate_catalog(catalog)
    assert load_catalog() is catalog
    assert catalog.model("SH10RT").device_type_code == 0x0E03  # spec table, models.csv


def test_battery_rows_are_the_sbr_file() -> None:
    rows = load_battery_registers()
    first = rows[0]
    assert (first.address, first.table, first.name, first.kind) == (
        10710, "input", "device_type_code", "U16")
    assert rows[1].name == "serial_number" and rows[1].words == 10
    assert all(r.matches("SBR096") for r in rows)
