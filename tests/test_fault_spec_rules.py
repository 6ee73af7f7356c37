"""What a fault spec accepts, what it refuses and how it says so (docs/faults.md, "Match",
"Lifetime").

Through the forms a user has: ``server.inject`` (keywords, a dict, the CLI's text form, JSON
text), the control API's ``POST /faults`` over a real socket, and the effect a client then
sees over Modbus TCP (raw sockets). The expectations are the documented fields and the
messages a user reads, written out here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from mock_sungrow.faults import FaultSpecError
from tests.helpers import RawModbus, control_call

#: Input 5001 onwards of the default SG inverter (dumps: device type 0x0126 at 5000).
DEVICE_TYPE = 0x0126


@pytest.fixture
def server() -> Iterator[MockSungrowServer]:
    """A server that is never started: a spec is parsed (and refused) before any I/O."""
    s = MockSungrowServer(modbus_port=0, server_type="modbus")
    yield s
    s.clear_faults()


def _spec(server: MockSungrowServer, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The injected fault as ``GET /faults`` lists it, without its id and count."""
    fault = server.inject(*args, **kwargs)
    out = fault.to_dict()
    assert out.pop("id") == fault.id and out.pop("fired") == 0
    return out


def _refused(server: MockSungrowServer, *args: Any, **kwargs: Any) -> str:
    before = server.faults.describe()
    with pytest.raises(FaultSpecError) as e:
        server.inject(*args, **kwargs)
    assert server.faults.describe() == before  # nothing was injected
    return str(e.value)


# ----------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (5031, [5031, 5031]),
        ("5031", [5031, 5031]),
        (" 5031 ", [5031, 5031]),
        ("5031-5032", [5031, 5032]),
        ("5-6", [5, 6]),
        (" 5031 - 5032 ", [5031, 5032]),
        ([5031, 5032], [5031, 5032]),
        ((5031, 5032), [5031, 5032]),
        (1, [1, 1]),
        (65536, [65536, 65536]),
        ([1, 65536], [1, 65536]),
        ([7, 7], [7, 7]),
    ],
)
def test_address_forms_name_a_documented_range(
    server: MockSungrowServer, address: Any, expected: list[int]
) -> None:
    assert _spec(server, "exception", address=address) == {
        "kind": "exception", "code": 2, "address": expected}


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (True, "address must be a register number or a range; got True"),
        (False, "address must be a register number or a range; got False"),
        (0, "address range 0-0 is invalid: documented registers are 1..65536, first <= last"),
        (65537, "address range 65537-65537 is invalid: documented registers are 1..65536, "
                "first <= last"),
        ("-5", "address '-5' is not a register number or a range like '5031-5032'"),
        ("0x13A7", "address '0x13A7' is not a register number"),  # decimal only (issue 10)
        ([5032, 5031], "address range 5032-5031 is invalid"),
        ([0, 5], "address range 0-5 is invalid"),
        ([5, 65537], "address range 5-65537 is invalid"),
        ("5031-", "address '5031-' is not a register number or a range like '5031-5032'"),
        ("x", "address 'x' is not a register number or a range like '5031-5032'"),
        ("1-2-3", "address '1-2-3' is not a register number or a range like '5031-5032'"),
        ([5031], "address must be a register number, [first, last] or 'first-last'; "
                 "got [5031]"),
        ([1, 2, 3], "address must be a register number, [first, last] or 'first-last'; "
                    "got [1, 2, 3]"),
        ([5031, True], "address must be a register number, [first, last] or 'first-last'; "
                       "got [5031, True]"),
        ([True, 5031], "address must be a register number, [first, last] or 'first-last'"),
    ],
)
def test_bad_addresses_are_refused_with_what_is_accepted(
    server: MockSungrowServer, address: Any, message: str
) -> None:
    assert _refused(server, "exception", address=address).startswith(message)


def test_a_range_matches_every_request_whose_span_touches_it(
    mock_sungrow_factory: Any,
) -> None:
    """docs/faults.md: "a request matches when its span touches it" -- and only then."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("exception", code=4, table="input", address=[5031, 5032])
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        # (wire address, count) -> documented span; exception 4 where it touches 5031-5032.
        assert c.read(4, 5028, 2) != 4    # 5029-5030: ends just before
        assert c.read(4, 5029, 1) != 4    # 5030 alone: just before
        assert c.read(4, 5029, 2) == 4    # 5030-5031: its last register is the first
        assert c.read(4, 5030, 1) == 4    # 5031 alone
        assert c.read(4, 5031, 1) == 4    # 5032 alone
        assert c.read(4, 5031, 3) == 4    # 5032-5034: its first register is the last
        assert c.read(4, 5032, 1) != 4    # 5033: starts just after
        assert c.read(4, 5000, 38) == 4   # 5001-5038 spans it
        assert c.read(3, 5030, 1) != 4    # holding 5031: another table
    outcomes = [(r.address, r.outcome) for r in server.requests.find(fault="exception")]
    assert outcomes == [(5030, "exception 4"), (5031, "exception 4"), (5032, "exception 4"),
                        (5032, "exception 4"), (5001, "exception 4")]


def test_a_word_fault_changes_only_the_words_of_its_table_and_range(
    mock_sungrow_factory: Any,
) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    port = server.get_connection_info("modbus")["port"]
    with RawModbus("127.0.0.1", port) as c:
        before = c.read(4, 5000, 6)  # documented 5001-5006
        assert isinstance(before, list)
        with server.inject("value", words=[7], table="input", address="5002-5004"):
            assert c.read(4, 5000, 6) == [before[0], 7, 7, 7, before[4], before[5]]
            assert c.read(4, 4999, 1) == [DEVICE_TYPE]  # documented 5000: outside
        holding = c.read(3, 5001, 3)
        with server.inject("value", words=[7], table="holding", address="5002-5004"):
            assert c.read(4, 5000, 6) == before  # another table: untouched
            assert c.read(3, 5001, 3) == [7, 7, 7]
        assert c.read(3, 5001, 3) == holding


# ----------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"front_end": "ftp"},
         "front_end 'ftp' is unknown; accepted: modbus, http, sungrow, rtu, rtu-tcp, control"),
        ({"front_end": "http"},
         "exception does not apply to the 'http' front end; it applies to modbus, rtu, "
         "rtu-tcp, sungrow"),
        ({"unit": True}, "unit must be an integer 0..255; got True"),
        ({"unit": -1}, "unit must be an integer 0..255; got -1"),
        ({"unit": 256}, "unit must be an integer 0..255; got 256"),
        ({"unit": 1.5}, "unit must be an integer 0..255; got 1.5"),
        ({"function": [4]}, "function must be a function code or a service name; got [4]"),
        ({"service": 4.0}, "service must be a function code or a service name; got 4.0"),
        ({"table": "coils"}, "table must be 'input' or 'holding'; got 'coils'"),
        ({"client": 127}, "client must be an IP address string; got 127"),
        ({"device": ""}, "device must be a device's serial number; got ''"),
        ({"device": 42}, "device must be a device's serial number; got 42"),
    ],
)
def test_bad_match_fields_are_refused_by_name(
    server: MockSungrowServer, fields: dict[str, Any], message: str
) -> None:
    assert _refused(server, {"kind": "exception", **fields}) == message


@pytest.mark.parametrize("fields", [{"table": "input"}, {"address": 5031},
                                    {"table": "holding", "address": [1, 2]}])
def test_kinds_without_registers_refuse_table_and_address(
    server: MockSungrowServer, fields: dict[str, Any]
) -> None:
    assert _refused(server, "refuse", **fields) == (
        "refuse does not act on registers: drop table/address")


def test_match_fields_are_kept_as_given(server: MockSungrowServer) -> None:
    assert _spec(server, "silence", front_end="modbus", unit=0, function="4",
                 table="holding", address=[5000, 5009], client="127.0.0.2",
                 device="A2290000001") == {
        "kind": "silence", "front_end": "modbus", "unit": 0, "function": 4,
        "table": "holding", "address": [5000, 5009], "client": "127.0.0.2",
        "device": "A2290000001"}
    assert _spec(server, "silence", unit=255)["unit"] == 255
    # ``service`` is an alias of ``function``; ``function`` wins when both are given.
    assert _spec(server, {"kind": "silence", "service": "real"}) == {
        "kind": "silence", "function": "real"}
    assert _spec(server, {"kind": "silence", "service": "real", "function": "/about"}) == {
        "kind": "silence", "function": "/about"}
    assert _spec(server, "silence", function="/device/getParam")["function"] == (
        "/device/getParam")
    assert _spec(server, "drop", front_end="http") == {"kind": "drop", "front_end": "http"}


def test_a_function_given_as_digits_matches_that_function_code(
    mock_sungrow_factory: Any,
) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("exception:code=3,function=3")  # text: "3" is function code 3
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == [DEVICE_TYPE]
        assert c.read(3, 4999, 1) == 3


# ----------------------------------------------------------------------------- parameters


def test_unknown_fields_are_listed_with_every_accepted_one(server: MockSungrowServer) -> None:
    assert _refused(server, "exception", size=1, colour="red") == (
        "exception: unknown field(s) colour, size; accepted: code, front_end, unit, device, "
        "function, service, table, address, client, times, duration, ordered")
    assert _refused(server, "refuse", code=2) == (
        "refuse: unknown field(s) code; accepted: front_end, unit, device, function, "
        "service, table, address, client, times, duration, ordered")


def test_defaults_fill_parameters_left_out_or_given_as_none(server: MockSungrowServer) -> None:
    assert _spec(server, "exception") == {"kind": "exception", "code": 2}
    assert _spec(server, {"kind": "exception", "code": None}) == {"kind": "exception",
                                                                 "code": 2}
    # A parameter without a default (latency's profile) is left out, not listed as None.
    assert _spec(server, "latency", jitter=0.5) == {"kind": "latency", "delay": 0.0,
                                                    "jitter": 0.5}
    assert _spec(server, "latency", profile="lan") == {
        "kind": "latency", "profile": "lan", "delay": 0.0, "jitter": 0.0}
    assert _spec(server, "min-gap", gap=1) == {"kind": "min-gap", "gap": 1.0,
                                               "overload": "drop", "idle": 2.0}
    assert _refused(server, "value") == "value: words is required"
    assert _refused(server, {"kind": "value", "words": None}) == "value: words is required"


# ----------------------------------------------------------------------------- lifetimes


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"times": True}, "times must be a positive integer (omit it for 'permanent'); "
                          "got True"),
        ({"times": 0}, "times must be a positive integer (omit it for 'permanent'); got 0"),
        ({"times": 1.5}, "times must be a positive integer (omit it for 'permanent'); "
                         "got 1.5"),
        ({"times": "2"}, "times must be a positive integer (omit it for 'permanent'); "
                         "got '2'"),
        ({"duration": True}, "duration must be a positive number of seconds; got True"),
        ({"duration": 0}, "duration must be a positive number of seconds; got 0"),
        ({"duration": -1.5}, "duration must be a positive number of seconds; got -1.5"),
        ({"duration": "soon"}, "duration must be a positive number of seconds; got 'soon'"),
        ({"duration": [1]}, "duration must be a positive number of seconds; got [1]"),
        ({"ordered": 1, "times": 1}, "ordered must be true or false; got 1"),
        ({"ordered": "perhaps", "times": 1}, "ordered must be true or false; got 'perhaps'"),
        ({"ordered": True}, "an ordered fault needs a finite 'times'"),
        ({"ordered": "yes"}, "an ordered fault needs a finite 'times'"),
    ],
)
def test_bad_lifetimes_are_refused(server: MockSungrowServer, fields: dict[str, Any],
                                   message: str) -> None:
    assert _refused(server, {"kind": "silence", **fields}) == message


def test_lifetimes_are_kept_as_given(server: MockSungrowServer) -> None:
    assert _spec(server, "silence", times=1) == {"kind": "silence", "times": 1}
    assert _spec(server, "silence", duration=60) == {"kind": "silence", "duration": 60.0}
    assert isinstance(server.inject("silence", duration=2).duration, float)
    assert _spec(server, "silence", duration="0.5") == {"kind": "silence", "duration": 0.5}
    assert _spec(server, "silence", times=2, ordered="yes") == {
        "kind": "silence", "times": 2, "ordered": True}
    assert _spec(server, "silence", times=2, ordered="off") == {"kind": "silence",
                                                                "times": 2}
    assert _spec(server, "silence", times=2, ordered=False) == {"kind": "silence",
                                                                "times": 2}


@pytest.mark.parametrize(("kind", "fields"), [
    ("inverter-fault", {"times": 1}), ("grid-outage", {"times": 2, "ordered": True}),
    ("key-silent", {"times": 1}), ("winet-kick", {"times": 1, "ordered": True}),
])
def test_state_changing_kinds_take_a_duration_not_times(
    kind: str, fields: dict[str, Any]
) -> None:
    server = MockSungrowServer(modbus_port=0, http_port=0, sungrow_port=0,
                               server_type="modbus+http+sungrow")
    with pytest.raises(FaultSpecError) as e:
        server.inject(kind, **fields)
    assert str(e.value) == (
        f"{kind} changes the device's state while it is active: give it a 'duration' or "
        "remove it, instead of 'times'/'ordered'")
    with server.inject(kind, duration=5) as fault:
        assert fault.duration == 5.0


# ----------------------------------------------------------------------------- the forms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("exception", {"kind": "exception", "code": 2}),
        (" exception : code = 4 , times = 2 ", {"kind": "exception", "code": 4, "times": 2}),
        ("exception:code=4,", {"kind": "exception", "code": 4}),
        ("exception:,code=4,,", {"kind": "exception", "code": 4}),
        ("exception:front-end=sungrow", {"kind": "exception", "code": 2,
                                         "front_end": "sungrow"}),
        ("silence:unit=0x10,times=0x2", {"kind": "silence", "unit": 16, "times": 2}),
        ("silence:unit=200", {"kind": "silence", "unit": 200}),
        ("silence:client=127.0.0.1", {"kind": "silence", "client": "127.0.0.1"}),
        ("silence:client=::1", {"kind": "silence", "client": "::1"}),  # IPv6: colons in a value
        ("winet-result:message=a=b", {"kind": "winet-result", "code": 301, "message": "a=b"}),
        ("silence:address=5031-5032", {"kind": "silence", "address": [5031, 5032]}),
        ('{"kind": "silence", "unit": 3}', {"kind": "silence", "unit": 3}),
        ('  {"kind": "silence"}', {"kind": "silence"}),
    ],
)
def test_text_forms(server: MockSungrowServer, text: str, expected: dict[str, Any]) -> None:
    assert _spec(server, text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exception:=4", "expected key=value in fault spec, got '=4'"),
        ("exception: =4", "expected key=value in fault spec, got '=4'"),
        ("exception:code", "expected key=value in fault spec, got 'code'"),
        ("silence:times=two", "times must be an integer; got 'two'"),
        ("silence:unit=", "unit must be an integer; got ''"),
        ("{oops", "fault spec is not valid JSON: "),
        ("nope:code=1", "unknown fault kind 'nope'; accepted: bad-crc, bad-exception-frame, "
                        "block-after-bad-reads, collision, drop, empty-frame, exception, "),
    ],
)
def test_bad_text_forms(server: MockSungrowServer, text: str, message: str) -> None:
    assert _refused(server, text).startswith(message)


def test_keywords_add_to_and_override_the_spec(server: MockSungrowServer) -> None:
    assert _spec(server, "exception:code=2,times=3", code=4) == {
        "kind": "exception", "code": 4, "times": 3}
    assert _spec(server, {"kind": "exception", "code": 3}, times=1) == {
        "kind": "exception", "code": 3, "times": 1}
    assert _spec(server, kind="drop", times=1) == {"kind": "drop", "times": 1}
    assert _spec(server, "drop", times=1) == {"kind": "drop", "times": 1}
    ready = server.inject("drop")
    server.clear_faults()
    assert server.inject(ready) is ready
    with pytest.raises(TypeError, match=r"^give either a Fault or keyword arguments, not both$"):
        server.inject(ready, times=1)


@pytest.mark.parametrize("spec", [42, ["exception"], 1.5])
def test_a_spec_of_the_wrong_type_says_which_forms_there_are(
    server: MockSungrowServer, spec: Any
) -> None:
    assert _refused(server, spec) == (
        "a fault spec is an object with a 'kind' (or a kind name, or 'kind:key=value' "
        f"text); got {spec!r}")


def test_a_fault_outside_any_server_can_be_removed_harmlessly() -> None:
    from mock_sungrow.faults import parse_fault

    fault = parse_fault({"kind": "drop"})
    fault.remove()  # never injected: nothing to remove, no error
    with fault:
        pass
    assert fault.id == 0 and fault.ended_at is None


def test_a_fault_removed_through_itself_leaves_its_server(server: MockSungrowServer) -> None:
    keep = server.inject("drop")
    gone = server.inject("silence")
    gone.remove()
    assert list(server.faults) == [keep]
    assert gone.ended_at is not None and not gone.expired
    with server.inject("latency", delay=0.001) as f:
        assert list(server.faults) == [keep, f]
    assert list(server.faults) == [keep]


# ----------------------------------------------------------------------------- over HTTP


def test_the_control_api_answers_with_the_fault_or_the_reason(mock_sungrow_factory: Any
                                                              ) -> None:
    server = mock_sungrow_factory(server_type="modbus", control_port=0)
    base = server.get_connection_info("control")["url"].rstrip("/")
    status, body = control_call(base, "POST", "/faults",
                                {"kind": "exception", "address": "5031-5032", "times": 2,
                                 "ordered": True, "duration": 30, "unit": 1})
    assert status == 201
    assert body == {"id": 1, "kind": "exception", "code": 2, "unit": 1,
                    "address": [5031, 5032], "fired": 0, "times": 2, "duration": 30.0,
                    "ordered": True}
    status, body = control_call(base, "POST", "/faults", {"kind": "exception", "unit": 256})
    assert status == 422 and body["error"] == "unit must be an integer 0..255; got 256"
    status, listed = control_call(base, "GET", "/faults")
    assert status == 200 and [f["id"] for f in listed] == [1]


def test_waiting_names_each_pending_fault_with_what_it_still_needs(
    mock_sungrow_factory: Any,
) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc))
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    server.inject("exception", code=4, address=[5031, 5032], times=2)
    server.inject("silence", duration=30, times=1)
    server.inject("drop", duration=12.5)
    server.inject("latency", delay=0.001)  # permanent: nothing to wait for
    with pytest.raises(TimeoutError) as e:
        server.wait(0.05)
    assert str(e.value) == (
        "faults still waiting to fire: "
        "Fault(exception: id=1, code=4, address=[5031, 5032], fired=0, times=2) "
        "(fired 0/2); "
        "Fault(silence: id=2, fired=0, times=1, duration=30.0) "
        "(fired 0/1, ends in 30 s of server clock); "
        "Fault(drop: id=3, fired=0, duration=12.5) (ends in 12.5 s of server clock)")
    clock.advance(10)
    with pytest.raises(TimeoutError, match=r"ends in 2\.5 s of server clock\)$"):
        server.wait(0.05)


def test_parse_fault_takes_the_text_form_and_refuses_other_types() -> None:
    from mock_sungrow.faults import parse_fault

    assert parse_fault("drop:times=1,unit=2").to_dict() == {
        "id": 0, "kind": "drop", "unit": 2, "fired": 0, "times": 1}
    with pytest.raises(FaultSpecError) as e:
        parse_fault(42)  # type: ignore[arg-type]
    assert str(e.value) == "a fault spec is an object with a 'kind'; got 42"
