"""Exceptions shared by the register layer and every front end."""

from __future__ import annotations

import enum


class ExceptionCode(enum.IntEnum):
    """Modbus exception codes. Sungrow inverters themselves only use 2 and 4."""

    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_ADDRESS = 0x02
    ILLEGAL_VALUE = 0x03
    DEVICE_FAILURE = 0x04
    DEVICE_BUSY = 0x06
    GATEWAY_PATH_UNAVAILABLE = 0x0A
    GATEWAY_TARGET_FAILED = 0x0B


class ModbusError(Exception):
    """Answer a request with a Modbus exception instead of data.

    Raised by the register layer, or by a user's ``getValues`` override. Every front end
    turns it into its own error form: an exception response on Modbus, a ``result_code``
    on WiNet-S HTTP.
    """

    def __init__(self, code: int, message: str = "") -> None:
        self.code = ExceptionCode(code)
        self.message = message or self.code.name.replace("_", " ").lower()
        super().__init__(f"Modbus exception {int(self.code)} ({self.code.name}): {self.message}")


class FrontEndUnavailableError(ValueError):
    """A front end was asked for that this server does not serve (or does not have yet)."""
