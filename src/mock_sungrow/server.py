"""``MockSungrowServer``: the facade that builds a plant, its registers and its front ends.

It holds no protocol code. It validates configuration, owns the lifecycle (one background loop
thread per running server), and offers the Python API tests use to look inside and steer the
simulated inverter.
"""

from __future__ import annotations

import importlib
import threading
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from mock_sungrow.catalog import InverterModel, Table, load_catalog
from mock_sungrow.clock import Clock, ManualClock, RealClock
from mock_sungrow.datablock import RegisterBank, SimulatedDevice, SungrowModbusDataBlock
from mock_sungrow.diagnostics import Diagnostics, Problem
from mock_sungrow.errors import FrontEndUnavailableError
from mock_sungrow.frontend import FrontEnd
from mock_sungrow.modbus import ModbusApplication
from mock_sungrow.plant import PlantSnapshot, PlantState
from mock_sungrow.registermap import RegisterMap, decode_words
from mock_sungrow.runtime import LoopThread
from mock_sungrow.simulation import Site
from mock_sungrow.winet.auth import DEFAULT_ACCOUNTS as DEFAULT_WINET_ACCOUNTS
from mock_sungrow.winet.auth import MSG_NOTICE, NOTICE, SessionStore, WinetSettings

#: Front ends each ``server_type`` serves.
SERVER_TYPES: dict[str, tuple[str, ...]] = {
    "modbus": ("modbus",),
    "http": ("http",),
    "both": ("modbus", "http"),
}
#: Where each front end's builder lives (``module:function``, called with the server). They
#: are imported only when a server that serves them starts, so a Modbus-only server never
#: imports an HTTP stack.
FRONT_END_BUILDERS: dict[str, str] = {
    "modbus": "mock_sungrow.modbus:build_front_end",
    "http": "mock_sungrow.winet.app:build_front_end",
}
#: Front ends this version implements.
IMPLEMENTED_FRONT_ENDS = frozenset(FRONT_END_BUILDERS)


def _check_optional_port(name: str, port: object) -> int | None:
    return None if port is None else _check_port(name, port)


def _check_port(name: str, port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{name} must be an integer 0..65535 (0 picks a free port); got {port!r}")
    return port


class MockSungrowServer:
    """A simulated Sungrow inverter reachable over the network.

    ``model`` is any name from the catalogue (``mock-sungrow models`` lists them). Ports of 0
    pick free ports; read the bound ones from :meth:`get_connection_info` after :meth:`start`.
    ``clock`` defaults to the wall clock; pass a :class:`~mock_sungrow.clock.ManualClock` to
    move time by hand. ``seed`` makes every simulated value reproducible.
    ``datablock_class`` replaces the register tables with a subclass of
    :class:`~mock_sungrow.datablock.SungrowModbusDataBlock` (the original mock's extension
    idiom); every front end reads through it.

    The WiNet-S front end (``server_type`` ``"http"`` or ``"both"``) serves its WebSocket and
    HTTP API on ``http_port``; ``plain_http_port`` and ``tls_port`` add the real dongle's
    plain HTTP (80) and TLS (443, HTTPS and WSS) listeners. ``winet_profile`` picks the
    firmware generation (``"legacy"``, ``"login"`` or ``"tls-only"``); the other ``winet_``
    arguments are described in :class:`~mock_sungrow.winet.auth.WinetSettings`.
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
        cloud_factor: float = 1.0,
        meter: bool | None = None,
        battery_kwh: float | None = None,
        unknown_unit: str = "exception",
        datablock_class: type[SungrowModbusDataBlock] = SungrowModbusDataBlock,
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
        if server_type not in SERVER_TYPES:
            raise ValueError(
                f"unknown server_type {server_type!r}; accepted: " + ", ".join(SERVER_TYPES)
            )
        missing = [fe for fe in SERVER_TYPES[server_type] if fe not in IMPLEMENTED_FRONT_ENDS]
        if missing:
            raise FrontEndUnavailableError(
                f"server_type={server_type!r} needs front end(s) {', '.join(missing)}, "
                "which this version of mock-sungrow does not implement"
            )
        if not isinstance(host, str) or not host:
            raise ValueError(f"host must be a non-empty string such as '127.0.0.1'; got {host!r}")
        if isinstance(unit_id, bool) or not isinstance(unit_id, int) or not 1 <= unit_id <= 247:
            raise ValueError(f"unit_id must be an integer 1..247; got {unit_id!r}")
        if not (isinstance(datablock_class, type)
                and issubclass(datablock_class, SungrowModbusDataBlock)):
            raise ValueError(  # noqa: TRY004 - every bad argument is a ValueError here
                "datablock_class must be a subclass of SungrowModbusDataBlock"
            )
        if site is not None and (latitude, longitude, timezone) != (None, None, None):
            raise ValueError("give either site=Site(...) or latitude/longitude/timezone, not both")
        if site is None:
            defaults = Site()
            site = Site(
                latitude=defaults.latitude if latitude is None else latitude,
                longitude=defaults.longitude if longitude is None else longitude,
                timezone=defaults.timezone if timezone is None else timezone,
            )
        self.host = host
        self.modbus_port = _check_port("modbus_port", modbus_port)
        self.http_port = _check_port("http_port", http_port)
        self.plain_http_port = _check_optional_port("plain_http_port", plain_http_port)
        self.tls_port = _check_optional_port("tls_port", tls_port)
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
        }
        self.diagnostics = Diagnostics()
        #: WiNet-S tokens, failed logins and lockouts (on the server's clock).
        self.winet_sessions = SessionStore(self.winet_settings, self.clock.time)
        self.register_map = RegisterMap.for_model(self.model.name)
        self._build_plant()
        self._lock = threading.Lock()
        self._runtime: LoopThread | None = None
        self._front_ends: list[FrontEnd] = []
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # ------------------------------------------------------------------------------ building

    def _build_plant(self) -> None:
        self.plant = PlantState(
            self.model,
            self.clock,
            holding_defaults=self.register_map.holding_defaults(),
            **self._plant_options,
        )
        bank = RegisterBank(self.plant, self.register_map)
        self.device = SimulatedDevice(
            name=self.model.name,
            unit_ids=frozenset({self.unit_id}),
            input=self.datablock_class("input", bank),
            holding=self.datablock_class("holding", bank),
        )
        devices = {self.unit_id: self.device}
        app: ModbusApplication | None = getattr(self, "modbus_app", None)
        if app is not None:  # reset(): live connections keep their application
            app.set_devices(devices)
        else:
            self.modbus_app = ModbusApplication(
                devices, self.diagnostics, unknown_unit=self.unknown_unit
            )

    def _make_front_ends(self) -> list[FrontEnd]:
        front_ends: list[FrontEnd] = []
        for kind in SERVER_TYPES[self.server_type]:
            module, function = FRONT_END_BUILDERS[kind].split(":")
            front_ends.append(getattr(importlib.import_module(module), function)(self))
        return front_ends

    def configured_port(self, kind: str) -> int:
        """The port asked for ``kind`` (0 means "any free port")."""
        return {"modbus": self.modbus_port, "http": self.http_port}[kind]

    # ------------------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Whether :meth:`start` has run and :meth:`stop` has not."""
        return self._runtime is not None

    def start(self, timeout: float = 10.0) -> MockSungrowServer:
        """Bind every front end and return once all of them accept connections.

        A port that cannot be bound raises :class:`OSError` naming the front end and the
        address, after everything already started has been stopped again.
        """
        with self._lock:
            if self._runtime is not None:
                return self
            runtime = LoopThread(f"mock-sungrow-{self.model.name}")
            runtime.start()
            front_ends = self._make_front_ends()
            started: list[FrontEnd] = []
            try:
                for fe in front_ends:
                    runtime.run(fe.start(), timeout)
                    started.append(fe)
            except BaseException:
                for fe in reversed(started):
                    runtime.run(fe.stop(), timeout)
                runtime.stop()
                raise
            self._runtime = runtime
            self._front_ends = front_ends
            self._finalizer = weakref.finalize(self, _stop_runtime, runtime, front_ends)
            return self

    def stop(self) -> None:
        """Stop every front end; leaves no thread, task or socket behind. Idempotent."""
        with self._lock:
            runtime, front_ends = self._runtime, self._front_ends
            self._runtime, self._front_ends = None, []
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
        if runtime is not None:
            _stop_runtime(runtime, front_ends)

    def reset(self) -> None:
        """Rebuild the plant from the configuration (as if newly constructed), keeping ports.

        The clock is kept, so a manual clock stays where the test moved it.
        """
        with self.plant.lock:
            self._build_plant()
            self.diagnostics.clear()
            # Like a rebooted dongle: every token is forgotten, lockouts are lifted.
            self.winet_sessions = SessionStore(self.winet_settings, self.clock.time)

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
            return {"host": self.host, "port": self.configured_port(kind), "connection_type": kind}
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

    # ------------------------------------------------------------------------------ the plant

    def snapshot(self) -> PlantSnapshot:
        """What the plant measures right now (the same instant every front end serves)."""
        return self.plant.snapshot()

    def advance(self, seconds: float) -> None:
        """Move a :class:`~mock_sungrow.clock.ManualClock` forward."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs the server to run on a ManualClock")
        self.clock.advance(seconds)

    def set_clock(self, when: datetime) -> None:
        """Set the inverter's own clock (what holding 5000-5005 read)."""
        self.plant.set_clock(when)

    def read_registers(self, table: Table, address: int, count: int = 1) -> list[int]:
        """Read words exactly as a client would, by *documented* register number."""
        return self.device.block(table).getValues(address, count)

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Write holding registers exactly as a client would (validated, with effects)."""
        self.device.holding.setValues(address, list(values))

    def read(self, name: str, table: Table = "input") -> Any:
        """Read one catalogued register by name, decoded into engineering units."""
        row = self.register_map.by_name.get((table, name))
        if row is None:
            raise KeyError(f"{self.model.name} has no {table} register named {name!r}")
        return decode_words(row, self.read_registers(table, row.address, row.words))

    def set_register(self, table: Table, address: int, words: Sequence[int]) -> None:
        """Pin raw words into a table, overriding the plant, until :meth:`clear_registers`."""
        self.device.input.bank.pin(table, address, words)

    def clear_registers(self) -> None:
        """Drop every pinned word."""
        self.device.input.bank.unpin()

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
        runtime = self._runtime
        if front_end is None or runtime is None:
            return 0
        push = front_end.push_notice  # type: ignore[attr-defined]
        sent: int = runtime.run(push(code, message, token), 10)
        return sent

    @property
    def winet_ca_pem(self) -> bytes | None:
        """PEM of the CA that issued the TLS listener's certificate (``None`` without one).

        Clients of real dongles skip verification; a test that wants to verify can trust this.
        """
        front_end = self._front_end("http")
        return getattr(front_end, "ca_pem", None)

    def _front_end(self, kind: str) -> FrontEnd | None:
        return next((fe for fe in self._front_ends if fe.name == kind), None)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<MockSungrowServer {self.model.name} {self.server_type} {state} {self.ports}>"


def _stop_runtime(runtime: LoopThread, front_ends: Sequence[FrontEnd]) -> None:
    try:
        for fe in reversed(front_ends):
            if runtime.running:
                runtime.run(fe.stop(), 10)
    finally:
        runtime.stop()
