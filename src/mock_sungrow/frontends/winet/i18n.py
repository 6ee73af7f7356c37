r"""``/i18n/<lang>.properties``: English labels for every i18n key the dongle emits.

Clients turn ``data_name`` keys and i18n ``data_value`` states into text with this file, and
winet-extractor even derives its MQTT entity ids from the labels, so the labels are part of the
interface. Labels follow the real ``en_US.properties`` where captures show them (spec §7);
the rest are readable renderings of the key. The file is built from the very tables that
produce the replies, so no emitted key can be missing; it uses LF line endings (winet-extractor
splits on ``\\n`` only) and keeps ``{0}`` in the per-string label (sungrow-websocket formats it).
"""

from __future__ import annotations

import functools

from mock_sungrow.device.catalog import load_catalog
from mock_sungrow.frontends.winet import auth, devicelist, payloads

#: Labels captured from real dongles (or given by clients' documentation).
_KNOWN = {
    "I18N_COMMON_TOTAL_GRID_RUNNING_TIME": "Total On-grid Running Time",
    "I18N_COMMON_PV_DAYILY_ENERGY_GENERATION": "Daily PV Yield",
    "I18N_COMMON_PV_TOTAL_ENERGY_GENERATION": "Total PV Yield",
    "I18N_COMMON_DAILY_POWER_YIELD": "Daily Yield",
    "I18N_COMMON_TOTAL_YIELD": "Total Yield",
    "I18N_COMMON_RUNNING_STATE": "Running Status",
    "I18N_COMMON_DEVICE_STATUS": "Device Status",
    "I18N_COMMON_BUS_VOLTAGE": "Bus Voltage",
    "I18N_COMMON_AIR_TEM_INSIDE_MACHINE": "Internal Air Temperature",
    "I18N_COMMON_SQUARE_ARRAY_INSULATION_IMPEDANCE": "Array Insulation Resistance",
    "I18N_CONFIG_KEY_1001188": "Daily Self-consumption Rate",
    "I18N_COMMON_FEED_NETWORK_TOTAL_ACTIVE_POWER": "Total Export Active Power",
    "I18N_CONFIG_KEY_4060": "Purchased Power",
    "I18N_COMMON_DAILY_FEED_NETWORK_VOLUME": "Daily Feed-in Energy",
    "I18N_COMMON_TOTAL_FEED_NETWORK_VOLUME": "Total Feed-in Energy",
    "I18N_COMMON_ENERGY_GET_FROM_GRID_DAILY": "Daily Purchased Energy",
    "I18N_COMMON_TOTAL_ELECTRIC_GRID_GET_POWER": "Total Purchased Energy",
    "I18N_COMMON_DAILY_FEED_NETWORK_PV": "Daily Feed-in Energy (PV)",
    "I18N_COMMON_TOTAL_FEED_NETWORK_PV": "Total Feed-in Energy (PV)",
    "I18N_COMMON_LOAD_TOTAL_ACTIVE_POWER": "Total Load Active Power",
    "I18N_COMMON_DAILY_DIRECT_CONSUMPTION_ELECTRICITY_PV": "Daily Load Energy Consumption from PV",
    "I18N_COMMON_TOTAL_DIRECT_POWER_CONSUMPTION_PV": "Total Load Energy Consumption from PV",
    "I18N_COMMON_TOTAL_DCPOWER": "Total DC Power",
    "I18N_COMMON_TOTAL_ACTIVE_POWER": "Total Active Power",
    "I18N_COMMON_TOTAL_REACTIVE_POWER": "Total Reactive Power",
    "I18N_COMMON_TOTAL_APPARENT_POWER": "Total Apparent Power",
    "I18N_COMMON_TOTAL_POWER_FACTOR": "Total Power Factor",
    "I18N_COMMON_GRID_FREQUENCY": "Grid Frequency",
    "I18N_COMMONUA": "Phase A Voltage",
    "I18N_COMMON_UB": "Phase B Voltage",
    "I18N_COMMON_UC": "Phase C Voltage",
    "I18N_COMMON_FRAGMENT_RUN_TYPE1": "Phase A Current",
    "I18N_COMMON_IB": "Phase B Current",
    "I18N_COMMON_IC": "Phase C Current",
    "I18N_COMMON_PHASE_A_BACKUP_CURRENT_QFKYGING": "Phase A Backup Current",
    "I18N_COMMON_PHASE_B_BACKUP_CURRENT_ODXCTVMS": "Phase B Backup Current",
    "I18N_COMMON_PHASE_C_BACKUP_CURRENT_PBSQLZIX": "Phase C Backup Current",
    "I18N_COMMON_PHASE_A_BACKUP_VOLTAGE_PEIYFKXE": "Phase A Backup Voltage",
    "I18N_COMMON_PHASE_B_BACKUP_VOLTAGE_MCDGYUJO": "Phase B Backup Voltage",
    "I18N_COMMON_PHASE_C_BACKUP_VOLTAGE_SCJZFFCQ": "Phase C Backup Voltage",
    "I18N_COMMON_BACKUP_FREQUENCY_MPPOWHDF": "Backup Frequency",
    "I18N_COMMON_PHASE_A_BACKUP_POWER_BRBJDGVB": "Phase A Backup Power",
    "I18N_COMMON_PHASE_B_BACKUP_POWER_OCDHLMZB": "Phase B Backup Power",
    "I18N_COMMON_PHASE_C_BACKUP_POWER_HAMBBGNL": "Phase C Backup Power",
    "I18N_COMMON_TOTAL_BACKUP_POWER_WLECIVPM": "Total Backup Power",
    "I18N_CONFIG_KEY_3907": "Battery Charging Power",
    "I18N_CONFIG_KEY_3921": "Battery Discharging Power",
    "I18N_COMMON_BATTERY_VOLTAGE": "Battery Voltage",
    "I18N_COMMON_BATTERY_CURRENT": "Battery Current",
    "I18N_COMMON_BATTERY_TEMPERATURE": "Battery Temperature",
    "I18N_COMMON_BATTERY_SOC": "Battery Level (SOC)",
    "I18N_COMMON_BATTARY_HEALTH": "Battery Health (SOH)",
    "I18N_COMMON_MAX_CHARGE_CURRENT_BMS": "Max. Charging Current (BMS)",
    "I18N_COMMON_MAX_DISCHARGE_CURRENT_BMS": "Max. Discharging Current (BMS)",
    "I18N_COMMON_DAILY_BATTERY_CHARGE_PV": "Daily Battery Charging Energy from PV",
    "I18N_COMMON_TOTAL_BATTERY_CHARGE_PV": "Total Battery Charging Energy from PV",
    "I18N_COMMON_DAILY_BATTERY_DISCHARGE": "Daily Battery Discharging Energy",
    "I18N_COMMON_TOTAL_BATTRY_DISCHARGE": "Total Battery Discharging Energy",
    "I18N_COMMON_DAILY_BATTERY_CHARGE": "Daily Battery Charging Energy",
    "I18N_COMMON_TOTAL_BATTERY_CHARGE": "Total Battery Charging Energy",
    # The text is unverified; a Go client's fixture uses this one (spec §3.5).
    payloads.STRING_KEY: "String {0}",
    "I18N_COMMON_RUNNING": "Run",
    "I18N_COMMON_STANDBY": "Standby",
    "I18N_COMMON_DISPATCH_RUN": "Dispatch Run",
    "I18N_COMMON_STOP": "Stop",
    "I18N_COMMON_KEY_STOP": "Key Stop",
    "I18N_COMMON_EMERGENCY_STOP": "Emergency Stop",
    "I18N_COMMON_INITIAL_STANDBY": "Initial Standby",
    "I18N_COMMON_STARTING": "Starting",
    "I18N_COMMON_ALARM_RUN": "Alarm Run",
    "I18N_COMMON_DERATING_RUN": "Derating Run",
    "I18N_COMMON_FAULT": "Fault",
    "I18N_COMMON_COMMUNICATION_FAULT": "Communication Fault",
    "I18N_COMMON_STRING_INVERTER": "String Inverter",
    "I18N_COMMON_SOLAR_INVERTER": "PV Inverter",
    "I18N_COMMON_STORE_INVERTER": "Energy Storage Inverter",
    "I18N_COMMON_AMMETER": "Meter",
    "I18N_COMMON_CHARGING_PILE": "Charger",
    "I18N_COMMON_DEVICE_SN": "Serial Number",
    "I18N_COMMON_APPLI_SOFT_VERSION": "Application Software Version",
    "I18N_COMMON_BUILD_SOFT_VERSION": "Build Software Version",
    "I18N_COMMON_VERSION": "Hardware Version",
    "I18N_COMMON_POWER_ON": "Power On",
    "I18N_COMMON_POWER_OFF": "Power Off",
    auth.MSG_INTER_ABNORMAL: "Internal exception",
    auth.MSG_ACCOUNT_LOCKED: "The account is locked. Please try again later",
    auth.MSG_WRONG_PASSWORD: "Incorrect user name or password",
    auth.MSG_READ_FAILED: "Read failed",
    auth.MSG_SET_FAILED: "Setting failed",
}


def _render(key: str) -> str:
    """A readable label for a key no capture shows (``I18N_COMMON_MAX_SOC`` -> ``Max Soc``)."""
    for prefix in ("I18N_COMMON_", "I18N_CONFIG_KEY_", "I18N_"):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return key.replace("_", " ").title()


def emitted_keys() -> set[str]:
    """Every i18n key any reply of any model can contain."""
    keys = set(_KNOWN)
    for items in (payloads.STRING_REAL, payloads.HYBRID_REAL, payloads.REAL_BATTERY,
                  payloads.BATTERY_REAL):
        keys.update(item.name for item in items)
    keys.update(payloads._WORK_STATE_1.values())
    keys.update(payloads._RUNNING_STATE.values())
    keys.update(name for _, name, _, _ in payloads.GRID_PARAMETERS)
    keys.update(name for name, _ in devicelist.DEVICE_TYPES)
    keys.update(item["data_name"] for item in _local_template())
    keys.update(payloads.BATTERY_STATUS.values())
    keys.update(
        payloads.param_key(row) for row in load_catalog().registers if row.table == "holding"
    )
    return keys


def _local_template() -> list[dict[str, str]]:
    return [
        {"data_name": name}
        for name in ("I18N_COMMON_SYSTEM_TIME", "I18N_COMMON_WLAN_IP", "I18N_COMMON_WLAN_MAC",
                     "I18N_COMMON_ETH_IP", "I18N_COMMON_SIGNAL_STRENGTH")
    ]


@functools.cache
def properties_text() -> str:
    """The whole ``en_US.properties`` file (UTF-8 text, LF line endings, sorted keys)."""
    lines = [f"{key}={_KNOWN.get(key) or _render(key)}" for key in sorted(emitted_keys())]
    return "\n".join(lines) + "\n"
