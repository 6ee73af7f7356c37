"""The ``mock-sungrow`` argument parser: every subcommand and flag, and their help.

Kept apart from :mod:`mock_sungrow.cli`, which carries the commands out: the flags are a
public contract (other tools start the server this way), and the docs and tests read this
parser to check that they and the README agree. Flags that are configuration options take
their choices, defaults and help from :mod:`mock_sungrow.config`.
"""

from __future__ import annotations

import argparse
from typing import Any

from mock_sungrow._version import __version__
from mock_sungrow.cli_types import battery_kwh as _battery_kwh
from mock_sungrow.cli_types import cloud as _cloud
from mock_sungrow.cli_types import house_load as _house_load
from mock_sungrow.cli_types import instant as _instant
from mock_sungrow.cli_types import port as _port

#: Flags that describe the inverter: with --installation, the file does.
PER_DEVICE = ("model", "modbus_port", "http_port", "sungrow_port", "server_type", "encryption",
               "lan_key_reply", "plain_requests", "plain_http_port", "tls_port", "real_ports",
               "winet_profile", "winet_token_lifetime", "unit_id", "seed", "serial",
               "latitude", "longitude", "timezone", "cloud_factor", "battery_kwh", "battery_make",
               "meter", "house_load", "battery_unit_id", "unknown_unit", "rtu_tcp_port",
               "rtu_baudrate", "rtu_bytesize", "rtu_parity", "rtu_stopbits", "rtu_turnaround",
               "rtu_link", "settings_from")


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
    serve.add_argument("--battery-make", choices=_option("battery_make").choices,
                       default=_option("battery_make").default, help=_option("battery_make").help)
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
