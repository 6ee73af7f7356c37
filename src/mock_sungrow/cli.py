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
contract. Lines for people follow on stderr (:mod:`mock_sungrow.console`). SIGINT and SIGTERM
stop the server cleanly with exit code 0. ``mock-sungrow models``, ``registers MODEL`` and
``faults`` list the catalogues (:mod:`mock_sungrow.catalogue_listing`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from datetime import datetime
from types import FrameType
from typing import Any, TextIO

from mock_sungrow._version import __version__
from mock_sungrow.cli_types import battery_kwh as _battery_kwh
from mock_sungrow.cli_types import cloud as _cloud
from mock_sungrow.cli_types import house_load as _house_load
from mock_sungrow.cli_types import instant as _instant
from mock_sungrow.cli_types import port as _port

#: Flags that describe the inverter: with --installation, the file does.
_PER_DEVICE = ("model", "modbus_port", "http_port", "sungrow_port", "server_type", "encryption",
               "lan_key_reply", "plain_requests", "plain_http_port", "tls_port", "real_ports",
               "winet_profile", "winet_token_lifetime", "unit_id", "seed", "serial",
               "latitude", "longitude", "timezone", "cloud_factor", "battery_kwh", "meter",
               "house_load", "battery_unit_id", "unknown_unit", "rtu_tcp_port", "rtu_baudrate",
               "rtu_bytesize", "rtu_parity", "rtu_stopbits", "rtu_turnaround", "rtu_link",
               "settings_from")


def _option(name: str) -> Any:
    """The configuration option behind a flag (its choices, default and help)."""
    from mock_sungrow.config import BY_ARGUMENT

    return BY_ARGUMENT[name]


def _help(name: str) -> str:
    option = _option(name)
    return f"{option.help} (default {option.default})"


_EPILOG = """\
examples:
  mock-sungrow serve                          an SG5K-D on 127.0.0.1:5020 (Modbus) and :8082
  mock-sungrow serve --model sh10rt --modbus-port 0 --http-port 0 --control-port 0
  mock-sungrow registers SH10RT               the registers and their names
  mock-sungrow faults                         the fault kinds and their parameters
  mock-sungrow serve --help                   every serve flag
"""

_SERVE_EPILOG = """\
examples:
  mock-sungrow serve --model SH10RT --battery-kwh 9.6
  mock-sungrow serve --modbus-port 0 --http-port 0 --control-port 0     any free ports
  mock-sungrow serve --fault 'exception:code=2,table=input,address=5031' --log-requests
  mock-sungrow serve --manual-clock 2026-06-21T12:00+10:00 --scenario steps.toml
  mock-sungrow serve --tls-port 8443 --write-ca ca.pem    then: curl --cacert ca.pem ...
  mock-sungrow serve --installation site.toml             several inverters (docs/installations.md)
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs and tests)."""
    from mock_sungrow.plant.physics import Site

    site = Site()
    parser = argparse.ArgumentParser(
        prog="mock-sungrow",
        description="A simulated Sungrow solar inverter for end-to-end tests.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mock-sungrow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run a simulated inverter until interrupted",
                           description="Run a simulated inverter (or an installation) until "
                                       "SIGINT/SIGTERM. One JSON line on stdout once every "
                                       "port accepts connections; lines for people on stderr.",
                           epilog=_SERVE_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--installation", metavar="FILE", default=None,
                       help="a TOML or YAML file describing every device (inverters with "
                            "roles, batteries, ports); replaces the per-device flags "
                            "(default: one inverter from the flags)")
    serve.add_argument("--model", default=_option("model").default, metavar="M",
                       help=_help("model") + "; any case, 'mock-sungrow models' lists them")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--modbus-port", type=_port, default=5020, metavar="P",
                       help="Modbus TCP port (default 5020; 0 = any free port)")
    serve.add_argument("--http-port", type=_port, default=8082, metavar="P",
                       help="WiNet-S HTTP/WebSocket port (default 8082; 0 = any free port)")
    serve.add_argument("--sungrow-port", type=_port, default=5021, metavar="P",
                       help="Sungrow encrypted Modbus port (default 5021; 0 = any free port)")
    serve.add_argument("--rtu-tcp-port", type=_port, default=8899, metavar="P",
                       help="Modbus RTU over TCP port, as an RS485-to-Ethernet gateway serves "
                            "it (default 8899; 0 = any free port)")
    serve.add_argument("--server-type", default="both", metavar="T",
                       help="front ends to serve: any '+'-joined set of modbus, http (WiNet-S), "
                            "sungrow, rtu (RS485 on a pseudo-terminal) and rtu-tcp, or both "
                            "(modbus+http) or all (default both)")
    rtu = serve.add_argument_group("RS485 line (the rtu and rtu-tcp front ends)")
    for name, kind in (("rtu_baudrate", int), ("rtu_bytesize", int), ("rtu_parity", str),
                       ("rtu_stopbits", int), ("rtu_turnaround", float), ("rtu_link", str)):
        option = _option(name)
        rtu.add_argument("--" + name.replace("_", "-"), type=kind, default=option.default,
                         choices=option.choices, help=_help(name))
    for name in ("encryption", "lan_key_reply", "plain_requests", "unknown_unit"):
        option = _option(name)
        serve.add_argument("--" + name.replace("_", "-"), default=option.default,
                           choices=option.choices, help=_help(name))
    serve.add_argument("--plain-http-port", type=_port, default=None, metavar="P",
                       help="extra plain HTTP listener of the WiNet-S (the real dongle's 80; "
                            "default: none)")
    serve.add_argument("--tls-port", type=_port, default=None, metavar="P",
                       help="extra TLS listener serving HTTPS and WSS (the real dongle's 443; "
                            "default: none; --write-ca saves its CA)")
    serve.add_argument("--real-ports", action="store_true",
                       help="bind the real dongle's ports at once: WebSocket/HTTP 8082, plain "
                            "HTTP 80 and TLS 443 (needs the right to bind ports below 1024; "
                            "default: off)")
    serve.add_argument("--winet-profile", default=_option("winet_profile").default,
                       metavar="NAME", help=_help("winet_profile"))
    serve.add_argument("--winet-token-lifetime", type=float, default=None, metavar="S",
                       help="WiNet-S tokens expire S seconds after issue (default: never)")
    serve.add_argument("--unit-id", type=int, default=1, metavar="N",
                       help="Modbus unit id the inverter answers (default 1)")
    serve.add_argument("--seed", type=int, default=_option("seed").default, metavar="S",
                       help=_help("seed"))
    serve.add_argument("--serial", default=None, metavar="X",
                       help=_option("serial").help)
    serve.add_argument("--latitude", type=float, default=None, metavar="DEG",
                       help="latitude of the site in degrees, north positive: where the sun "
                            f"is (default {site.latitude}, Sydney)")
    serve.add_argument("--longitude", type=float, default=None, metavar="DEG",
                       help="longitude of the site in degrees, east positive (default "
                            f"{site.longitude}, Sydney)")
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
                       help="seconds between status lines on stderr (default 5; 0 = none)")
    control = serve.add_mutually_exclusive_group()
    control.add_argument("--control-port", type=_port, default=8090, metavar="P",
                         help="control API port (default 8090; 0 = any free port)")
    control.add_argument("--no-control", action="store_true",
                         help="do not serve the control API (default: served)")
    serve.add_argument("--control-allow-remote", action="store_true",
                       help="let non-loopback clients use the control API, with any Host or "
                            "Origin header (default: loopback only)")
    serve.add_argument("--control-read-only", action="store_true",
                       help="serve the control API and its dashboard read-only: every "
                            "request that would change something gets HTTP 403 (default: "
                            "read-write)")
    serve.add_argument("--fault", action="append", default=[], metavar="SPEC",
                       help="inject a fault from the start, e.g. "
                            "'exception:code=2,table=input,address=5031-5032' or a JSON object "
                            "(repeatable; default none; 'mock-sungrow faults' lists the kinds)")
    serve.add_argument("--scenario", metavar="FILE",
                       help="a TOML or YAML file of timed faults and plant changes "
                            "(docs/scenarios.md; default none)")
    serve.add_argument("--manual-clock", nargs="?", const="", default=None, metavar="START",
                       type=_instant,
                       help="run on a manual clock (moved through the control API), starting "
                            "at START, ISO 8601 with a zone such as 2026-06-21T12:00+10:00 "
                            "(default: the wall clock; START defaults to 2026-06-21T00:00Z)")
    serve.add_argument("--log-requests", nargs="?", const="-", default=None, metavar="FILE",
                       help="print every request as a line on stderr, or with FILE append "
                            "each as a JSON line to FILE (default: off)")
    serve.add_argument("--write-ca", metavar="FILE", default=None,
                       help="once started, write the PEM of the CA that signed the WiNet-S "
                            "TLS certificate to FILE, for clients to trust (needs a TLS "
                            "listener: --tls-port or --real-ports; default: not written)")

    serve.add_argument("--replay", metavar="DUMP", default=None,
                       help="serve a recorded device exactly as recorded: a dump (YAML, wire "
                            "trace or fingerprint, see docs/dumps.md); the model and unit "
                            "come from it (default: the simulated model)")
    serve.add_argument("--replay-live", action="store_true",
                       help="with --replay: overlay the plant's live values on the recorded "
                            "measurements (identity and settings stay recorded; default: off)")
    serve.add_argument("--settings-from", metavar="DUMP", default=None,
                       help="start the simulated inverter with the settings a real unit was "
                            "recorded holding (a dump, as --replay takes; docs/dumps.md); "
                            "the model comes from it unless --model is given (default: the "
                            "model's settings)")
    rec = sub.add_parser("record", help="read an inverter (or a simulator) into a dump that "
                                        "--replay serves")
    rec.add_argument("host", help="the inverter's (or WiNet-S dongle's) address")
    rec.add_argument("port", type=_port, help="its Modbus TCP port (502 on a real inverter)")
    rec.add_argument("--unit", type=int, default=1, help="Modbus unit to read (default 1)")
    rec.add_argument("--out", required=True, metavar="FILE", help="the dump to write (JSON)")
    rec.add_argument("--gap", type=float, default=0.05, metavar="S",
                     help="seconds between requests (default 0.05; WiNet-S needs >= 0.03)")
    rec.add_argument("--timeout", type=float, default=2.0, metavar="S",
                     help="seconds to wait for each answer (default 2)")
    rec.add_argument("--band", action="append", default=[], metavar="TABLE:FIRST-LAST",
                     help="documented registers to read, e.g. input:5000-5100 (repeatable; "
                          "default: every band of the register catalogue)")
    rec.add_argument("--transport", choices=("lan", "winet"), default="lan",
                     help="what HOST is: the inverter's LAN port or its WiNet-S (recorded in "
                          "the dump)")
    from mock_sungrow.fleet.cli import add_parser as add_fleet_parser

    add_fleet_parser(sub)

    models = sub.add_parser("models", help="list the models that can be simulated")
    models.add_argument("--json", action="store_true",
                        help="print JSON instead of a table (default: a table)")
    registers = sub.add_parser(
        "registers", help="list the registers a model serves (the names server.read takes)")
    registers.add_argument("model", metavar="MODEL", help="a model name, in any case (SG5K-D)")
    registers.add_argument("--json", action="store_true",
                           help="print JSON instead of a table (default: a table)")
    faults = sub.add_parser("faults", help="list the fault kinds and their parameters")
    faults.add_argument("--json", action="store_true",
                        help="print JSON instead of text (default: text)")
    return parser


def _check_installation_flags(args: argparse.Namespace) -> None:
    """Refuse per-device flags given with --installation (the file describes the devices)."""
    defaults = build_parser().parse_args(["serve"])
    given = ["--" + name.replace("_", "-") for name in _PER_DEVICE
             if getattr(args, name) != getattr(defaults, name)]
    if given:
        raise ValueError(f"{', '.join(given)} cannot be given with --installation: the file "
                         "describes the devices (see docs/installations.md)")


def _replay_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The server arguments of ``--replay DUMP`` (empty without it)."""
    if args.replay is None:
        if args.replay_live:
            raise ValueError("--replay-live needs --replay DUMP")
        return {}
    from mock_sungrow.dumps.formats import load_dump
    from mock_sungrow.dumps.replay import replay_arguments

    defaults = build_parser().parse_args(["serve"])
    given = [f"--{name.replace('_', '-')}" for name in ("unit_id", "battery_unit_id")
             if getattr(args, name) != getattr(defaults, name)]
    if given:
        raise ValueError(f"{', '.join(given)} cannot be given with --replay: the dump "
                         "names the unit")
    model = args.model if args.model != defaults.model else None
    return replay_arguments(load_dump(args.replay), live=args.replay_live, model=model)


def _settings_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The server arguments of ``--settings-from DUMP`` (empty without it)."""
    if args.settings_from is None:
        return {}
    if args.replay is not None:
        raise ValueError("--settings-from cannot be given with --replay: a replay serves "
                         "every recorded word already")
    from mock_sungrow.dumps.formats import load_dump
    from mock_sungrow.dumps.replay import model_of

    dump = load_dump(args.settings_from)
    defaults = build_parser().parse_args(["serve"])
    model = args.model if args.model != defaults.model else model_of(dump)
    return {"settings_from": dump, "model": model}


def serve(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the server until SIGINT/SIGTERM."""
    from mock_sungrow import console
    from mock_sungrow.clock import ManualClock
    from mock_sungrow.dumps.settings import RecordedSettingWarning
    from mock_sungrow.faults.params import FaultSpecError
    from mock_sungrow.scenario import (
        ScenarioError,
        ScenarioRunner,
        load_scenario,
        refuse_clock_steps,
        refuse_impossible_plant_steps,
    )
    from mock_sungrow.server import MockSungrowServer

    # Printed as lines for people below, not as Python warnings.
    warnings.simplefilter("ignore", RecordedSettingWarning)
    http_port, plain_port, tls_port = args.http_port, args.plain_http_port, args.tls_port
    if args.real_ports:
        http_port = 8082
        plain_port = 80 if plain_port is None else plain_port
        tls_port = 443 if tls_port is None else tls_port
    try:
        steps = load_scenario(args.scenario) if args.scenario else []
        if args.manual_clock is None:
            refuse_clock_steps(args.scenario, steps)
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
                control_read_only=args.control_read_only, faults=args.fault)
        else:
            recorded = _settings_arguments(args)
            device: dict[str, Any] = _replay_arguments(args) or {
                "model": args.model, "unit_id": args.unit_id,
                "battery_unit_id": args.battery_unit_id or None, **recorded}
            server = MockSungrowServer(
                **device,
                host=args.host,
                modbus_port=args.modbus_port,
                http_port=http_port,
                plain_http_port=plain_port,
                tls_port=tls_port,
                winet_profile=args.winet_profile,
                winet_token_lifetime=args.winet_token_lifetime,
                sungrow_port=args.sungrow_port,
                rtu_tcp_port=args.rtu_tcp_port,
                rtu_baudrate=args.rtu_baudrate,
                rtu_bytesize=args.rtu_bytesize,
                rtu_parity=args.rtu_parity,
                rtu_stopbits=args.rtu_stopbits,
                rtu_turnaround=args.rtu_turnaround,
                rtu_link=args.rtu_link,
                encryption=args.encryption,
                lan_key_reply=args.lan_key_reply,
                plain_requests=args.plain_requests,
                unknown_unit=args.unknown_unit,
                server_type=args.server_type,
                seed=args.seed,
                serial=args.serial,
                latitude=args.latitude,
                longitude=args.longitude,
                timezone=args.timezone,
                cloud_factor=args.cloud_factor,
                clock=clock,
                control_port=control_port,
                control_allow_remote=args.control_allow_remote,
                control_read_only=args.control_read_only,
                faults=args.fault,
                battery_kwh=args.battery_kwh,
                meter=args.meter,
                house_load=args.house_load,
            )
        for left in server.installation.settings_problems:
            print(f"mock-sungrow: warning: {left} (left at the model's default)", file=err)
        refuse_impossible_plant_steps(args.scenario, steps, server)
        printer = None
        if args.log_requests is not None:
            printer = console.RequestPrinter(
                err, None if args.log_requests == "-" else args.log_requests)
    except (ValueError, FaultSpecError, ScenarioError) as exc:
        print(f"mock-sungrow: error: {exc}", file=err)
        return 2
    except OSError as exc:  # the --log-requests file
        print(f"mock-sungrow: error: --log-requests: {exc}", file=err)
        return 2
    runner = ScenarioRunner(
        server, steps,
        on_error=lambda step, exc: console.say(err, f"scenario step {step.index} failed: {exc}"),
    )
    stopping = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    problems = console.log_problems(err)
    try:
        if printer is not None:
            server.requests.add_listener(printer)
        try:
            server.start()
        except OSError as exc:
            print(f"mock-sungrow: error: {console.bind_error(server, exc)}", file=err)
            return 1
        if args.write_ca is not None:
            problem = _write_ca(server, args.write_ca)
            if problem:
                print(f"mock-sungrow: error: --write-ca: {problem}", file=err)
                return 2
        runner.start()  # steps at time 0 happen before the ready line
        ready = server.ready_line()
        print(json.dumps(ready), file=out, flush=True)
        console.say(err, console.listening_line(ready))
        interval = args.status_interval
        next_status = time.monotonic()
        while not stopping.is_set():
            if interval > 0 and time.monotonic() >= next_status:
                print(console.status_line(server), file=err, flush=True)
                next_status += interval
            stopping.wait(interval if interval > 0 else None)
        name = signal.Signals(received[0]).name if received else "a signal"
        console.say(err, f"stopping on {name} after {len(server.requests)} requests")
        return 0
    finally:
        runner.stop()
        server.stop()
        if printer is not None:
            printer.close()
        logging.getLogger("mock_sungrow").removeHandler(problems)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _write_ca(server: Any, path: str) -> str | None:
    """Write the WiNet-S TLS CA's PEM to ``path``; the problem in words, or ``None``."""
    pem = server.winet_ca_pem
    if pem is None:
        return ("no TLS listener is served, so there is no CA: add --tls-port P (or "
                "--real-ports, or --winet-profile tls-only)")
    try:
        with open(path, "wb") as f:
            f.write(pem)
    except OSError as exc:
        return str(exc)
    return None


def list_models(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Print the model catalogue."""
    from mock_sungrow.catalogue_listing import print_models

    print_models(out, as_json=args.json)
    return 0


def _listing(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mock_sungrow import catalogue_listing

    if args.command == "models":
        return list_models(args, out)
    if args.command == "faults":
        catalogue_listing.print_faults(out, as_json=args.json)
        return 0
    try:
        catalogue_listing.print_registers(args.model, out, as_json=args.json)
    except ValueError as exc:
        print(f"mock-sungrow: error: {exc}", file=err)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mock-sungrow`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "record":
        from mock_sungrow.dumps.record import main as record_main

        return record_main(args)
    if args.command == "fleet":
        from mock_sungrow.fleet.cli import run as run_fleet

        return run_fleet(args)
    try:
        return _listing(args, sys.stdout, sys.stderr)
    except BrokenPipeError:  # `mock-sungrow registers SH10RT | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
