"""The suite's own leak check (tests/conftest.py) fails a test that leaves a socket or a
thread behind, and does not fail one whose descriptor another thread opened and closed.

Run in a subprocess with the suite's conftest, so what the inner tests leave behind dies
with that process and cannot trip the outer test's own check.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

INNER = """
import os, socket, threading, time

# Opens and closes a file every half millisecond, from before the first test to the last one, so the
# leak check's own listing of descriptors races with it.
done = threading.Event()
def churn():
    while not done.is_set():
        os.close(os.open(os.devnull, os.O_RDONLY))
        time.sleep(0.0005)
worker = threading.Thread(target=churn, daemon=True)
worker.start()
kept = []

def test_leaves_nothing_behind():
    pass

def test_leaves_a_socket_open():
    kept.append(socket.socket())

def test_closes_one_file_and_leaves_a_socket_in_its_place():
    kept.pop().close()
    kept.append(socket.socket())

def test_leaves_a_thread_running():
    stop = threading.Event()
    kept.append(stop)
    threading.Thread(target=stop.wait, name="left-behind", daemon=True).start()

def test_stops_the_churn():
    done.set()
    worker.join()
    kept.pop().set()
"""


def test_the_leak_check_fails_leaks_and_only_leaks(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:mock_sungrow")
    result.assert_outcomes(passed=5, errors=3)
    out = result.stdout.str()
    socket_leak = r"leak check: file descriptors left open: \['\d+ -> socket:\[\d+\]'\]"
    for test in (
        "test_leaves_a_socket_open", "test_closes_one_file_and_leaves_a_socket_in_its_place"
    ):
        assert re.search(rf"ERROR at teardown of {test} _+\n{socket_leak}\n", out), out
    assert "leak check: threads left running: ['left-behind']" in out
    for test in ("test_leaves_nothing_behind", "test_stops_the_churn"):
        assert f"ERROR test_inner.py::{test}" not in out
