"""The battery behind a hybrid inverter: its design, its electrics and what its BMS allows.

Nothing here has a clock or integrates anything: :class:`BatteryPack` describes the hardware
(chemistry, cells in series, capacity, current rating) and answers instantaneous questions
(terminal voltage and current at a power, the BMS current limits at a state of charge).
The plant integrates state of charge from the battery power it dispatches.

Which pack a model gets (sources: Sungrow SBR/SBH datasheets as summarised in the
ha-modbus-manager SBR template, the theunknown86 SBR register notes, SHproto V1.0.23 for the
low-voltage SH*K series):

* SH*RS / SH*RT / SH*T / SH*RL / MG*RL: a Sungrow **SBR** high-voltage LFP tower of 3.2 kWh
  modules (20 cells, 64 V each), two to eight modules (SBR064 ... SBR256), 30 A. Its device
  type code is 0x20E6 + modules - 2 (0x20E7 SBR096 ... 0x20EB SBR224 = 8427, the value a
  WiNet-S device list shows as ``dev_code``). It answers on its own Modbus unit (200).
* SH*K: a 48 V class low-voltage LFP pack (16 cells, 51.2 V), current-limited to 0.5 C.
* SH*CX: a commercial high-voltage stack (224 cells, ~717 V), 0.5 C.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mock_sungrow.plant.physics import lfp_cell_ocv

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import InverterModel

BatteryKind = Literal["sbr", "lv", "commercial", "hv"]
#: Who made a hybrid's battery: a Sungrow SBR tower (it answers Modbus on a unit of its own and
#: reports its BCU firmware), or a third-party high-voltage pack the inverter talks to over its
#: BMS link (the recorded SH10RT's Pylontech Force H1: no unit, no BCU string).
BATTERY_MAKES = ("sungrow", "third-party")

#: Capacity of one SBR module (kWh) and its cells in series.
SBR_MODULE_KWH = 3.2
SBR_CELLS_PER_MODULE = 20
#: SBR towers hold two to eight modules; the device type code counts from SBR064.
SBR_MIN_MODULES = 2
SBR_MAX_MODULES = 8
SBR_CODE_BASE = 0x20E6
#: Nominal LFP cell voltage.
CELL_V = 3.2
#: Internal resistance per cell (ohm), cables and contactors included.
CELL_OHM = 0.0012

_LV = re.compile(r"^SH\d+(\.\d+)?K")


def battery_kind(model: InverterModel, make: str = "sungrow") -> BatteryKind:
    """Which class of battery a hybrid model pairs with (``make``: see :data:`BATTERY_MAKES`).

    A third-party pack where the model pairs with an SBR is a generic high-voltage stack
    (``"hv"``); low-voltage and commercial packs are not SBRs whoever made them.
    """
    if _LV.match(model.name):
        return "lv"
    if model.name.endswith("CX"):
        return "commercial"
    return "hv" if make == "third-party" else "sbr"


def default_battery_kwh(model: InverterModel) -> float:
    """A sensible usable capacity for ``model`` when the user gives none (0 for SG models).

    Residential hybrids get an SBR096 (9.6 kWh, the common pairing), the three-phase SH*T
    line up to 25 kW an SBR160, low-voltage SH*K models 6.4 kWh, commercial CX models two
    hours of their rating.
    """
    if not model.is_hybrid:
        return 0.0
    kind = battery_kind(model)
    if kind == "lv":
        return 6.4
    if kind == "commercial":
        return round(model.rated_power_w / 1000.0 * 2.0, 1)
    return 16.0 if model.rated_power_w > 10_000 else 9.6


@dataclass(frozen=True, slots=True)
class BatteryPack:
    """One battery's hardware, sized from a capacity for a given inverter model."""

    kind: BatteryKind
    capacity_kwh: float
    cells: int
    max_current_a: float
    model: str
    device_type_code: int
    modules: int
    serial: str

    @classmethod
    def for_inverter(cls, model: InverterModel, capacity_kwh: float, seed: int,
                     make: str = "sungrow") -> BatteryPack:
        """The pack a ``model`` inverter with ``capacity_kwh`` of storage would have.

        ``make`` picks the pack's kind (:func:`battery_kind`).
        """
        if capacity_kwh <= 0:
            raise ValueError("a battery pack needs a positive capacity")
        kind = battery_kind(model, make)
        digest = zlib.crc32(f"battery/{model.name}/{seed}".encode())
        if kind == "sbr":
            modules = min(SBR_MAX_MODULES,
                          max(SBR_MIN_MODULES, round(capacity_kwh / SBR_MODULE_KWH)))
            return cls(
                kind="sbr",
                capacity_kwh=capacity_kwh,
                cells=modules * SBR_CELLS_PER_MODULE,
                max_current_a=30.0,
                model=f"SBR{round(modules * SBR_MODULE_KWH * 10):03d}",
                device_type_code=SBR_CODE_BASE + modules - SBR_MIN_MODULES,
                modules=modules,
                # SBR serials seen in WiNet captures start with an S; the digits are invented.
                serial=f"S{22 + digest % 4}{digest % 52 + 1:02d}{digest % 1_000_000:06d}"[:11],
            )
        cells = 16 if kind == "lv" else 224
        ah = capacity_kwh * 1000.0 / (cells * CELL_V)
        return cls(
            kind=kind,
            capacity_kwh=capacity_kwh,
            cells=cells,
            max_current_a=round(0.5 * ah, 1),
            model="LFP-48V" if kind == "lv" else "LFP-HV-STACK",
            device_type_code=0,
            modules=1,
            serial=f"B{digest % 10_000_000_000:010d}",
        )

    @property
    def nominal_voltage_v(self) -> float:
        """Cells in series times the nominal LFP cell voltage."""
        return self.cells * CELL_V

    @property
    def capacity_ah(self) -> float:
        """Charge capacity at the nominal voltage."""
        return self.capacity_kwh * 1000.0 / self.nominal_voltage_v

    @property
    def capacity_wh(self) -> float:
        """Usable energy in Wh (state of charge integrates battery power against this)."""
        return self.capacity_kwh * 1000.0

    def open_circuit_v(self, soc_pct: float) -> float:
        """Pack voltage at rest."""
        return self.cells * lfp_cell_ocv(soc_pct)

    def terminal(self, soc_pct: float, power_w: float) -> tuple[float, float]:
        """Terminal voltage and current (positive charging) while carrying ``power_w``.

        Solves V = OCV + R * I with I = P / V, so that V * I is exactly the battery power the
        registers report (the quadratic's positive root).
        """
        ocv = self.open_circuit_v(soc_pct)
        r = self.cells * CELL_OHM
        disc = ocv * ocv + 4.0 * r * power_w
        volts = (ocv + disc**0.5) / 2.0 if disc > 0 else ocv / 2.0
        return volts, power_w / volts

    def bms_current_limits(self, soc_pct: float, temperature_c: float) -> tuple[float, float]:
        """The currents (A) the BMS allows for charging and discharging right now.

        Charging tapers over the top 5 % and discharging over the bottom 5 % of the physical
        capacity; both derate in the cold (LFP must not be charged fast below ~5 degC).
        """
        charge = self.max_current_a * min(1.0, max(0.0, (100.0 - soc_pct) / 5.0))
        discharge = self.max_current_a * min(1.0, max(0.0, soc_pct / 5.0))
        if temperature_c < 5.0:
            charge *= 0.3
        if temperature_c < -10.0:
            discharge *= 0.5
        return charge, discharge
