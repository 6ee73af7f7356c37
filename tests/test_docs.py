"""Every Python block of README.md and docs/*.md, run as it stands.

The documentation is the test (as docs/faults.md's examples are in test_fault_catalogue): a
block that stops working fails the suite. How a block is run:

* a block that defines ``test_`` functions is a pytest module: it runs in pytester, with the
  plugin loaded through its entry point as in a user's project, and every test must pass;
* any other block is executed as a script in a fresh namespace, in a temporary directory;
* a block preceded by ``<!-- file: NAME -->`` (TOML, YAML, any language) is written to NAME in
  that directory first, for the blocks after it in the same document (``site.toml``);
* a block whose first line is ``# docs: not run: REASON`` is skipped with REASON, which must
  say why it cannot run standalone.

docs/faults.md's blocks are test_fault_catalogue's; here it is only checked that each of them
is one that test runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("product_imported")  # pytester runs in-process

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)^```",
                    re.S | re.M)
_NOT_RUN = re.compile(r"^# docs: not run: (?P<reason>.+)$")


@dataclass
class Block:
    document: str
    line: int
    lang: str
    code: str
    #: Files written before it runs: the ``<!-- file: -->`` blocks above it in its document.
    files: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one document, each with the files declared above it."""
    text = path.read_text()
    files: dict[str, str] = {}
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("lang")) + 1
        code = match.group("code")
        found.append(Block(str(path.relative_to(ROOT)), line, match.group("lang"), code,
                           dict(files)))
        if match.group("file"):
            files[match.group("file")] = code
    return found


PYTHON = [b for doc in DOCUMENTS if doc.name != "faults.md"
          for b in blocks(doc) if b.lang == "python"]


def test_the_extractor_sees_the_documents_blocks() -> None:
    """Guards the regular expression: the README alone has more than ten Python blocks."""
    readme = [b for b in PYTHON if b.document == "README.md"]
    assert len(readme) >= 10
    assert any("def test_reads_the_model" in b.code for b in readme)
    assert any(b.document == "docs/scenarios.md" and "steps.yaml" in b.files for b in PYTHON)


def test_faults_md_blocks_are_the_catalogue_tests() -> None:
    from tests.test_fault_catalogue import EXAMPLES

    run = set(EXAMPLES.values())
    faults = [b for b in blocks(ROOT / "docs" / "faults.md") if b.lang == "python"]
    missing = [b.id for b in faults if b.code.rstrip("\n") not in run]
    assert faults and not missing, f"docs/faults.md blocks no test runs: {missing}"


@pytest.mark.parametrize("block", PYTHON, ids=[b.id for b in PYTHON])
def test_python_block_runs(block: Block, pytester: pytest.Pytester,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    first = block.code.splitlines()[0] if block.code else ""
    skipped = _NOT_RUN.match(first)
    if skipped:
        pytest.skip(skipped.group("reason"))
    assert not first.startswith("# docs:"), f"{block.id}: marker not understood: {first}"
    for name, content in block.files.items():
        (pytester.path / name).write_text(content)
    if re.search(r"^(async )?def test_", block.code, re.M):
        pytester.makepyfile(**{f"test_doc_{block.line}": block.code})
        result = pytester.runpytest("-p", "no:cacheprovider")
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) >= 1, result.stdout.str()
        assert not {"failed", "errors", "error", "skipped", "xfailed"} & set(outcomes), \
            result.stdout.str()
        return
    monkeypatch.chdir(pytester.path)
    code = compile(block.code, block.id, "exec")
    exec(code, {"__name__": f"doc_{block.line}"})  # noqa: S102 - our own documentation
