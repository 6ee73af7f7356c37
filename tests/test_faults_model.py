"""Fault specs, lifetimes and the request log: the data side of fault injection."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.faults import KINDS, FaultSet, FaultSpecError, Request, parse_fault
from mock_sungrow.faults.requestlog import LoggedRequest, RequestLog


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "explode"}, r"unknown fault kind 'explode'; accepted: .*exception"),
        ({}, r"unknown fault kind None"),
        ({"kind": "exception", "code": 0}, r"exception: code must be a Modbus exception code"),
        ({"kind": "exception", "code": "two"}, r"code must be an integer; got 'two'"),
        ({"kind": "exception", "address": [5040, 5031]}, r"address range 5040-5031 is invalid"),
        ({"kind": "exception", "address": "x-y"}, r"address 'x-y' is not a register number"),
        ({"kind": "exception", "address": 0}, r"documented registers are 1..65536"),
        ({"kind": "exception", "times": -1}, r"times must be a positive integer"),
        ({"kind": "exception", "times": 0}, r"times must be a positive integer"),
        ({"kind": "latency", "delay": -0.5}, r"latency: delay must be >= 0"),
        ({"kind": "latency", "profile": "dsl"}, r"profile must be one of lan, winet-modbus"),
        ({"kind": "silence", "duration": 0}, r"duration must be a positive number"),
        ({"kind": "exception", "colour": "red"}, r"unknown field\(s\) colour; accepted: code"),
        ({"kind": "winet-result", "front_end": "modbus"},
         r"winet-result does not apply to the 'modbus' front end"),
        ({"kind": "exception", "front_end": "ftp"}, r"front_end 'ftp' is unknown"),
        ({"kind": "max-clients", "table": "input"}, r"does not act on registers"),
        ({"kind": "exception", "table": "coils"}, r"table must be 'input' or 'holding'"),
        ({"kind": "value"}, r"value: words is required"),
        ({"kind": "value", "words": [70000]}, r"16-bit words"),
        ({"kind": "exception", "ordered": True}, r"an ordered fault needs a finite 'times'"),
        ({"kind": "exception", "unit": 300}, r"unit must be an integer 0..255"),
    ],
)
def test_invalid_specs_say_what_is_wrong(spec: dict[str, object], message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_fault(spec)


def test_text_form_and_json_form_are_equivalent() -> None:
    a = parse_fault("exception:code=4,table=holding,address=5000-5019,times=2")
    b = parse_fault('{"kind": "exception", "code": 4, "table": "holding", '
                    '"address": [5000, 5019], "times": 2}')
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() == {"id": 0, "kind": "exception", "code": 4, "table": "holding",
                           "address": [5000, 5019], "fired": 0, "times": 2}


#: What a kind needs beyond its required parameters: a rule across its parameters
#: (``FaultKind.validate``; a latency fault must delay something).
_EXTRA: dict[str, dict[str, object]] = {"latency": {"delay": 0.01}}


def test_every_kind_parses_with_its_defaults() -> None:
    for name, kind in KINDS.items():
        spec: dict[str, object] = {"kind": name, **_EXTRA.get(name, {})}
        for p in kind.params:
            if p.required:
                spec[p.name] = [1] if p.name == "words" else p.default
        fault = parse_fault(spec)
        assert fault.name == name and fault.kind.summary
    assert {name for name, kind in KINDS.items() if kind.validate is not None} == set(_EXTRA)


def test_matching_by_front_end_table_range_unit_and_client() -> None:
    f = parse_fault({"kind": "exception", "front_end": "modbus", "table": "input",
                     "address": [5031, 5032], "unit": 1, "client": "127.0.0.1"})
    read = Request("modbus", "127.0.0.1:4000", 1, 4, "input", 5001, 38)
    assert f.match.matches(read)
    assert not f.match.matches(Request("modbus", "127.0.0.1:4000", 1, 4, "input", 5001, 30))
    assert not f.match.matches(Request("modbus", "127.0.0.2:4000", 1, 4, "input", 5001, 38))
    assert not f.match.matches(Request("modbus", "127.0.0.1:4000", 2, 4, "input", 5001, 38))
    assert not f.match.matches(Request("modbus", "127.0.0.1:4000", 1, 3, "holding", 5001, 38))
    assert not f.match.matches(Request("sungrow", "127.0.0.1:4000", 1, 4, "input", 5001, 38))


def test_lifetimes_times_duration_and_ordered() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    faults = FaultSet(clock.time)
    req = Request("modbus", "127.0.0.1:1", 1, 4, "input", 5001, 1)
    once = faults.inject(parse_fault({"kind": "silence", "times": 1}))
    assert faults.active("request", req) == [once]
    faults.fire(once)
    assert faults.active("request", req) == []
    timed = faults.inject(parse_fault({"kind": "drop", "duration": 30}))
    assert faults.active("request", req) == [timed]
    clock.advance(31)
    assert faults.active("request", req) == []
    assert timed not in list(faults)  # expired faults are removed
    first = faults.inject(parse_fault({"kind": "exception", "code": 2, "times": 1,
                                       "ordered": True}))
    second = faults.inject(parse_fault({"kind": "exception", "code": 4, "times": 1,
                                        "ordered": True}))
    assert faults.active("request", req) == [first]
    faults.fire(first)
    assert faults.active("request", req) == [second]


def test_wait_returns_when_finite_faults_fired_and_names_the_rest() -> None:
    faults = FaultSet()
    f = faults.inject(parse_fault({"kind": "silence", "times": 2}))
    faults.inject(parse_fault({"kind": "latency", "delay": 0.1}))  # permanent: not waited for
    with pytest.raises(TimeoutError, match=r"silence.*fired 0/2"):
        faults.wait(0.05)
    def fire_twice() -> None:
        faults.fire(f)
        faults.fire(f)

    firing = threading.Thread(target=fire_twice)
    firing.start()
    faults.wait(2)
    firing.join()



def test_wait_gives_a_duration_fault_its_whole_timeout() -> None:
    """A fault ending in 0.2 s is waited for, well inside a timeout of 1 s (not refused
    at once because the timeout is short, nor measured from the wrong side)."""
    faults = FaultSet()
    faults.inject(parse_fault({"kind": "silence", "duration": 0.2}))
    started = time.monotonic()
    faults.wait(1.0)
    assert time.monotonic() - started >= 0.2  # it waited for the end
    assert len(faults) == 0

def test_server_inject_forms_and_context_manager() -> None:
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    with server.inject("exception", code=2, table="input", address=(5031, 5032)) as f:
        assert list(server.faults) == [f]
        assert f.id == 1
    assert list(server.faults) == []
    server.inject("silence:function=4,times=2")
    server.inject({"kind": "latency", "profile": "winet-modbus"})
    assert [x["kind"] for x in server.faults.describe()] == ["silence", "latency"]
    server.clear_faults()
    assert not server.faults
    with pytest.raises(FaultSpecError, match="unknown fault kind"):
        server.inject("nope")
    built = MockSungrowServer(modbus_port=0, server_type="modbus",
                              faults=["latency:profile=lan"])
    assert [x["kind"] for x in built.faults.describe()] == ["latency"]


def test_reset_clears_faults_and_log() -> None:
    server = MockSungrowServer(modbus_port=0, server_type="modbus")
    server.inject("silence")
    server.requests.append(LoggedRequest(0, "modbus", "x", 1, 4, "input", 5001, 1, "ok"))
    server.reset()
    assert not server.faults and len(server.requests) == 0


def _log(*entries: tuple[str, str | None, int | None, int, tuple[int, ...] | None]
         ) -> RequestLog:
    log = RequestLog()
    for front_end, table, address, count, values in entries:
        log.append(LoggedRequest(0.0, front_end, "127.0.0.1:1", 1, 3 if table == "holding" else 4,
                                 table, address, count, "ok", None, values))
    return log


def test_request_log_assertions_explain_what_happened() -> None:
    log = _log(("modbus", "input", 5001, 38, None), ("modbus", "input", 5001, 38, None),
               ("modbus", "input", 5101, 100, None), ("modbus", "holding", 5000, 10, None))
    assert len(log.assert_read("input", 5031)) == 2
    log.assert_read("input", 5031, times=2)
    with pytest.raises(AssertionError) as e:
        log.assert_read("input", 5250)
    assert str(e.value) == (
        "expected a read of input 5250, saw reads of input 5001-5038 (2x), 5101-5200 and "
        "reads of holding 5000-5009"
    )
    with pytest.raises(AssertionError, match=r"expected 3 read\(s\) of input 5031 \(got 2\)"):
        log.assert_read("input", 5031, times=3)
    log.assert_not_requested("input", 13000)
    with pytest.raises(AssertionError, match="expected no request of input 5031"):
        log.assert_not_requested("input", 5031)


def test_request_log_write_assertions() -> None:
    log = _log(("modbus", "holding", 5006, 2, (0x55, 700)))
    assert log.assert_written(5007, 700).values == (0x55, 700)
    log.assert_written(5006)
    with pytest.raises(AssertionError, match="expected a write of 800 to holding 5007, saw "
                                             "writes of holding 5006-5007"):
        log.assert_written(5007, 800)
    with pytest.raises(AssertionError, match="no requests at all"):
        RequestLog().assert_written(5006)


def test_request_log_is_bounded() -> None:
    log = RequestLog(capacity=3)
    for i in range(10):
        log.append(LoggedRequest(float(i), "modbus", "p", 1, 4, "input", 5001 + i, 1, "ok"))
    assert [r.address for r in log.all()] == [5008, 5009, 5010]
