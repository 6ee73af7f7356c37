"""``Fleet``: many sites in one process, every front end of every site on one event loop.

Each site is a :class:`~mock_sungrow.server.MockSungrowServer` (the facade over one
installation: its devices, faults, request log and Python API), built from a fleet file's
:class:`~mock_sungrow.fleet.spec.SiteSpec`; what the fleet adds is the lifecycle. A server
started on its own runs a thread and a loop; ten thousand of them would be ten thousand
threads. The fleet runs one :class:`~mock_sungrow.runtime.LoopThread` and starts every site's
front ends on it, with the server's guarantees: :meth:`Fleet.start` returns once every
endpoint accepts connections (a bind that fails stops everything again and names the site
and the address), :meth:`Fleet.stop` leaves no thread, task or socket behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import random
import resource
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mock_sungrow import checks, config
from mock_sungrow.clock import Clock, RealClock
from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.fleet.spec import FleetError, FleetSpec, SiteSpec
from mock_sungrow.frontends.base import mark_closing, quiesce_all
from mock_sungrow.runtime import STOP_BUDGET_S, FrontEndGroup, LoopThread, stop_all
from mock_sungrow.server import MockSungrowServer

if TYPE_CHECKING:
    from mock_sungrow.faults.spec import Fault
    from mock_sungrow.frontends.base import FrontEnd

#: File descriptors kept free beside the listeners (the loop, logs, the control API's clients).
_FD_MARGIN = 64
#: Front ends started or stopped together on the loop.
_BATCH = 256
#: Fleet.start's default deadline: this, plus this much per endpoint. 10,000 sites start in
#: about 7 s on an idle 2-core machine; the budget (210 s) leaves room for a loaded one.
START_BUDGET_S = 10.0
START_BUDGET_PER_ENDPOINT_S = 0.02


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit, where allowed; the limits after.

    Every listening socket and every client connection is a file descriptor; distributions
    default to a soft limit of 1024 with a much higher hard limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class _SharedGroup(FrontEndGroup):
    """One site's front ends on the fleet's loop: stopping them leaves the loop running."""

    def __init__(self, runtime: LoopThread, front_ends: Sequence[FrontEnd]) -> None:
        super().__init__(runtime, front_ends)
        self.stopped = False

    def stop(self, budget: float = STOP_BUDGET_S) -> None:
        """Stop this site's front ends only (a site stopped on its own; the fleet runs on).

        In bounded time, as a server's own stop: a front end still stopping after ``budget``
        seconds is cancelled and its sockets closed by force.
        """
        if self.stopped:
            return
        self.stopped = True
        if self.runtime.running:
            self.runtime.run(stop_all(list(reversed(self.front_ends)), budget), budget + 5)


async def _each(method: str, front_ends: Sequence[FrontEnd]) -> None:
    """``await fe.<method>()`` for every front end, a batch at a time (all of them, always)."""
    errors: list[BaseException] = []
    for i in range(0, len(front_ends), _BATCH):
        results = await asyncio.gather(*(getattr(fe, method)() for fe in
                                         front_ends[i:i + _BATCH]), return_exceptions=True)
        errors += [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]


async def _start_all(front_ends: Sequence[FrontEnd], names: Sequence[str]) -> None:
    """Start every front end; on any failure stop those started and re-raise the first.

    A bind error names the site (``names[i]`` is front end ``i``'s) besides its address.
    """
    started: list[FrontEnd] = []
    try:
        for i in range(0, len(front_ends), _BATCH):
            batch = front_ends[i:i + _BATCH]
            results = await asyncio.gather(*(fe.start() for fe in batch),
                                           return_exceptions=True)
            started += [fe for fe, r in zip(batch, results, strict=True) if r is None]
            _raise_first(results, names[i:i + _BATCH])
    except BaseException:
        with contextlib.suppress(Exception):
            await _each("stop", list(reversed(started)))
        raise


async def _start_within(front_ends: Sequence[FrontEnd], names: Sequence[str],
                        timeout: float) -> None:
    """:func:`_start_all` with a deadline kept inside the loop.

    Timing out here cancels the start where it runs, so the front ends already started are
    stopped before the caller hears of it (a deadline kept by the calling thread would leave
    the start running on, and its tasks pending when the loop closes).
    """
    try:
        await asyncio.wait_for(_start_all(front_ends, names), timeout)
    except asyncio.TimeoutError:  # not yet the built-in TimeoutError on Python 3.10
        raise TimeoutError(
            errno.ETIMEDOUT, f"the fleet's {len(front_ends)} endpoints did not all start "
            f"within {timeout:g} s (a loaded machine? Fleet.start(timeout=...))") from None


def _raise_first(results: Sequence[object], names: Sequence[str]) -> None:
    """Re-raise the first failure of a batch; a bind error gains the site's name."""
    for result, name in zip(results, names, strict=True):
        if isinstance(result, OSError):
            raise OSError(result.errno, f"{name}: {result.strerror or result}") from result
        if isinstance(result, BaseException):
            raise result


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while thousands of sites are built or bound.

    Every collection walks every live object, and building ten thousand sites allocates
    enough to trigger hundreds of them: about half the build time. Nothing built is garbage.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _stop_all(front_ends: Sequence[FrontEnd]) -> None:
    """Quiesce every front end at once, then stop them a batch at a time."""
    quiesce_all(front_ends)
    await _each("stop", front_ends)


def _shutdown(runtime: LoopThread, front_ends: list[FrontEnd]) -> None:
    """Stop every front end, then the loop (also a forgotten fleet's finalizer)."""
    mark_closing(front_ends)  # now, not when the busy loop gets to the stop
    try:
        if runtime.running:
            runtime.run(_stop_all(list(reversed(front_ends))), 60)
    finally:
        runtime.stop()


class Fleet:
    """Many simulated sites in one process, on one event loop.

    ``spec`` is a :class:`~mock_sungrow.fleet.spec.FleetSpec`, a fleet file's data or its path;
    ``shard=(i, n)`` serves shard ``i`` of ``n`` of its sites (:meth:`FleetSpec.shard`).
    :attr:`sites` are the sites' servers (each with the full Python API: ``read``,
    ``read_registers``, ``inject``, ``requests``, ``devices``...), :attr:`site_ids` their ids;
    ``fleet["g1-3"]`` is one. ``control_port`` serves the fleet's control API
    (:mod:`mock_sungrow.fleet.control`). Every site shares ``clock`` (the wall clock by
    default): a manual clock moves the whole fleet.
    """

    def __init__(
        self,
        spec: FleetSpec | Mapping[str, Any] | str | Path,
        *,
        host: str = "127.0.0.1",
        shard: tuple[int, int] = (0, 1),
        clock: Clock | None = None,
        datablock_class: type[SungrowModbusDataBlock] = SungrowModbusDataBlock,
        control_port: int | None = None,
        control_allow_remote: bool = False,
        control_trusted_networks: Sequence[str] = config.DEFAULT_CONTROL_TRUSTED,
        control_read_only: bool = False,
        request_log_size: int | None = None,
    ) -> None:
        if isinstance(spec, FleetSpec):
            spec.check()
        elif isinstance(spec, str | Path):
            spec = FleetSpec.from_file(spec)
        elif isinstance(spec, Mapping):
            spec = FleetSpec.from_dict(spec)
        else:
            raise FleetError(f"a fleet is a FleetSpec, a dict or the path of a TOML/YAML file; "
                             f"got {spec!r}")
        self.spec = spec
        self.host = checks.check_host(host)
        self.shard = shard
        self.site_specs: list[SiteSpec] = spec.shard(*shard)
        self.clock: Clock = clock if clock is not None else RealClock()
        self.control = config.from_kwargs(config.ControlConfig, {
            "control_port": control_port, "control_allow_remote": control_allow_remote,
            "control_trusted_networks": control_trusted_networks,
            "control_read_only": control_read_only})
        size = spec.request_log_size if request_log_size is None else request_log_size
        # The sites serve no control API of their own; their (unused) trusted networks are
        # parsed once here rather than once per site.
        networks = self.control.trusted_networks
        with _collector_paused():
            self.sites: list[MockSungrowServer] = [
                MockSungrowServer(host=self.host, installation=s.installation,
                                  clock=self.clock, datablock_class=datablock_class,
                                  request_log_size=size,
                                  control_read_only=self.control.read_only,
                                  control_trusted_networks=networks)  # type: ignore[arg-type]
                for s in self.site_specs
            ]
        self.site_ids: list[str] = [s.id for s in self.site_specs]
        self._by_id = {s.id: i for i, s in enumerate(self.site_specs)}
        self._lock = threading.Lock()
        self._runtime: LoopThread | None = None
        self._groups: list[_SharedGroup] = []
        self._control_fe: FrontEnd | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # ------------------------------------------------------------------------------ sites

    def __len__(self) -> int:
        return len(self.sites)

    def __getitem__(self, site_id: str) -> MockSungrowServer:
        return self.site(site_id)

    def index(self, site_id: str) -> int:
        """The position of site ``site_id`` in :attr:`sites` (``LookupError`` if not served)."""
        try:
            return self._by_id[site_id]
        except KeyError:
            sample = ", ".join(self.site_ids[:3])
            raise LookupError(f"no site {site_id!r} in this fleet (shard {self.shard[0]} of "
                              f"{self.shard[1]}: {len(self.sites)} sites, {sample}...)"
                              ) from None

    def site(self, site_id: str) -> MockSungrowServer:
        """The server of site ``site_id``."""
        return self.sites[self.index(site_id)]

    @property
    def inverter_count(self) -> int:
        """How many inverters this process serves."""
        return sum(len(s.installation.inverters) for s in self.site_specs)

    def describe_site(self, i: int) -> dict[str, Any]:
        """Site ``i`` as the endpoints file lists it: id, group, model, serial, endpoints."""
        spec, server = self.site_specs[i], self.sites[i]
        endpoints: dict[str, dict[str, Any]] = {}
        for endpoint in server.installation.endpoints:
            if endpoint.inverter == 0:
                info = server.get_connection_info(endpoint.kind)
                endpoints[endpoint.kind] = {"host": info["host"], "port": info["port"]}
        out: dict[str, Any] = {"id": spec.id, "group": spec.group, "model": spec.model,
                               "serial": spec.serials[0], "endpoints": endpoints}
        if len(spec.serials) > 1:
            out["units"] = [{"unit": d.unit, "serial": d.serial} for d in server.inverters]
        return out

    def describe_sites(self) -> list[dict[str, Any]]:
        """Every site served, as :meth:`describe_site` (the ``--endpoints-out`` file's list)."""
        return [self.describe_site(i) for i in range(len(self.sites))]

    def select(self, sites: Sequence[str] | None = None, fraction: float | None = None,
               seed: int = 0) -> list[int]:
        """Positions of the sites named, or of a seeded ``fraction`` of them (all: neither).

        The same ``fraction`` and ``seed`` pick the same sites every time (in file order).
        """
        if sites is not None and fraction is not None:
            raise ValueError("give sites or fraction, not both")
        if sites is not None:
            if isinstance(sites, str):
                raise ValueError("sites is a list of site ids")
            return [self.index(s) for s in sites]
        if fraction is None:
            return list(range(len(self.sites)))
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not (
                0.0 <= fraction <= 1.0):
            raise ValueError(f"fraction must be a number 0..1; got {fraction!r}")
        chosen = random.Random(seed).sample(range(len(self.sites)),
                                            round(fraction * len(self.sites)))
        return sorted(chosen)

    def inject(self, spec: Mapping[str, Any] | str | None = None, /, *,
               sites: Sequence[str] | None = None, fraction: float | None = None,
               seed: int = 0, **kwargs: Any) -> dict[str, Fault]:
        """Inject a fault on several sites (all, ``sites`` by id, or a seeded ``fraction``).

        The fault is checked against every site chosen before any gets it (a bad spec, or a
        session fault a site cannot carry out, changes nothing); returns site id -> its fault.
        """
        from mock_sungrow.faults.spec import fault_from

        chosen = self.select(sites, fraction, seed)
        for i in chosen:
            fault = fault_from(spec, **kwargs)
            try:
                fault.kind.effect.check(fault, self.sites[i])
            except ValueError as exc:  # FaultSpecError mostly: keep the type
                raise type(exc)(f"site {self.site_ids[i]}: {exc}") from None
        return {self.site_ids[i]: self.sites[i].inject(spec, **kwargs) for i in chosen}

    def clear_faults(self) -> None:
        """Remove every fault of every site."""
        for site in self.sites:
            site.clear_faults()

    def reset(self) -> None:
        """Reset every site (see :meth:`MockSungrowServer.reset`)."""
        for site in self.sites:
            site.reset()

    # ------------------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Whether :meth:`start` has run and :meth:`stop` has not."""
        return self._runtime is not None

    @property
    def runtime(self) -> LoopThread | None:
        """The loop every front end runs on (while running)."""
        return self._runtime

    def control_info(self) -> dict[str, Any] | None:
        """Where the fleet's control API listens (``None``: not served)."""
        if self._control_fe is not None:
            return self._control_fe.connection_info()
        return None

    def start(self, timeout: float | None = None) -> Fleet:
        """Bind every endpoint of every site; return once all of them accept connections.

        Raises :class:`OSError` (``EMFILE``) before binding anything when the process may not
        open that many sockets, the bind's own error (naming the site's endpoint and
        address) after stopping everything when a port cannot be bound, and
        :class:`TimeoutError` (an ``OSError`` too) after stopping everything when the endpoints
        do not all start within ``timeout`` seconds (default: :data:`START_BUDGET_S` plus
        :data:`START_BUDGET_PER_ENDPOINT_S` per endpoint).
        """
        with self._lock:
            if self._runtime is not None:
                return self
            endpoints = sum(len(s.installation.endpoints) for s in self.sites)
            soft, hard = raise_fd_limit()
            if endpoints + _FD_MARGIN > soft:
                raise OSError(errno.EMFILE, f"the fleet needs {endpoints} listening sockets "
                              f"(+ {_FD_MARGIN}), but RLIMIT_NOFILE allows {soft} (hard limit "
                              f"{hard}); raise it (ulimit -n) or serve a shard (--shard)")
            runtime = LoopThread("mock-sungrow-fleet")
            runtime.start()
            try:
                with _collector_paused():
                    per_site = [site._make_front_ends() for site in self.sites]
                    control: list[FrontEnd] = []
                    if self.control.port is not None:
                        from mock_sungrow.fleet.control import FleetControlFrontEnd

                        control = [FleetControlFrontEnd(self, self.host, self.control.port,
                                                        self.control.trusted,
                                                        self.control.read_only)]
                    every = [fe for fes in per_site for fe in fes] + control
                    names = [f"site {site_id}" for site_id, fes in zip(self.site_ids, per_site,
                                                                        strict=True) for _ in fes]
                    names += ["fleet"] * len(control)
                    budget = timeout or START_BUDGET_S + START_BUDGET_PER_ENDPOINT_S * len(every)
                    runtime.run(_start_within(every, names, budget))
            except BaseException:
                runtime.stop()
                raise
            self._runtime = runtime
            self._control_fe = control[0] if control else None
            self._groups = [_SharedGroup(runtime, fes) for fes in per_site]
            for site, group in zip(self.sites, self._groups, strict=True):
                site._adopt(group)
            self._finalizer = weakref.finalize(self, _shutdown, runtime, every)
            return self

    def stop(self) -> None:
        """Stop every site and the loop; leaves no thread, task or socket behind. Idempotent."""
        with self._lock:
            runtime, self._runtime = self._runtime, None
            if runtime is None:
                return
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
            front_ends: list[FrontEnd] = []
            for site, group in zip(self.sites, self._groups, strict=True):
                if site._running is group:
                    site._adopt(None)
                if not group.stopped:
                    group.stopped = True
                    front_ends += group.front_ends
            if self._control_fe is not None:
                front_ends.append(self._control_fe)
            self._groups = []
            self._control_fe = None
            _shutdown(runtime, front_ends)

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"<Fleet {len(self.sites)} sites, {self.inverter_count} inverters "
                f"(shard {self.shard[0]} of {self.shard[1]}) {state}>")
