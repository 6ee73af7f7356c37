"""A fault kind's parameters: the light coercion of CLI / scenario text, and the messages for
what is refused (docs/faults.md: "the same object works from Python, the command line and the
control API").

The control API must answer a bad parameter with HTTP 422 and the reason, never a server
error; the Python API raises ``FaultSpecError`` naming the kind and the parameter.
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from mock_sungrow.faults import FaultSpecError
from tests.helpers import RawModbus, control_call


@pytest.fixture
def server() -> MockSungrowServer:
    return MockSungrowServer(modbus_port=0, server_type="modbus")


def _params(server: MockSungrowServer, spec: Any) -> dict[str, Any]:
    fault = server.inject(spec)
    try:
        return fault.params
    finally:
        fault.remove()


@pytest.mark.parametrize(("spec", "params"), [
    ("exception:code=0x04", {"code": 4}),
    ("exception:code=4", {"code": 4}),
    ("scale:factor=2", {"factor": 2.0}),
    ("scale:factor=1e-1", {"factor": 0.1}),
    ("latency:delay=0.25,jitter=0", {"delay": 0.25, "jitter": 0.0}),
    ("value:words=1;2/3 0x10", {"words": [1, 2, 3, 16]}),
    ("value:words=7", {"words": [7]}),
    ("min-gap:overload=lockup", {"gap": 0.03, "overload": "lockup", "idle": 2.0}),
    ("winet-result:message=12", {"code": 301, "message": "12"}),  # a string stays one
    ({"kind": "value", "words": (1, 2)}, {"words": [1, 2]}),
    ({"kind": "scale", "factor": 3}, {"factor": 3.0}),
])
def test_text_and_python_values_are_coerced_to_the_parameter_type(
    server: MockSungrowServer, spec: Any, params: dict[str, Any]
) -> None:
    got = _params(server, spec)
    assert got == params
    assert [type(v) for v in got.values()] == [type(v) for v in params.values()]


@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "exception", "code": True}, "exception: code must be an integer, not a bool"),
    ({"kind": "scale", "factor": False}, "scale: factor must be a number, not a bool"),
    ({"kind": "value", "words": True}, "value: words must be a list, not a bool"),
    ({"kind": "min-gap", "overload": True}, "min-gap: overload must be a string, not a bool"),
    ({"kind": "min-gap", "overload": 7}, "min-gap: overload must be a string; got 7"),
    ({"kind": "exception", "code": 2.5}, "exception: code must be an integer; got 2.5"),
    ({"kind": "value", "words": 5}, "value: words must be a list; got 5"),
    ({"kind": "value", "words": []}, "value: words must be a non-empty list of 16-bit words "
                                     "(0..65535); got []"),
    ({"kind": "value", "words": [1, -1]}, "value: words must be a non-empty list of 16-bit "
                                          "words (0..65535); got [1, -1]"),
    ({"kind": "value", "words": [65536]}, "value: words must be a non-empty list of 16-bit "
                                          "words (0..65535); got [65536]"),
    ("exception:code=4.5", "exception: code must be an integer; got '4.5'"),
    ("exception:code=TRUE", "exception: code must be an integer; got 'TRUE'"),
    ("scale:factor=x", "scale: factor must be a number; got 'x'"),
    ("scale:factor=0", "scale: factor must be > 0; got 0.0"),
    ("scale:factor=-2", "scale: factor must be > 0; got -2.0"),
    ("latency:delay=-1", "latency: delay must be >= 0; got -1.0"),
    # Issue 15, point 10: a latency fault that can never delay was accepted as a no-op.
    ("latency", "latency: give a profile (lan, winet-modbus, winet-http) or a delay and/or "
                "jitter above 0 seconds; without them it would never delay an answer"),
    ("latency:delay=0,jitter=0", "latency: give a profile (lan, winet-modbus, winet-http) or "
                                 "a delay and/or jitter above 0 seconds; without them it would "
                                 "never delay an answer"),
    ("latency:profile=dsl", "latency: profile must be one of lan, winet-modbus, winet-http; "
                            "got 'dsl'"),
    ("value:words=1;x", "value: words must be a list; got '1;x'"),
    ("value:words=zz", "value: words must be a list; got 'zz'"),
])
def test_bad_parameters_name_the_kind_the_parameter_and_what_is_accepted(
    server: MockSungrowServer, spec: Any, message: str
) -> None:
    with pytest.raises(FaultSpecError) as e:
        server.inject(spec)
    assert str(e.value) == message
    assert not server.faults


@pytest.mark.parametrize("words", ["1;x", "zz", "0x"])
def test_a_word_list_that_is_no_list_of_numbers_is_a_422_not_a_server_error(
    mock_sungrow_factory: Any, words: str
) -> None:
    served = mock_sungrow_factory(server_type="modbus", control_port=0)
    base = served.get_connection_info("control")["url"].rstrip("/")
    status, body = control_call(base, "POST", "/faults", {"kind": "value", "words": words})
    assert status == 422, body
    assert body["error"] == f"value: words must be a list; got {words!r}"
    assert "kinds" not in body  # the kind list answers an unknown kind only (issue 15, 10)
    assert not served.faults
    with RawModbus("127.0.0.1", served.get_connection_info("modbus")["port"]) as c:
        assert c.read(4, 4999, 1) == [0x0126]


@pytest.mark.parametrize(("text", "ordered"), [
    ("yes", True), ("TRUE", True), ("On", True), ("no", False), ("False", False),
    ("OFF", False),
])
def test_ordered_reads_the_usual_words_for_true_and_false(
    server: MockSungrowServer, text: str, ordered: bool
) -> None:
    fault = server.inject(f"exception:times=1,ordered={text}")
    assert fault.ordered is ordered


def test_a_registered_kinds_flag_says_what_it_takes() -> None:
    """A kind registered at run time may have a true/false parameter (no built-in one has):
    a wrong value is refused with the words a user reads."""
    from mock_sungrow.faults.params import Param

    flag = Param("loud", bool, False)
    assert flag.coerce("test-kind", "yes") is True
    with pytest.raises(FaultSpecError) as e:
        flag.coerce("test-kind", "maybe")
    assert str(e.value) == "test-kind: loud must be true or false; got 'maybe'"
