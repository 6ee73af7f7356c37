"""Scenario files: a timed list of faults and plant changes for ``mock-sungrow serve``.

A scenario is TOML (``[[step]]`` tables) or YAML (a ``steps:`` list); each step says when it
happens (``at``: seconds after the server is ready) and what it does, with the same objects the
control API takes::

    [[step]]
    at = 0
    inject = { kind = "latency", profile = "winet-modbus" }

    [[step]]
    at = 30
    inject = { kind = "silence", function = 4, times = 2 }

    [[step]]
    at = 60
    plant = { action = "stop" }      # or { cloud_factor = 0.3 }

    [[step]]
    at = 90
    clear = true                     # remove every fault

    [[step]]
    at = 120
    clock = { advance = 3600 }       # needs --manual-clock; or { inverter_time = "..." }

The whole file is checked before the server starts: an unknown key, a bad fault spec, a
negative time, an ``inverter_time`` that is not ISO 8601, or (in ``mock-sungrow serve``) a
clock ``advance`` without ``--manual-clock`` is an error naming the step. docs/scenarios.md is
the reference.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mock_sungrow.clock import EARLIEST, LATEST, check_time, iso_date
from mock_sungrow.device.setup import PlantSetup, SetupError
from mock_sungrow.faults.params import FaultSpecError
from mock_sungrow.faults.spec import parse_fault
from mock_sungrow.installation.files import load_document

if TYPE_CHECKING:
    from mock_sungrow.server import MockSungrowServer

_STEP_KEYS = {"at", "inject", "clear", "remove", "plant", "clock", "reset"}


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the step and the problem."""


@dataclass(frozen=True)
class Step:
    """One timed action."""

    at: float
    action: dict[str, Any]
    index: int


def load_scenario(path: str | Path) -> list[Step]:
    """Read and check a scenario file; steps come back sorted by time."""
    path = Path(path)
    data = load_document(path, ScenarioError, "scenario")
    raw = data.get("step", data.get("steps")) if isinstance(data, dict) else data
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"{path}: expected a list of steps ([[step]] in TOML, steps: in YAML)")
    steps = [_check_step(path, i, item) for i, item in enumerate(raw, start=1)]
    return sorted(steps, key=lambda s: (s.at, s.index))


def _check_step(path: Path, index: int, item: Any) -> Step:
    where = f"{path}: step {index}"
    if not isinstance(item, dict):
        raise ScenarioError(f"{where}: a step is a table/mapping")
    unknown = sorted(set(item) - _STEP_KEYS)
    if unknown:
        accepted = ", ".join(sorted(_STEP_KEYS))
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)}; accepted: {accepted}")
    at = item.get("at", 0)
    if isinstance(at, bool) or not isinstance(at, int | float) or at < 0:
        raise ScenarioError(f"{where}: 'at' must be a number of seconds >= 0; got {at!r}")
    action = {k: v for k, v in item.items() if k != "at"}
    if len(action) != 1:
        actions = ", ".join(sorted(_STEP_KEYS - {"at"}))
        raise ScenarioError(f"{where}: give exactly one action ({actions})")
    (key, value), = action.items()
    if key == "inject":
        try:
            parse_fault(value)
        except FaultSpecError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    elif key == "plant":
        try:
            PlantSetup.parse(value)
        except SetupError as exc:
            raise ScenarioError(f"{where}: plant: {exc}") from None
    elif key == "clock":
        if not isinstance(value, dict) or len(value) != 1 or not set(value) <= {
            "advance", "inverter_time"}:
            raise ScenarioError(f"{where}: clock takes advance (seconds) or inverter_time")
        try:
            _check_clock_step(value)
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    elif key == "remove":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{where}: remove takes a fault id (the n-th fault injected)")
    elif value is not True:
        raise ScenarioError(f"{where}: {key} = true is the only form")
    return Step(float(at), action, index)


def _iso(text: str) -> str:
    """``Z`` as ``+00:00``: Python 3.10's ``fromisoformat`` does not read the ``Z``."""
    return text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text


def refuse_clock_steps(path: str | Path, steps: list[Step]) -> None:
    """Refuse a scenario that moves the server's clock when it runs on the wall clock.

    Only a manual clock can be advanced; finding out at the step's time, minutes into a run,
    would break the promise that the whole file is checked first.
    """
    step = next((s for s in steps if "advance" in s.action.get("clock", {})), None)
    if step is not None:
        raise ScenarioError(
            f"{path}: step {step.index}: clock advance needs --manual-clock (the wall clock "
            "cannot be moved); start with --manual-clock [START]")


def refuse_impossible_plant_steps(path: str | Path, steps: list[Step],
                                  server: MockSungrowServer) -> None:
    """Refuse a plant step this server's inverter cannot carry out (a battery it lacks).

    Checked at start, like :func:`refuse_clock_steps`, not minutes later at the step's time.
    """
    for step in steps:
        if "plant" in step.action:
            try:
                PlantSetup.parse(step.action["plant"]).check(server.device)
            except SetupError as exc:
                raise ScenarioError(f"{path}: step {step.index}: plant: {exc}") from None


def _check_clock_step(value: dict[str, Any]) -> None:
    """Refuse a clock step no clock could carry out (checked when the file is loaded)."""
    if "advance" in value:
        seconds = value["advance"]
        try:
            bad = isinstance(seconds, bool) or not isinstance(seconds, int | float) \
                or not math.isfinite(seconds) or not 0 <= seconds < LATEST - EARLIEST
        except OverflowError:  # an int beyond any float
            bad = True
        if bad:
            raise ValueError(f"clock advance must be a finite number of seconds >= 0; "
                             f"got {seconds!r}")
        return
    raw = value["inverter_time"]
    try:
        when = raw if isinstance(raw, datetime) else datetime.fromisoformat(_iso(str(raw)))
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        check_time(when.timestamp(), "inverter_time")
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"inverter_time must be an ISO 8601 time between {iso_date(EARLIEST)} "
                         f"and {iso_date(LATEST)}; got {raw!r}") from None


def apply_step(server: MockSungrowServer, step: Step) -> None:
    """Carry out one step on ``server``."""
    (key, value), = step.action.items()
    if key == "inject":
        server.inject(value)
    elif key == "clear":
        server.clear_faults()
    elif key == "remove":
        server.faults.remove(value)
    elif key == "reset":
        server.reset()
    elif key == "plant":  # what POST /plant does (a start/stop written as a client would)
        PlantSetup.parse(value).apply(server.device)
    elif key == "clock":
        if "advance" in value:
            server.advance(float(value["advance"]))
        else:
            server.set_clock(datetime.fromisoformat(_iso(str(value["inverter_time"]))))


class ScenarioRunner:
    """Runs steps at their times (real seconds after :meth:`start`) on a background thread."""

    def __init__(self, server: MockSungrowServer, steps: list[Step],
                 on_error: Callable[[Step, Exception], None] | None = None) -> None:
        self.server = server
        self.steps = steps
        self.on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set once every step has been carried out.
        self.finished = threading.Event()

    def start(self) -> None:
        """Begin the clock of the scenario now.

        Steps at time 0 are carried out before this returns (the CLI prints its ready line
        after them, so a parent process never sees the server without them); the others run
        on a background thread.
        """
        started = time.monotonic()
        now = [s for s in self.steps if s.at <= 0]
        for step in now:
            self._apply(step)
        later = self.steps[len(now):]
        if not later:
            self.finished.set()
            return
        self._thread = threading.Thread(target=self._run, args=(started, later),
                                        name="mock-sungrow-scenario", daemon=True)
        self._thread.start()

    def _apply(self, step: Step) -> None:
        try:
            apply_step(self.server, step)
        except Exception as exc:  # noqa: BLE001 - reported, the server keeps serving
            if self.on_error is not None:
                self.on_error(step, exc)

    def _run(self, started: float, steps: list[Step]) -> None:
        for step in steps:
            if self._stop.wait(max(0.0, started + step.at - time.monotonic())):
                return
            self._apply(step)
        self.finished.set()

    def stop(self) -> None:
        """Stop before the remaining steps and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
