"""Every fault in the catalogue, through the runnable example docs/faults.md gives for it.

The documentation is the test: each ``### kind`` section's Python block is run as it stands,
against real clients (pymodbus, raw sockets, aiohttp), so an example that stops working fails
the suite and the docs cannot drift from the behaviour.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mock_sungrow.faults import KINDS

DOC = Path(__file__).resolve().parents[1] / "docs" / "faults.md"


def _examples() -> dict[str, str]:
    text = DOC.read_text()
    found = {}
    for match in re.finditer(r"^### (\S+)\n(?:(?!```|### )[^\n]*\n)*?```python\n(.*?)\n```",
                             text, re.S | re.M):
        found[match.group(1)] = match.group(2)
    request_log = re.search(r"## The request log\n+```python\n(.*?)\n```", text, re.S)
    assert request_log is not None
    found["request-log"] = request_log.group(1)
    return found


EXAMPLES = _examples()


def test_every_kind_has_an_example_and_a_table_row() -> None:
    text = DOC.read_text()
    missing = sorted(set(KINDS) - set(EXAMPLES))
    assert not missing, f"kinds without an example in docs/faults.md: {missing}"
    for kind in KINDS:
        assert f"| `{kind}` |" in text, f"{kind} has no row in the catalogue table"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example(name: str) -> None:
    code = compile(EXAMPLES[name], f"docs/faults.md ({name})", "exec")
    exec(code, {"__name__": f"faults_example_{name}"})  # noqa: S102 - our own documentation
