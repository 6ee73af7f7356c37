"""Replay and record: recorded devices served exactly as recorded, and recorded anew.

Expectations are the recordings themselves (../shared/dumps, read here with json / PyYAML,
not with the product's loader): every word a real unit answered is answered, every address it
refused is refused, a read it failed once (the WiNet-S's exception 4 on holding 33046+ /
33499+) fails once and then answers. Reads go over real sockets with pymodbus, in the blocks
the recorders used. Record is checked against a running simulator: what it writes, replayed,
answers what the simulator answered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import ModbusTcpClient

from mock_sungrow import ManualClock, MockSungrowServer

REPO = Path(__file__).resolve().parents[1]


def _dumps_dir() -> Path | None:
    candidates = [Path(os.environ["MOCK_SUNGROW_DUMPS"])] if "MOCK_SUNGROW_DUMPS" in os.environ \
        else []
    candidates += [REPO.parent / "shared" / "dumps", REPO.parent.parent / "shared" / "dumps"]
    return next((c for c in candidates if (c / "README.md").exists()), None)


DUMPS = _dumps_dir()
FILES = sorted(p.name for p in DUMPS.iterdir() if p.suffix in (".yaml", ".json")
               and not p.name.endswith(".reads.json")) if DUMPS else []


def _expected(path: Path) -> tuple[dict[tuple[str, int], int | None], set[tuple[str, int]]]:
    """Documented address -> recorded word (None: refused), and the fail-once addresses."""
    words: dict[tuple[str, int], int | None] = {}
    once: set[tuple[str, int]] = set()
    if path.suffix == ".yaml":
        data = yaml.safe_load(path.read_text())
        data = data.get("registers", data)
        for key, table in (("read", "input"), ("hold", "holding")):
            for address, word in (data.get(key) or {}).items():
                words[(table, address)] = word
        return words, once
    data = json.loads(path.read_text())
    if "requests" in data:
        for request in data["requests"]:
            last = request["attempts"][-1]
            span = range(request["address"] + 1, request["address"] + 1 + request["count"])
            for i, address in enumerate(span):
                words[(request["table"], address)] = last["registers"][i] \
                    if "registers" in last else None
                if len(request["attempts"]) > 1 and "registers" in last:
                    once.add((request["table"], address))
        return words, once
    for table in ("input", "holding"):
        for wire, word in data["register_dump"][table].items():
            words[(table, int(wire) + 1)] = word
    return words, once


def _runs(addresses: list[int], limit: int = 32) -> Iterator[range]:
    """Contiguous runs of at most ``limit`` addresses."""
    start = prev = addresses[0]
    for a in addresses[1:]:
        if a != prev + 1 or a - start >= limit:
            yield range(start, prev + 1)
            start = a
        prev = a
    yield range(start, prev + 1)


@pytest.mark.skipif(DUMPS is None, reason="../shared/dumps is not next to the repository "
                                          "(set MOCK_SUNGROW_DUMPS to its path)")
@pytest.mark.parametrize("name", FILES)
def test_replay_answers_every_recorded_address_as_recorded(name: str) -> None:
    assert DUMPS is not None
    words, once = _expected(DUMPS / name)
    with MockSungrowServer.from_dump(DUMPS / name, server_type="modbus",
                                     modbus_port=0) as server:
        client = ModbusTcpClient("127.0.0.1", port=server.get_connection_info()["port"],
                                 timeout=3, retries=0)
        assert client.connect()
        mismatches: list[tuple[str, int, int | None, object]] = []
        try:
            for table in ("input", "holding"):
                read = client.read_input_registers if table == "input" \
                    else client.read_holding_registers
                answered = sorted(a for (t, a), w in words.items() if t == table and w is not None)
                for run in _runs(answered) if answered else ():
                    if any((table, a) in once for a in run):
                        first = read(run.start - 1, count=len(run))
                        assert first.isError() and first.exception_code == 4, (table, run)
                    reply = read(run.start - 1, count=len(run))
                    got = [None] * len(run) if reply.isError() else reply.registers
                    mismatches += [(table, a, words[(table, a)], g)
                                   for a, g in zip(run, got, strict=True)
                                   if g != words[(table, a)]]
                for address in sorted(a for (t, a), w in words.items() if t == table
                                      and w is None):
                    reply = read(address - 1, count=1)
                    if not (reply.isError() and reply.exception_code == 2):
                        mismatches.append((table, address, None, str(reply)))
        finally:
            client.close()
    assert mismatches == []
    if name.startswith("mkaiser-sh10rt-direct"):
        assert server.model.name == "SH10RT"


def test_record_then_replay_gives_back_what_the_simulator_answered(tmp_path: Path) -> None:
    """``mock-sungrow record`` against a simulated SH10RT on a manual clock (its words do not
    move), then replayed: the same words, block by block, and the same refusals."""
    bands = [("input", 4950, 5040), ("input", 2612, 2650), ("holding", 4999, 5010),
             ("holding", 33499, 33502)]
    out = tmp_path / "sh10rt.json"
    with MockSungrowServer(model="SH10RT", server_type="modbus", modbus_port=0,
                           clock=ManualClock()) as live:
        port = live.get_connection_info()["port"]
        recorded = subprocess.run(
            [sys.executable, "-m", "mock_sungrow", "record", "127.0.0.1", str(port), "--out",
             str(out), "--gap", "0", *[f"--band={t}:{a}-{b}" for t, a, b in bands]],
            capture_output=True, text=True, timeout=120, check=False)
        assert recorded.returncode == 0, recorded.stderr
        assert "registers answered" in recorded.stderr and "input 4950-4981" in recorded.stderr
        # What the simulator answers to the recorder's plan (docs/dumps.md): blocks of 32
        # from each band's start, one address at a time where a block is refused (a block
        # touching a served register answers fillers for the rest, as real units do).
        truth: dict[tuple[str, int], int | None] = {}
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0)
        assert client.connect()
        try:
            for table, first, last in bands:
                read = client.read_input_registers if table == "input" \
                    else client.read_holding_registers
                for start in range(first, last + 1, 32):
                    block = range(start, min(start + 32, last + 1))
                    reply = read(start - 1, count=len(block))
                    if not reply.isError():
                        truth.update(((table, a), w) for a, w in zip(block, reply.registers,
                                                                     strict=True))
                        continue
                    for a in block:
                        one = read(a - 1, count=1)
                        truth[(table, a)] = None if one.isError() else one.registers[0]
        finally:
            client.close()
    data = json.loads(out.read_text())
    assert data["device"]["device_type_code"] == "0x0E03"
    assert {(t, int(w) + 1): v for t in ("input", "holding")
            for w, v in data["register_dump"][t].items()} == truth
    with MockSungrowServer.from_dump(out, server_type="modbus", modbus_port=0) as replayed:
        assert replayed.model.name == "SH10RT"
        client = ModbusTcpClient("127.0.0.1", port=replayed.get_connection_info()["port"],
                                 timeout=3, retries=0)
        assert client.connect()
        try:
            assert client.read_input_registers(4999, count=1).registers == [0x0E03]
            serial = client.read_input_registers(4989, count=10).registers
            assert serial == [truth[("input", a)] for a in range(4990, 5000)]
        finally:
            client.close()


def test_cli_serves_a_replay_and_refuses_bad_ones(tmp_path: Path) -> None:
    dump = tmp_path / "tiny.json"
    dump.write_text(json.dumps({"register_dump": {
        "input": {"4999": 0x0126, "5002": 17, "5003": None}, "holding": {"5007": 1000}}}))
    proc = subprocess.Popen([sys.executable, "-m", "mock_sungrow", "serve", "--replay",
                             str(dump), "--server-type", "modbus", "--modbus-port", "0",
                             "--no-control"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        ready: dict[str, Any] = json.loads(proc.stdout.readline())
        assert ready["devices"][0]["model"] == "SG5K-D"  # device type 0x0126
        client = ModbusTcpClient("127.0.0.1", port=ready["modbus"]["port"], timeout=3,
                                 retries=0)
        assert client.connect()
        try:
            assert client.read_input_registers(5002, count=1).registers == [17]
            assert client.read_input_registers(5003, count=1).exception_code == 2  # refused
            assert client.read_input_registers(5004, count=1).exception_code == 2  # unrecorded
            assert not client.write_register(5007, 500).isError()
            assert client.read_holding_registers(5007, count=1).registers == [500]
        finally:
            client.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    for args, message in (
            (["--replay", str(tmp_path / "missing.json")], "cannot read dump"),
            (["--replay", str(dump), "--unit-id", "3"], "--unit-id cannot be given with"),
            (["--replay-live"], "--replay-live needs --replay")):
        bad = subprocess.run([sys.executable, "-m", "mock_sungrow", "serve", *args],
                             capture_output=True, text=True, timeout=60, check=False)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
    (tmp_path / "bad.json").write_text('{"register_dump": {"input": {"4999": 70000}}}')
    bad = subprocess.run([sys.executable, "-m", "mock_sungrow", "serve", "--replay",
                          str(tmp_path / "bad.json")], capture_output=True, text=True,
                         timeout=60, check=False)
    assert bad.returncode == 2 and "16-bit word" in bad.stderr


def test_live_overlay_moves_measurements_and_keeps_identity(tmp_path: Path) -> None:
    dump = tmp_path / "sg5k.json"
    dump.write_text(json.dumps({"register_dump": {
        "input": {str(w): 7 for w in range(4989, 5040)} | {"4999": 0x0126}, "holding": {}}}))
    clock = ManualClock()
    with MockSungrowServer.from_dump(dump, live=True, server_type="modbus", modbus_port=0,
                                     clock=clock) as server:
        client = ModbusTcpClient("127.0.0.1", port=server.get_connection_info()["port"],
                                 timeout=3, retries=0)
        assert client.connect()
        try:
            words = client.read_input_registers(4989, count=51).registers
            assert words[:10] == [7] * 10 and words[10] == 0x0126  # serial, type: recorded
            # 5008 (internal temperature, a live row of the SG5K-D's map) is the plant's now.
            assert words[5008 - 4990] == server.devices[0].bank.read("input", 5008, 1)[0]
            assert words[5008 - 4990] != 7
        finally:
            client.close()


def test_record_reports_an_unreachable_device() -> None:
    bad = subprocess.run([sys.executable, "-m", "mock_sungrow", "record", "127.0.0.1", "1",
                          "--out", os.devnull], capture_output=True, text=True, timeout=60,
                         check=False)
    assert bad.returncode == 2 and "cannot connect to 127.0.0.1:1" in bad.stderr
