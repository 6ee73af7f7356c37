"""Family rules (data/family_rules.csv): what real units answer, for models with and without a dump.

Every expectation here is a literal word of a recording in ../shared/dumps (wire address =
documented number - 1), read over a real socket from the normal model (no replay): the rules
must make an SH10RT answer as the recorded SH10RT did, and carry the same behaviour to the
models of its family nobody recorded (SH5.0RT, SH6.0RT-20...).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock
from mock_sungrow.device.catalog import CatalogError
from mock_sungrow.device.family import _parse, family_rules, rules_for
from tests.compat import compat_python, run_client
from tests.helpers import RawModbus

NOON = datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("Australia/Sydney"))
#: Input 4950-4953 in every dump (SH10RT and SH10RT-20 fingerprints, SH8.0RT-20 YAML and traces).
PROTOCOL_WORDS = [0x3000, 0x4142, 0x1100, 0x0100]
#: "ARM_SAPPHIRE-H_V11_V01_B" at input 4954 in every dump: its first six words.
ARM_WORDS = [0x4152, 0x4D5F, 0x5341, 0x5050, 0x4849, 0x5245]


def _modbus(factory: Any, model: str, **kwargs: Any) -> tuple[Any, RawModbus]:
    server = factory(model=model, server_type="modbus", clock=ManualClock(NOON), **kwargs)
    return server, RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"])


@pytest.mark.parametrize("model", ["SH10RT", "SH10RT-20", "SH8.0RT-20", "SH5.0RT-V112"])
def test_identity_words_as_recorded(mock_sungrow_factory: Any, model: str) -> None:
    _server, r = _modbus(mock_sungrow_factory, model)
    with r:
        assert r.read(4, 4949, 4) == PROTOCOL_WORDS
        assert r.read(4, 4953, 6) == ARM_WORDS


def test_sh10rt_lan_bands_answer_as_recorded(mock_sungrow_factory: Any) -> None:
    """The bands the SH10RT's LAN port answered (mkaiser-sh10rt-direct-lan-fingerprint.json)."""
    server, r = _modbus(mock_sungrow_factory, "SH10RT")
    with r:
        assert r.read(4, 5036, 12) == [0xFFFF] * 12           # input 5037-5048
        assert r.read(4, 5087, 2) == [0x03AE, 0x0000]        # input 5088-5089
        assert r.read(4, 5148, 11) == [0xFFFF] * 11          # input 5149-5159
        assert r.read(4, 5757, 3) == [0x7FFF, 0xFFFF, 0x7FFF]  # input 5758-5760
        assert r.read(4, 10740, 11) == [0xFFFF] * 11         # input 10741-10751
        assert r.read(4, 10751, 5) == [0] * 5                # input 10752-10756
        assert r.read(4, 13207, 42) == [0xFFFF] * 42         # input 13208-13249
        assert r.read(4, 33000, 100) == [0xFFFF] * 100       # input 33001-33100
        assert r.read(4, 13294, 3) == [0xFFFF] * 3           # reserved firmware strings
        assert r.read(3, 5005, 3) == [0x00CF, 0x00AA, 0x03E8]  # holding 5006-5008
        assert r.read(3, 5039, 20) == [0xFFFF] * 20          # holding 5040-5059
        assert r.read(3, 13100, 9) == [0xFFFF] * 9           # holding 13101-13109
        assert r.read(3, 31229, 10) == [0x0055, 0x0816, 0x0898, 0x09C4, 0x0A5A, 0x03E8,
                                        0x03E8, 0x03E8, 0x00C8, 0x0028]  # holding 31230-31239
        assert r.read(3, 33000, 15) == [0x0000, 0x00AA, 0x0055, 0x0000, 0x00AA, 0x0055,
                                        0x08FC, 0x08FC, 0x0898, 0x0816, 0x0000, 0x0000,
                                        0x0000, 0x03E8, 0x0028]  # holding 33001-33015
        assert r.read(3, 33187, 13) == [0xFFFF] * 13         # holding 33188-33200
    assert server.problems == []


def test_sh10rt_refuses_what_the_recorded_unit_refused(mock_sungrow_factory: Any) -> None:
    """Input 2612-2660 were refused one address at a time; a block touching them is too."""
    _server, r = _modbus(mock_sungrow_factory, "SH10RT")
    with r:
        for wire in (2611, 2612, 2628, 2643, 2659):
            assert r.read(4, wire, 1) == 2, wire
        assert r.read(4, 2600, 20) == 2        # a block reaching into the refused band
        assert r.read(4, 2607, 4) == [0] * 4   # input 2608-2611, the end of firmware string 2
        assert r.read(4, 2660, 1) == 2         # still outside every block


def test_hybrids_answer_their_power_at_5031(mock_sungrow_factory: Any) -> None:
    """The recorded SH10RT answers total active power at input 5031-5032 (952 W), and the
    grid frequency at 5148 (0.01 Hz); both are the plant's here."""
    server, r = _modbus(mock_sungrow_factory, "SH10RT", battery_kwh=9.6)
    with r:
        words, frequency, nominal_q = (r.read(4, 5030, 2), r.read(4, 5147, 1),
                                       r.read(4, 5048, 1))
    assert isinstance(words, list) and isinstance(frequency, list)
    power = words[0] | words[1] << 16
    snap = server.snapshot()
    assert power == round(snap.active_power_w) and power > 1000
    assert frequency[0] == round(snap.frequency_hz * 100) and 4900 < frequency[0] < 5100
    assert nominal_q == [60]  # 6.0 kvar, as the recorded SH10RT reads


def test_a_model_nobody_recorded_gets_its_family(mock_sungrow_factory: Any) -> None:
    """SH5.0RT (SH*RT) and SH6.0RT-20 (SH*RT-20) answer and refuse as their families do."""
    _server, r = _modbus(mock_sungrow_factory, "SH5.0RT")
    with r:
        assert r.read(4, 5036, 12) == [0xFFFF] * 12
        assert r.read(4, 2612, 1) == 2
        assert r.read(3, 33000, 3) == [0x0000, 0x00AA, 0x0055]
    _server, r = _modbus(mock_sungrow_factory, "SH6.0RT-20")
    with r:
        assert r.read(4, 7012, 24) == [0xFFFF] * 24  # string currents: unavailable
        assert r.read(4, 2611, 1) == [0]             # 2612 answers on the SH*RT-20
        assert r.read(4, 2612, 1) == 2
        assert r.read(3, 5037, 1) == [0x001B]        # the SH8.0RT-20's 5038


def test_a_documents_only_family_is_untouched(mock_sungrow_factory: Any) -> None:
    """SH*RS has no recording: no rule reaches it (its 5037+ stays refused, as documented)."""
    assert not any(r.matches("SH5.0RS") or r.matches("SG10RT") for r in family_rules())
    _server, r = _modbus(mock_sungrow_factory, "SH5.0RS")
    with r:
        assert r.read(4, 5100, 1) == 2


def test_every_rule_names_its_source_and_parses() -> None:
    rules = family_rules()
    assert len(rules) > 40
    for rule in rules:
        assert ".json" in rule.source or ".yaml" in rule.source, rule
    table = rules_for("SH10RT", "input")
    assert 2612 in table.refused and 5100 in table.fill and 5031 in table.live


@pytest.mark.parametrize(("row", "message"), [
    ("SH*RT*,input,5,4,answer,,any,x", "start <= end"),
    ("SH*RT*,coils,5,6,answer,,any,x", "table, rule or view"),
    ("SH*RT*,input,5,6,words,0001 0002 0003,any,x", "end at 7, not 6"),
    ("SH*RT*,input,5,6,answer,0001 0002,any,x", "one fill word"),
    ("SH*RT*,input,5,6,words,1FFFF,any,x", "16-bit"),
    ("SH*RT*,input,5,6,answer,,any,", "source"),
    # each of table, rule and view is checked on its own
    ("SH*RT*,input,5,6,answers,,any,x", "table, rule or view"),
    ("SH*RT*,input,5,6,answer,,wifi,x", "table, rule or view"),
    ("SH*RT*,input,0,6,answer,,any,x", "start <= end"),
    ("SH*RT*,input,5,65536,answer,,any,x", "end <= 65535"),
    ("SH*RT*,input,5,6,words,10000,any,x", "16-bit"),
])
def test_a_bad_rule_is_refused_at_load(row: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        _parse("models,table,start,end,rule,words,view,source\n" + row + "\n")



def test_a_bad_rule_is_named_by_its_line() -> None:
    header = "models,table,start,end,rule,words,view,source\n"
    good = "SH*RT*,input,5,6,answer,,any,x\n"
    with pytest.raises(CatalogError, match=r"^family_rules\.csv line 2: "):
        _parse(header + "SH*RT*,input,5,4,answer,,any,x\n")
    with pytest.raises(CatalogError, match=r"^family_rules\.csv line 4: .*16-bit"):
        _parse(header + good + good + "SH*RT*,input,5,6,words,FFFFF,any,x\n")
    # A field that is not a number at all: the line, and what Python said of it.
    with pytest.raises(CatalogError, match=r"^family_rules\.csv line 3: ValueError\(.*'five'"):
        _parse(header + good + "SH*RT*,input,five,6,answer,,any,x\n")


def test_the_whole_address_range_is_allowed() -> None:
    """Documented addresses run 1..65535 (wire 0..65534): both ends are valid band limits."""
    rules = _parse("models,table,start,end,rule,words,view,source\n"
                   "SH*RT*,input,1,1,words,FFFF,any,x\n"
                   "SH*RT*,holding,65535,65535,words,0000,lan,x\n"
                   '"SH*RT, SH*RT-V1*",input,1,65535,answer,,winet,x\n')
    assert [(r.start, r.end, r.words, r.view) for r in rules] == [
        (1, 1, (0xFFFF,), "any"), (65535, 65535, (0,), "lan"), (1, 65535, (), "winet")]
    assert [r.rule for r in rules] == ["words", "words", "answer"]
    assert [r.table for r in rules] == ["input", "holding", "input"]
    assert [r.models for r in rules] == [("SH*RT*",), ("SH*RT*",), ("SH*RT", "SH*RT-V1*")]
    assert [r.matches("SH10RT-V112") for r in rules] == [True, True, True]


INTELBRAS_SH10RT = """
import asyncio, dataclasses, json, sys
from intelbras_solar_local import IntelbrasSolarClient

async def main():
    async with IntelbrasSolarClient(sys.argv[1], port=int(sys.argv[2])) as client:
        status = await client.async_get_inverter_data()
    print(json.dumps({"power_ac": status.power_ac, "grid_frequency": status.grid_frequency,
                      "insulation": status.insulation_resistance,
                      "arm": status.arm_firmware, "model_code": status.device_type_code}))

asyncio.run(main())
"""


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason="python-intelbras-solar-local 0.2.0 requires Python >= 3.11")
def test_intelbras_solar_local_reads_an_sh10rt(mock_sungrow_factory: Any) -> None:
    """The client reads total active power at input 5031-5032 (0xFFFFFFFF before the family
    rules), the grid frequency at 5148 and the insulation at 5071 of an SH10RT."""
    from tests.test_winet_compat import INTELBRAS_REQUIREMENTS

    server = mock_sungrow_factory(model="SH10RT", server_type="modbus", battery_kwh=9.6,
                                  clock=ManualClock(NOON))
    python = compat_python("intelbras-solar-local", INTELBRAS_REQUIREMENTS)
    out = run_client(python, INTELBRAS_SH10RT, "127.0.0.1",
                     str(server.get_connection_info("modbus")["port"]))
    snap = server.snapshot()
    assert out["power_ac"] == round(snap.active_power_w) and out["power_ac"] > 1000
    assert out["grid_frequency"] == pytest.approx(snap.frequency_hz, abs=0.01)
    assert out["model_code"] == 0x0E03 and 100 < out["insulation"] < 5000
    assert server.problems == []


def test_battery_firmware_string_as_recorded(mock_sungrow_factory: Any) -> None:
    """Input 13280: "SBRBCU-S_22011.01.27" on the recorded SH10RT-20 with its SBR096 (through
    its WiNet-S), zeros on the SH10RT with a third-party battery (its LAN port)."""
    _server, r = _modbus(mock_sungrow_factory, "SH10RT-20", battery_kwh=9.6)
    with r:
        assert r.read(4, 13279, 10) == [0x5342, 0x5242, 0x4355, 0x2D53, 0x5F32, 0x3230,
                                        0x3131, 0x2E30, 0x312E, 0x3237]
    _server, r = _modbus(mock_sungrow_factory, "SH10RT-20", battery_kwh=0)
    with r:
        assert r.read(4, 13279, 15) == [0] * 15


def test_a_third_party_battery_has_no_unit_and_no_bcu_firmware(mock_sungrow_factory: Any
                                                               ) -> None:
    """The SH10RT recorded with a Pylontech Force H1 (``battery_make="third-party"``): input
    13280-13289 read zeros, nothing answers unit 200; the inverter still reports the pack
    (state of charge at input 13023, 0.1 %), as its LAN port did (976 = 97.6 %)."""
    server, r = _modbus(mock_sungrow_factory, "SH10RT", battery_kwh=14.4,
                        battery_make="third-party")
    with r:
        assert r.read(4, 13279, 10) == [0] * 10
        assert r.read(4, 10709, 1, unit=200) == 0x0B    # no SBR on the bus: gateway target
        soc = r.read(4, 13022, 1)
        assert isinstance(soc, list) and soc == [round(server.snapshot().battery_soc_pct * 10)]
    assert server.battery is None
    sbr, r = _modbus(mock_sungrow_factory, "SH10RT", battery_kwh=14.4)
    with r:
        assert r.read(4, 13279, 2) == [0x5342, 0x5242]  # "SB": the SBR reports its BCU
        assert isinstance(r.read(4, 10709, 1, unit=200), list)
    assert sbr.battery is not None


#: Input 13265-13279 through the SH10RT-20's WiNet-S: "WINET-SV200.001.00.P040", zero-padded
#: (mkaiser-sh10rt20-bar12-winet-178023-fingerprint.json, wire 13264).
P040_WORDS = [0x5749, 0x4E45, 0x542D, 0x5356, 0x3230, 0x302E, 0x3030, 0x312E, 0x3030, 0x2E50,
              0x3034, 0x3000, 0, 0, 0]


def _ascii_words(text: str, count: int) -> list[int]:
    raw = text.encode("ascii").ljust(2 * count, b"\0")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, 2 * count, 2)]


def test_the_module_firmware_string_names_the_dongle_plugged_in(mock_sungrow_factory: Any) -> None:
    """Input 13265: empty on the SH10RT with no module fitted ("register 13265 names none", its
    LAN recording), the WiNet-S's firmware where one is: the same on the LAN port and the
    dongle's own Modbus port, and the profile's (the dongle's ``/about/list`` version)."""
    _server, r = _modbus(mock_sungrow_factory, "SH10RT")
    with r:
        assert r.read(4, 13264, 15) == [0] * 15
    for profile, words in (("login", P040_WORDS),
                           ("legacy", _ascii_words("WINET-SV200.001.00.P020", 15)),
                           ("tls-only", _ascii_words("WINET-SV300.001.03.P012", 15))):
        server = mock_sungrow_factory(model="SH10RT-20", server_type="modbus+sungrow",
                                      encryption="none", winet_profile=profile,
                                      clock=ManualClock(NOON))
        lan = RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"])
        dongle = RawModbus("127.0.0.1", server.get_connection_info("sungrow")["port"])
        with lan, dongle:
            assert lan.read(4, 13264, 15) == words, profile
            assert dongle.read(4, 13264, 15) == words, profile
    server = mock_sungrow_factory(model="SH10RT-20", server_type="modbus+http",
                                  winet_profile="login", clock=ManualClock(NOON))
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        assert r.read(4, 13264, 15) == P040_WORDS   # the WiNet-S API alone is a dongle too


@pytest.mark.parametrize(("year", "entry"), [(2024, 9), (2026, 11)])
def test_yearly_arrays_are_a_calendar_from_2015(mock_sungrow_factory: Any, year: int,
                                                entry: int) -> None:
    """The SH8.0RT-20 recorded in January 2024 (its three LAN dumps): 2024's PV yield in entry
    9 of input 6250 (U32*20, low word first), 2025-2029 zero, entries 15-19 0xFFFF; the same
    in the other yearly arrays (input 6429, 6608, 6787)."""
    clock = ManualClock(datetime(year, 1, 20, 14, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    server = mock_sungrow_factory(model="SH8.0RT-20", server_type="modbus", clock=clock,
                                  timezone="Europe/Berlin", latitude=52.5, longitude=13.4)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as r:
        for first in (6249, 6428, 6607, 6786):
            words = r.read(4, first, 40)
            assert isinstance(words, list)
            assert words[30:] == [0xFFFF] * 10, first
            assert words[2 * entry + 2:30] == [0] * (28 - 2 * entry), first
        pv = r.read(4, 6249, 40)
        monthly = r.read(4, 6226, 12)          # input 6227: this year's months (U16, 0.1 kWh)
    assert isinstance(pv, list) and isinstance(monthly, list)
    this_year = pv[2 * entry] + (pv[2 * entry + 1] << 16)
    assert this_year == sum(monthly) > 0       # January's yield so far, in 0.1 kWh
    last_year = pv[2 * entry - 2] + (pv[2 * entry - 1] << 16)
    assert last_year > this_year               # a whole (synthetic) year before it
    assert server.problems == []
