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

from mock_sungrow.cli_parser import PER_DEVICE, build_parser

__all__ = ["build_parser", "main", "serve"]


def _check_installation_flags(args: argparse.Namespace) -> None:
    """Refuse per-device flags given with --installation (the file describes the devices)."""
    defaults = build_parser().parse_args(["serve"])
    given = ["--" + name.replace("_", "-") for name in PER_DEVICE
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
                battery_make=args.battery_make,
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
