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


@pytest.fixture(scope="module")
def product_imported() -> None:
    """Import every module of the product before a pytester test runs pytest in-process.

    pytester restores ``sys.modules`` after each inner run: a module first imported there
    (the front ends load lazily) is dropped, and the next import makes a second copy whose
    classes are not the first copy's (``datablock_class must be a subclass``), so such a test
    failed when it ran before the rest of the suite had imported everything. Module scope:
    it runs before the function-scoped ``pytester`` takes its snapshot.
    """
    import importlib
    import pkgutil

    import mock_sungrow

    for info in pkgutil.walk_packages(mock_sungrow.__path__, "mock_sungrow."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    # And what the product imports lazily (off the fixture's import path). cryptography's
    # compiled core keeps the classes of its first import: a second copy's ``modes.ECB``
    # is "not supported" (Python 3.10 failed a fleet test so after a docs block's run).
    for name in ("cryptography.hazmat.primitives.ciphers", "trustme"):
        importlib.import_module(name)


def _open_fds() -> dict[int, str]:
    """The process's open file descriptors, each with what it points at.

    Listing ``/proc/self/fd`` opens a descriptor of its own, which is in the listing and
    closed by the time it returns; so only those whose link can still be read afterwards
    count. Taking the listing's one too once made a leaked socket that later got its number
    look old, and once failed a CI run on a descriptor that was gone ("21 (closed
    meanwhile)").
    """
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
    return out


def _left_open(before: dict[int, str], looks: int = 4) -> list[str]:
    """The descriptors open now that were not open, to the same thing, in ``before``.

    By number and target: a leaked socket may take the number of a file the test closed.
    A descriptor has to be there in each of a few looks, a collection apart: another thread
    (the session's shared server, a transport closing) may open and close one just as the
    first look is taken, and that is not something the test left behind.
    """
    new: dict[int, str] | None = None
    for _ in range(looks):
        now = {fd: to for fd, to in _open_fds().items() if before.get(fd) != to}
        new = now if new is None else {fd: to for fd, to in now.items() if new.get(fd) == to}
        if not new:
            return []
        gc.collect()
    return [f"{fd} -> {to}" for fd, to in sorted((new or {}).items())]


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
    from mock_sungrow.runtime import live_loop_ids, live_loops

    gc.collect()
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    # The session's shared server (mock_sungrow_shared) runs before and after the test.
    loops_before = live_loop_ids()
    yield
    gc.collect()
    new_threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    new_fds = _left_open(fds_before)
    problems = []
    if new_threads:
        problems.append(f"threads left running: {[t.name for t in new_threads]}")
    if new_fds:
        problems.append(f"file descriptors left open: {new_fds}")
    loops = live_loops(ignore=loops_before)
    if loops:
        problems.append(f"event loops (and their tasks) left running: {loops}")
    if problems:
        pytest.fail("leak check: " + "; ".join(problems), pytrace=False)


#: Tests that drive real third-party clients in their own venvs (tests/compat.py). They run
#: the product in a subprocess, so a mutation run cannot see or kill anything with them:
#: ``-m "not compat"`` leaves them out (the mutation configuration in pyproject.toml does).
COMPAT_MODULES = frozenset({"test_sungrow_clients", "test_compat_hybrid", "test_winet_compat"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_leak_check: skip the thread/fd leak check")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line(
        "markers", "browser: drives the dashboard in a headless chromium (tests/test_dashboard.py;"
                   " needs /usr/bin/chromium and playwright)")
    config.addinivalue_line(
        "markers", "fuzz: generated hostile input over real sockets (tests/fuzzing.py; "
                   "MOCK_SUNGROW_FUZZ_SCALE=N runs N times as many examples)"
    )
    config.addinivalue_line(
        "markers", "compat: runs a real third-party client in a subprocess venv (tests/compat.py)"
    )
    config.addinivalue_line(
        "markers", "docker: builds and runs the container image (tests/test_image.py; needs a "
                   "docker daemon and root, skipped with the reason otherwise)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__.rpartition(".")[2] in COMPAT_MODULES:
            item.add_marker(pytest.mark.compat)


_caches_cleared_for: set[str] = set()


@pytest.fixture(autouse=True)
def _mutation_fresh_caches() -> None:
    """Under mutmut, rebuild the product's cached tables (catalogue, register maps) per test.

    mutmut forks every mutant from a process that has already run the suite, so a
    ``functools.cache`` filled there would hand the mutant the original code's result, and
    its stats phase would credit a cached parse to the first test only. So the stats phase
    clears them before every test, and a mutant's run once, before its first test (after
    that the caches hold the mutant's own results). Outside a mutation run
    (``MUTANT_UNDER_TEST`` unset) this does nothing.
    """
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if not mutant or (mutant != "stats" and mutant in _caches_cleared_for):
        return
    _caches_cleared_for.add(mutant)
    import sys

    for name, module in list(sys.modules.items()):
        if name == "mock_sungrow" or name.startswith("mock_sungrow."):
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()
