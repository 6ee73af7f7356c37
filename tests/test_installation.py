"""Installations over real sockets: a cluster master and slave from issue 9's file, batteries.

Expectations come from the recorded SH8.0RT-20 cluster master (``../shared/dumps``: holding
33500-33502 read 0xAA, 0xA0, 2 on its LAN port), the issue's text (a slave answers unit 2, its
cluster word reads 0xA1), the WiNet-S device-list capture (winet-protocol.md §3.3) and the
Modbus specification (an absent unit behind a gateway is exception 0x0B).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import ModbusTcpClient

from mock_sungrow import MockSungrowServer
from mock_sungrow.installation.spec import InstallationError, InstallationSpec
from tests.winet_client import Winet, run

pytestmark = pytest.mark.usefixtures("product_imported")  # pytester runs in-process

#: The installation file of issue 9, verbatim.
ISSUE_FILE = """\
[[inverter]]
model = "SH10RT"
role = "master"        # "standalone" (default), "master" or "slave"
battery_kwh = 9.6
[inverter.ports]       # this inverter's endpoints; 0 = any free port; absent = not served
modbus = 0             # its LAN port
http = 0               # its WiNet-S web API (and sungrow = its WiNet-S Modbus port, ...)

[[inverter]]
model = "SH10RT"
role = "slave"
battery_kwh = 0
[inverter.ports]
modbus = 0
"""
#: What the recorded cluster master holds at 33500-33502 (alexanderlanin-sh8rt20-master-direct).
RECORDED_MASTER = [170, 160, 2]
GATEWAY_TARGET_FAILED = 0x0B
REPO = Path(__file__).resolve().parents[1]
DUMP = "alexanderlanin-sh8rt20-master-direct.yaml"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[MockSungrowServer]:
    path = tmp_path / "site.toml"
    path.write_text(ISSUE_FILE)
    with MockSungrowServer(installation=path) as server:
        yield server


def client(port: int) -> ModbusTcpClient:
    c = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert c.connect()
    return c


def text(words: Sequence[int]) -> str:
    return b"".join(w.to_bytes(2, "big") for w in words).rstrip(b"\0").decode()


def test_the_recorded_cluster_words_are_in_the_dump() -> None:
    """The literal expectations above are the dump's words (checked when the dump is here)."""
    for base in (REPO.parent / "shared" / "dumps", REPO.parent.parent / "shared" / "dumps"):
        if (base / DUMP).exists():
            hold = yaml.safe_load((base / DUMP).read_text())["registers"]["hold"]
            assert [hold[a] for a in (33500, 33501, 33502)] == RECORDED_MASTER
            return
    pytest.skip(f"{DUMP} is not in ../shared/dumps next to the repository: only the literal "
                "copy of its words is checked")


def test_issue_file_master_and_slave_on_their_own_lan_ports(cluster: MockSungrowServer) -> None:
    master, slave = cluster.inverters
    assert (master.role, master.unit, slave.role, slave.unit) == ("master", 1, "slave", 2)
    assert master.battery is not None and slave.battery is None
    m = client(cluster.get_connection_info("modbus", device=master)["port"])
    s = client(cluster.get_connection_info("modbus", device="inverter[2]")["port"])
    try:
        # Each answers its own unit: device type code 0x0E03 (SH10RT) and its serial.
        assert m.read_input_registers(4999, count=1, device_id=1).registers == [0x0E03]
        assert s.read_input_registers(4999, count=1, device_id=2).registers == [0x0E03]
        serial_m = text(m.read_input_registers(4989, count=10, device_id=1).registers)
        serial_s = text(s.read_input_registers(4989, count=10, device_id=2).registers)
        assert serial_m == master.serial and serial_s == slave.serial and serial_m != serial_s
        # The master's battery answers unit 200 on the master's LAN port (an SBR096).
        assert m.read_input_registers(10709, count=1, device_id=200).registers == [0x20E7]
        # Each refuses the other's unit (and the slave has no battery on 200).
        for c, unit in ((m, 2), (s, 1), (s, 200)):
            reply = c.read_input_registers(4999, count=1, device_id=unit)
            assert reply.isError() and reply.exception_code == GATEWAY_TARGET_FAILED
        # The cluster words: the recorded master's, and 0xA1 on the (first) slave.
        assert m.read_holding_registers(33499, count=3, device_id=1).registers == RECORDED_MASTER
        assert s.read_holding_registers(33499, count=3, device_id=2).registers == [170, 0xA1, 2]
    finally:
        m.close()
        s.close()
    # Each inverter has its own plant.
    assert master.plant is not slave.plant and slave.plant.battery is None
    # The slave serves no WiNet-S: asking for it says so.
    with pytest.raises(ValueError, match="does not serve 'http'"):
        cluster.get_connection_info("http", device=slave)


def test_master_devicelist_lists_its_inverter_and_battery(cluster: MockSungrowServer) -> None:
    async def go() -> dict[str, Any]:
        async with Winet(cluster) as w:
            s = await w.session()
            return await s.call("devicelist", type="0", is_check_token="0")

    listing = run(go())["result_data"]["list"]
    master = cluster.inverters[0]
    assert master.battery is not None
    assert [(e["dev_id"], e["dev_type"], e["phys_addr"], e["dev_sn"], e["dev_model"])
            for e in listing] == [(1, 35, "1", master.serial, "SH10RT"),
                                  (2, 44, "200", master.battery.serial, "SBR096")]


def test_standalone_and_file_free_installation_from_a_dict() -> None:
    """A dict works as a file does; a stand-alone SH*RT reads 0x55 in its cluster word."""
    spec = {"inverter": [{"model": "SH10RT", "ports": {"modbus": 0}},
                         {"model": "SG5K-D", "ports": {"modbus": 0}, "serial": "SG0000001"}]}
    with MockSungrowServer(installation=spec) as server:
        first, second = server.inverters
        assert (first.unit, second.unit, second.serial) == (1, 1, "SG0000001")
        assert first.read_registers("holding", 33500, 3) == [0x55, 0xA0, 1]
        c = client(server.get_connection_info("modbus", device=second)["port"])
        try:
            assert c.read_input_registers(4999, count=1, device_id=1).registers == [0x0126]
            # A string inverter has no cluster words (outside every documented block).
            reply = c.read_holding_registers(33499, count=3, device_id=1)
            assert reply.isError() and reply.exception_code == 2
        finally:
            c.close()


def test_installation_excludes_per_device_arguments(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(ISSUE_FILE)
    with pytest.raises(ValueError, match=r"model, battery_kwh cannot be given with it"):
        MockSungrowServer(installation=path, model="SG10RT", battery_kwh=3.0)
    server = MockSungrowServer(installation=path, control_port=0, host="127.0.0.1")
    assert server.control.port == 0 and len(server.devices) == 3


# ----------------------------------------------------------------------------- bad files

BAD_FILES = [
    ("""[[inverter]]\nmodel = "SH10RT"\nunit = 200\n[inverter.ports]\nmodbus = 0\n""",
     r"inverter\[1\]\.battery_unit: the inverter and its battery would both answer unit id 200"),
    ("""[[inverter]]\nmodel = "SH10RTX"\n""",
     r"inverter\[1\]\.model: unknown model 'SH10RTX'\. Did you mean 'SH10RT'\?"),
    ("""[[inverter]]\nmodel = "SH10RT"\nrole = "slave"\n""",
     r"inverter\[1\]\.role is 'slave' but no inverter is the master"),
    ("""[[inverter]]\nmodel = "SG10RT"\nbattery_kwh = 9.6\n""",
     r"inverter\[1\]\.battery_kwh: only hybrid \(SH/MG\) models take a battery"),
    ("""[[inverter]]\n[inverter.ports]\nmodbus = 1502\n[[inverter]]\n[inverter.ports]\n"""
     """http = 1502\n""",
     r"inverter\[2\]\.ports\.http = 1502 collides with inverter\[1\]\.ports\.modbus"),
    ("""[[inverter]]\nmodle = "SH10RT"\n""",
     r"inverter\[1\]: unknown key 'modle' \(did you mean 'model'\?\); accepted: role, unit"),
    ("""[[inverter]]\n[inverter.ports]\nmodbsu = 0\n""",
     r"inverter\[1\]\.ports: unknown key 'modbsu' \(did you mean 'modbus'\?\); accepted: "
     r"modbus, http, sungrow, rtu, rtu-tcp, plain_http, tls"),
    ("""[[inverter]]\nbattery_kwh = "lots"\n""",
     r"inverter\[1\]\.battery_kwh must be a capacity 0\.\.10000 kWh"),
    ("""[[inverter]]\n[inverter.ports]\nmodbus = "502"\n""",
     r"inverter\[1\]\.ports\.modbus must be an integer 0\.\.65535"),
    ("""[[inverter]]\n[inverter.winet]\nprofile = "v3"\n""",
     r"unknown inverter\[1\]\.winet\.profile 'v3'; accepted: legacy, login, tls-only"),
    ("""[[inverter]]\nbattery_make = "lg"\n""",
     r"inverter\[1\]\.battery_make must be one of sungrow, third-party; got 'lg'"),
    ("""[[inverter]]\nrole = "boss"\n""",
     r"inverter\[1\]\.role must be one of standalone, master, slave; got 'boss'"),
    ("""[[inverter]]\nrole = "master"\n[[inverter]]\nrole = "master"\n""",
     r"inverter\[2\]\.role: a cluster has one master"),
    ("""[[inverter]]\nserial = "A1"\n[[inverter]]\nserial = "A1"\n""",
     r"inverter\[2\] and inverter\[1\] would both have serial 'A1'"),
    ("""invertr = []\n""", r"unknown key 'invertr' \(did you mean 'inverter'\?\)"),
    ("""[[inverter]]\n[inverter.ports]\ntls = 0\n""",
     r"inverter\[1\]\.ports\.tls is a listener of the inverter's WiNet-S"),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_bad_installation_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(content)
    with pytest.raises(InstallationError, match=message):
        MockSungrowServer(installation=path)


def test_yaml_files_and_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("inverter:\n  - model: SH10RT\n    role: master\n    ports: {modbus: 0}\n"
                    "  - model: SH10RT\n    role: slave\n    battery_unit: 0\n")
    spec = InstallationSpec.from_file(path)
    assert [i.role for i in spec.inverters] == ["master", "slave"]
    assert spec.units() == [1, 2] and spec.inverters[1].battery_unit is None
    (tmp_path / "x.ini").write_text("")
    with pytest.raises(InstallationError, match=r"an installation is a \.toml, \.yaml"):
        InstallationSpec.from_file(tmp_path / "x.ini")
    with pytest.raises(InstallationError, match="cannot read installation"):
        InstallationSpec.from_file(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[[inverter]\n")
    with pytest.raises(InstallationError, match="not valid TOML"):
        InstallationSpec.from_file(tmp_path / "bad.toml")
    with pytest.raises(InstallationError, match="expected at least one"):
        InstallationSpec.from_dict({"inverter": []})


# ----------------------------------------------------------------------------- the CLI

CLI = [sys.executable, "-m", "mock_sungrow"]


def test_cli_serves_an_installation_and_lists_its_devices(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(ISSUE_FILE)
    proc = subprocess.Popen([*CLI, "serve", "--installation", str(path), "--control-port", "0",
                             "--status-interval", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        devices = ready["devices"]
        assert [(d["kind"], d["model"], d["role"], d["unit"]) for d in devices] == [
            ("inverter", "SH10RT", "master", 1), ("battery", "SBR096", None, 200),
            ("inverter", "SH10RT", "slave", 2)]
        assert len({d["serial"] for d in devices}) == 3
        master, battery, slave = devices
        assert set(master["endpoints"]) == {"modbus", "http"} == set(battery["endpoints"])
        assert set(slave["endpoints"]) == {"modbus"}
        # The top-level entries stay: the first inverter's endpoints, and the control API.
        assert ready["modbus"]["port"] == master["endpoints"]["modbus"]["port"]
        assert ready["http"]["port"] == master["endpoints"]["http"]["port"]
        assert set(ready) == {"modbus", "http", "control", "devices"}
        assert slave["endpoints"]["modbus"]["port"] not in (0, ready["modbus"]["port"])
        c = client(slave["endpoints"]["modbus"]["port"])
        try:
            words = c.read_input_registers(4989, count=10, device_id=2).registers
            assert text(words) == slave["serial"]
        finally:
            c.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0


@pytest.mark.parametrize(("content", "args", "message"), [
    ("""[[inverter]]\nmodel = "SH10RTX"\n""", [], "Did you mean 'SH10RT'"),
    ("""[[inverter]]\nrole = "slave"\n""", [], "no inverter is the master"),
    (ISSUE_FILE, ["--model", "SG10RT"], "--model cannot be given with --installation"),
])
def test_cli_exits_2_on_a_bad_installation(tmp_path: Path, content: str, args: list[str],
                                           message: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(content)
    r = subprocess.run([*CLI, "serve", "--installation", str(path), "--no-control", *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and message in r.stderr and r.stdout == ""


def test_the_fixture_serves_an_installation(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import pytest

        SITE = {"inverter": [{"model": "SH10RT", "role": "master", "ports": {"modbus": 0}},
                             {"model": "SH10RT", "role": "slave", "ports": {"modbus": 0}}]}

        @pytest.mark.mock_sungrow(installation=SITE)
        def test_it(mock_sungrow):
            master, slave = mock_sungrow.inverters
            assert (master.unit, slave.unit) == (1, 2)
            assert mock_sungrow.get_connection_info("modbus", device=slave)["port"] > 0
    ''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize(("inverter", "message"), [
    ({"serial": 12}, r"inverter\[1\]\.serial must be a string of 1-20 bytes"),
    ({"seed": "x"}, r"inverter\[1\]\.seed must be an integer"),
    ({"tick": 0}, r"inverter\[1\]\.tick must be positive seconds"),
    ({"meter": "yes"}, r"inverter\[1\]\.meter must be true, false or unset"),
    ({"cloud_factor": 3}, r"cloud_factor must be within 0\.\.1\.5"),
    ({"house_load": [1, 2]}, r"house_load as a profile takes 24"),
    ({"model": 5}, r"inverter\[1\]\.model must be a model name"),
    ({"unit": 0}, r"inverter\[1\]\.unit must be a Modbus unit 1\.\.247"),
    ({"battery_unit": 300}, r"inverter\[1\]\.battery_unit must be a Modbus unit 1\.\.247 \(0: "),
    ({"ports": [1]}, r"inverter\[1\]\.ports must be a table of keys"),
    ({"winet": {"accounts": {}}}, r"inverter\[1\]\.winet\.accounts must map at least one"),
    ({"winet": {"token_lifetime": -1}}, r"inverter\[1\]\.winet\.token_lifetime must be positive"),
    ({"winet": {"single_session": 1}}, r"inverter\[1\]\.winet\.single_session must be true or"),
    ({"winet": {"lockout_after": 0}}, r"inverter\[1\]\.winet\.lockout_after must be an integer"),
    ({"winet": {"lockout_seconds": 0}}, r"inverter\[1\]\.winet\.lockout_seconds must be positive"),
    ({"winet": {"scan_seconds": -1}}, r"inverter\[1\]\.winet\.scan_seconds must be >= 0"),
    ({"winet": {"profil": "login"}}, r"inverter\[1\]\.winet: unknown key 'profil' \(did you mean "),
    ({"sungrow": {"encryption": "rsa"}},
     r"inverter\[1\]\.sungrow\.encryption must be one of aes, none, lan; got 'rsa'"),
    ({"modbus": {"unknown_unit": "ignore"}},
     r"inverter\[1\]\.modbus\.unknown_unit must be one of exception, silence"),
    ({"modbus": 3}, r"inverter\[1\]\.modbus must be a table of keys"),
])
def test_every_key_is_checked_with_its_accepted_values(inverter: dict[str, Any], message: str
                                                       ) -> None:
    with pytest.raises(InstallationError, match=message):
        InstallationSpec.from_dict({"inverter": [inverter]})


@pytest.mark.parametrize(("data", "message"), [
    ([], r"installation= takes an InstallationSpec, a dict or the path"),
    ({"inverter": {"model": "SH10RT"}}, "expected at least one"),
    ({"inverter": [{}], "seed": "one"}, r"seed must be an integer"),
    ({"inverter": [{}], "latitude": 95}, r"latitude must be within -90\.\.90"),
    ({"inverter": [{}], "latitude": "north"}, r"latitude must be a number of degrees"),
    ({"inverter": [{}], "timezone": 5}, r"timezone must be an IANA name"),
    ({"inverter": [{}], "timezone": "Mars/Olympus"}, r"inverter\[1\]: unknown time zone"),
    ({"inverter": [3]}, r"inverter\[1\] must be a table of keys"),
])
def test_top_level_keys_are_checked(data: Any, message: str) -> None:
    with pytest.raises(InstallationError, match=message):
        MockSungrowServer(installation=data)


def test_a_spec_from_python_and_wrong_installation_values() -> None:
    from mock_sungrow.config import PlantConfig
    from mock_sungrow.installation.spec import InverterSpec

    spec = InstallationSpec((InverterSpec(PlantConfig(model="SH10RT"), role="master",
                                          ports={"modbus": 0}),
                             InverterSpec(PlantConfig(model="SH10RT", seed=1), role="slave",
                                          ports={"modbus": 0})))
    server = MockSungrowServer(installation=spec)
    assert [d.id for d in server.devices] == ["inverter[1]", "battery[1]", "inverter[2]",
                                              "battery[2]"]
    assert server.describe_devices()[3]["endpoints"] == {"modbus": {"host": "127.0.0.1",
                                                                    "port": 0}}
    with pytest.raises(InstallationError, match="installation= takes an InstallationSpec"):
        MockSungrowServer(installation=42)  # type: ignore[arg-type]
    with pytest.raises(InstallationError, match="needs at least one inverter"):
        MockSungrowServer(installation=InstallationSpec(()))
