"""What a server reports and what its dongles do: connection info, the ready line, keys, WiNet-S.

:class:`ServerInfo` is the part of :class:`~mock_sungrow.server.MockSungrowServer` that says
where clients connect (:meth:`~ServerInfo.get_connection_info`, the CLI's ready line with its
``devices``) and acts on the dongles (the public key, WiNet-S tokens and notices). The top-level
entries mean the first inverter's endpoints, as a one-inverter server always had them.

It is also the host plant and session faults act through
(:class:`~mock_sungrow.faults.effects.FaultHost`): a plant fault reaches the plant of the device
it names, a session fault (``key-rotate``, ``winet-kick``, ``winet-profile``) the dongles that
serve the device or unit it names (every dongle when it names none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mock_sungrow.endpoints import FRONT_END_NAMES
from mock_sungrow.errors import FrontEndUnavailableError
from mock_sungrow.frontends.winet.auth import MSG_NOTICE, NOTICE

if TYPE_CHECKING:
    from mock_sungrow.config import ControlConfig
    from mock_sungrow.device.device import Device
    from mock_sungrow.frontends.base import FrontEnd
    from mock_sungrow.frontends.dongle import Dongle
    from mock_sungrow.frontends.modbus.aes import SungrowKeys
    from mock_sungrow.frontends.winet.auth import SessionStore, WinetSettings
    from mock_sungrow.installation.installation import Endpoint, Installation
    from mock_sungrow.plant.state import PlantState
    from mock_sungrow.runtime import FrontEndGroup

#: The endpoints a dongle serves (its web API and its own Modbus port).
_DONGLE_KINDS = ("http", "sungrow")


class ServerInfo:
    """Connection info, the ready line's devices, the dongles' keys and sessions."""

    host: str
    server_type: str
    installation: Installation
    control: ControlConfig
    dongles: list[Dongle]
    _running: FrontEndGroup | None
    _bound: list[Endpoint]

    def find_device(self, selector: str | int) -> Device:
        """A device by id, serial or unit (see :meth:`Installation.find`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ endpoints

    def _live(self) -> list[tuple[Endpoint, FrontEnd]]:
        if self._running is None:
            return []
        return list(zip(self._bound, self._running.front_ends, strict=True))

    def _endpoints_of(self, device: Device | None) -> list[Endpoint]:
        if device is None:
            endpoints = [e for e in self.installation.endpoints if e.inverter == 0]
        else:
            endpoints = self.installation.endpoints_of(device)
        return endpoints

    def _info(self, endpoint: Endpoint) -> dict[str, Any]:
        for bound, fe in self._live():
            if bound is endpoint:
                return fe.connection_info()
        if endpoint.kind == "rtu":  # before start(): no pty yet
            return {"device": None, "connection_type": "rtu"}
        info: dict[str, Any] = {"host": self.host, "port": endpoint.port,
                                "connection_type": endpoint.kind}
        if endpoint.kind == "sungrow" and endpoint.spec is not None:
            info["encryption"] = endpoint.spec.sungrow.encryption
        return info

    def configured_port(self, kind: str) -> int:
        """The port asked for ``kind`` on the first inverter (0 means "any free port")."""
        if kind == "control" and self.control.port is not None:
            return self.control.port
        endpoint = self.installation.endpoint(kind)
        if endpoint is None:
            raise KeyError(kind)
        return endpoint.port

    def get_connection_info(self, kind: str = "modbus", device: Device | str | int | None = None
                            ) -> dict[str, Any]:
        """Where a client of ``kind`` connects: ``host``, ``port``, ``connection_type``.

        ``device`` (a device, its id, serial or unit) picks that device's endpoint; by default
        the first inverter's. Before :meth:`start` the configured ports are reported (0 stays
        0).
        """
        if kind not in FRONT_END_NAMES:
            raise ValueError(f"unknown connection kind {kind!r}; accepted: "
                             + ", ".join(sorted(FRONT_END_NAMES)))
        if kind == "control":
            for bound, fe in self._live():
                if bound.kind == "control":
                    return fe.connection_info()
            if self.control.port is not None:
                return {"host": self.host, "port": self.control.port, "connection_type": kind}
        else:
            target = device if device is None or not isinstance(device, str | int) \
                else self.find_device(device)
            for endpoint in self._endpoints_of(target):
                if endpoint.kind == kind:
                    return self._info(endpoint)
        raise FrontEndUnavailableError(
            f"this server (server_type={self.server_type!r}) does not serve {kind!r}"
            + ("" if device is None else f" for {device!r}")
        )

    def connection_infos(self) -> dict[str, dict[str, Any]]:
        """The first inverter's endpoints and the control API, keyed by kind (the ready line)."""
        out: dict[str, dict[str, Any]] = {}
        for bound, fe in self._live():
            if bound.inverter in (0, None) and bound.kind not in out:
                out[bound.kind] = fe.connection_info()
        return out

    def describe_devices(self) -> list[dict[str, Any]]:
        """Every device as the ready line's ``devices`` lists it.

        ``kind``, ``id``, ``model``, ``role`` (an inverter's: standalone, master or slave;
        ``None`` for a battery), ``unit``, ``serial`` and ``endpoints``: kind -> ``{"host",
        "port"}`` of each endpoint it answers on (bound ports once started).
        """
        out = []
        for device in self.installation.devices:
            endpoints = {}
            for endpoint in self.installation.endpoints_of(device):
                info = self._info(endpoint)
                endpoints[endpoint.kind] = ({"device": info["device"]} if "device" in info
                                            else {"host": info["host"], "port": info["port"]})
            out.append({"kind": device.kind, "id": device.id, "model": device.model,
                        "role": device.role, "unit": device.unit, "serial": device.serial,
                        "endpoints": endpoints})
        return out

    def ready_line(self) -> dict[str, Any]:
        """What ``mock-sungrow serve`` prints once ready: :meth:`connection_infos` + devices."""
        return {**self.connection_infos(), "devices": self.describe_devices()}

    @property
    def ports(self) -> dict[str, int | None]:
        """Bound ports of the first inverter's endpoints and the control API, by kind."""
        return {kind: info.get("port") for kind, info in self.connection_infos().items()}

    # ------------------------------------------------------------------------------ dongles

    @property
    def dongle(self) -> Dongle:
        """The first inverter's WiNet-S."""
        return self.dongles[0]

    @property
    def winet_settings(self) -> WinetSettings:
        """The first dongle's firmware settings now."""
        return self.dongle.settings

    @property
    def winet_sessions(self) -> SessionStore:
        """The first dongle's tokens and lockouts."""
        return self.dongle.sessions

    @property
    def sungrow_keys(self) -> SungrowKeys | None:
        """The first dongle's public key (``encryption="aes"`` on a sungrow port only)."""
        return self.dongle.keys

    def sungrow_public_key(self) -> bytes | None:
        """The 16 bytes the (first) sungrow port's key request gets now.

        A real key with ``encryption="aes"`` (stable for the plant's calendar day), 16 zero
        bytes with ``"none"``, ``None`` with ``"lan"`` (no key is handed out).
        """
        if self.dongle.keys is not None:
            return self.dongle.keys.public_key()
        return bytes(16) if self.dongle.encrypted.encryption == "none" else None

    def rotate_sungrow_key(self) -> bytes:
        """Hand out a new public key from now on; every key handed out before stops working.

        A fault to inject: clients that cached the old key fail (their frames no longer
        decrypt, the server closes those connections) until they fetch the key again, which
        the Sungrow clients do only when their calendar day changes or they restart. Every
        dongle of the installation rotates; the first one's new key is returned.
        """
        keys = [d.keys for d in self.dongles if d.keys is not None]
        if not keys:
            raise ValueError(
                "rotate_sungrow_key() needs the sungrow front end with encryption='aes'; "
                f"this server has server_type={self.server_type!r}, "
                f"encryption={self.dongle.encrypted.encryption!r}"
            )
        new = [k.rotate() for k in keys]
        return new[0]

    def expire_winet_tokens(self, token: str | None = None) -> int:
        """Invalidate one WiNet-S token (or every one, on every dongle): its next use is ``106``.

        Returns how many tokens were invalidated. Tokens also expire by themselves after
        ``winet_token_lifetime`` seconds of the server's clock.
        """
        return sum(d.sessions.expire(token) for d in self.dongles)

    def push_winet_notice(
        self, code: int = NOTICE, message: str = MSG_NOTICE, token: str | None = None
    ) -> int:
        """Push a ``notice`` frame to every open WiNet-S WebSocket (or the one owning ``token``).

        Real dongles push ``{"result_code": 100, "result_msg": "normal user limit", ...}`` when
        another login takes the single session; clients that match replies by order break on
        it, which is what a test may want to provoke. Returns how many sessions got it.
        """
        if self._running is None:
            return 0
        sent = 0
        for bound, fe in self._live():
            if bound.kind == "http":
                push = fe.push_notice  # type: ignore[attr-defined]
                sent += self._running.runtime.run(push(code, message, token), 10)
        return sent

    @property
    def winet_ca_pem(self) -> bytes | None:
        """PEM of the CA that issued the (first) TLS listener's certificate (``None``: none).

        Clients of real dongles skip verification; a test that wants to verify can trust this.
        """
        for bound, fe in self._live():
            if bound.kind == "http" and bound.inverter == 0:
                return getattr(fe, "ca_pem", None)
        return None

    # ------------------------------------------------------- the fault host (faults.effects)

    def plant_for(self, unit: int | None, device: str | None = None) -> PlantState:
        """The plant a plant fault acts on: its device's (by serial or unit), or the first's."""
        return self.installation.plant_for(unit, device)

    def dongles_for(self, unit: int | None = None, device: str | None = None) -> list[int]:
        """The dongles (by inverter index) a session fault naming ``unit`` / ``device`` acts on.

        Those of the inverters that have a dongle endpoint and whose own devices (the inverter,
        its battery) include the one named; every dongle when neither is named.
        """
        if unit is None and device is None:
            return list(range(len(self.dongles)))
        out = []
        for i, inverter in enumerate(self.installation.inverters):
            if not any(self.installation.endpoint(kind, i) for kind in _DONGLE_KINDS):
                continue
            served = [inverter] if inverter.battery is None else [inverter, inverter.battery]
            if device is not None and all(d.serial != device for d in served):
                continue
            if unit is not None and all(d.unit != unit for d in served):
                continue
            out.append(i)
        return out

    def _dongles(self, dongles: Sequence[int] | None) -> list[tuple[int, Dongle]]:
        chosen = range(len(self.dongles)) if dongles is None else dongles
        return [(i, self.dongles[i]) for i in chosen]

    def _each_http(self, method: str, *args: Any, dongles: Sequence[int], wait: bool) -> None:
        """Run the coroutine ``method(*args)`` of the web APIs of ``dongles`` (on the loop)."""
        if self._running is None:
            return
        for bound, fe in self._live():
            if bound.kind == "http" and bound.inverter in dongles:
                coro = getattr(fe, method)(*args)
                if wait:
                    self._running.runtime.call(coro)
                else:
                    self._running.runtime.post(coro)

    def rotate_key(self, dongles: Sequence[int] | None = None) -> None:
        """A ``key-rotate`` fault: those dongles (default: all) hand out a new public key."""
        for _i, dongle in self._dongles(dongles):
            if dongle.keys is not None:
                dongle.keys.rotate()

    def kick_sessions(self, dongles: Sequence[int] | None = None) -> None:
        """A ``winet-kick`` fault: those dongles' sessions hear notice 100, their tokens end.

        (Default: every dongle. Another login took the single session: a client must connect
        and log in again.)
        """
        chosen = self._dongles(dongles)
        self._each_http("push_notice", NOTICE, MSG_NOTICE, dongles=[i for i, _ in chosen],
                        wait=True)
        for _i, dongle in chosen:
            dongle.sessions.expire(None)

    def rearm_idle(self, *, wait: bool = True) -> None:
        """An ``idle-timeout`` fault came or went: restart every connection's idle timer."""
        if self._running is not None:
            self._running.each("rearm_idle", wait=wait)

    def set_winet_profile(self, profile: str | None, *, wait: bool = True,
                          dongles: Sequence[int] | None = None) -> None:
        """Switch dongles' firmware profile at run time (``None``: each one's configured one).

        What a ``winet-profile`` fault does as it starts and ends, on the dongles it names
        (default: all); one that goes TLS-only drops its plain connections.
        """
        tls_only = [i for i, dongle in self._dongles(dongles)
                    if dongle.set_profile(profile).profile_info.tls_only]
        if tls_only:
            self._each_http("close_plain_connections", dongles=tls_only, wait=wait)

    def can_rotate_key(self, dongles: Sequence[int] | None = None) -> bool:
        """Whether a ``key-rotate`` fault can act: one of ``dongles`` has an AES sungrow port."""
        return any(dongle.keys for _i, dongle in self._dongles(dongles))

    def has_tls_listener(self, dongles: Sequence[int] | None = None) -> bool:
        """Whether each web API of ``dongles`` has a TLS listener (``tls-only`` needs one)."""
        served = [(i, dongle, web) for i, dongle in self._dongles(dongles)
                  if (web := self.installation.endpoint("http", i)) is not None]
        return bool(served) and all(dongle.settings.profile_info.tls_only
                                    or "tls" in web.extra_ports for _i, dongle, web in served)

    def settings_text(self) -> str:
        """The settings a refused fault names."""
        return (f"server_type={self.server_type!r}, "
                f"encryption={self.dongle.encrypted.encryption!r}")
