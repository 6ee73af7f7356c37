"""Settings from a recording (``settings_from``): over real sockets, with real clients.

Expected words come from the recordings themselves, read here with json / PyYAML
(``tests.test_dumps._expected``), never from the product's loader or encoder; which addresses
are settings is the product's documented rule (writable holding.csv rows, not the clock,
not commands: :func:`mock_sungrow.dumps.settings.setting_addresses`), checked here too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from mock_sungrow import MockSungrowServer
from mock_sungrow.dumps.formats import Dump
from mock_sungrow.dumps.settings import RecordedSettingWarning, setting_addresses
from mock_sungrow.installation.spec import InstallationError
from tests.helpers import RawModbus
from tests.test_dumps import DUMPS, _expected

needs_dumps = pytest.mark.skipif(DUMPS is None, reason="../shared/dumps is not next to the "
                                 "repository (set MOCK_SUNGROW_DUMPS to its path)")
#: One dump of each format, and its model.
RECORDINGS = {
    "alexanderlanin-sh8rt20-master-direct-sungather-scan.yaml": "SH8.0RT-20",
    "alexanderlanin-sh8rt20-master-direct-wire.json": "SH8.0RT-20",
    "mkaiser-sh10rt-direct-lan-fingerprint.json": "SH10RT",
}
SH10RT_LAN = "mkaiser-sh10rt-direct-lan-fingerprint.json"


def _path(name: str) -> Path:
    assert DUMPS is not None
    return DUMPS / name


@pytest.fixture
def started() -> Iterator[list[MockSungrowServer]]:
    servers: list[MockSungrowServer] = []
    yield servers
    for server in servers:
        server.stop()


def _serve(started: list[MockSungrowServer], **kwargs: Any) -> int:
    server = MockSungrowServer(modbus_port=0, server_type="modbus", **kwargs).start()
    started.append(server)
    return int(server.get_connection_info("modbus")["port"])


def _holding(port: int, addresses: list[int], unit: int = 1) -> dict[int, int]:
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert client.connect()
    try:
        out = {}
        for address in addresses:
            reply = client.read_holding_registers(address - 1, count=1, device_id=unit)
            assert not reply.isError(), (address, reply)
            out[address] = reply.registers[0]
        return out
    finally:
        client.close()


def test_the_rule_leaves_out_the_clock_commands_and_read_only_rows() -> None:
    from mock_sungrow.device.registermap import RegisterMap

    hybrid = setting_addresses(RegisterMap.for_model("SH10RT"))
    assert {13059, 13074, 13087, 13100, 33047, 13050}.issubset(hybrid)
    assert not hybrid & {5000, 5005, 13000, 13080}  # the clock, start/stop, the heartbeat
    assert not hybrid & {5038, 33500, 33501, 33502, 13018}  # read-only (family rules)
    string = setting_addresses(RegisterMap.for_model("SG5K-D"))
    assert {5007, 5008, 5019}.issubset(string) and 5006 not in string


@needs_dumps
@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_settings_read_back_over_modbus_as_recorded(
    name: str, started: list[MockSungrowServer],
) -> None:
    from mock_sungrow.device.registermap import RegisterMap

    model = RECORDINGS[name]
    recorded, _once = _expected(_path(name))
    settings = {a: w for (t, a), w in recorded.items() if t == "holding" and w is not None
                and a in setting_addresses(RegisterMap.for_model(model))}
    assert len(settings) >= 30
    port = _serve(started, model=model, settings_from=str(_path(name)))
    assert _holding(port, sorted(settings)) == settings


@needs_dumps
def test_the_recorded_owner_choices_by_hand(started: list[MockSungrowServer]) -> None:
    """The alexanderlanin unit: feed-in limitation on (13087 0xAA) at 12 000 W (13074),
    min SoC 5.0 % (13059 = 50), backup reserve 0 % (13100); 13001 and 13017 read 0xFFFF."""
    port = _serve(started, model="SH8.0RT-20",
                  settings_from=_path("alexanderlanin-sh8rt20-master-direct-sungather-scan.yaml"))
    assert _holding(port, [13001, 13017, 13059, 13074, 13087, 13100]) == {
        13001: 0xFFFF, 13017: 0xFFFF, 13059: 50, 13074: 12000, 13087: 0xAA, 13100: 0}
    settings = started[0].plant.plant_settings
    assert settings.export_limit_w == 12000.0  # the plant follows the recorded limit
    assert (settings.ems.min_soc_pct, settings.ems.reserve_soc_pct) == (5.0, 0.0)


@needs_dumps
def test_a_setting_from_a_dump_stays_writable_and_the_plant_follows(
    started: list[MockSungrowServer],
) -> None:
    port = _serve(started, model="SH10RT", settings_from=_path(SH10RT_LAN))
    server = started[0]
    ems = server.plant.plant_settings.ems
    # the recording: min SoC 13059 = 100 (10.0 %), max charge 33047 = 450 (4.50 kW)
    assert (ems.min_soc_pct, ems.charge_limit_w) == (10.0, 4500.0)
    with RawModbus("127.0.0.1", port) as c:  # wire addresses: documented - 1
        assert c.read(3, 13058, 1) == [100]
        assert c.write(13058, [200]) is None  # 20.0 %
        assert c.read(3, 13058, 1) == [200]
        assert c.write(33046, [300]) is None  # 3.00 kW
        assert c.write(13058, [600]) == 4  # still refused out of range (max 500)
    ems = server.plant.plant_settings.ems
    assert (ems.min_soc_pct, ems.charge_limit_w) == (20.0, 3000.0)
    server.reset()  # a reset starts from the recording again, not from the model's defaults
    assert server.read_registers("holding", 13059) == [100]


def test_a_recorded_word_the_model_refuses_is_a_warning_not_an_error() -> None:
    dump = Dump("made-up.json", device_type_code=0x0E03,
                words={("holding", 13059): 5000, ("holding", 13100): 20,
                       ("holding", 5038): 7, ("holding", 5003): 12})
    with pytest.warns(RecordedSettingWarning,
                      match=r"inverter\[1\]\.settings_from made-up\.json: holding 13059 = 5000 "
                            r"\(0x1388\): min_soc must be <= 500"):
        server = MockSungrowServer(model="SH10RT", settings_from=dump)
    assert server.read_registers("holding", 13059) == [50]  # the model's default stays
    assert server.read_registers("holding", 13100) == [20]  # the others are taken
    assert len(server.installation.settings_problems) == 1


def test_an_unset_word_is_kept_and_a_client_may_replace_it() -> None:
    dump = Dump("made-up.json", device_type_code=0x0E03, words={("holding", 13001): 0xFFFF})
    server = MockSungrowServer(model="SH10RT", settings_from=dump)
    assert server.read_registers("holding", 13001) == [0xFFFF]
    server.write_registers(13001, [1])
    assert server.read_registers("holding", 13001) == [1]


def test_a_recorded_group_the_plant_refuses_stays_whole_at_its_defaults() -> None:
    # Forced charging on (33208 = 0xAA) with its first window starting at hour 0xFFFF (the
    # word a unit reads where its firmware leaves a setting unset): the limits keep 0xFFFF,
    # but no window starts after minute 1439, so the plant refuses the group and both words
    # keep their holding.csv defaults (0x55 off, 0). The power-limit group (13089 on, 13090
    # 50.0 %) and a setting of no group (13001 load control) are taken all the same.
    dump = Dump("made-up.json", device_type_code=0x0E03,
                words={("holding", 33208): 0xAA, ("holding", 33210): 0xFFFF,
                       ("holding", 13089): 0xAA, ("holding", 13090): 500,
                       ("holding", 13001): 1})
    with pytest.warns(RecordedSettingWarning) as caught:
        server = MockSungrowServer(model="SH10RT", settings_from=dump)
    assert sorted(str(w.message).split(": ")[1] for w in caught) == [
        "holding 33208 = 170 (0x00AA)", "holding 33210 = 65535 (0xFFFF)"]
    assert all("start and end are minutes 0..1439" in str(w.message) for w in caught)
    assert [server.read_registers("holding", a)[0] for a in (33208, 33210)] == [0x55, 0]
    assert [server.read_registers("holding", a)[0] for a in (13089, 13090, 13001)] == [
        0xAA, 500, 1]
    assert len(server.installation.settings_problems) == 2


def test_an_unset_weekday_word_means_every_day() -> None:
    # 33209 holds weekday bits 0-6; 0xFFFF (unset) sets all sixteen, which is every day,
    # never a day 7 the plant would refuse.
    dump = Dump("made-up.json", device_type_code=0x0E03, words={("holding", 33209): 0xFFFF})
    server = MockSungrowServer(model="SH10RT", settings_from=dump)
    assert server.read_registers("holding", 33209) == [0xFFFF]
    assert server.installation.settings_problems == []

def test_settings_from_another_model_or_a_bad_path_are_refused(tmp_path: Path) -> None:
    dump = Dump("sh10rt.json", device_type_code=0x0E03, words={("holding", 13100): 20})
    with pytest.raises(InstallationError, match=r"inverter\[1\]\.settings_from: sh10rt\.json "
                                                r"was recorded on an SH10RT .* give model = "
                                                r"'SH10RT'"):
        MockSungrowServer(model="SH10RT-20", settings_from=dump)
    with pytest.raises(ValueError, match=r"^settings_from: cannot read dump .*nope\.json"):
        MockSungrowServer(model="SH10RT", settings_from=tmp_path / "nope.json")
    with pytest.raises(ValueError, match="settings_from must be the path of a dump"):
        MockSungrowServer(model="SH10RT", settings_from=42)  # type: ignore[arg-type]


@needs_dumps
def test_an_installation_file_key_next_to_its_dump(
    tmp_path: Path, started: list[MockSungrowServer],
) -> None:
    shutil.copy(_path(SH10RT_LAN), tmp_path / "unit.json")
    site = tmp_path / "site.toml"
    site.write_text('[[inverter]]\nmodel = "SH10RT"\nrole = "master"\n'
                    'settings_from = "unit.json"\n'
                    '[inverter.ports]\nmodbus = 0\n\n'
                    '[[inverter]]\nmodel = "SH10RT"\nrole = "slave"\nbattery_kwh = 0\n'
                    '[inverter.ports]\nmodbus = 0\n', encoding="utf-8")
    server = MockSungrowServer(installation=site).start()
    started.append(server)
    recorded, _once = _expected(_path(SH10RT_LAN))
    port = int(server.get_connection_info("modbus")["port"])  # the first inverter's
    assert _holding(port, [13059, 33047, 33048]) == {
        a: recorded[("holding", a)] for a in (13059, 33047, 33048)}
    other = server.inverters[1].read_registers("holding", 13059)
    assert other == [50]  # only the inverter given the key takes the recording's settings


CLI = [sys.executable, "-m", "mock_sungrow", "serve"]


@needs_dumps
def test_the_cli_flag_serves_the_recorded_settings() -> None:
    proc = subprocess.Popen([*CLI, "--settings-from", str(_path(SH10RT_LAN)), "--modbus-port",
                             "0", "--http-port", "0", "--sungrow-port", "0", "--no-control",
                             "--status-interval", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the ready line: no sleeping
        assert line, proc.communicate(timeout=10)[1]
        ready = json.loads(line)
        assert ready["devices"][0]["model"] == "SH10RT"  # the dump's model (no --model)
        recorded, _once = _expected(_path(SH10RT_LAN))
        assert _holding(ready["modbus"]["port"], [13059, 13084, 33149]) == {
            a: recorded[("holding", a)] for a in (13059, 13084, 33149)}
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out == "", err


def test_the_cli_flag_warns_of_a_refused_word_and_refuses_a_missing_file(
    tmp_path: Path,
) -> None:
    missing = subprocess.run([*CLI, "--settings-from", str(tmp_path / "nope.json")],
                             capture_output=True, text=True, timeout=30, check=False)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [
        f"mock-sungrow: error: cannot read dump {tmp_path / 'nope.json'}: No such file or "
        "directory"]
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"device": {"device_type_code": "0x0E03"}, "register_dump": {
        "input": {}, "holding": {"13058": 5000}}}), encoding="utf-8")  # wire 13058: 13059
    proc = subprocess.Popen([*CLI, "--settings-from", str(odd), "--modbus-port", "0",
                             "--http-port", "0", "--sungrow-port", "0", "--no-control",
                             "--status-interval", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["devices"][0]["model"] == "SH10RT"
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    assert (f"mock-sungrow: warning: inverter[1].settings_from {odd}: holding 13059 = 5000 "
            "(0x1388): min_soc must be <= 500; got 5000 (left at the model's default)") in err
    both = subprocess.run([*CLI, "--settings-from", str(odd), "--replay", str(odd)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert both.returncode == 2 and "--settings-from cannot be given with --replay" in \
        both.stderr
