"""pytest fixtures: ``mock_sungrow`` (one simulated inverter per test) and a factory for fleets.

Registered through the ``pytest11`` entry point, so it loads in *every* pytest run of an
environment that has mock-sungrow installed. It therefore imports nothing but pytest at module
level; the server (and anything heavy it needs) is imported when a fixture is first used.

Configure the fixture with a marker::

    @pytest.mark.mock_sungrow(model="SH10RT", seed=3)
    def test_battery(mock_sungrow):
        info = mock_sungrow.get_connection_info("modbus")

or with indirect parametrisation (``@pytest.mark.parametrize("mock_sungrow", [{"model": ...}],
indirect=True)``). Ports default to 0 (free ports) and the host to 127.0.0.1. The fixture
serves both front ends, Modbus TCP and the WiNet-S HTTP + WebSocket API
(``get_connection_info("http")``). ``installation=`` (a file, a dict or a spec) serves every
device of a site instead, on the ports it names.

``mock_sungrow_shared`` is one server for the whole session, reset before every test that
uses it (faults, pins, logged requests, problems and plants back to new; the ports and the
clock kept), for suites where a fresh server per test is not the point. Configure it by
overriding ``mock_sungrow_shared_server`` in a ``conftest.py``.

At teardown the fixture fails the test if the server recorded a problem (an exception in a
handler, an undecodable frame) unless the test is marked
``@pytest.mark.mock_sungrow_expect_errors``: a simulator that broke must not let a test pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mock_sungrow.server import MockSungrowServer

#: What the fixture passes unless the test says otherwise.
FIXTURE_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "modbus_port": 0,
    "http_port": 0,
    "sungrow_port": 0,
    "server_type": "both",
}


def pytest_configure(config: pytest.Config) -> None:
    """Declare the plugin's markers (so ``--strict-markers`` accepts them)."""
    config.addinivalue_line(
        "markers",
        "mock_sungrow(**kwargs): MockSungrowServer arguments for the mock_sungrow fixture",
    )
    config.addinivalue_line(
        "markers",
        "mock_sungrow_expect_errors: the test provokes server-side errors on purpose",
    )


@pytest.fixture
def mock_sungrow_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Build and start servers (fixture defaults applied).

    Every server it made is stopped after the test, newest first.
    """
    from mock_sungrow.server import MockSungrowServer

    servers: list[MockSungrowServer] = []

    def make(**kwargs: Any) -> MockSungrowServer:
        # An installation names its own ports (0 = free ones): only the host is a default.
        defaults = ({"host": FIXTURE_DEFAULTS["host"]} if "installation" in kwargs
                    else FIXTURE_DEFAULTS)
        server = MockSungrowServer(**{**defaults, **kwargs})
        server.start()
        servers.append(server)
        return server

    yield make
    problems = []
    for server in reversed(servers):
        server.stop()
        problems.extend(server.problems)
    _fail_on_problems(request, problems)


def _fail_on_problems(request: pytest.FixtureRequest, problems: list[Any]) -> None:
    """Fail the test with the server-side problems it caused, unless it expected them."""
    if problems and request.node.get_closest_marker("mock_sungrow_expect_errors") is None:
        lines = "\n".join(f"  {p.front_end} {p.peer} {p.kind}: {p.message}" for p in problems)
        pytest.fail(
            "mock-sungrow saw server-side problems during the test (mark the test with "
            f"@pytest.mark.mock_sungrow_expect_errors if they are intended):\n{lines}",
            pytrace=False,
        )


@pytest.fixture
def mock_sungrow(
    request: pytest.FixtureRequest, mock_sungrow_factory: Callable[..., Any]
) -> MockSungrowServer:
    """A running simulated inverter on free loopback ports, stopped after the test."""
    kwargs: dict[str, Any] = {}
    marker = request.node.get_closest_marker("mock_sungrow")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError("@pytest.mark.mock_sungrow takes keyword arguments only")
        kwargs.update(marker.kwargs)
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, dict):
            raise pytest.UsageError("indirect parameters of mock_sungrow must be dicts")
        kwargs.update(param)
    server: MockSungrowServer = mock_sungrow_factory(**kwargs)
    return server


@pytest.fixture(scope="session")
def mock_sungrow_shared_server() -> Iterator[MockSungrowServer]:
    """The session's shared server (fixture defaults), stopped when the session ends.

    Override this fixture in a ``conftest.py`` to give the shared server other arguments.
    """
    from mock_sungrow.server import MockSungrowServer

    with MockSungrowServer(**FIXTURE_DEFAULTS) as server:
        yield server


@pytest.fixture
def mock_sungrow_shared(
    request: pytest.FixtureRequest, mock_sungrow_shared_server: MockSungrowServer
) -> Iterator[MockSungrowServer]:
    """The session's one server, reset for this test: the cheap alternative to ``mock_sungrow``.

    ``reset()`` runs before the test, so whatever the previous test injected, pinned or wrote
    is gone, and the problems check after it sees only this test's problems. A
    ``@pytest.mark.mock_sungrow`` marker cannot configure a shared server: it is refused.
    """
    if request.node.get_closest_marker("mock_sungrow") is not None:
        raise pytest.UsageError(
            "@pytest.mark.mock_sungrow configures the mock_sungrow fixture, not "
            "mock_sungrow_shared: override mock_sungrow_shared_server to configure that one")
    server = mock_sungrow_shared_server
    server.reset()
    yield server
    _fail_on_problems(request, list(server.problems))
