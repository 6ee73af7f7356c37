"""Bad fault specs get a clear error, over the control API (HTTP 422) and in the text form.

Every case names the field at fault; a refused spec injects nothing, and the inverter keeps
serving.
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from mock_sungrow.faults import FaultSpecError
from tests.helpers import RawModbus, control_call


@pytest.fixture
def served(mock_sungrow_factory: Any) -> MockSungrowServer:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", control_port=0)
    return server


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "exception", "code": True}, "exception: code must be an integer, not a bool"),
        ({"kind": "latency", "delay": "slow"}, "latency: delay must be a number"),
        ({"kind": "exception", "address": {"from": 1}},
         "address must be a register number, [first, last] or 'first-last'"),
        ({"kind": "exception", "function": 4.5},
         "function must be a function code or a service name"),
        ({"kind": "exception", "client": 127}, "client must be an IP address string"),
        ({"kind": "exception", "times": 2, "ordered": "maybe"},
         "ordered must be true or false"),
        ({"kind": "exception", "duration": "soon"},
         "duration must be a positive number of seconds"),
        ({"kind": "exception", "ordered": True}, "an ordered fault needs a finite 'times'"),
        ({"kind": "exception", "colour": "red"}, "exception: unknown field(s) colour"),
        ({"kind": "teleport"}, "unknown fault kind 'teleport'"),
        # docs/faults.md's catalogue, in alphabetical order: the error names what is accepted.
        ({"kind": 5}, "kind must be a string naming a fault kind; got 5; accepted: bad-crc, "
                      "bad-exception-frame, block-after-bad-reads, collision, drop, empty-frame"),
        ({"kind": ["exception"]}, "kind must be a string naming a fault kind; got ['exception']"),
    ],
)
def test_bad_specs_are_refused_with_what_is_wrong(
    served: MockSungrowServer, spec: Any, message: str
) -> None:
    base = served.get_connection_info("control")["url"].rstrip("/")
    status, body = control_call(base, "POST", "/faults", spec)
    assert status == 422 and message in body["error"], body
    assert not served.faults  # nothing was injected
    with RawModbus("127.0.0.1", served.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == [0x0126]


def test_a_body_that_is_not_an_object_is_refused(served: MockSungrowServer) -> None:
    base = served.get_connection_info("control")["url"].rstrip("/")
    status, body = control_call(base, "POST", "/faults", ["exception"])
    assert status == 400 and body == {"error": "the body must be a JSON object"}
    with pytest.raises(FaultSpecError, match="a fault spec is an object with a 'kind'"):
        served.inject(["exception"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exception:code", "expected key=value in fault spec, got 'code'"),
        ("exception:unit=one", "unit must be an integer; got 'one'"),
        ("{not json", "fault spec is not valid JSON"),
        ("[1, 2]", "unknown fault kind"),
        ("{}", "unknown fault kind None"),
        ('{"kind": "exception", "code": "x"}', "exception: code must be an integer"),
        ("silence:duration=inf", "duration must be a positive number of seconds; got inf"),
        ("silence:duration=0", "duration must be a positive number of seconds; got 0"),
    ],
)
def test_bad_text_specs_are_refused(served: MockSungrowServer, text: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as e:
        served.inject(text)
    assert message in str(e.value)


def test_text_forms_coerce_like_the_cli(served: MockSungrowServer) -> None:
    fault = served.inject("value:words=1;2/3,ordered=yes,times=2,duration=60,table=input,"
                          "address=5000-5001")
    try:
        assert {k: v for k, v in fault.to_dict().items() if k not in ("id", "fired")} == {
            "kind": "value", "words": [1, 2, 3], "table": "input", "address": [5000, 5001],
            "times": 2, "duration": 60.0, "ordered": True}
        with RawModbus("127.0.0.1", served.get_connection_info("modbus")["port"]) as c:
            assert c.read(4, 4999, 2) == [1, 2]
    finally:
        served.clear_faults()


def test_a_json_address_of_whole_floats_is_a_register_range(served: MockSungrowServer) -> None:
    """JSON's 5000.0 is the integer 5000 (as JSON Schema counts it), inside a range too."""
    base = served.get_connection_info("control")["url"].rstrip("/")
    status, body = control_call(base, "POST", "/faults",
                                {"kind": "zeros", "table": "input", "address": [5000.0, 5000.0]})
    assert status == 201 and body["address"] == [5000, 5000], body
    with RawModbus("127.0.0.1", served.get_connection_info("modbus")["port"]) as c:
        words = c.read(4, 4999, 2)
    assert isinstance(words, list) and words[0] == 0  # input 5000 zeroed
