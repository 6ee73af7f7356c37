"""A fault kind's catalogue entry: what registering one refuses, and how it says so
(docs/faults.md: "mock_sungrow.faults.catalogue.register(kind) adds one at run time").

The messages are what an extension's author reads; registering and unregistering is checked
through the parser a user's ``server.inject`` goes through.
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from mock_sungrow.faults import KINDS, FaultSpecError
from mock_sungrow.faults.catalogue import register, unregister
from mock_sungrow.faults.kinds.base import Effect, FaultKind, WordRead
from mock_sungrow.faults.params import Param
from mock_sungrow.faults.spec import Fault


class _Words(Effect):
    def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
        return 0


class _Both(Effect):
    def admit(self, fault: Fault, arrival: Any) -> str | list[Any] | None:
        return None

    def reply(self, fault: Fault, shape: Any) -> bool:
        return False


def test_an_unknown_phase_is_refused_with_the_phases() -> None:
    with pytest.raises(FaultSpecError) as e:
        FaultKind("test-phase", "later", frozenset(), "")  # type: ignore[arg-type]
    assert str(e.value) == ("fault kind 'test-phase': unknown phase 'later'; accepted: "
                            "connect, request, words, frame, plant, session")


def test_unknown_front_ends_are_refused_with_the_front_ends() -> None:
    with pytest.raises(FaultSpecError) as e:
        FaultKind("test-fe", "request", frozenset({"serial", "modbus", "can"}), "")
    assert str(e.value) == ("fault kind 'test-fe': unknown front end(s) ['can', 'serial']; "
                            "accepted: modbus, http, sungrow, rtu, rtu-tcp, control")


@pytest.mark.parametrize(("phase", "effect", "stray", "allowed"), [
    ("connect", _Words(), "word", "admit, before, changed, check, idle_timeout, settled"),
    ("words", _Both(), "admit, reply", "changed, check, word, written"),
    ("plant", _Words(), "word", "changed, check"),
])
def test_hooks_that_would_never_be_called_are_refused(phase: str, effect: Effect,
                                                      stray: str, allowed: str) -> None:
    with pytest.raises(FaultSpecError) as e:
        FaultKind("test-stray", phase, frozenset(), "", effect=effect)  # type: ignore[arg-type]
    assert str(e.value) == (f"fault kind 'test-stray' ({phase}): hook(s) {stray} are never "
                            f"called for that phase; it may use {allowed}")


def test_a_word_kind_with_its_hook_is_accepted_and_names_its_hooks() -> None:
    kind = FaultKind("test-words", "words", frozenset({"modbus"}), "", effect=_Words())
    assert kind.effect.hooks == frozenset({"word"})
    assert _Both.hooks == frozenset({"admit", "reply"})
    assert Effect.hooks == frozenset()


def test_register_and_unregister() -> None:
    with pytest.raises(FaultSpecError) as e:
        register(KINDS["zeros"])
    assert str(e.value) == "a fault kind called 'zeros' exists already"
    with pytest.raises(FaultSpecError) as e:
        unregister("zeros")
    assert str(e.value) == "'zeros' is a shipped fault kind; only registered ones go"
    kind = FaultKind("test-extra", "words", frozenset({"modbus"}), "reads 0", registers=True,
                     effect=_Words())
    assert register(kind) is kind
    try:
        server = MockSungrowServer(modbus_port=0, server_type="modbus")
        assert server.inject("test-extra", table="input").name == "test-extra"
    finally:
        unregister("test-extra")
    assert "test-extra" not in KINDS
    unregister("test-extra")  # gone already: nothing to do
    with pytest.raises(FaultSpecError, match="unknown fault kind 'test-extra'"):
        MockSungrowServer(modbus_port=0, server_type="modbus").inject("test-extra")


def test_a_kind_names_its_parameters() -> None:
    kind = KINDS["min-gap"]
    gap = kind.param("gap")
    assert gap is not None and gap.name == "gap" and gap.default == 0.03
    overload = kind.param("overload")
    assert overload is not None and overload.default == "drop"
    assert kind.param("nope") is None
    assert KINDS["refuse"].param("gap") is None


def test_an_extension_kinds_parameters_of_other_types() -> None:
    """A parameter may take several types (the first its text reads as) or one of its own."""
    kind = FaultKind("test-params", "words", frozenset({"modbus"}), "", registers=True,
                     params=(Param("level", (int, float), 1), Param("tag", bytes)),
                     effect=_Words())
    register(kind)
    try:
        server = MockSungrowServer(modbus_port=0, server_type="modbus")
        assert server.inject("test-params:level=1.5").params == {"level": 1.5}
        assert server.inject("test-params:level=0x10").params == {"level": 16.0}
        with pytest.raises(FaultSpecError) as e:
            server.inject("test-params:level=x")
        assert str(e.value) == ("test-params: level must be an integer or a number; "
                                "got 'x'")
        with pytest.raises(FaultSpecError) as e:
            server.inject({"kind": "test-params", "tag": "abc"})
        assert str(e.value) == "test-params: tag must be bytes; got 'abc'"
        assert server.inject({"kind": "test-params", "tag": b"\x01"}).params == {
            "level": 1, "tag": b"\x01"}
    finally:
        unregister("test-params")
