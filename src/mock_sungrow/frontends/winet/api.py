"""The WiNet-S HTTP endpoints, on top of the WebSocket services (no HTTP stack here either).

:class:`WinetApi` answers WebSocket services (:meth:`WinetApi.ws_message`, from
:class:`~mock_sungrow.frontends.winet.services.WinetServices`) and HTTP endpoints (the
``http_*`` methods) with the dongle's envelope::

    {"result_code": 1, "result_msg": "success", "result_data": {"service": "...", ...}}

Every WebSocket reply echoes the request's ``service`` (intelbras and winet-extractor match
replies by it), errors included. HTTP replies carry no echo but always a ``result_data``
object (sungrow-http-config dereferences it unconditionally). Registers are read and written
through the device's data blocks only (see :mod:`mock_sungrow.frontends.winet.payloads`).

Malformed requests (not JSON, wrong field types, bad query parameters) and requests for
unknown services are recorded as server-side problems, like an undecodable Modbus frame, so
the pytest fixture fails a test whose client sent them unless the test expects it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from mock_sungrow.device.catalog import Table
from mock_sungrow.errors import ModbusError
from mock_sungrow.faults.decision import CURRENT_DECISION
from mock_sungrow.frontends.modbus.distort import describe, distort_pdu, note_old_words
from mock_sungrow.frontends.modbus.pdu import MAX_READ, crc16
from mock_sungrow.frontends.winet import devicelist, payloads
from mock_sungrow.frontends.winet.auth import (
    MSG_INTER_ABNORMAL,
    MSG_READ_FAILED,
    MSG_SET_FAILED,
    MSG_SUCCESS,
    MSG_TOKEN_INVALID,
    NOT_LOGGED_IN,
    READ_FAILED,
    SET_FAILED,
    SUCCESS,
    TOKEN_INVALID,
)
from mock_sungrow.frontends.winet.memo import state_of
from mock_sungrow.frontends.winet.protocol import (
    BadRequest,
    Reply,
    envelope,
    hex_bytes,
    integer,
    text_field,
)
from mock_sungrow.frontends.winet.services import WinetServices


class WinetApi(WinetServices):
    """Answers one request at a time for a server: WebSocket services and HTTP endpoints."""

    # ------------------------------------------------------------------------------ HTTP

    def _token_error(self, params: Mapping[str, Any], *, need_login: bool = True,
                     upgraded_ok: bool = False) -> Reply | None:
        code = self.sessions.check(params.get("token"), need_login=need_login,
                                   upgraded_ok=upgraded_ok)
        if code == TOKEN_INVALID:
            return envelope(TOKEN_INVALID, MSG_TOKEN_INVALID)
        if code == NOT_LOGGED_IN:
            return envelope(NOT_LOGGED_IN, MSG_INTER_ABNORMAL)
        return None

    async def http_get_param(self, params: Mapping[str, Any]) -> Reply:
        """``/device/getParam``: type 3 raw registers, type 2 grid, type 9 energy settings."""
        error = self._token_error(params)
        if error is not None:
            return error
        kind = integer(params, "type")
        if kind == 3:
            return await self._get_registers(params)
        self._check_device(params)
        if kind == 2:
            grid = [{"param_addr": addr, "param_name": name, "param_value": value, "unit": unit}
                    for addr, name, value, unit in payloads.GRID_PARAMETERS]
            return envelope(SUCCESS, MSG_SUCCESS, data={"list": grid, "count": len(grid)})
        if kind == 9:
            settings = await payloads.energy_parameters(self.regs)
            return envelope(SUCCESS, MSG_SUCCESS, data={"list": settings, "count": len(settings)})
        raise BadRequest(f"getParam 'type' must be 2, 3 or 9; got {kind}")

    async def _get_registers(self, params: Mapping[str, Any]) -> Reply:
        dev_id = integer(params, "dev_id")
        param_type = integer(params, "param_type")
        address = integer(params, "param_addr")
        count = integer(params, "param_num")
        if param_type not in (0, 1):
            raise BadRequest(f"'param_type' must be 0 (input) or 1 (holding); got {param_type}")
        if not 1 <= count <= MAX_READ:
            raise BadRequest(f"'param_num' must be 1..{MAX_READ}; got {count}")
        if address < 1 or address + count - 1 > 0xFFFF:
            raise BadRequest(f"'param_addr' {address} + {count} registers leaves 1..65535")
        # The inverter (dev_id 1, or its unit), or the battery behind it (its device-list
        # dev_id 2, what winet-extractor sends to read the cells at 10757: §"winet-extractor").
        device = self.view.addressed(dev_id)
        if device is None:
            return envelope(READ_FAILED, MSG_READ_FAILED)  # no device answers that address
        regs = self.registers_of(device.logical_id)
        table: Table = "input" if param_type == 0 else "holding"
        # Input words are the snapshot's; holding 5000-5005 is the clock, read live.
        state = state_of(device) if table == "input" else None
        name = ("getParam", device.logical_id, address, count)
        kept = self.memo.get(name, state)
        if kept is not None:
            return kept
        try:
            words = await regs.words(table, address, count)
        except ModbusError:
            return envelope(READ_FAILED, MSG_READ_FAILED)
        if len(words) != count or not all(
            isinstance(w, int) and 0 <= w <= 0xFFFF for w in words
        ):
            raise RuntimeError(
                f"the data block returned {len(words)} values for {count} {table} registers "
                f"at {address}, or values outside 0..65535"
            )
        return self.memo.put(name, state, envelope(SUCCESS, MSG_SUCCESS,
                                                  data={"param_value": hex_bytes(words)}))

    async def http_set_param(self, params: Mapping[str, Any]) -> Reply:
        """``/device/setParam``: write holding registers (documented address, decimal words)."""
        error = self._token_error(params)
        if error is not None:
            return error
        self._check_device(params)
        address = integer(params, "param_addr")
        size = integer(params, "param_size", default=1)
        raw = params.get("param_value")
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        if not isinstance(raw, str):
            raise BadRequest(f"'param_value' must be a decimal string; got {raw!r}")
        parts = [p for p in re.split(r"[\s,]+", raw.strip()) if p]
        if len(parts) != size or not all(re.fullmatch(r"-?\d{1,5}", p) for p in parts):
            raise BadRequest(f"'param_value' must hold {size} decimal word(s); got {raw!r}")
        words = [int(p) & 0xFFFF for p in parts]
        if not all(-0x8000 <= int(p) <= 0xFFFF for p in parts):
            raise BadRequest(f"'param_value' {raw!r} does not fit 16-bit registers")
        if await self._write(address, words):
            return envelope(SET_FAILED, MSG_SET_FAILED)
        return envelope(SUCCESS, MSG_SUCCESS)

    async def http_about(self, params: Mapping[str, Any]) -> Reply:
        """``/about/list``: the dongle's identity (no token needed)."""
        profile = self.settings.profile_info
        firmware, hardware = profile.firmware, profile.hardware
        items = [
            ("I18N_COMMON_DEVICE_SN", devicelist.dongle_serial(self.inverter)),
            ("I18N_COMMON_APPLI_SOFT_VERSION", firmware),
            ("I18N_COMMON_BUILD_SOFT_VERSION", "20240315"),
            ("I18N_COMMON_VERSION", hardware),
        ]
        listing = [{"data_name": k, "data_value": v, "data_unit": "", "type": 0}
                   for k, v in items]
        return envelope(SUCCESS, MSG_SUCCESS, data={"list": listing, "count": len(listing)})

    async def http_overview(self, params: Mapping[str, Any]) -> Reply:
        """``/device/overview``: module, network, cloud and clock information."""
        error = self._token_error(params)
        if error is not None:
            return error
        firmware = self.settings.profile_info.firmware
        serial = devicelist.dongle_serial(self.inverter)
        ident = await devicelist.identity(self.regs)
        country = await self.regs.value("present_country")
        return envelope(SUCCESS, MSG_SUCCESS, data={
            "module_info": {"module_sn": serial, "module_ver": firmware},
            "net_info": {"wifi_conn_sts": 1, "eth_conn_sts": 0, "eth2_conn_sts": 0,
                         "wifi_cmd": 1},
            "remote_info": {"module_sn": serial, "ip": "203.0.113.10"},
            "sys_time": {"sync_device": 1, "time": await payloads.clock_text(self.regs),
                         "timezone": payloads.utc_offset(self.inverter.plant)},
            "list": [{"dev_id": 1, "dev_sn": ident.serial, "dev_model": self.inverter.model,
                      "country": payloads.fmt(country, 0)}],
        })

    async def http_time(self, params: Mapping[str, Any]) -> Reply:
        """``/time/get``: the inverter's clock (holding 5000-5005) as the web UI shows it."""
        error = self._token_error(params)
        if error is not None:
            return error
        return envelope(SUCCESS, MSG_SUCCESS, data={
            "time": await payloads.clock_text(self.regs, seconds=False),
            "curr_timezone": payloads.utc_offset(self.inverter.plant),
            "ntp_enable": "1",
            "ntp_server": "pool.ntp.org",
        })

    async def http_get_type(self, params: Mapping[str, Any]) -> Reply:
        """``/device/getType``: device type ids (no token needed)."""
        types = [{"name": n, "value": v} for n, v in devicelist.DEVICE_TYPES]
        return envelope(SUCCESS, MSG_SUCCESS, data={"list": types, "count": len(types)})

    async def http_inverter_list(self, params: Mapping[str, Any]) -> Reply:
        """``/inverter/list``: the device list without the nested ``list`` (no token)."""
        return envelope(SUCCESS, MSG_SUCCESS, data=await self._device_list(with_list=False))

    async def http_wifi_scan(self, params: Mapping[str, Any]) -> Reply:
        """``/wifi/updateStaScan``: start a station scan that ``stalist`` reads back."""
        error = self._token_error(params)
        if error is not None:
            return error
        self._scan_started = time.monotonic()
        return envelope(SUCCESS, MSG_SUCCESS)

    # ------------------------------------------------------------- the HTTPS JSON-POST API (§4.5)

    async def http_product(self, params: Mapping[str, Any]) -> Reply:
        """``/product/list``: sungrow-http-config insists on ``WiNet-S`` / ``9``."""
        profile = self.settings.profile_info
        firmware, hardware = profile.firmware, profile.hardware
        return envelope(SUCCESS, MSG_SUCCESS, data={
            "product_name": "WiNet-S", "product_code": 9,
            "software_version": firmware, "hardware_version": hardware})

    async def http_user_connect(self, params: Mapping[str, Any]) -> Reply:
        """``/user/connect``: the HTTPS API's ``connect``."""
        token = self.sessions.connect()
        return envelope(SUCCESS, MSG_SUCCESS, "connect", self._connect_data(token))

    async def http_device_list(self, params: Mapping[str, Any]) -> Reply:
        """``/device/list``: ``devicelist`` over HTTPS (a connect token suffices)."""
        error = self._token_error(params, need_login=False)
        if error is not None:
            return error
        return envelope(SUCCESS, MSG_SUCCESS, "devicelist", await self._device_list())

    async def http_upgrade_status(self, params: Mapping[str, Any]) -> Reply:
        """``/upgrade/upgradeStatus``: "upgrades" the token so passthrough may write."""
        if self.sessions.upgrade(str(params.get("token", ""))) is None:
            return envelope(TOKEN_INVALID, MSG_TOKEN_INVALID)
        return envelope(SUCCESS, MSG_SUCCESS, data={"nextProcess": "0"})

    async def http_passthrough(self, params: Mapping[str, Any], peer: str = "-") -> Reply:
        """``/device/passthroughway``: execute a Modbus RTU frame, answer the RTU reply in hex.

        The frame goes through the same
        :class:`~mock_sungrow.frontends.modbus.app.ModbusApplication` as Modbus TCP, so FC6 answers
        are a byte-exact echo and reads return real registers. On a login profile an upgraded
        token (``/upgrade/upgradeStatus``) is enough, as sungrow-http-config, which never logs
        in, relies on; every other endpoint needs a login.
        """
        error = self._token_error(params, upgraded_ok=True)
        if error is not None:
            return error
        text = text_field(params, "msgValue")
        try:
            frame = bytes.fromhex(text)
        except ValueError:
            raise BadRequest(f"'msgValue' must be hexadecimal; got {text[:40]!r}") from None
        if len(frame) < 4:
            raise BadRequest("'msgValue' is shorter than an RTU frame (unit, PDU, CRC)")
        if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
            raise BadRequest(f"'msgValue' {text!r} has a wrong CRC")
        unit, pdu = frame[0], frame[1:-2]
        # The dongle's RTU bus sees the same word faults as Modbus TCP does.
        decision = CURRENT_DECISION.get()
        app, traffic = self.view.app, self.view.traffic
        inner = describe("http", peer, unit, pdu, app.serial_of(unit, pdu), self.view.endpoint.name)
        note_old_words(traffic, decision, app.devices, inner)
        result = app.handle(unit, pdu, peer, "http")
        if result is not None and not isinstance(result, bytes):
            result = await result
        if result is not None and decision.words:
            result = distort_pdu(traffic, decision, inner, result, app.devices.get(unit))
        if result is None:
            return envelope(SUCCESS, MSG_SUCCESS, data={"data": ""})
        reply = bytes([frame[0]]) + result
        reply += crc16(reply).to_bytes(2, "little")
        return envelope(SUCCESS, MSG_SUCCESS, data={"data": reply.hex().upper()})

