"""Register dumps recorded from real inverters, in the three formats they come in.

A :class:`Dump` is what one device answered, address by address, in **documented** register
numbers (wire address + 1, as the rest of the package counts): a word, or ``None`` for an
address the device refused. Formats (../shared/dumps/README.md):

* **YAML** (homeassistant-sungrow's dumps): ``registers: {read: {DOC: word}, hold: {...}}`` or
  top-level ``read:`` / ``hold:``, keyed by document number. Every address listed answered.
* **wire trace** (``"format": "sungrow-wire-trace/1"``): every request (table, wire address,
  count) with each attempt's registers or exception code. A request whose first attempt was
  an exception and whose retry answered is kept as such (:attr:`Dump.first_try`): the WiNet-S
  answers holding 33046+ and 33499+ with exception 4 once, then the words.
* **fingerprint** (mkaiser's recorder, ``register_dump.{input,holding}``): wire address (a
  string) -> word, or ``null`` = refused (confirmed one address at a time).

Also written by ``mock-sungrow record`` (:mod:`mock_sungrow.dumps.record`), as a fingerprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Table = Literal["input", "holding"]
#: Where the device's own identity lives (protocol, serial, device type code): input 4950-5000.
DEVICE_TYPE_ADDRESS = 5000


class DumpError(ValueError):
    """A dump file that cannot be read: the message names the file and what is wrong."""


@dataclass
class Dump:
    """One recorded device (see the module docstring)."""

    source: str
    #: ``"lan"`` (the inverter's own port) or ``"winet"`` (through its WiNet-S dongle).
    transport: str = "lan"
    unit: int = 1
    device_type_code: int | None = None
    #: ``(table, documented address) -> word``, ``None`` where the device refused it.
    words: dict[tuple[Table, int], int | None] = field(default_factory=dict)
    #: ``(table, documented address) -> exception code`` for reads that failed on the first
    #: try and were answered on the retry.
    first_try: dict[tuple[Table, int], int] = field(default_factory=dict)
    #: The battery as the recorder described it (a fingerprint's ``user_inputs.battery``,
    #: "Pylontech Force H1, 14.4 kWh"), ``None`` where it said nothing.
    battery: str | None = None

    def answered(self, table: Table) -> dict[int, int]:
        """The words ``table`` answered, by documented address."""
        return {a: w for (t, a), w in self.words.items() if t == table and w is not None}

    def refused(self, table: Table) -> set[int]:
        """Documented addresses of ``table`` the device refused."""
        return {a for (t, a), w in self.words.items() if t == table and w is None}


def load_dump(path: str | Path) -> Dump:
    """Read a dump in any of the three formats (by its content; YAML by its suffix)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DumpError(f"cannot read dump {path}: {exc.strerror}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return _from_yaml(path, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DumpError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}) and not a "
                        ".yaml file") from None
    if not isinstance(data, dict):
        raise DumpError(f"{path}: a dump is a JSON object")
    if data.get("format", "").startswith("sungrow-wire-trace/"):
        return _from_wire_trace(path, data)
    if "register_dump" in data:
        return _from_fingerprint(path, data)
    raise DumpError(f"{path}: neither a wire trace (\"format\": \"sungrow-wire-trace/1\") nor "
                    "a fingerprint (\"register_dump\")")


def _word(path: Path, where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise DumpError(f"{path}: {where} must be a 16-bit word; got {value!r}")
    return value


def _transport(text: object) -> str:
    return "winet" if "winet" in str(text).lower() or "dongle" in str(text).lower() else "lan"


def _from_yaml(path: Path, text: str) -> Dump:
    try:
        import yaml
    except ImportError:  # pragma: no cover - the test extra has PyYAML
        raise DumpError(f"{path}: reading a YAML dump needs PyYAML "
                        "(pip install 'mock-sungrow[yaml]')") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DumpError(f"{path}: not YAML: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("registers"), dict):
        data = data["registers"]
    if not isinstance(data, dict) or not ({"read", "hold"} & set(data)):
        raise DumpError(f"{path}: a YAML dump has read: and hold: tables (by document number)")
    dump = Dump(str(path))
    for key, table in (("read", "input"), ("hold", "holding")):
        for address, word in (data.get(key) or {}).items():
            if not isinstance(address, int):
                raise DumpError(f"{path}: {key} address {address!r} is not a number")
            dump.words[(table, address)] = _word(path, f"{key}[{address}]", word)  # type: ignore[index]
    dump.device_type_code = dump.words.get(("input", DEVICE_TYPE_ADDRESS))
    return dump


def _from_wire_trace(path: Path, data: dict[str, Any]) -> Dump:
    device = data.get("device") or {}
    dump = Dump(str(path), _transport(device.get("transport")), int(device.get("unit", 1)),
                _code(path, device.get("device_type_code")))
    for n, request in enumerate(data.get("requests") or []):
        table, start, count = request.get("table"), request.get("address"), request.get("count")
        if table not in ("input", "holding") or not isinstance(start, int) \
                or not isinstance(count, int):
            raise DumpError(f"{path}: requests[{n}] needs table, address and count")
        attempts = request.get("attempts") or []
        last = attempts[-1] if attempts else {}
        documented = range(start + 1, start + 1 + count)
        if "registers" in last:
            words = last["registers"]
            for address, word in zip(documented, words, strict=False):
                dump.words[(table, address)] = _word(path, f"requests[{n}]", word)
            failed = [a.get("exception") for a in attempts[:-1] if "exception" in a]
            if failed:
                for address in documented:
                    dump.first_try[(table, address)] = int(failed[0])
        else:
            for address in documented:
                dump.words.setdefault((table, address), None)
    if dump.device_type_code is None:
        dump.device_type_code = dump.words.get(("input", DEVICE_TYPE_ADDRESS))
    return dump


def _from_fingerprint(path: Path, data: dict[str, Any]) -> Dump:
    registers = data["register_dump"]
    connection = data.get("connection") or {}
    verdict = connection.get("verdict", "") + str(connection.get("communication_module_firmware",
                                                                  ""))
    device = data.get("device") or {}
    dump = Dump(str(path), "winet" if "WINET" in verdict.upper() or "WiNet" in verdict
                else "lan", int(data.get("unit", device.get("unit", 1))),
                _code(path, device.get("device_type_code")))
    battery = (data.get("user_inputs") or {}).get("battery")
    dump.battery = battery if isinstance(battery, str) and battery.strip() else None
    for table in ("input", "holding"):
        for wire, word in (registers.get(table) or {}).items():
            try:
                address = int(wire) + 1
            except ValueError:
                raise DumpError(f"{path}: register_dump.{table} key {wire!r} is not an "
                                "address") from None
            dump.words[(table, address)] = None if word is None else _word(
                path, f"register_dump.{table}[{wire}]", word)
    if dump.device_type_code is None:
        dump.device_type_code = dump.words.get(("input", DEVICE_TYPE_ADDRESS))
    return dump


def _code(path: Path, text: object) -> int | None:
    if text is None:
        return None
    if isinstance(text, int):
        return text
    try:
        return int(str(text), 16)
    except ValueError:
        raise DumpError(f"{path}: device_type_code {text!r} is not a hex code") from None


def write_fingerprint(dump: Dump, path: str | Path, **extra: Any) -> None:
    """Write ``dump`` as a fingerprint (what ``mock-sungrow record`` produces)."""
    tables: dict[str, dict[str, int | None]] = {"input": {}, "holding": {}}
    for (table, address), word in sorted(dump.words.items()):
        tables[table][str(address - 1)] = word
    body = {"schema": "mock-sungrow-record/1",
            "addressing": "wire: address = Sungrow document register number - 1",
            "unit": dump.unit,
            "device": {"device_type_code": None if dump.device_type_code is None
                       else f"0x{dump.device_type_code:04X}"},
            "connection": {"transport": dump.transport},
            **({"user_inputs": {"battery": dump.battery}} if dump.battery else {}),
            **extra, "register_dump": tables}
    Path(path).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
