"""What the dongle's device list says about the inverter: identity, dev_type, serials.

The inverter's ``devicelist`` entry is built from what the dongle reads through the data
blocks (serial 4990, device type code 5000), like a real WiNet-S polling its inverter; the
battery's entry comes from :class:`~mock_sungrow.device.device.DeviceInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_sungrow.device.device import WINET_HYBRID_INVERTER, WINET_STRING_INVERTER

if TYPE_CHECKING:
    from mock_sungrow.frontends.winet.payloads import Registers
    from mock_sungrow.server import MockSungrowServer

#: The ``dev_type`` ids ``/device/getType`` lists.
DEVICE_TYPES = (
    ("I18N_COMMON_STRING_INVERTER", 1),
    ("I18N_COMMON_SOLAR_INVERTER", 21),
    ("I18N_COMMON_STORE_INVERTER", 35),
    ("I18N_COMMON_AMMETER", 18),
    ("I18N_COMMON_CHARGING_PILE", 46),
)


def dev_type(server: MockSungrowServer) -> int:
    """``dev_type`` of the simulated inverter: 35 for hybrids, 21 for PV inverters."""
    return WINET_HYBRID_INVERTER if server.model.is_hybrid else WINET_STRING_INVERTER


@dataclass(frozen=True)
class Identity:
    """Who the inverter says it is (registers 4990 and 5000, read through the blocks)."""

    serial: str
    dev_code: int


async def identity(regs: Registers) -> Identity:
    """Serial and device type code as the dongle reads them (model defaults if refused)."""
    server = regs.server
    serial = await regs.value("serial_number")
    code = await regs.value("device_type_code")
    return Identity(
        serial if isinstance(serial, str) and serial else server.plant.serial,
        code if isinstance(code, int) else server.model.device_type_code,
    )


def device_entry(server: MockSungrowServer, ident: Identity, *, with_list: bool = True
                 ) -> dict[str, Any]:
    """The inverter's ``devicelist`` entry, with the firmware's field names and types."""
    unit = server.unit_id
    entry: dict[str, Any] = {
        "id": 1,
        "dev_id": 1,
        "dev_code": ident.dev_code,
        "dev_type": dev_type(server),
        "dev_procotol": 2,  # sic: the firmware's spelling
        "inv_type": 0,
        "dev_sn": ident.serial,
        "dev_name": f"{server.model.name}(COM1-{unit:03d})",
        "dev_model": server.model.name,
        "port_name": "COM1",
        "phys_addr": str(unit),
        "logc_addr": "1",
        "link_status": 1,
        "init_status": 1,
        "dev_special": "0",
    }
    if with_list:
        entry["list"] = []
    return entry


def dongle_serial(server: MockSungrowServer) -> str:
    """The dongle's own serial: stable per inverter serial, shaped like real ones."""
    digits = sum(ord(c) * (i + 1) for i, c in enumerate(server.plant.serial)) % 10**8
    return f"B{digits:08d}22"
