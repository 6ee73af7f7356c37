"""Clock moves of any size, and clock values that no clock can show (issue 10, items 1-2).

A year's advance used to integrate minute by minute on the server's loop (every front end
blocked for tens of seconds), ``1e12`` s or NaN broke every later read, and a refused inverter
time had already shifted the plant. Moves are now checked first and applied only when valid,
and long jumps integrate in bounded work (``plant/leap.py``).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.scenario import ScenarioError, load_scenario
from tests.helpers import RawModbus, control_call

YEAR = 365 * 86400


def _server(factory: Any, **kwargs: Any) -> tuple[MockSungrowServer, str]:
    server = factory(server_type="modbus", control_port=0, clock=ManualClock(), **kwargs)
    return server, server.get_connection_info("control")["url"].rstrip("/")


def _clock_words(server: MockSungrowServer) -> list[int] | int:
    info = server.get_connection_info("modbus")
    with RawModbus(info["host"], info["port"], timeout=10) as client:
        # Holding 5000-5005 (documented numbers; wire address 4999): Y M D h m s.
        return client.read(3, 4999, 6)


def _u32(words: list[int]) -> int:
    return words[0] | words[1] << 16  # U32: low word first (spec: encodings)


def _yields(server: MockSungrowServer) -> tuple[float, int]:
    """(daily yield kWh, total yield kWh) read over Modbus: input 5003 (0.1 kWh), 5004 U32."""
    info = server.get_connection_info("modbus")
    with RawModbus(info["host"], info["port"], timeout=10) as client:
        words = client.read(4, 5002, 3)
    assert isinstance(words, list)
    return words[0] / 10.0, _u32(words[1:])


@pytest.mark.parametrize("body", [
    b'{"advance": NaN}', b'{"advance": Infinity}', b'{"advance": -Infinity}',
    b'{"advance": 1e12}', b'{"advance": -5}', b'{"advance": 1e400}',
    b'{"advance": 1' + b"0" * 400 + b'}',
    b'{"set": "9999-12-31T23:59:59-14:00"}',
])
def test_impossible_clock_moves_are_refused_and_change_nothing(
        mock_sungrow_factory: Any, body: bytes) -> None:
    server, base = _server(mock_sungrow_factory)
    before = server.clock.time()
    words = _clock_words(server)
    status, reply = control_call(base, "POST", "/clock", raw=body)
    # 422 from the clock's own check; 400 where a JSON layer refuses the number first.
    assert status in (400, 422), reply
    assert "clock" in reply["error"] or "advance" in reply["error"], reply
    assert server.clock.time() == before
    assert _clock_words(server) == words  # every read still answers, with the same clock


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "1639-01-01T00:00:00+00:00",
                                  "0001-01-01T00:00:00+14:00"])
def test_a_refused_inverter_time_leaves_the_plant_as_it_was(
        mock_sungrow_factory: Any, when: str) -> None:
    server, base = _server(mock_sungrow_factory)
    words = _clock_words(server)
    status, reply = control_call(base, "POST", "/clock", {"inverter_time": when})
    assert status == 422, reply
    assert "inverter clock" in reply["error"]
    assert _clock_words(server) == words  # not exception 4 ("year 10000 is out of range")
    assert server.snapshot().local.year == 2026


def test_python_api_refuses_impossible_times_before_moving() -> None:
    clock = ManualClock()
    server = MockSungrowServer(server_type="modbus", clock=clock)
    start = clock.time()
    for bad in (float("nan"), float("inf"), 1e12, -1.0, 10**400):
        with pytest.raises(ValueError, match=r"clock|advance|seconds"):
            clock.advance(bad)
    with pytest.raises(ValueError, match="finite"):
        clock.set(float("nan"))
    with pytest.raises(ValueError, match="between"):
        ManualClock(1e13)
    with pytest.raises(ValueError, match="inverter clock"):
        server.set_clock(datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc))
    with pytest.raises(ValueError, match="900 years"):
        server.set_clock(datetime(2990, 1, 1, tzinfo=timezone.utc))
    assert clock.time() == start
    assert server.snapshot().local.year == 2026


@pytest.mark.parametrize("step", [
    "clock = { advance = nan }", "clock = { advance = inf }", "clock = { advance = -1.0 }",
    'clock = { advance = "soon" }', "clock = { advance = 1e12 }",
    "clock = { advance = 1" + "0" * 400 + " }",
    'clock = { inverter_time = "9999-12-31T23:59:59-14:00" }',
    'clock = { inverter_time = "not a time" }',
])
def test_scenario_files_refuse_impossible_clock_steps(tmp_path: Path, step: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f"[[step]]\nat = 0\n{step}\n")
    with pytest.raises(ScenarioError, match=r"step 1: .*(advance|inverter_time)"):
        load_scenario(path)


def test_a_decade_advance_answers_while_modbus_keeps_serving(mock_sungrow_factory: Any) -> None:
    """Ten years in one POST: minute steps would take minutes of loop time; a leap does not.

    A Modbus client polls throughout and must get answers while the clock moves (a generous
    deadline: the point is that the loop is never held for the whole integration).
    """
    server, base = _server(mock_sungrow_factory)
    info = server.get_connection_info("modbus")
    done = threading.Event()
    gaps: list[float] = []

    def poll() -> None:
        with RawModbus(info["host"], info["port"], timeout=30) as client:
            last = time.monotonic()
            while not done.is_set():
                assert isinstance(client.read(4, 5002, 1), list)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        status, reply = control_call(base, "POST", "/clock", {"advance": 10 * YEAR},
                                     timeout=60)
    finally:
        done.set()
        poller.join(60)
    assert status == 200, reply
    assert reply["inverter_time"].startswith("2036-06-1")
    assert max(gaps) < 20.0, max(gaps)


def test_long_jumps_keep_counters_consistent_integrals(mock_sungrow_factory: Any) -> None:
    """Over 40 leapt days the totals grow like 40 real days; the daily counter restarts."""
    server, _ = _server(mock_sungrow_factory)
    clock = server.clock
    assert isinstance(clock, ManualClock)
    # One day integrated step by step: from midnight to midnight (the plant's local time).
    local = server.snapshot().local
    clock.advance(86400 - (local.hour * 3600 + local.minute * 60 + local.second) - 60)
    _daily0, total0 = _yields(server)
    clock.advance(86400)  # 23:59 the next day: that day's yield, minute by minute
    one_day, total1 = _yields(server)
    assert one_day > 5.0  # a June day in the default site yields kWh
    assert abs((total1 - total0) - one_day) <= 1.5  # kWh register resolution
    clock.advance(40 * 86400 + 120)  # to 00:01, 40 days later
    daily, total2 = _yields(server)
    assert daily == 0.0  # a new day has just begun
    grown = total2 - total1
    # 40 days in June/July at this site: each within a few percent of the sampled one.
    assert 0.8 * 40 * one_day <= grown <= 1.25 * 40 * one_day, (grown, one_day)
    snap = server.snapshot()
    assert snap.local.hour == 0 and snap.local.minute == 1


def test_hybrid_balance_holds_across_a_year(mock_sungrow_factory: Any) -> None:
    """PV + discharge + import = load + charge + export + losses, for the leapt counters too."""
    server, base = _server(mock_sungrow_factory, model="SH10RT")
    plant = server.plant
    c0 = plant._counters
    before = (c0.total_pv, c0.total_discharge, c0.total_import, c0.total_charge,
              c0.total_export, c0.total_yield)
    status, _ = control_call(base, "POST", "/clock", {"advance": YEAR + 7 * 3600}, timeout=60)
    assert status == 200
    server.snapshot()
    c = plant._counters
    pv, dis, imp, ch, exp, out = (now - then for now, then in zip(
        (c.total_pv, c.total_discharge, c.total_import, c.total_charge, c.total_export,
         c.total_yield), before, strict=True))
    # DC side: PV + discharge = charge + AC output + loss; AC side: output + import = load +
    # export. The loss is not a total, so check the AC identity's pieces are plausible and
    # the DC side against the output (the converter is ~95-98 % efficient over a year).
    assert pv > 10_000 and out > 10_000
    assert 0.85 < out / (pv + dis - ch) <= 1.0
    assert imp >= 0 and exp >= 0
    words = _clock_words(server)
    assert isinstance(words, list) and words[0] == 2027

