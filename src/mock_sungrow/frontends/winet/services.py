"""The WiNet-S WebSocket services: one request in, one reply envelope out (no HTTP stack here).

:class:`WinetServices` answers WebSocket services (:meth:`WinetServices.ws_message`) with the
dongle's envelope. Every reply echoes the request's ``service`` (intelbras and winet-extractor
match replies by it), errors included. Registers are read and written through the device's
data blocks only (see :mod:`mock_sungrow.frontends.winet.payloads`). The HTTP endpoints
(:class:`~mock_sungrow.frontends.winet.api.WinetApi`) reuse these services' code.

Malformed requests (not JSON, wrong field types, bad query parameters) and requests for
unknown services are recorded as server-side problems, like an undecodable Modbus frame, so
the pytest fixture fails a test whose client sent them unless the test expects it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mock_sungrow.device.writes import START_VALUE, STOP_VALUE, start_stop_address
from mock_sungrow.errors import ModbusError
from mock_sungrow.frontends.winet import auth, devicelist, payloads, status
from mock_sungrow.frontends.winet.auth import (
    BAD_REQUEST,
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
from mock_sungrow.frontends.winet.memo import ReplyMemo, state_of
from mock_sungrow.frontends.winet.protocol import (
    OPEN_SERVICES,
    BadRequest,
    Handler,
    Notify,
    Reply,
    envelope,
    integer,
    ip_literal,
    notice,
    parse_frame,
    text_field,
)
from mock_sungrow.frontends.winet.view import BATTERY_ID, INVERTER_ID

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device
    from mock_sungrow.frontends.winet.view import WinetView


class WinetServices:
    """Answers one WebSocket request at a time; ``notify`` pushes a frame to a session."""

    def __init__(self, view: WinetView, notify: Notify | None = None) -> None:
        self.view = view
        self.notify = notify
        #: The inverter's registers, as the dongle polls them.
        self.regs = payloads.Registers(lambda: view.inverter, view.traffic)
        self._regs: dict[int, payloads.Registers] = {INVERTER_ID: self.regs}
        #: Encoded replies of a stock device at one plant instant (see :mod:`.memo`).
        self.memo = ReplyMemo()
        self._scan_started: float | None = None
        self._services: dict[str, Handler] = {
            "connect": self._connect,
            "login": self._login,
            "logout": self._logout,
            "devicelist": self._devicelist,
            "real": self._real,
            "real_battery": self._real_battery,
            "direct": self._direct,
            "state": self._state,
            "fault": self._fault,
            "statistics": self._statistics,
            "runtime": self._runtime,
            "local": self._local,
            "param": self._param,
            "stalist": self._stalist,
        }

    @property
    def sessions(self) -> auth.SessionStore:
        """The dongle's session store (replaced by ``reset()``, so never cached)."""
        return self.view.sessions

    @property
    def settings(self) -> auth.WinetSettings:
        """The dongle's configuration."""
        return self.view.settings

    @property
    def inverter(self) -> Device:
        """The inverter the dongle polls (replaced by ``reset()``, so never cached)."""
        return self.view.inverter

    def registers_of(self, dev_id: int) -> payloads.Registers:
        """The registers of the device listed as ``dev_id``, as the dongle reads them."""
        regs = self._regs.get(dev_id)
        if regs is None:  # each looks its device up on every read: reset() replaces them
            regs = payloads.Registers(lambda: self._device(dev_id), self.view.traffic)
            self._regs[dev_id] = regs
        return regs

    def _device(self, dev_id: int) -> Device:
        device = self.view.device(dev_id)
        if device is None:  # pragma: no cover - checked by _check_device
            raise BadRequest(f"no device with dev_id {dev_id}")
        return device

    def report(self, peer: str, kind: str, message: str, exc: BaseException | None = None
               ) -> None:
        """Record a server-side problem (the pytest fixture turns it into a failure)."""
        self.view.diagnostics.report("http", peer, kind, message, exc=exc)

    # ------------------------------------------------------------------------------ WebSocket

    async def ws_message(self, text: str, conn: Any, peer: str = "-",
                         frame: dict[str, Any] | BadRequest | None = None) -> Reply:
        """The reply to one WebSocket text frame (every frame gets exactly one).

        ``frame`` is ``text`` decoded already by :func:`.protocol.parse_frame` (or the
        ``BadRequest`` it raised), if the caller has it.
        """
        try:
            if isinstance(frame, BadRequest):
                raise frame
            request = parse_frame(text) if frame is None else frame
        except BadRequest as exc:
            self.report(peer, "bad-request", f"WebSocket frame {text[:80]!r}: {exc}")
            return envelope(BAD_REQUEST, f"bad request: {exc}", "")
        service = request.get("service")
        if not isinstance(service, str) or not service:
            self.report(peer, "bad-request", f"WebSocket request without a service: {text[:80]!r}")
            return envelope(BAD_REQUEST, "bad request: 'service' must be a non-empty string", "")
        if service == "ping":  # the web UI's keep-alive: no result_data at all (captured)
            return {"result_code": SUCCESS, "result_msg": MSG_SUCCESS}
        handler = self._services.get(service)
        if handler is None:
            self.report(peer, "unknown-service", f"WebSocket service {service!r}")
            return envelope(auth.UNKNOWN_SERVICE, MSG_INTER_ABNORMAL, service)
        if service not in OPEN_SERVICES:
            code = self.sessions.check(request.get("token"), need_login=True)
            if code == TOKEN_INVALID:
                return envelope(TOKEN_INVALID, MSG_TOKEN_INVALID, service)
            if code == NOT_LOGGED_IN:
                return envelope(NOT_LOGGED_IN, MSG_INTER_ABNORMAL, service)
        try:
            return await handler(request, conn)
        except BadRequest as exc:
            self.report(peer, "bad-request", f"WebSocket {service}: {exc}")
            return envelope(BAD_REQUEST, f"bad request: {exc}", service)
        except Exception as exc:  # noqa: BLE001 - a broken override must not kill the session
            self.report(peer, "handler-error", f"WebSocket {service}: {exc!r}", exc)
            return envelope(READ_FAILED, MSG_READ_FAILED, service)

    def _connect_data(self, token: auth.Token) -> dict[str, Any]:
        profile = self.settings.profile_info
        data: dict[str, Any] = {"token": token.value, "uid": 1, "tips_disable": 1}
        data.update(profile.connect_extras)
        if profile.reports_ip:
            data["ip"] = ip_literal(self.view.host)
        return data

    async def _connect(self, request: Mapping[str, Any], conn: Any) -> Reply:
        # The request's token is ignored: sungrow-go sends a random UUID here.
        token = self.sessions.connect(owner=conn)
        return envelope(SUCCESS, MSG_SUCCESS, "connect", self._connect_data(token))

    async def _login(self, request: Mapping[str, Any], conn: Any) -> Reply:
        username = text_field(request, "username")
        password = text_field(request, "passwd")
        outcome = self.sessions.login(username, password, owner=conn)
        if outcome.token is None:
            return envelope(outcome.code, outcome.message, "login", {"token": "", "uid": 0})
        for old in outcome.evicted:
            if old.owner is not None and old.owner is not conn and self.notify is not None:
                await self.notify(old.owner, notice())
        return envelope(SUCCESS, MSG_SUCCESS, "login", {
            "token": outcome.token.value,
            "passwd": password,  # real dongles echo it (bjeanes' capture)
            "uid": outcome.uid,
            "role": outcome.role,
            "tips_disable": 1,
        })

    async def _logout(self, request: Mapping[str, Any], conn: Any) -> Reply:
        self.sessions.logout(str(request.get("token")))
        return envelope(SUCCESS, MSG_SUCCESS, "logout")

    async def _devicelist(self, request: Mapping[str, Any], conn: Any) -> Reply:
        return envelope(SUCCESS, MSG_SUCCESS, "devicelist", await self._device_list())

    async def _device_list(self, *, with_list: bool = True) -> dict[str, Any]:
        # The inverter, then an SBR behind a hybrid (dev_type 44, logical id 2).
        entries = []
        for device in self.view.devices():
            ident = await devicelist.identity(self.registers_of(device.logical_id))
            entries.append(devicelist.device_entry(device, ident, with_list=with_list))
        return {"list": entries, "count": len(entries)}

    def _battery_id(self) -> int | None:
        return None if self.view.battery is None else BATTERY_ID

    def _check_device(self, params: Mapping[str, Any], *, battery_ok: bool = False) -> int:
        """The ``dev_id`` of a request (the inverter's unit is accepted for dev_id 1)."""
        dev_id = integer(params, "dev_id")
        if dev_id == INVERTER_ID:  # the usual answer, without looking any device up
            return INVERTER_ID
        if battery_ok and dev_id == self._battery_id():
            return dev_id
        if dev_id in (INVERTER_ID, self.inverter.unit):
            return INVERTER_ID
        known = "the inverter is dev_id 1"
        if self._battery_id() is not None:
            known += f", the battery dev_id {self._battery_id()} (real, getParam type 3)"
        raise BadRequest(f"no device with dev_id {dev_id} ({known})")

    async def _real(self, request: Mapping[str, Any], conn: Any) -> Reply:
        dev_id = self._check_device(request, battery_ok=True)
        regs = self.registers_of(dev_id)
        device = regs.device
        state = state_of(device)
        kept = self.memo.get(("real", dev_id), state)
        if kept is not None:
            return kept
        # One request's reads of the device looked up once (each lookup walks the devices).
        once = payloads.Registers(lambda: device, regs.traffic)
        values = await payloads.real_list(once, payloads.real_items(device))
        return self.memo.put(("real", dev_id), state, envelope(
            SUCCESS, MSG_SUCCESS, "real", {"list": values, "count": len(values)}))

    async def _real_battery(self, request: Mapping[str, Any], conn: Any) -> Reply:
        self._check_device(request)
        if not payloads.has_battery(self.inverter):
            # A string inverter has no battery; the Intelbras unit answered 211/215 here.
            return envelope(auth.UNSUPPORTED_ON_DEVICE, MSG_INTER_ABNORMAL, "real_battery")
        values = await payloads.real_list(self.regs, payloads.REAL_BATTERY)
        return envelope(SUCCESS, MSG_SUCCESS, "real_battery",
                        {"list": values, "count": len(values)})

    async def _direct(self, request: Mapping[str, Any], conn: Any) -> Reply:
        self._check_device(request)
        values = await payloads.direct_list(self.regs)
        return envelope(SUCCESS, MSG_SUCCESS, "direct", {"list": values, "count": len(values)})

    async def _fault_code(self) -> int:
        code = await self.regs.value("fault_code_1")
        return code if isinstance(code, int) and code not in (0, 0xFFFF) else 0

    async def _state(self, request: Mapping[str, Any], conn: Any) -> Reply:
        fault, alarm = await status.fault_and_alarm(self.regs)
        return envelope(SUCCESS, MSG_SUCCESS, "state", {
            "total_fault": "1" if fault else "0",
            "total_alarm": "1" if alarm else "0",
            "wireless_conn_sts": "1",
            "wifi_conn_sts": "1",
            "eth_conn_sts": "0",
            "eth2_conn_sts": "0",
            "cloud_conn_sts": "1",
            "wireless_cmd": "1",
            "wifi_cmd": "1",
            "server_net_type": "1",
        })

    async def _fault(self, request: Mapping[str, Any], conn: Any) -> Reply:
        code = await self._fault_code()
        faults: list[dict[str, Any]] = []
        if code:
            faults.append({
                "dev_id": INVERTER_ID,
                "dev_name": devicelist.dev_name(self.inverter),
                "fault_code": str(code),
                "fault_name": f"I18N_COMMON_FAULT_{code}",
                "fault_time": await payloads.clock_text(self.regs),
            })
        return envelope(SUCCESS, MSG_SUCCESS, "fault", {"list": faults, "count": len(faults)})

    async def _energy(self) -> tuple[str, str, str, str]:
        hybrid = self.inverter.catalog_model.is_hybrid
        today = await self.regs.value("daily_pv_generation" if hybrid else "daily_power_yields")
        total = await self.regs.value("total_pv_generation" if hybrid else "total_power_yields")
        power = await self.regs.value("total_active_power")
        reactive = await self.regs.value("total_reactive_power")
        return (payloads.fmt(today, 1), payloads.fmt(total, 1),
                payloads.fmt(power, 3, 0.001), payloads.fmt(reactive, 3, 0.001))

    async def _statistics(self, request: Mapping[str, Any], conn: Any) -> Reply:
        today, total, power, reactive = await self._energy()
        rated = self.inverter.catalog_model.rated_power_w / 1000.0
        stats = {
            "today_energy": today, "today_energy_unit": "kWh",
            "total_energy": total, "total_energy_unit": "kWh",
            "curr_power": power, "curr_power_unit": "kW",
            "curr_reactive": reactive, "curr_reactive_unit": "kvar",
            "rated_power": f"{rated:.2f}", "rated_power_unit": "kW",
            "rated_reactive": f"{rated * 0.6:.2f}", "rated_reactive_unit": "kvar",
            "adjust_power": await status.adjust_power(self.regs), "adjust_power_unit": "%",
            "adjust_reactive": "0.0", "adjust_reactive_unit": "%",
        }
        return envelope(SUCCESS, MSG_SUCCESS, "statistics",
                        {"list": [stats], "count": 1, "online_num": 1, "offline_num": 0})

    async def _runtime(self, request: Mapping[str, Any], conn: Any) -> Reply:
        today, total, power, reactive = await self._energy()
        ident = await devicelist.identity(self.regs)
        entry = devicelist.device_entry(self.inverter, ident)
        state = await payloads.state_item(self.inverter).read(self.regs)
        device = {
            "dev_name": entry["dev_name"], "dev_model": entry["dev_model"],
            "dev_type": entry["dev_type"], "dev_procotol": entry["dev_procotol"],
            "today_energy": today, "today_energy_unit": "kWh",
            "total_energy": total, "total_energy_unit": "kWh",
            "dev_state": state,
            "curr_power": power, "curr_power_unit": "kW",
            "reactive_power": reactive, "reactive_power_unit": "kvar",
        }
        return envelope(SUCCESS, MSG_SUCCESS, "runtime", {
            "list": [device], "count": 1, "connect_count": 1, "off_count": 0})

    async def _local(self, request: Mapping[str, Any], conn: Any) -> Reply:
        values = payloads.local_items(self.inverter.plant, ip_literal(self.view.host))
        return envelope(SUCCESS, MSG_SUCCESS, "local", {"list": values, "count": len(values)})

    async def _stalist(self, request: Mapping[str, Any], conn: Any) -> Reply:
        started = self._scan_started
        if started is None or time.monotonic() < started + self.settings.scan_seconds:
            return envelope(auth.NOT_READY, "scan not finished", "stalist")
        networks = [
            {"ssid": "mock-sungrow", "signal": -52, "encryption": "WPA2-PSK"},
            {"ssid": "neighbour", "signal": -81, "encryption": "WPA2-PSK"},
        ]
        return envelope(SUCCESS, MSG_SUCCESS, "stalist", {
            "curr_ssid": "mock-sungrow", "curr_signal": -52,
            "list": networks, "count": len(networks)})

    async def _param(self, request: Mapping[str, Any], conn: Any) -> Reply:
        devices = request.get("devid_array", ["1"])
        if not isinstance(devices, list) or not devices:
            raise BadRequest("'devid_array' must be a non-empty list of device ids")
        for dev_id in devices:
            self._check_device({"dev_id": dev_id})
        kind = str(request.get("type", ""))
        items = request.get("list")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise BadRequest("'list' must be a non-empty list of objects")
        if kind == "3":
            results = [await self._power_switch(item) for item in items]
        elif kind == "9":
            results = [await self._set_parameter(item) for item in items]
        else:
            raise BadRequest(f"param 'type' must be \"3\" (power switch) or \"9\"; got {kind!r}")
        ok = all(r["result"] == 0 for r in results)
        return envelope(SUCCESS if ok else SET_FAILED, MSG_SUCCESS if ok else MSG_SET_FAILED,
                        "param", {"list": results, "count": len(results)})

    async def _power_switch(self, item: Mapping[str, Any]) -> dict[str, Any]:
        switch = str(item.get("power_switch", ""))
        if switch not in ("0", "1"):
            raise BadRequest(f"'power_switch' must be \"0\" or \"1\"; got {switch!r}")
        address = start_stop_address(self.inverter.catalog_model)
        name = "I18N_COMMON_POWER_ON" if switch == "1" else "I18N_COMMON_POWER_OFF"
        result = await self._write(address, [START_VALUE if switch == "1" else STOP_VALUE])
        return {"param_name": name, "result": result}

    async def _set_parameter(self, item: Mapping[str, Any]) -> dict[str, Any]:
        rows = payloads.settable_rows(self.inverter.map)
        by_pid = dict(enumerate(rows, start=1))
        if item.get("param_addr") not in (None, ""):
            address = integer(item, "param_addr")
            row = next((r for r in rows if r.address == address), None)
        else:
            row = by_pid.get(integer(item, "param_pid"))
        if row is None:
            return {"param_pid": item.get("param_pid", ""), "param_id": item.get("param_id", ""),
                    "param_name": "", "result": 1}
        pid = rows.index(row) + 1
        try:
            word = payloads.encode_setting(row, item.get("param_value"))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        result = await self._write(row.address, [word])
        return {"param_pid": pid, "param_id": pid, "param_name": payloads.param_key(row),
                "result": result}

    async def _write(self, address: int, words: list[int]) -> int:
        """Write holding registers through the block: 0 on success, 1 when refused."""
        try:
            await self.regs.write(address, words)
        except ModbusError:
            return 1
        return 0
