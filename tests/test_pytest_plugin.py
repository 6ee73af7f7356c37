"""The pytest plugin, exercised the way users meet it: in a pytest run of their own."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.usefixtures("product_imported")  # pytester runs in-process


def test_fixture_serves_a_default_inverter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pymodbus.client import ModbusTcpClient

        def test_it(mock_sungrow):
            info = mock_sungrow.get_connection_info("modbus")
            assert info["host"] == "127.0.0.1" and info["port"] > 0
            c = ModbusTcpClient(info["host"], port=info["port"], timeout=2, retries=0)
            c.connect()
            assert c.read_input_registers(4999, count=1).registers == [0x0126]
            c.close()
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_marker_and_indirect_parametrisation_configure_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.mock_sungrow(model="SH10RT", seed=5)
        def test_marker(mock_sungrow):
            assert mock_sungrow.model.name == "SH10RT"
            assert mock_sungrow.read("device_type_code") == 0x0E03

        @pytest.mark.parametrize(
            "mock_sungrow", [{"model": "SG10RT"}, {"model": "SG33CX"}], indirect=True
        )
        def test_indirect(mock_sungrow):
            assert mock_sungrow.model.name in ("SG10RT", "SG33CX")

        def test_factory(mock_sungrow_factory):
            fleet = [mock_sungrow_factory(model=m) for m in ("SG5K-D", "SH5.0RT")]
            ports = {s.get_connection_info()["port"] for s in fleet}
            assert len(ports) == 2 and all(s.running for s in fleet)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_server_side_problems_fail_the_test_unless_expected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket
        import pytest

        def provoke(server):
            s = socket.create_connection(("127.0.0.1", server.get_connection_info()["port"]))
            s.sendall(b"\\x00\\x01\\x00\\x07\\x00\\x06\\x01\\x04\\x13\\x87\\x00\\x01")
            assert s.recv(10) == b""
            s.close()

        def test_unexpected(mock_sungrow):
            provoke(mock_sungrow)

        @pytest.mark.mock_sungrow_expect_errors
        def test_expected(mock_sungrow):
            provoke(mock_sungrow)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*mock-sungrow saw server-side problems*", "*bad-frame*"])


def test_marker_misuse_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.mock_sungrow("SG10RT")
        def test_positional(mock_sungrow):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*keyword arguments only*"])


def test_plugin_import_is_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import mock_sungrow.pytest_plugin; "
        "heavy = [m for m in ('pymodbus', 'aiohttp', 'mock_sungrow.server', 'asyncio', "
        "'cryptography') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"


def test_shared_server_is_one_server_reset_for_every_test(pytester: pytest.Pytester) -> None:
    """Three tests on one shared server: the same port each time, and nothing the previous test
    did (a fault, a pinned register, a logged request) is left for the next one. Expected words
    are the SG5K-D's device type code (0x0126, models.csv) read with pymodbus."""
    pytester.makepyfile(
        """
        import pytest
        from pymodbus.client import ModbusTcpClient

        PORTS = []

        def read_type(server):
            client = ModbusTcpClient("127.0.0.1", port=server.get_connection_info()["port"])
            assert client.connect()
            try:
                return client.read_input_registers(4999, count=1)
            finally:
                client.close()

        def test_first(mock_sungrow_shared):
            PORTS.append(mock_sungrow_shared.get_connection_info()["port"])
            mock_sungrow_shared.inject("exception", code=2, function=4)
            mock_sungrow_shared.set_register("input", 5000, [7])
            assert read_type(mock_sungrow_shared).isError()

        def test_second(mock_sungrow_shared):
            PORTS.append(mock_sungrow_shared.get_connection_info()["port"])
            assert len(mock_sungrow_shared.faults) == 0
            assert len(mock_sungrow_shared.requests) == 0
            assert read_type(mock_sungrow_shared).registers == [0x0126]
            mock_sungrow_shared.set_register("input", 5000, [7])

        def test_third(mock_sungrow_shared):
            assert read_type(mock_sungrow_shared).registers == [0x0126]
            assert PORTS == [mock_sungrow_shared.get_connection_info()["port"]] * 2

        @pytest.mark.mock_sungrow(model="SH10RT")
        def test_marker_is_refused(mock_sungrow_shared):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*override mock_sungrow_shared_server*"])


def test_shared_server_fails_the_test_that_caused_a_problem(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_breaks_it(mock_sungrow_shared):
            port = mock_sungrow_shared.get_connection_info()["port"]
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"\\x00\\x01\\x00\\x07\\x00\\x06\\x01\\x04\\x13\\x87\\x00\\x01")
                assert s.recv(10) == b""

        def test_after_it(mock_sungrow_shared):
            assert mock_sungrow_shared.problems == []
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*mock-sungrow saw server-side problems*", "*bad-frame*"])
