"""``MockSungrowServer``: the facade that builds a plant, its registers and its front ends.

It holds no protocol code. It validates configuration (:mod:`mock_sungrow.config`), owns the
lifecycle (one loop thread per running server: :class:`mock_sungrow.runtime.FrontEndGroup`),
and offers the Python API tests use to look inside and steer the simulated inverter (the
device part is :class:`~mock_sungrow.device.api.DeviceApi`). It is also the host plant and
session faults act through (:class:`~mock_sungrow.faults.effects.FaultHost`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mock_sungrow import config
from mock_sungrow.clock import Clock, ManualClock, RealClock
from mock_sungrow.device.api import DeviceApi
from mock_sungrow.device.catalog import InverterModel, load_catalog
from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.device.device import (
    DEFAULT_BATTERY_UNIT_ID,
    DeviceInfo,
    build_devices,
)
from mock_sungrow.device.registermap import RegisterMap
from mock_sungrow.diagnostics import Diagnostics, Problem
from mock_sungrow.errors import FrontEndUnavailableError
from mock_sungrow.faults.effects import fault_changed
from mock_sungrow.faults.faultset import FaultSet
from mock_sungrow.faults.lifetimes import FaultEnds
from mock_sungrow.faults.requestlog import DEFAULT_CAPACITY, RequestLog
from mock_sungrow.faults.spec import Fault, fault_from
from mock_sungrow.faults.traffic import Traffic
from mock_sungrow.frontends import SERVER_TYPES, build_front_end
from mock_sungrow.frontends.base import FrontEnd
from mock_sungrow.frontends.modbus.app import ModbusApplication
from mock_sungrow.frontends.winet.auth import DEFAULT_ACCOUNTS as DEFAULT_WINET_ACCOUNTS
from mock_sungrow.frontends.winet.auth import MSG_NOTICE, NOTICE, SessionStore, WinetSettings
from mock_sungrow.plant.physics import Site
from mock_sungrow.plant.state import PlantState
from mock_sungrow.plant.weather import CloudSetting, LoadProfile
from mock_sungrow.runtime import FrontEndGroup

if TYPE_CHECKING:
    from mock_sungrow.frontends.modbus.aes import SungrowKeys


class MockSungrowServer(DeviceApi):
    """A simulated Sungrow inverter reachable over the network.

    ``model`` is any name from the catalogue (``mock-sungrow models`` lists them). Ports of 0
    pick free ports; read the bound ones from :meth:`get_connection_info` after :meth:`start`.
    ``clock`` defaults to the wall clock; pass a :class:`~mock_sungrow.clock.ManualClock` to
    move time by hand. ``seed`` makes every simulated value reproducible.
    ``datablock_class`` replaces the register tables with a subclass of
    :class:`~mock_sungrow.device.datablock.SungrowModbusDataBlock` (the original mock's extension
    idiom); every front end reads through it.

    The "sungrow" front end (``server_type`` ``"sungrow"``, ``"modbus+sungrow"``, ``"all"``...)
    listens on ``sungrow_port``. ``encryption="aes"`` hands out a public key and speaks Sungrow's
    AES framing, ``"none"`` answers the key request with "no encryption" and then speaks plain
    Modbus, ``"lan"`` is a plain port whose answer to the key request is an exception or
    nothing (``lan_key_reply``). ``plain_requests="strict"`` ignores plain requests on an
    encrypting port, ``"lenient"`` answers them.

    Hybrid (SH/MG) models get a battery of ``battery_kwh`` (default by model, 0 for none), a
    smart meter (``meter``), and a house load (``house_load``: a constant in W, 24 hourly
    values, or a function of local time; default a household curve). Where the battery is a
    Sungrow SBR tower it also answers Modbus on its own unit, ``battery_unit_id`` (200, as on
    the inverter's LAN port; ``None`` to leave it out). ``cloud_factor`` scales PV: a number,
    ``"random"`` for a seeded random walk of passing clouds, or a
    :class:`~mock_sungrow.plant.weather.CloudWalk`.

    The WiNet-S front end (``server_type`` ``"http"`` or ``"both"``) serves its WebSocket and
    HTTP API on ``http_port``; ``plain_http_port`` and ``tls_port`` add the real dongle's
    plain HTTP (80) and TLS (443, HTTPS and WSS) listeners. ``winet_profile`` picks the
    firmware generation (``"legacy"``, ``"login"`` or ``"tls-only"``); the other ``winet_``
    arguments are described in :class:`~mock_sungrow.frontends.winet.auth.WinetSettings`.

    The plant and register methods (:meth:`snapshot`, :meth:`read`, :meth:`read_registers`,
    :meth:`set_register`...) are the first inverter's (:class:`~mock_sungrow.device.api.DeviceApi`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        modbus_port: int = 5020,
        http_port: int = 8082,
        model: str = "SG5K-D",
        server_type: str = "both",
        *,
        unit_id: int = 1,
        seed: int = 0,
        clock: Clock | None = None,
        site: Site | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        timezone: str | None = None,
        serial: str | None = None,
        tick: float = 1.0,
        cloud_factor: CloudSetting = 1.0,
        meter: bool | None = None,
        battery_kwh: float | None = None,
        house_load: LoadProfile = None,
        battery_unit_id: int | None = DEFAULT_BATTERY_UNIT_ID,
        unknown_unit: str = "exception",
        datablock_class: type[SungrowModbusDataBlock] = SungrowModbusDataBlock,
        control_port: int | None = None,
        control_allow_remote: bool = False,
        control_trusted_networks: Sequence[str] = config.DEFAULT_CONTROL_TRUSTED,
        faults: Sequence[Mapping[str, Any] | str] = (),
        request_log_size: int = DEFAULT_CAPACITY,
        sungrow_port: int = 5021,
        encryption: str = "aes",
        lan_key_reply: str = "exception",
        plain_requests: str = "strict",
        plain_http_port: int | None = None,
        tls_port: int | None = None,
        winet_profile: str = "legacy",
        winet_accounts: Mapping[str, str] | None = None,
        winet_token_lifetime: float | None = None,
        winet_single_session: bool | None = None,
        winet_lockout_after: int = 5,
        winet_lockout_seconds: float = 1800.0,
        winet_scan_seconds: float = 3.0,
    ) -> None:
        config.check_server_type(server_type)
        config.check_host(host)
        config.check_unit_id("unit_id", unit_id)
        if battery_unit_id is not None:
            config.check_unit_id("battery_unit_id", battery_unit_id, or_none=True)
        config.check_datablock_class(datablock_class)
        site = config.resolve_site(site, latitude, longitude, timezone)
        self.host = host
        self.control_port = (
            None if control_port is None else config.check_port("control_port", control_port)
        )
        self.control_allow_remote = bool(control_allow_remote)
        #: Client networks the control API serves (unless ``control_allow_remote``).
        self.control_trusted_networks = config.check_networks(
            "control_trusted_networks", control_trusted_networks)
        self.modbus_port = config.check_port("modbus_port", modbus_port)
        self.http_port = config.check_port("http_port", http_port)
        self.sungrow_port = config.check_port("sungrow_port", sungrow_port)
        self.encryption = config.check_choice("encryption", encryption, config.ENCRYPTION_MODES)
        self.lan_key_reply = config.check_choice("lan_key_reply", lan_key_reply,
                                                 config.LAN_KEY_REPLIES)
        self.plain_requests = config.check_choice("plain_requests", plain_requests,
                                                  config.PLAIN_REQUEST_POLICIES)
        self.plain_http_port = config.check_optional_port("plain_http_port", plain_http_port)
        self.tls_port = config.check_optional_port("tls_port", tls_port)
        self._base_winet_profile = winet_profile
        self.winet_settings = WinetSettings(
            profile=winet_profile,
            accounts=dict(DEFAULT_WINET_ACCOUNTS if winet_accounts is None else winet_accounts),
            token_lifetime=winet_token_lifetime,
            single_session=winet_single_session,
            lockout_after=winet_lockout_after,
            lockout_seconds=winet_lockout_seconds,
            scan_seconds=winet_scan_seconds,
        )
        self.model: InverterModel = load_catalog().model(model)
        self.server_type = server_type
        self.unit_id = unit_id
        self.battery_unit_id = battery_unit_id
        self.clock: Clock = clock if clock is not None else RealClock()
        self.datablock_class = datablock_class
        self.unknown_unit = unknown_unit
        self._plant_options: dict[str, Any] = {
            "site": site,
            "seed": seed,
            "tick": tick,
            "serial": serial,
            "cloud_factor": cloud_factor,
            "has_meter": meter,
            "battery_kwh": battery_kwh,
            "house_load": house_load,
        }
        self.diagnostics = Diagnostics()
        #: Active faults (see :meth:`inject`).
        self.faults = FaultSet(self.clock.time)
        #: Every request every front end saw (see :mod:`mock_sungrow.faults.requestlog`).
        self.requests = RequestLog(request_log_size)
        # Every request reads this clock: skip a layer of calls for the wall clock.
        now = time.time if type(self.clock) is RealClock else self.clock.time
        self.traffic = Traffic(
            self.faults, self.requests, now, is_night=self._is_night, seed=seed
        )
        #: WiNet-S tokens, failed logins and lockouts (on the server's clock).
        self.winet_sessions = SessionStore(self.winet_settings, self.clock.time)
        self.register_map = RegisterMap.for_model(self.model.name)
        self.faults.add_listener(lambda fault, added: fault_changed(self, fault, added))
        # Duration faults end at their end time: on clock moves, by a timer, on any look.
        self._fault_ends = FaultEnds(self.faults, self.clock)
        self._build_plant()
        #: The dongle's public key (``encryption="aes"`` only); it outlives ``reset()``.
        self.sungrow_keys: SungrowKeys | None = None
        if encryption == "aes" and "sungrow" in SERVER_TYPES[server_type]:
            from mock_sungrow.frontends.modbus.aes import SungrowKeys

            self.sungrow_keys = SungrowKeys(self)
        self._lock = threading.Lock()
        self._running: FrontEndGroup | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        # Last: a session fault acts on the keys, the sessions and the running front ends.
        for spec in faults:
            self.inject(spec)

    # ------------------------------------------------------------------------------ building

    def _build_plant(self) -> None:
        self.plant = PlantState(
            self.model,
            self.clock,
            holding_defaults=self.register_map.holding_defaults(),
            **self._plant_options,
        )
        # The plant applies fault ends due before it integrates past them, at their instants;
        # the same lock keeps a clock move and a request from racing past an end.
        self.faults.expiry_lock = self.plant.lock
        self.plant.add_change_source(self.faults.expire)
        inverter, self.battery = build_devices(self.plant, self.register_map,
                                               self.datablock_class, self.unit_id,
                                               self.battery_unit_id)
        self.device = inverter.device
        self._devices: list[DeviceInfo] = [inverter]
        if self.battery is not None:
            self._devices.append(self.battery.info)
        devices = {d.unit_id: d.device for d in self._devices}
        app: ModbusApplication | None = getattr(self, "modbus_app", None)
        if app is not None:  # reset(): live connections keep their application
            app.set_devices(devices)
        else:
            self.modbus_app = ModbusApplication(
                devices, self.diagnostics, unknown_unit=self.unknown_unit
            )

    @property
    def devices(self) -> list[DeviceInfo]:
        """The installation's devices, inverter first (a WiNet-S device list's order).

        Each entry carries the device-list fields (logical id, unit id, model, type codes,
        serial) and the :class:`~mock_sungrow.device.device.SimulatedDevice` whose data blocks
        serve its registers.
        """
        return list(self._devices)

    def _make_front_ends(self) -> list[FrontEnd]:
        kinds = list(SERVER_TYPES[self.server_type])
        if self.control_port is not None:
            kinds.append("control")
        return [build_front_end(kind, self) for kind in kinds]

    def configured_port(self, kind: str) -> int:
        """The port asked for ``kind`` (0 means "any free port")."""
        ports = {"modbus": self.modbus_port, "http": self.http_port,
                 "sungrow": self.sungrow_port}
        if self.control_port is not None:
            ports["control"] = self.control_port
        return ports[kind]

    # ------------------------------------------------------- the fault host (faults.effects)

    def plant_for(self, unit: int | None) -> PlantState:
        """The plant a plant fault acts on (one plant per server: the inverter's)."""
        return self.plant

    def rotate_key(self) -> None:
        """A ``key-rotate`` fault: see :meth:`rotate_sungrow_key`."""
        self.rotate_sungrow_key()

    def kick_sessions(self) -> None:
        """A ``winet-kick`` fault: every session hears notice 100, its token stops working.

        (Another login took the single session: a client must connect and log in again.)
        """
        if self._running is not None:
            self._running.each("push_notice", NOTICE, MSG_NOTICE, kind="http")
        self.winet_sessions.expire(None)

    def rearm_idle(self, *, wait: bool = True) -> None:
        """An ``idle-timeout`` fault came or went: restart every connection's idle timer."""
        if self._running is not None:
            self._running.each("rearm_idle", wait=wait)

    def set_winet_profile(self, profile: str | None, *, wait: bool = True) -> None:
        """Switch the dongle's firmware profile at run time (``None``: the configured one).

        What a ``winet-profile`` fault does as it starts and ends.
        """
        settings = dataclasses.replace(self.winet_settings,
                                       profile=profile or self._base_winet_profile)
        self.winet_settings = settings
        self.winet_sessions.settings = settings
        if self._running is not None and settings.profile_info.tls_only:
            self._running.each("close_plain_connections", kind="http", wait=wait)

    def can_rotate_key(self) -> bool:
        """Whether a ``key-rotate`` fault can act: the sungrow port with ``encryption="aes"``."""
        return self.sungrow_keys is not None

    def has_tls_listener(self) -> bool:
        """Whether the dongle has a TLS listener (a ``tls-only`` profile needs one)."""
        return self.tls_port is not None or self.winet_settings.profile_info.tls_only

    def settings_text(self) -> str:
        """The settings a refused fault names."""
        return f"server_type={self.server_type!r}, encryption={self.encryption!r}"

    def _is_night(self) -> bool:
        return self.plant.snapshot().irradiance_w_m2 <= 0.0

    # ------------------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Whether :meth:`start` has run and :meth:`stop` has not."""
        return self._running is not None

    @property
    def _front_ends(self) -> list[FrontEnd]:
        return [] if self._running is None else self._running.front_ends

    def start(self, timeout: float = 10.0) -> MockSungrowServer:
        """Bind every front end and return once all of them accept connections.

        A port that cannot be bound raises :class:`OSError` naming the front end and the
        address, after everything already started has been stopped again.
        """
        with self._lock:
            if self._running is not None:
                return self
            group = FrontEndGroup.start(f"mock-sungrow-{self.model.name}",
                                        self._make_front_ends, timeout)
            self._running = group
            self._fault_ends.start(group.runtime)
            self._finalizer = weakref.finalize(self, group.stop)
            return self

    def stop(self) -> None:
        """Stop every front end; leaves no thread, task or socket behind. Idempotent."""
        with self._lock:
            group, self._running = self._running, None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
            self._fault_ends.stop()
        if group is not None:
            group.stop()

    def advance(self, seconds: float) -> None:
        """Move a :class:`~mock_sungrow.clock.ManualClock` forward."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs the server to run on a ManualClock")
        self.clock.advance(seconds)

    def reset(self) -> None:
        """Rebuild the plant as if newly constructed; keep the ports.

        Every fault, pinned register, logged request and problem is cleared too. The clock
        is kept, so a manual clock stays where the test moved it.
        """
        self.faults.clear()
        with self.plant.lock:
            self._build_plant()
        self.traffic.reset()
        self.requests.clear()
        self.diagnostics.clear()
        # Like a rebooted dongle: every token is forgotten, lockouts are lifted.
        self.winet_sessions = SessionStore(self.winet_settings, self.clock.time)

    # ------------------------------------------------------------------------------ faults

    def inject(self, spec: Mapping[str, Any] | str | Fault | None = None, /,
               **kwargs: Any) -> Fault:
        """Inject a fault; returns it (use it as a context manager to remove it on exit).

        ``server.inject("exception", code=2, table="input", address=(5031, 5032), times=1)``,
        ``server.inject({"kind": "latency", "profile": "winet-modbus"})`` and
        ``server.inject("silence:function=4,times=2")`` are equivalent forms; see
        :data:`mock_sungrow.faults.KINDS` and docs/faults.md for the catalogue.
        """
        fault = fault_from(spec, **kwargs)
        fault.kind.effect.check(fault, self)  # one this server cannot carry out is refused
        return self.faults.inject(fault)

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.faults.clear()

    def wait(self, timeout: float = 5.0) -> None:
        """Return once every finite fault has fired, and every duration fault has ended.

        Raises ``TimeoutError`` naming the faults that did not. (On a manual clock a duration
        fault ends only when the clock is moved past its end.)
        """
        self.faults.wait(timeout)

    def __enter__(self) -> MockSungrowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ reporting

    def get_connection_info(self, kind: str = "modbus") -> dict[str, Any]:
        """Where a client of ``kind`` connects: ``host``, ``port``, ``connection_type``.

        Before :meth:`start` the configured ports are reported (0 stays 0).
        """
        for fe in self._front_ends:
            if fe.name == kind:
                return fe.connection_info()
        if kind in SERVER_TYPES[self.server_type]:
            info = {"host": self.host, "port": self.configured_port(kind), "connection_type": kind}
            if kind == "sungrow":
                info["encryption"] = self.encryption
            return info
        known = sorted({k for kinds in SERVER_TYPES.values() for k in kinds})
        if kind not in known:
            raise ValueError(f"unknown connection kind {kind!r}; accepted: {', '.join(known)}")
        raise FrontEndUnavailableError(
            f"this server (server_type={self.server_type!r}) does not serve {kind!r}"
        )

    def connection_infos(self) -> dict[str, dict[str, Any]]:
        """Every front end's connection info, keyed by kind (the CLI's ready line)."""
        return {fe.name: fe.connection_info() for fe in self._front_ends}

    @property
    def ports(self) -> dict[str, int | None]:
        """Bound ports by front end."""
        return {fe.name: fe.connection_info()["port"] for fe in self._front_ends}

    @property
    def problems(self) -> list[Problem]:
        """Server-side problems seen so far (handler errors, undecodable frames...)."""
        return self.diagnostics.snapshot()

    # ------------------------------------------------------------------------------ the key

    def sungrow_public_key(self) -> bytes | None:
        """The 16 bytes the sungrow port's key request gets now.

        A real key with ``encryption="aes"`` (stable for the plant's calendar day), 16 zero
        bytes with ``"none"``, ``None`` with ``"lan"`` (no key is handed out).
        """
        if self.sungrow_keys is not None:
            return self.sungrow_keys.public_key()
        return bytes(16) if self.encryption == "none" else None

    def rotate_sungrow_key(self) -> bytes:
        """Hand out a new public key from now on; every key handed out before stops working.

        A fault to inject: clients that cached the old key fail (their frames no longer
        decrypt, the server closes those connections) until they fetch the key again, which
        the Sungrow clients do only when their calendar day changes or they restart.
        """
        if self.sungrow_keys is None:
            raise ValueError(
                "rotate_sungrow_key() needs the sungrow front end with encryption='aes'; "
                f"this server has server_type={self.server_type!r}, "
                f"encryption={self.encryption!r}"
            )
        return self.sungrow_keys.rotate()

    # ------------------------------------------------------------------------------ WiNet-S

    def expire_winet_tokens(self, token: str | None = None) -> int:
        """Invalidate one WiNet-S token (or every one): its next use answers ``106``.

        Returns how many tokens were invalidated. Tokens also expire by themselves after
        ``winet_token_lifetime`` seconds of the server's clock.
        """
        return self.winet_sessions.expire(token)

    def push_winet_notice(
        self, code: int = NOTICE, message: str = MSG_NOTICE, token: str | None = None
    ) -> int:
        """Push a ``notice`` frame to every open WiNet-S WebSocket (or the one owning ``token``).

        Real dongles push ``{"result_code": 100, "result_msg": "normal user limit", ...}`` when
        another login takes the single session; clients that match replies by order break on
        it, which is what a test may want to provoke. Returns how many sessions got it.
        """
        front_end = self._front_end("http")
        if front_end is None or self._running is None:
            return 0
        push = front_end.push_notice  # type: ignore[attr-defined]
        sent: int = self._running.runtime.run(push(code, message, token), 10)
        return sent

    @property
    def winet_ca_pem(self) -> bytes | None:
        """PEM of the CA that issued the TLS listener's certificate (``None`` without one).

        Clients of real dongles skip verification; a test that wants to verify can trust this.
        """
        front_end = self._front_end("http")
        return getattr(front_end, "ca_pem", None)

    def _front_end(self, kind: str) -> FrontEnd | None:
        return None if self._running is None else self._running.find(kind)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<MockSungrowServer {self.model.name} {self.server_type} {state} {self.ports}>"
