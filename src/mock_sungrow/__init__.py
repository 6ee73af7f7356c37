"""mock-sungrow: a Sungrow solar inverter simulator for end-to-end tests.

The public names are imported lazily, so that ``import mock_sungrow`` (which pytest does for
the plugin in every test run) costs almost nothing until a server is actually built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mock_sungrow._version import __version__

if TYPE_CHECKING:
    from mock_sungrow.clock import Clock, ManualClock, RealClock
    from mock_sungrow.device.catalog import InverterModel, load_catalog, model_names
    from mock_sungrow.device.datablock import SungrowModbusDataBlock
    from mock_sungrow.errors import ExceptionCode, FrontEndUnavailableError, ModbusError
    from mock_sungrow.plant.physics import Site
    from mock_sungrow.plant.snapshot import Mode, PlantSnapshot
    from mock_sungrow.plant.weather import CloudWalk
    from mock_sungrow.server import MockSungrowServer

_EXPORTS = {
    "MockSungrowServer": "mock_sungrow.server",
    "SungrowModbusDataBlock": "mock_sungrow.device.datablock",
    "ModbusError": "mock_sungrow.errors",
    "ExceptionCode": "mock_sungrow.errors",
    "FrontEndUnavailableError": "mock_sungrow.errors",
    "Clock": "mock_sungrow.clock",
    "ManualClock": "mock_sungrow.clock",
    "RealClock": "mock_sungrow.clock",
    "Site": "mock_sungrow.plant.physics",
    "CloudWalk": "mock_sungrow.plant.weather",
    "Mode": "mock_sungrow.plant.snapshot",
    "PlantSnapshot": "mock_sungrow.plant.snapshot",
    "InverterModel": "mock_sungrow.device.catalog",
    "load_catalog": "mock_sungrow.device.catalog",
    "model_names": "mock_sungrow.device.catalog",
}

__all__ = [
    "Clock",
    "CloudWalk",
    "ExceptionCode",
    "FrontEndUnavailableError",
    "InverterModel",
    "ManualClock",
    "MockSungrowServer",
    "ModbusError",
    "Mode",
    "PlantSnapshot",
    "RealClock",
    "Site",
    "SungrowModbusDataBlock",
    "__version__",
    "load_catalog",
    "model_names",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mock_sungrow' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
