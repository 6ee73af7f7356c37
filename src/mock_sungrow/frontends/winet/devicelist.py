"""What the dongle's device list says about each device: identity, dev_type, serials.

The one place a ``devicelist`` entry is built, for the inverter and its battery alike. The
serial and device type code come from what the dongle reads through each device's data blocks
(an inverter's 4990 / 5000, an SBR's 10711 / 10710), like a real WiNet-S polling its devices,
so a ``datablock_class`` override shows in the list as on Modbus; the rest is the device's
identity (:class:`~mock_sungrow.device.device.Device`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device
    from mock_sungrow.frontends.winet.payloads import Registers

#: The ``dev_type`` ids ``/device/getType`` lists.
DEVICE_TYPES = (
    ("I18N_COMMON_STRING_INVERTER", 1),
    ("I18N_COMMON_SOLAR_INVERTER", 21),
    ("I18N_COMMON_STORE_INVERTER", 35),
    ("I18N_COMMON_AMMETER", 18),
    ("I18N_COMMON_CHARGING_PILE", 46),
)


@dataclass(frozen=True)
class Identity:
    """Who a device says it is (its serial and device type code, read through its blocks)."""

    serial: str
    dev_code: int


async def identity(regs: Registers) -> Identity:
    """Serial and device type code as the dongle reads them (the device's own if refused)."""
    device = regs.device
    serial = await regs.value("serial_number")
    code = await regs.value("device_type_code")
    return Identity(
        serial if isinstance(serial, str) and serial else device.serial,
        code if isinstance(code, int) else device.device_type_code,
    )


def dev_name(device: Device) -> str:
    """The device-list ``dev_name``: model, port and unit, e.g. ``SBR096(COM1-200)``."""
    return f"{device.model}(COM1-{device.unit:03d})"


def device_entry(device: Device, ident: Identity, *, with_list: bool = True
                 ) -> dict[str, Any]:
    """A device's ``devicelist`` entry, with the firmware's field names and types.

    Field names, types and the firmware's ``dev_procotol`` spelling follow the SH10RT + SBR
    capture in winet-protocol.md §3.3 (integers stay integers, ``phys_addr`` and
    ``logc_addr`` are strings); ``dev_procotol`` is 2 for inverters and 1 for batteries and
    ``init_status`` 1 and 255, as captured.
    """
    inverter = device.kind == "inverter"
    entry: dict[str, Any] = {
        "id": device.logical_id,
        "dev_id": device.logical_id,
        "dev_code": ident.dev_code,
        "dev_type": device.winet_dev_type,
        "dev_procotol": 2 if inverter else 1,  # sic: the firmware's spelling
        "inv_type": 0,
        "dev_sn": ident.serial,
        "dev_name": dev_name(device),
        "dev_model": device.model,
        "port_name": "COM1",
        "phys_addr": str(device.unit),
        "logc_addr": str(device.logical_id),
        "link_status": 1,
        "init_status": 1 if inverter else 255,
        "dev_special": "0",
    }
    if with_list:
        entry["list"] = []
    return entry


def dongle_serial(inverter: Device) -> str:
    """The dongle's own serial: stable per inverter serial, shaped like real ones."""
    digits = sum(ord(c) * (i + 1) for i, c in enumerate(inverter.serial)) % 10**8
    return f"B{digits:08d}22"
