"""``MockSungrowServer``: the facade over one installation, its front ends and its faults.

It holds no protocol code. It turns its arguments into an installation
(:mod:`mock_sungrow.installation`: the original arguments are one stand-alone inverter,
``installation=`` any site), owns the lifecycle (one loop thread per running server:
:class:`mock_sungrow.runtime.FrontEndGroup`), and offers the Python API tests use to look
inside and steer the devices (each :class:`~mock_sungrow.device.device.Device` has its own;
the server's methods mean its first inverter). It is also the host plant and session faults
act through (:class:`~mock_sungrow.faults.effects.FaultHost`).
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mock_sungrow import checks, config
from mock_sungrow.clock import Clock, ManualClock, RealClock
from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.device.device import DEFAULT_BATTERY_UNIT_ID, Device
from mock_sungrow.diagnostics import Diagnostics, Problem
from mock_sungrow.endpoints import DEVICE_FRONT_ENDS
from mock_sungrow.faults.effects import fault_changed
from mock_sungrow.faults.faultset import FaultSet
from mock_sungrow.faults.lifetimes import FaultEnds
from mock_sungrow.faults.requestlog import DEFAULT_CAPACITY, RequestLog
from mock_sungrow.faults.spec import Fault, fault_from
from mock_sungrow.faults.traffic import Traffic
from mock_sungrow.frontends import build_front_end
from mock_sungrow.frontends.base import Binding, FrontEnd
from mock_sungrow.frontends.dongle import Dongle
from mock_sungrow.installation.installation import Endpoint, Installation
from mock_sungrow.installation.spec import InstallationSpec
from mock_sungrow.plant.physics import Site
from mock_sungrow.plant.weather import CloudSetting, LoadProfile
from mock_sungrow.runtime import FrontEndGroup
from mock_sungrow.server_devices import DeviceAccess
from mock_sungrow.server_info import ServerInfo

if TYPE_CHECKING:

    from mock_sungrow.dumps.formats import Dump
    from mock_sungrow.plant.state import PlantState

#: Arguments that combine with ``installation=`` (the rest describe devices: they belong in it).
_SERVER_WIDE = frozenset({"host", "clock", "datablock_class", "control_port",
                          "control_allow_remote", "control_trusted_networks",
                          "control_read_only", "faults",
                          "request_log_size"})


class MockSungrowServer(DeviceAccess, ServerInfo):
    """Simulated Sungrow devices reachable over the network: one inverter, or an installation.

    ``model`` is any name from the catalogue (``mock-sungrow models`` lists them). Ports of 0
    pick free ports; read the bound ones from :meth:`get_connection_info` after :meth:`start`.
    ``clock`` defaults to the wall clock; pass a :class:`~mock_sungrow.clock.ManualClock` to
    move time by hand. ``seed`` makes every simulated value reproducible.
    ``datablock_class`` replaces the register tables with a subclass of
    :class:`~mock_sungrow.device.datablock.SungrowModbusDataBlock` (the original mock's extension
    idiom); every front end reads through it.

    ``server_type`` names the inverter's front ends: any ``+``-joined set of ``modbus`` (its
    LAN port, ``modbus_port``), ``http`` (its WiNet-S web API, ``http_port``) and ``sungrow``
    (the WiNet-S Modbus port, ``sungrow_port``), ``rtu`` (its RS485 port, Modbus RTU on a
    pseudo-terminal whose path ``get_connection_info("rtu")`` gives) and ``rtu-tcp`` (RTU
    frames over TCP as an RS485-to-Ethernet gateway forwards them, ``rtu_tcp_port``), or
    ``both`` (modbus+http) and ``all``. The RS485 line runs at ``rtu_baudrate`` with
    ``rtu_bytesize``, ``rtu_parity`` and ``rtu_stopbits`` (9600 8N1) and the inverter answers
    ``rtu_turnaround`` seconds after a request; ``rtu_link`` makes a symlink to the pty.
    ``encryption="aes"`` hands out a public key and speaks Sungrow's AES framing, ``"none"``
    answers the key request with "no encryption" and then speaks plain Modbus, ``"lan"`` is a
    plain port whose answer to the key request is an exception or nothing (``lan_key_reply``).
    ``plain_requests="strict"`` ignores plain requests on an encrypting port, ``"lenient"``
    answers them.

    Hybrid (SH/MG) models get a battery of ``battery_kwh`` (default by model, 0 for none), a
    smart meter (``meter``), and a house load (``house_load``: a constant in W, 24 hourly
    values, or a function of local time; default a household curve). ``settings_from`` (a
    dump or its path) starts the inverter with the settings a real unit was recorded holding
    (:mod:`mock_sungrow.dumps.settings`). Where the battery is a
    Sungrow SBR tower (``battery_make="sungrow"``) it also answers Modbus on its own unit,
    ``battery_unit_id`` (200, as on the inverter's LAN port; ``None`` to leave it out);
    ``battery_make="third-party"`` is a pack on the BMS link, with no unit and no BCU firmware.
    ``cloud_factor`` scales PV: a number,
    ``"random"`` for a seeded random walk of passing clouds, or a
    :class:`~mock_sungrow.plant.weather.CloudWalk`.

    ``plain_http_port`` and ``tls_port`` add the real dongle's plain HTTP (80) and TLS (443,
    HTTPS and WSS) listeners. ``winet_profile`` picks the firmware generation (``"legacy"``,
    ``"login"`` or ``"tls-only"``); the other ``winet_`` arguments are described in
    :class:`~mock_sungrow.config.WinetConfig`.

    ``installation`` (an :class:`~mock_sungrow.installation.spec.InstallationSpec`, a dict or
    the path of a TOML/YAML file) describes every device instead: inverters with roles, their
    batteries and ports. Only ``host``, ``clock``, ``datablock_class``, the ``control_``
    arguments, ``faults`` and ``request_log_size`` combine with it.

    :attr:`inverters` and :attr:`devices` are the devices, each with its own Python API; the
    plant and register methods here (:meth:`snapshot`, :meth:`read`, :meth:`read_registers`,
    :meth:`set_register`...) are the first inverter's.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        modbus_port: int = 5020,
        http_port: int = 8082,
        model: str = "SG5K-D",
        server_type: str = "both",
        *,
        installation: InstallationSpec | Mapping[str, Any] | str | Path | None = None,
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
        battery_make: str = "sungrow",
        house_load: LoadProfile = None,
        settings_from: str | Path | Dump | None = None,
        battery_unit_id: int | None = DEFAULT_BATTERY_UNIT_ID,
        unknown_unit: str = "exception",
        datablock_class: type[SungrowModbusDataBlock] = SungrowModbusDataBlock,
        control_port: int | None = None,
        control_allow_remote: bool = False,
        control_trusted_networks: Sequence[str] = config.DEFAULT_CONTROL_TRUSTED,
        control_read_only: bool = False,
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
        rtu_tcp_port: int = 8899,
        rtu_baudrate: int = 9600,
        rtu_bytesize: int = 8,
        rtu_parity: str = "N",
        rtu_stopbits: int = 1,
        rtu_turnaround: float = 0.0,
        rtu_link: str | None = None,
    ) -> None:
        kwargs = {k: v for k, v in locals().items() if k in _DEFAULTS}
        self.host = checks.check_host(host)
        self.datablock_class = checks.check_datablock_class(datablock_class)
        #: The control API's settings (its port ``None``: not served).
        self.control = config.from_kwargs(config.ControlConfig, kwargs)
        if installation is None:
            self._kinds = checks.check_server_type(server_type)
            self.server_type = server_type
            spec = InstallationSpec.from_kwargs(
                kwargs, self._kinds, checks.resolve_site(site, latitude, longitude, timezone))
        else:
            given = [name for name, value in kwargs.items() if name not in _SERVER_WIDE
                     and _differs(name, value)]
            if given:
                raise ValueError(
                    f"installation= describes the devices: {', '.join(given)} cannot be given "
                    "with it (put them in the installation); only "
                    + ", ".join(sorted(_SERVER_WIDE)) + " combine with it")
            spec = InstallationSpec.coerce(installation)
            self._kinds = tuple(k for k in DEVICE_FRONT_ENDS if k in spec.inverters[0].ports)
            self.server_type = "+".join(self._kinds) or "none"
        spec.check_ports({"control_port": self.control.port})
        self.clock: Clock = clock if clock is not None else RealClock()
        self.diagnostics = Diagnostics()
        #: Active faults (see :meth:`inject`).
        self.faults = FaultSet(self.clock.time)
        #: Every request every front end saw (see :mod:`mock_sungrow.faults.requestlog`).
        self.requests = RequestLog(request_log_size)
        # Every request reads this clock: skip a layer of calls for the wall clock.
        now = time.time if type(self.clock) is RealClock else self.clock.time
        first_seed = spec.inverters[0].plant.seed
        self.traffic = Traffic(self.faults, self.requests, now, is_night=self._is_night,
                               seed=first_seed)
        self.faults.add_listener(lambda fault, added: fault_changed(self, fault, added))
        # Duration faults end at their end time: on clock moves, by a timer, on any look.
        self._fault_ends = FaultEnds(self.faults, self.clock)
        #: The devices and their endpoints (see :mod:`mock_sungrow.installation`).
        self.installation = Installation(spec, self.clock, self.datablock_class,
                                         on_plant=self._plant_built)
        # The plants apply fault ends due before they integrate past them, at their
        # instants; one lock keeps a clock move and a request from racing past an end.
        self.faults.expiry_lock = self.installation.lock
        self._adopt_devices()
        #: Each inverter's WiNet-S: settings, sessions, public key (they outlive reset()).
        self.dongles = [
            Dongle(inv.winet, inv.sungrow, self._plant_getter(i), self.clock.time,
                   encrypts="sungrow" in inv.ports)
            for i, inv in enumerate(spec.inverters)
        ]
        self._lock = threading.Lock()
        self._running: FrontEndGroup | None = None
        self._bound: list[Endpoint] = []
        self._finalizer: weakref.finalize[Any, Any] | None = None
        # Last: a session fault acts on the keys, the sessions and the running front ends.
        for fault_spec in faults:
            self.inject(fault_spec)

    @classmethod
    def from_dump(cls, dump: str | Path | Dump, *, live: bool = False,
                  **kwargs: Any) -> MockSungrowServer:
        """A server replaying a recorded device (``mock-sungrow serve --replay``).

        ``dump`` is a dump file (YAML, wire trace or fingerprint: docs/dumps.md) or a loaded
        :class:`~mock_sungrow.dumps.formats.Dump`; its model and unit are the recorded
        device's, every recorded word is answered and everything else refused, exactly as
        recorded. ``live`` overlays the plant's values on the measurements. Other keyword
        arguments (ports, ``server_type``, faults...) are the constructor's.
        """
        from mock_sungrow.dumps.formats import Dump, load_dump
        from mock_sungrow.dumps.replay import replay_arguments

        recorded = dump if isinstance(dump, Dump) else load_dump(dump)
        return cls(**{**replay_arguments(recorded, live=live, model=kwargs.pop("model", None)),
                      **kwargs})

    # ------------------------------------------------------------------------------ building

    def _plant_built(self, plant: PlantState) -> None:
        plant.add_change_source(self.faults.expire)

    def _plant_getter(self, index: int) -> Any:
        return lambda: self.installation.inverters[index].plant

    def _adopt_devices(self) -> None:
        for device in self.installation.devices:
            device.injector = self._inject_for

    def _bindings(self) -> list[Binding]:
        bindings = [
            Binding(e, self.host, self.traffic, self.diagnostics,
                    dongle=self.dongles[e.inverter] if e.inverter is not None else None)
            for e in self.installation.endpoints
        ]
        bindings.sort(key=lambda b: b.endpoint.inverter or 0)
        if self.control.port is not None:
            bindings.append(Binding(Endpoint("control", self.control.port), self.host,
                                    self.traffic, self.diagnostics, control=self.control,
                                    owner=self))
        return bindings

    def _make_front_ends(self) -> list[FrontEnd]:
        bindings = self._bindings()
        self._bound = [b.endpoint for b in bindings]
        return [build_front_end(b) for b in bindings]

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

    def _adopt(self, group: FrontEndGroup | None) -> None:
        """Serve through ``group``: front ends a fleet started on its shared loop (``None``: gone).

        :class:`mock_sungrow.fleet.Fleet` runs many sites on one loop thread; each site is this
        facade, built with :meth:`_make_front_ends`, its group stopped by the fleet.
        """
        with self._lock:
            self._running = group
            if group is None:
                self._fault_ends.stop()
            else:
                self._fault_ends.start(group.runtime)

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
        """Rebuild every plant and device as if newly constructed; keep the ports.

        Every fault, pinned register, logged request and problem is cleared too. The clock
        is kept, so a manual clock stays where the test moved it.
        """
        self.faults.clear()
        with self.installation.lock:
            self.installation.build()
            self._adopt_devices()
        self.traffic.reset()
        self.requests.clear()
        self.diagnostics.clear()
        for dongle in self.dongles:  # like rebooted dongles: tokens forgotten, lockouts lifted
            dongle.reset()

    # ------------------------------------------------------------------------------ faults

    def inject(self, spec: Mapping[str, Any] | str | Fault | None = None, /,
               **kwargs: Any) -> Fault:
        """Inject a fault; returns it (use it as a context manager to remove it on exit).

        ``server.inject("exception", code=2, table="input", address=(5031, 5032), times=1)``,
        ``server.inject({"kind": "latency", "profile": "winet-modbus"})`` and
        ``server.inject("silence:function=4,times=2")`` are equivalent forms; see
        :data:`mock_sungrow.faults.KINDS` and docs/faults.md for the catalogue. A fault
        matches every device unless it names a ``unit`` or ``device`` (a serial);
        ``device.inject(...)`` adds both for that device.
        """
        fault = fault_from(spec, **kwargs)
        fault.kind.effect.check(fault, self)  # one this server cannot carry out is refused
        return self.faults.inject(fault)

    def _inject_for(self, device: Device, spec: Mapping[str, Any] | str | Fault | None,
                    /, **kwargs: Any) -> Fault:
        """``device.inject``: the fault, matching that device unless it names another."""
        fault = fault_from(spec, **kwargs)
        match = fault.match
        fault.match = dataclasses.replace(
            match, unit=device.unit if match.unit is None else match.unit,
            device=device.serial if match.device is None else match.device)
        return self.inject(fault)

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

    @property
    def problems(self) -> list[Problem]:
        """Server-side problems seen so far (handler errors, undecodable frames...)."""
        return self.diagnostics.snapshot()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<MockSungrowServer {self.model.name} {self.server_type} {state} {self.ports}>"


_DEFAULTS: dict[str, Any] = {
    name: p.default for name, p in inspect.signature(MockSungrowServer.__init__).parameters.items()
    if name not in ("self", "installation")
}


def _differs(name: str, value: Any) -> bool:
    option = config.BY_ARGUMENT.get(name)
    if option is not None:
        return config.differs(option, value)
    return bool(value != _DEFAULTS[name])

