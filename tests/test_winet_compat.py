"""Real PyPI WiNet-S clients, unchanged, against the WiNet-S front end.

Each client runs in its own environment (``tests/compat.py``): SungrowModbusWebClient 0.3.2
needs pymodbus 2.5.3 (and ``requests``, which it imports without declaring it);
sungrow-websocket 0.2.2 needs ``websockets<18`` (it uses the legacy client module).

SungrowModbusWebClient and sungrow-websocket hard-code HTTP port 80 for ``getParam`` and the
i18n file, and the Intelbras client's datalogger calls do too, so the server binds the real
port 80 through its ``plain_http_port`` listener, on a random 127.x.y.z address of its own
(see :func:`tests.helpers.free_loopback_address`, which skips with the reason when the run
may not bind ports below 1024).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.frontends.winet import devicelist, i18n, payloads
from tests.compat import compat_python, run_client
from tests.helpers import free_loopback_address

Factory = Callable[..., MockSungrowServer]

SMWC_REQUIREMENTS = [
    "SungrowModbusWebClient==0.3.2",
    "pymodbus==2.5.3",
    "requests",
    "websocket-client",
]
SUNGROW_WEBSOCKET_REQUIREMENTS = ["sungrow-websocket==0.2.2", "websockets<18"]
INTELBRAS_REQUIREMENTS = ["python-intelbras-solar-local==0.2.0"]


def winet_server(factory: Factory, **kwargs: Any) -> MockSungrowServer:
    """A server on its own loopback address with the dongle's plain HTTP port 80."""
    host = free_loopback_address()
    return factory(host=host, plain_http_port=80, **kwargs)


# ------------------------------------------------------------------- SungrowModbusWebClient

SMWC_SCRIPT = """
import json, sys
from pymodbus.exceptions import ConnectionException
from SungrowModbusWebClient.SungrowModbusWebClient import SungrowModbusWebClient

client = SungrowModbusWebClient(host=sys.argv[1], port=int(sys.argv[2]), timeout=10)

def read(kind, address, count):
    fn = client.read_input_registers if kind == "input" else client.read_holding_registers
    try:
        reply = fn(address, count=count, unit=1)
    except ConnectionException as exc:
        return {"error": str(exc)}
    if reply.isError():
        return {"error": str(reply)}
    return {"registers": reply.registers}

out = {"connected": bool(client.connect()), "dev_type": client.dev_type,
       "dev_code": client.dev_code, "token": client.ws_token}
# SunGather's detection reads, then its biggest scan blocks (wire addresses, as pymodbus sends).
for name, kind, address, count in (("model", "input", 4999, 1), ("serial", "input", 4989, 10),
                                   ("block", "input", 5000, 38), ("big", "input", 12999, 125),
                                   ("holding", "holding", 4999, 10)):
    out[name] = read(kind, address, count)
print(json.dumps(out), flush=True)
sys.stdin.readline()  # the test expires every token here
out = {"expired": read("input", 4999, 1)}
out["again"] = read("input", 4999, 1)  # the client reconnects after a 106
out["token"] = client.ws_token
print(json.dumps(out), flush=True)
"""


def test_sungrow_modbus_web_client(mock_sungrow_factory: Factory) -> None:
    clock = ManualClock()
    server = winet_server(mock_sungrow_factory, model="SH10RT", clock=clock,
                          serial="A2231234567")
    clock.advance(300)  # producing, so the compared words are not all zero
    python = compat_python("sungrow-modbus-web-client", SMWC_REQUIREMENTS)
    info = server.get_connection_info("http")
    proc = subprocess.Popen(
        [str(python), "-c", textwrap.dedent(SMWC_SCRIPT), info["host"], str(info["port"])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        assert line, proc.communicate(timeout=30)[1]
        first = json.loads(line)
        assert first["connected"] and first["dev_type"] == 35 and first["dev_code"] == 0x0E03
        # Every read equals what the data blocks hold at this (frozen) instant.
        assert first["model"] == {"registers": [0x0E03]}
        serial_words = server.read_registers("input", 4990, 10)
        assert first["serial"] == {"registers": serial_words}
        assert first["block"] == {"registers": server.read_registers("input", 5001, 38)}
        assert first["big"] == {"registers": server.read_registers("input", 13000, 125)}
        assert first["holding"] == {"registers": server.read_registers("holding", 5000, 10)}
        assert server.expire_winet_tokens() >= 1
        proc.stdin.write("go\n")
        proc.stdin.flush()
        second = json.loads(proc.stdout.readline())
        assert "Token Expired: 106" in second["expired"]["error"]
        assert second["again"] == {"registers": [0x0E03]}
        assert second["token"] != first["token"]
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# ----------------------------------------------------------------------------- sungrow-websocket

SUNGROW_WEBSOCKET_SCRIPT = """
import json, sys
from sungrow_websocket import SungrowWebsocket

data = SungrowWebsocket(sys.argv[1], port=int(sys.argv[2])).get_data()
print(json.dumps({key: [item.name, item.desc, item.value, item.unit]
                  for key, item in data.items()}))
"""


def _ws_reply(server: MockSungrowServer, service: str) -> dict[str, Any]:
    import asyncio

    from tests.winet_client import Winet

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await s.call(service, dev_id="1")

    return asyncio.run(go())


def test_sungrow_websocket_on_a_hybrid(mock_sungrow_factory: Factory) -> None:
    clock = ManualClock()
    server = winet_server(mock_sungrow_factory, model="SH10RT", clock=clock)
    clock.advance(300)
    python = compat_python("sungrow-websocket", SUNGROW_WEBSOCKET_REQUIREMENTS)
    info = server.get_connection_info("http")
    data = run_client(python, SUNGROW_WEBSOCKET_SCRIPT, info["host"], str(info["port"]))
    labels = dict(line.split("=", 1) for line in i18n.properties_text().splitlines())
    # All three lists arrived: real, real_battery and direct (the client stops at a failure).
    assert data["total_active_power"][:2] == ["I18N_COMMON_TOTAL_ACTIVE_POWER",
                                              "Total Active Power"]
    assert data["battery_soc"][1:] == ["Battery Level (SOC)",
                                       _item(server, "real_battery", "I18N_COMMON_BATTERY_SOC"),
                                       "%"]
    assert data["running_state"][2] == "Dispatch Run"  # the state key, translated
    assert data["air_tem_inside_machine"][3] == "\u2103"
    direct = _ws_reply(server, "direct")["result_data"]["list"]
    assert data["mppt1_voltage"][2] == direct[0]["voltage"] != "0.0"
    # "I18N_COMMON_GROUP_BUNCH_TITLE_AND%@1" -> the label's {0} filled with the digit.
    assert data["string_1_voltage"] == [f"{payloads.STRING_KEY}%@1", "String 1 Voltage",
                                        direct[2]["voltage"], "V"]
    assert data["string_2_current"][2] == direct[3]["current"]
    real = _ws_reply(server, "real")["result_data"]["list"]
    for item in real:
        key = item["data_name"].removeprefix("I18N_COMMON_").removeprefix("I18N_").lower()
        assert data[key][1] == labels[item["data_name"]]
    assert server.problems == []


def test_sungrow_websocket_on_a_string_inverter(mock_sungrow_factory: Factory) -> None:
    """``real_battery`` fails on a string inverter (215, as on the Intelbras unit), so the
    client returns what it had: the ``real`` values, without ``direct``. That is also what
    it does against a real string inverter."""
    server = winet_server(mock_sungrow_factory, model="SG5.0RS", clock=ManualClock())
    python = compat_python("sungrow-websocket", SUNGROW_WEBSOCKET_REQUIREMENTS)
    info = server.get_connection_info("http")
    data = run_client(python, SUNGROW_WEBSOCKET_SCRIPT, info["host"], str(info["port"]))
    assert data["daily_power_yield"][1:] == [
        "Daily Yield", _item(server, "real", "I18N_COMMON_DAILY_POWER_YIELD"), "kWh"]
    labels = dict(line.split("=", 1) for line in i18n.properties_text().splitlines())
    state = _item(server, "real", "I18N_COMMON_RUNNING_STATE")
    assert data["running_state"][2] == labels[state]  # the state key, translated
    assert not any(key.startswith("mppt") for key in data)


def _item(server: MockSungrowServer, service: str, name: str) -> str:
    items = _ws_reply(server, service)["result_data"]["list"]
    return str(next(i["data_value"] for i in items if i["data_name"] == name))


# ----------------------------------------------------------------------------- intelbras

INTELBRAS_SCRIPT = """
import asyncio, dataclasses, json, sys
from intelbras_solar_local import IntelbrasSolarClient, WiNetClient

host, modbus_port, ws_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

async def main():
    out = {}
    async with IntelbrasSolarClient(host, port=modbus_port, winet_port=ws_port) as client:
        status = await client.async_get_status()  # Modbus registers + WiNet datalogger
        out["status"] = {"serial": status.serial, "model": status.model,
                         "energy_year": status.energy_year,
                         "datalogger": dataclasses.asdict(status.datalogger)
                         if status.datalogger else None}
        out["info"] = dataclasses.asdict(await client.async_get_datalogger_info())
        out["wifi"] = dataclasses.asdict(await client.async_get_wifi_signal())
        out["grid"] = [dataclasses.asdict(g) for g in await client.async_get_grid_parameters()]
        # The WebSocket client alone, with its own HTTP port argument.
        winet = WiNetClient(host, client._session, port=ws_port, http_port=80)
        out["winet_status"] = dataclasses.asdict(await winet.async_get_status())
    print(json.dumps(out))

asyncio.run(main())
"""


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason="python-intelbras-solar-local 0.2.0 requires Python >= 3.11 (its "
                           "environment is built from the interpreter running the suite)")
def test_intelbras_solar_local_winet_parts(mock_sungrow_factory: Factory) -> None:
    server = winet_server(mock_sungrow_factory, model="SG5.0RS", serial="B2231234567",
                          winet_scan_seconds=1.0)
    # The client's Modbus poll also reads input 5226-5227 (yearly yield on the Intelbras-branded
    # SG5.0RS): registers_clients.csv serves it from the plant.
    python = compat_python("intelbras-solar-local", INTELBRAS_REQUIREMENTS)
    web = server.get_connection_info("http")
    modbus = server.get_connection_info("modbus")
    out = run_client(python, INTELBRAS_SCRIPT, web["host"], str(modbus["port"]),
                     str(web["port"]))
    datalogger = {"model": "SG5.0RS", "wifi_connected": True, "cloud_connected": True,
                  "total_faults": 0, "total_alarms": 0, "faults": []}
    assert out["status"]["serial"] == "B2231234567"
    year = server.read("yearly_power_yields")
    assert out["status"]["energy_year"] == pytest.approx(year, abs=0.1) and year > 100
    assert out["status"]["datalogger"] == datalogger  # state + fault + devicelist over WS
    assert out["status"]["model"] == "SG5.0RS"
    assert out["winet_status"] == datalogger
    info = out["info"]  # /about/list + /device/overview over HTTP port 80
    assert info["firmware_version"] == "WINET-SV200.001.00.P020"
    assert info["hardware_version"] == "M_WiNet-S_V01_V01_A"
    assert info["serial"] == devicelist.dongle_serial(server.device)
    assert info["wifi_connected"] is True and info["ethernet_connected"] is False
    assert info["timezone"] == payloads.utc_offset(server.plant)
    assert out["wifi"] == {"ssid": "mock-sungrow", "rssi": -52}  # scan, then stalist polls
    grid = {g["key"]: g for g in out["grid"]}
    assert grid["grid_over_voltage_1"] == {"key": "grid_over_voltage_1", "value": 264.5,
                                           "unit": "V", "register": 32323}
    assert server.problems == []
