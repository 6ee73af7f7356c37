"""Shared test fixtures: a leak check around every test, and small Modbus helpers."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator

import pytest

# The mock_sungrow plugin is loaded here, not through its pytest11 entry point (disabled in
# pyproject's addopts): entry points load before pytest-cov starts coverage, which would
# then miss the package's import-time lines. The pytester tests still load it through the
# entry point, as every user's pytest run does.
pytest_plugins = ["pytester", "mock_sungrow.pytest_plugin"]


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def _describe(fds: set[int]) -> list[str]:
    out = []
    for fd in sorted(fds):
        try:
            out.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            out.append(f"{fd} (closed meanwhile)")
    return out


@pytest.fixture(autouse=True)
def leak_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a thread, a file descriptor, or a loop with tasks behind.

    Runs outside every other fixture of the test (it is requested first), so the server
    fixtures have been torn down by the time it looks. No sleeping: ``stop()`` joins its
    thread and closes its sockets before it returns, so the counts must already be back.
    """
    if request.node.get_closest_marker("no_leak_check"):
        yield
        return
    gc.collect()
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    gc.collect()
    new_threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    new_fds = _open_fds() - fds_before
    problems = []
    if new_threads:
        problems.append(f"threads left running: {[t.name for t in new_threads]}")
    if new_fds:
        problems.append(f"file descriptors left open: {_describe(new_fds)}")
    from mock_sungrow.runtime import live_loops

    loops = live_loops()
    if loops:
        problems.append(f"event loops (and their tasks) left running: {loops}")
    if problems:
        pytest.fail("leak check: " + "; ".join(problems), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_leak_check: skip the thread/fd leak check")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
