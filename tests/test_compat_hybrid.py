"""Real PyPI clients, unchanged, reading (and steering) a simulated SH10RT.

Each client runs in its own environment (``tests/compat.py``) because of its pymodbus pin:
pysungrow 1.1.0 with pymodbus 2.5.3, sungrowinverter 0.2.3 with pymodbus 3.6.9 (it passes
``retry_on_empty=``, which 3.7+ rejects). Both decode strictly in places (pysungrow raises on
any enum value it does not know), so a clean run is a check that every value the mock serves
is one these clients accept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock
from tests.compat import compat_python, run_client

SYDNEY = ZoneInfo("Australia/Sydney")

PYSUNGROW = ["pysungrow==1.1.0", "pymodbus==2.5.3"]
SUNGROWINVERTER = ["sungrowinverter==0.2.3", "pymodbus==3.6.9"]

PYSUNGROW_SCRIPT = """
import asyncio, json, sys
from enum import Enum
from pysungrow import SungrowClient, identify
from pysungrow.compat import AsyncModbusTcpClient
from pysungrow.definitions.variables.general import StartStop

def plain(v):
    if isinstance(v, Enum):
        return v.name
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)

async def main(host, port, action):
    client = AsyncModbusTcpClient(host, int(port))
    identity = await identify(client, 1)
    sungrow = SungrowClient(client, identity, 1)
    await sungrow.refresh()
    if action == "control":
        await sungrow.set("max_soc", 90.0)
        await sungrow.set("start_stop", StartStop.STOP)
        await sungrow.refresh()
    print(json.dumps({"device": identity.device.name, "serial": identity.serial_number,
                      "output_type": identity.output_type.name,
                      "data": {k: plain(v) for k, v in sungrow.data.items()}}))

asyncio.run(main(*sys.argv[1:4]))
"""

SUNGROWINVERTER_SCRIPT = """
import asyncio, json, logging, sys
from sungrowinverter import SungrowInverter

warnings = []
class Collect(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            warnings.append(record.getMessage())
logging.getLogger().addHandler(Collect())

async def main(host, port):
    inverter = SungrowInverter(host, port=int(port), timeout=5, retries=0)
    model = await inverter.inverter_model()
    ok = await inverter.async_update()
    data = {k: v for k, v in inverter.data.items() if isinstance(v, (int, float, str, bool))}
    print(json.dumps({"model": getattr(model, "model", None), "ok": ok,
                      "warnings": warnings, "data": data}))

asyncio.run(main(*sys.argv[1:3]))
"""


def _start(factory: Any, when: datetime) -> tuple[Any, int]:
    server = factory(model="SH10RT", clock=ManualClock(when), serial="A2231234567")
    return server, server.get_connection_info("modbus")["port"]


@pytest.mark.slow
@pytest.mark.parametrize("when", [datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY),
                                  datetime(2026, 1, 10, 2, 0, tzinfo=SYDNEY)],
                         ids=["noon", "night"])
def test_pysungrow_reads_an_sh10rt(mock_sungrow_factory: Any, when: datetime) -> None:
    python = compat_python("pysungrow", PYSUNGROW)
    server, port = _start(mock_sungrow_factory, when)
    result = run_client(python, PYSUNGROW_SCRIPT, "127.0.0.1", str(port), "read")
    assert result["device"] == "SH10RT" and result["serial"] == "A2231234567"
    assert result["output_type"] == "THREE_PHASE_3P4L"
    data = result["data"]
    snap = server.snapshot()
    assert data["battery_level"] == pytest.approx(snap.battery_soc_pct, abs=0.1)
    assert data["system_state"] == ("RUNNING" if when.hour == 12 else "STANDBY")
    assert data["ems_mode"] == "SELF_CONSUMPTION" and data["start_stop"] == "START"
    # input 13030 reads 0xFFFF on every recorded SH*RT (../shared/dumps): pysungrow names no
    # grid state, as it would on the real unit
    assert data["grid_state"] is None
    assert data["load_power"] == pytest.approx(snap.load_power_w, abs=1)
    assert data["battery_power"] == pytest.approx(abs(snap.battery_power_w), abs=1)


@pytest.mark.slow
def test_pysungrow_writes_change_the_plant(mock_sungrow_factory: Any) -> None:
    python = compat_python("pysungrow", PYSUNGROW)
    server, port = _start(mock_sungrow_factory, datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY))
    # Another controller put the inverter in forced mode: pysungrow still decodes it (its
    # EMSMode enum calls 2 "EXTERNAL_EMS", a mislabel, but not an error).
    server.write_registers(13050, [2, 0xAA, 2000])
    result = run_client(python, PYSUNGROW_SCRIPT, "127.0.0.1", str(port), "control")
    data = result["data"]
    assert data["max_soc"] == 90.0 and data["start_stop"] == "STOP"
    assert data["system_state"] == "STOP" and data["total_active_power"] == 0
    assert server.read("max_soc", "holding") == pytest.approx(90.0)
    assert server.snapshot().mode.value == "stop"


@pytest.mark.slow
@pytest.mark.parametrize("when", [datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY),
                                  datetime(2026, 1, 10, 2, 0, tzinfo=SYDNEY)],
                         ids=["noon", "night"])
def test_sungrowinverter_reads_an_sh10rt(mock_sungrow_factory: Any, when: datetime) -> None:
    python = compat_python("sungrowinverter", SUNGROWINVERTER)
    server, port = _start(mock_sungrow_factory, when)
    result = run_client(python, SUNGROWINVERTER_SCRIPT, "127.0.0.1", str(port))
    assert result["model"] == "SH10RT" and result["ok"] is True
    assert result["warnings"] == []
    data = result["data"]
    snap = server.snapshot()
    assert data["serial_number"] == "A2231234567"
    assert data["battery_level"] == pytest.approx(snap.battery_soc_pct, abs=0.1)
    assert data["system_state"] == ("Running" if when.hour == 12 else "Standby")
    assert "grid_state" not in data  # 0xFFFF at input 13030, as every recorded SH*RT sends
    assert data["load_power"] == pytest.approx(snap.load_power_w, abs=1)
    for key in ("status_charging", "status_discharging", "status_importing_power_from_grid",
                "daily_pv_generation", "daily_battery_discharge", "year"):
        assert key in data
