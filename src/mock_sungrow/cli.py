"""The ``mock-sungrow`` command line.

``mock-sungrow serve`` starts a simulated inverter (or, with ``--installation FILE``, every
device of an installation file) and prints exactly one JSON line on stdout once every port
accepts connections, keyed by connection kind (the first inverter's endpoints and the control
API), then ``devices``: every device with its ``kind``, ``id``, ``model``, ``role``, ``unit``,
``serial`` and ``endpoints`` (kind -> ``{"host", "port"}``)::

    {"modbus": {"host": "127.0.0.1", "port": 5020, "connection_type": "modbus"},
     "http": {"host": "127.0.0.1", "port": 8082, "connection_type": "http", "tls": false,
              "ws_path": "/ws/home/overview", "winet_profile": "legacy"},
     "devices": [{"kind": "inverter", "id": "inverter[1]", "model": "SG5K-D",
                  "role": "standalone", "unit": 1, "serial": "A2312345678",
                  "endpoints": {"modbus": {"host": "127.0.0.1", "port": 5020}, ...}}]}

The ``http`` entry (the WiNet-S front end) also carries ``plain_http_port`` and ``tls_port``
when those extra listeners are bound (``--real-ports`` binds 80, 443 and 8082 at once). A bad
argument or installation file exits with status 2 before anything binds.

A parent process waits for that line instead of sleeping; the line and the flags are a public
contract. A readable status follows on stderr. SIGINT and SIGTERM stop the server cleanly with
exit code 0. ``mock-sungrow models`` lists the models.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from types import FrameType
from typing import Any, TextIO

from mock_sungrow._version import __version__

#: Flags that describe the inverter: with --installation, the file does.
_PER_DEVICE = ("model", "modbus_port", "http_port", "sungrow_port", "server_type", "encryption",
               "lan_key_reply", "plain_requests", "plain_http_port", "tls_port", "real_ports",
               "winet_profile", "winet_token_lifetime", "unit_id", "seed", "serial",
               "latitude", "longitude", "timezone", "cloud_factor", "battery_kwh", "meter",
               "house_load", "battery_unit_id", "unknown_unit")


def _option(name: str) -> Any:
    """The configuration option behind a flag (its choices, default and help)."""
    from mock_sungrow.config import BY_ARGUMENT

    return BY_ARGUMENT[name]


def _help(name: str) -> str:
    option = _option(name)
    return f"{option.help} (default {option.default})"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"ports are 0..65535 (0 = any free port); got {value}")
    return value


def _cloud(text: str) -> float | str:
    if text.strip().lower() in ("random", "walk"):
        return "random"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a cloud factor is a number 0..1.5 or 'random'; got {text!r}") from None
    if not 0.0 <= value <= 1.5:
        raise argparse.ArgumentTypeError(f"a cloud factor is within 0..1.5; got {value}")
    return value


def _house_load(text: str) -> float | list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a house load is W or 24 comma-separated hourly values in W; got {text!r}"
        ) from None
    if len(values) not in (1, 24) or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(
            "a house load is one non-negative value in W or 24 comma-separated hourly values"
        )
    return values[0] if len(values) == 1 else values


def _battery_kwh(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a capacity in kWh: {text!r}") from None
    if not 0.0 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"battery capacity is 0..10000 kWh; got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="mock-sungrow",
        description="A simulated Sungrow solar inverter for end-to-end tests.",
    )
    parser.add_argument("--version", action="version", version=f"mock-sungrow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run a simulated inverter until interrupted")
    serve.add_argument("--installation", metavar="FILE", default=None,
                       help="a TOML or YAML file describing every device (inverters with "
                            "roles, batteries, ports); replaces the per-device flags")
    serve.add_argument("--model", default=_option("model").default, help=_help("model"))
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--modbus-port", type=_port, default=5020, metavar="P",
                       help="Modbus TCP port (default 5020; 0 = any free port)")
    serve.add_argument("--http-port", type=_port, default=8082, metavar="P",
                       help="WiNet-S HTTP/WebSocket port (default 8082; 0 = any free port)")
    serve.add_argument("--sungrow-port", type=_port, default=5021, metavar="P",
                       help="Sungrow encrypted Modbus port (default 5021; 0 = any free port)")
    serve.add_argument("--server-type", default="both", metavar="T",
                       help="front ends to serve: any '+'-joined set of modbus, http (WiNet-S) "
                            "and sungrow, or both (modbus+http) or all (default both)")
    for name in ("encryption", "lan_key_reply", "plain_requests", "unknown_unit"):
        option = _option(name)
        serve.add_argument("--" + name.replace("_", "-"), default=option.default,
                           choices=option.choices, help=_help(name))
    serve.add_argument("--plain-http-port", type=_port, default=None, metavar="P",
                       help="extra plain HTTP listener of the WiNet-S (the real dongle's 80)")
    serve.add_argument("--tls-port", type=_port, default=None, metavar="P",
                       help="extra TLS listener serving HTTPS and WSS (the real dongle's 443)")
    serve.add_argument("--real-ports", action="store_true",
                       help="bind the real dongle's ports at once: WebSocket/HTTP 8082, plain "
                            "HTTP 80 and TLS 443 (needs the right to bind ports below 1024)")
    serve.add_argument("--winet-profile", default=_option("winet_profile").default,
                       metavar="NAME", help=_help("winet_profile"))
    serve.add_argument("--winet-token-lifetime", type=float, default=None, metavar="S",
                       help="WiNet-S tokens expire S seconds after issue (default: never)")
    serve.add_argument("--unit-id", type=int, default=1, metavar="N",
                       help="Modbus unit id the inverter answers (default 1)")
    serve.add_argument("--seed", type=int, default=_option("seed").default, help=_help("seed"))
    serve.add_argument("--serial", default=None, help=_option("serial").help)
    serve.add_argument("--latitude", type=float, default=None)
    serve.add_argument("--longitude", type=float, default=None)
    serve.add_argument("--timezone", default=None, metavar="TZ",
                       help="IANA time zone of the site (default Australia/Sydney)")
    serve.add_argument("--cloud-factor", type=_cloud, default=1.0, metavar="F",
                       help="scale clear-sky PV by F (0..1.5, default 1), or 'random' for "
                            "seeded passing clouds")
    serve.add_argument("--battery-kwh", type=_battery_kwh, default=None, metavar="KWH",
                       help="battery capacity of a hybrid (default by model; 0 = none)")
    serve.add_argument("--meter", action=argparse.BooleanOptionalAction, default=None,
                       help=_option("meter").help)
    serve.add_argument("--house-load", type=_house_load, default=None, metavar="W",
                       help="house load: constant W, or 24 comma-separated hourly values "
                            "(default: a household curve)")
    serve.add_argument("--battery-unit-id", type=int, default=200, metavar="N",
                       help="Modbus unit of the SBR battery on the inverter's port "
                            "(default 200; 0 = not served)")
    serve.add_argument("--status-interval", type=float, default=5.0, metavar="S",
                       help="seconds between status lines on stderr (0 = none)")
    control = serve.add_mutually_exclusive_group()
    control.add_argument("--control-port", type=_port, default=8090, metavar="P",
                         help="control API port (default 8090; 0 = any free port)")
    control.add_argument("--no-control", action="store_true", help="do not serve the control API")
    serve.add_argument("--control-allow-remote", action="store_true",
                       help="let non-loopback clients use the control API (and any Host or "
                            "Origin header)")
    serve.add_argument("--fault", action="append", default=[], metavar="SPEC",
                       help="inject a fault from the start, e.g. "
                            "'exception:code=2,table=input,address=5031-5032' or a JSON object "
                            "(repeatable)")
    serve.add_argument("--scenario", metavar="FILE",
                       help="a TOML or YAML file of timed faults and plant changes")
    serve.add_argument("--manual-clock", nargs="?", const="", default=None, metavar="START",
                       help="run on a manual clock (moved through the control API), starting "
                            "at START (ISO 8601 with time zone; default 2026-06-21T00:00Z)")

    models = sub.add_parser("models", help="list the models that can be simulated")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _status_line(server: Any) -> str:
    snap = server.snapshot()
    line = (
        f"{snap.local:%Y-%m-%d %H:%M:%S} {server.model.name} {snap.mode.value:<8} "
        f"power {snap.active_power_w / 1000:6.2f} kW  "
        f"daily {snap.daily_yield_kwh:6.1f} kWh  total {snap.total_yield_kwh:9.1f} kWh"
    )
    if server.plant.battery is not None:
        line += (f"  battery {snap.battery_power_w / 1000:+6.2f} kW "
                 f"SoC {snap.battery_soc_pct:5.1f} %  grid {snap.grid_power_w / 1000:+6.2f} kW")
    return line


def _check_installation_flags(args: argparse.Namespace) -> None:
    """Refuse per-device flags given with --installation (the file describes the devices)."""
    defaults = build_parser().parse_args(["serve"])
    given = ["--" + name.replace("_", "-") for name in _PER_DEVICE
             if getattr(args, name) != getattr(defaults, name)]
    if given:
        raise ValueError(f"{', '.join(given)} cannot be given with --installation: the file "
                         "describes the devices (see docs/installations.md)")


def serve(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the server until SIGINT/SIGTERM."""
    from mock_sungrow.clock import ManualClock
    from mock_sungrow.faults.params import FaultSpecError
    from mock_sungrow.scenario import ScenarioError, ScenarioRunner, load_scenario
    from mock_sungrow.server import MockSungrowServer

    http_port, plain_port, tls_port = args.http_port, args.plain_http_port, args.tls_port
    if args.real_ports:
        http_port = 8082
        plain_port = 80 if plain_port is None else plain_port
        tls_port = 443 if tls_port is None else tls_port
    try:
        steps = load_scenario(args.scenario) if args.scenario else []
        clock = None
        if args.manual_clock is not None:
            clock = ManualClock(
                datetime.fromisoformat(args.manual_clock) if args.manual_clock else None
            )
        control_port = None if args.no_control else args.control_port
        if args.installation is not None:
            _check_installation_flags(args)
            server = MockSungrowServer(
                host=args.host, installation=args.installation, clock=clock,
                control_port=control_port, control_allow_remote=args.control_allow_remote,
                faults=args.fault)
        else:
            server = MockSungrowServer(
                host=args.host,
                modbus_port=args.modbus_port,
                http_port=http_port,
                plain_http_port=plain_port,
                tls_port=tls_port,
                winet_profile=args.winet_profile,
                winet_token_lifetime=args.winet_token_lifetime,
                sungrow_port=args.sungrow_port,
                encryption=args.encryption,
                lan_key_reply=args.lan_key_reply,
                plain_requests=args.plain_requests,
                unknown_unit=args.unknown_unit,
                model=args.model,
                server_type=args.server_type,
                unit_id=args.unit_id,
                seed=args.seed,
                serial=args.serial,
                latitude=args.latitude,
                longitude=args.longitude,
                timezone=args.timezone,
                cloud_factor=args.cloud_factor,
                clock=clock,
                control_port=control_port,
                control_allow_remote=args.control_allow_remote,
                faults=args.fault,
                battery_kwh=args.battery_kwh,
                meter=args.meter,
                house_load=args.house_load,
                battery_unit_id=args.battery_unit_id or None,
            )
    except (ValueError, FaultSpecError, ScenarioError) as exc:
        print(f"mock-sungrow: error: {exc}", file=err)
        return 2
    runner = ScenarioRunner(
        server, steps,
        on_error=lambda step, exc: print(
            f"mock-sungrow: scenario step {step.index} failed: {exc}", file=err, flush=True),
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except OSError as exc:
            print(f"mock-sungrow: error: {exc}", file=err)
            return 1
        runner.start()  # steps at time 0 happen before the ready line
        print(json.dumps(server.ready_line()), file=out, flush=True)
        interval = args.status_interval
        next_status = time.monotonic()
        while not stopping.is_set():
            if interval > 0 and time.monotonic() >= next_status:
                print(_status_line(server), file=err, flush=True)
                next_status += interval
            stopping.wait(interval if interval > 0 else None)
        return 0
    finally:
        runner.stop()
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def list_models(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Print the model catalogue."""
    from mock_sungrow.device.catalog import load_catalog

    models = list(load_catalog().models.values())
    if args.json:
        rows = [
            {
                "name": m.name,
                "device_type_code": m.device_type_code,
                "rated_power_w": m.rated_power_w,
                "phases": m.phases,
                "mppt_count": m.mppt_count,
                "family": m.family,
            }
            for m in models
        ]
        print(json.dumps(rows, indent=1), file=out)
        return 0
    print(f"{'model':<16}{'code':>8}{'rated W':>10}{'phases':>8}{'MPPT':>6}  family", file=out)
    for m in models:
        print(
            f"{m.name:<16}{m.device_type_code:>#8x}{m.rated_power_w:>10}{m.phases:>8}"
            f"{m.mppt_count:>6}  {m.family}",
            file=out,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mock-sungrow`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    try:
        return list_models(args)
    except BrokenPipeError:  # `mock-sungrow models | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
