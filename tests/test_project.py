"""The project's promises about itself: README commands, CI, documentation examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", setup)


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    serve, test = commands
    assert "serve" in serve and "pip install" in serve
    assert "pytest" in test and "[test]" in test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci


def test_readme_pytest_example_runs(pytester: pytest.Pytester) -> None:
    text = (ROOT / "README.md").read_text()
    example = text.split("## Use it from pytest", 1)[1]
    code = re.findall(r"```python\n(.+?)\n```", example, re.S)[0]
    pytester.makepyfile(code)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_readme_hybrid_example_runs(pytester: pytest.Pytester) -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Hybrid inverters", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.+?)\n```", section, re.S)[0]
    pytester.makepyfile(code)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_readme_faulty_block_example_runs() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Simulating errors", 1)[1]
    code = re.findall(r"```python\n(.+?)\n```", section, re.S)[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    server = namespace["MockSungrowServer"](  # type: ignore[operator]
        datablock_class=namespace["FaultyModbusDataBlock"], server_type="modbus", modbus_port=0
    )
    assert server.read_registers("input", 5009) == [42]
    from mock_sungrow import ModbusError

    with pytest.raises(ModbusError):
        server.read_registers("input", 5031, 2)


def test_readme_winet_example_runs(pytester: pytest.Pytester) -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("## What the WiNet-S front end does", 1)[1]
    code = re.findall(r"```python\n(.+?)\n```", section, re.S)[0]
    pytester.makepyfile(code)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
