"""The bounded mutation sample CI runs, and ``check`` / ``describe`` (docs/testing.md).

Each mutant is generated with mutmut's own generator into a temporary copy of ``src/`` and
run in a fresh pytest process against the tests of its module (``TESTS``): no stats phase,
no ``mutants/`` tree, a few minutes on two cores.
"""

from __future__ import annotations

import difflib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import mutation_results as results
from mutation_groups import EQUIVALENTS, GROUPS, PACKAGE, ROOT, TESTS, module_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - CI runs 3.11
    import tomli as tomllib

#: Exit codes of a mutant's pytest run, read as mutmut reads them.
KILLED, SURVIVED = (1, 2, 3), 0  # 2: the mutant broke collection (an import-time error)
#: Heap (RLIMIT_DATA: private writable memory) a mutant's pytest run may take. A mutant that
#: loops appending to a list (``_Segments.__init__``'s ``find(0, None)``) then fails with
#: MemoryError, a kill, instead of growing until the kernel's OOM killer ends it (or
#: something else on the machine). Not RLIMIT_AS: a browser a test starts reserves far more
#: address space than it uses, and chromium does not start under an 8 GiB address limit.
MUTANT_MEMORY = 8 << 30
#: ``python -c`` code that sets the limit, then runs pytest with the arguments that follow
#: (a ``preexec_fn`` would do it in the child, but is unsafe with the worker threads).
_LIMITED_PYTEST = (
    "import resource, runpy, sys; "
    f"resource.setrlimit(resource.RLIMIT_DATA, ({MUTANT_MEMORY}, {MUTANT_MEMORY})); "
    "sys.argv[0] = 'pytest'; runpy.run_module('pytest', run_name='__main__')"
)


@dataclass(frozen=True)
class Mutant:
    """One mutant: its mutmut name (``mock_sungrow.catalog.x_f__mutmut_3``) and its diff."""

    name: str
    module: str
    function: str
    diff: tuple[str, ...]


def _function_key(mutant_name: str) -> str:
    """``mock_sungrow.catalog.xǁCatalogǁmodel__mutmut_3`` -> ``Catalog.model``."""
    mangled = mutant_name.rpartition(".")[2].partition("__mutmut_")[0]
    if mangled.startswith("x_"):
        return mangled[2:]
    return ".".join(part for part in mangled[1:].split("ǁ") if part)


def generate(module: str, target: Path) -> list[Mutant]:
    """Write the mutated copy of ``module`` under ``target`` and list its mutants."""
    return generate_with_hashes(module, target)[0]


def generate_with_hashes(module: str, target: Path) -> tuple[list[Mutant], dict[str, str]]:
    """:func:`generate`, and mutmut's hash of each function (``xǁClassǁname`` -> hash)."""
    from mutmut.mutation.data import read_line_spans
    from mutmut.mutation.file_mutation import mutate_file_contents

    source_path = module_path(module)
    code = (ROOT / source_path).read_text()
    mutated = mutate_file_contents(str(source_path), code)
    out = target / source_path
    out.write_text(mutated.code)
    spans = mutated.line_span_by_function_name
    mutants = []
    for short in mutated.mutant_names:
        prefix = short.rpartition("__mutmut_")[0]
        orig, new = read_line_spans(out, [spans[f"{prefix}__mutmut_orig"], spans[short]])
        orig = orig.replace(f"{prefix}__mutmut_orig", prefix)
        new = new.replace(short, prefix)
        diff = tuple(
            line[0] + " " + line[1:].strip()
            for line in difflib.unified_diff(
                orig.splitlines(), new.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        )
        name = f"{PACKAGE}.{module}.{short}"
        mutants.append(Mutant(name, module, _function_key(name), diff))
    return mutants, dict(mutated.hash_by_function_name)


def load_equivalents() -> dict[tuple[str, str, tuple[str, ...]], str]:
    """The reviewed equivalent mutants: (module, function, diff) -> reason."""
    data = tomllib.loads(EQUIVALENTS.read_text())
    out = {}
    for entry in data.get("equivalent", []):
        key = (entry["module"], entry["function"], tuple(entry["diff"]))
        out[key] = entry["reason"]
    return out


def _run_mutant(m: Mutant, src: Path, timeout: float,
                tests: Sequence[str] = ()) -> tuple[Mutant, str, float]:
    if not tests:
        tests = [f"tests/test_{t}.py" for t in TESTS[m.module]]
        tests = [t for t in tests if (ROOT / t).exists()]
    env = dict(os.environ, MUTANT_UNDER_TEST=m.name, PYTHONPATH=str(src),
               PY_IGNORE_IMPORTMISMATCH="1")
    start = time.monotonic()
    try:
        proc = subprocess.run(
            # --no-cov: the coverage floor is the whole suite's; a few tests always miss it,
            # and pytest's exit code 1 would count every mutant as killed.
            [sys.executable, "-c", _LIMITED_PYTEST, "-x", "-q", "--no-cov", "-p", "no:randomly",
             "-m", "not compat", *tests],
            cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return m, "timeout", time.monotonic() - start
    took = time.monotonic() - start
    if proc.returncode == SURVIVED:
        return m, "survived", took
    if proc.returncode in KILLED:
        return m, "killed", took
    tail = (proc.stdout + proc.stderr).decode(errors="replace")[-2000:]
    return m, f"error (exit {proc.returncode}):\n{tail}", took


def sample(count: int, seed: int, jobs: int, timeout: float, *, list_only: bool = False) -> int:
    """Run the seeded sample; 1 if a sampled mutant survives that is not a reviewed equivalent."""
    equivalents = load_equivalents()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutation-sample-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
        modules = [m for group in GROUPS.values() for m in group]
        with ProcessPoolExecutor(jobs) as procs:  # libcst is pure Python: one process a core
            generated = list(procs.map(partial(generate, target=Path(tmp)), modules))
        everything = sorted((m for ms in generated for m in ms), key=lambda m: m.name)
        generated_keys = {(m.module, m.function, m.diff) for m in everything}
        stale = sorted(k for k in equivalents if k not in generated_keys)
        for module, function, diff in stale:  # its function changed: review it again
            print(f"stale equivalents entry (no such mutant now): {module} {function} {diff}")
        chosen = random.Random(seed).sample(everything, min(count, len(everything)))
        print(f"{len(everything)} mutants in the core; sample of {len(chosen)} (seed {seed}), "
              f"generated in {time.monotonic() - started:.0f} s", flush=True)
        if list_only:
            for m in chosen:
                mark = "equivalent" if (m.module, m.function, m.diff) in equivalents else ""
                print(f"{m.name} {mark}\n" + "\n".join("    " + line for line in m.diff))
            return 0
        to_run = []
        results: list[tuple[Mutant, str, float]] = []
        for m in chosen:
            if (m.module, m.function, m.diff) in equivalents:
                results.append((m, "equivalent", 0.0))
            else:
                to_run.append(m)
        with ThreadPoolExecutor(jobs) as pool:
            for m, status, took in pool.map(lambda m: _run_mutant(m, src, timeout),
                                            to_run):
                print(f"  {status.partition(':')[0]:<10} {took:6.1f} s  {m.name}", flush=True)
                results.append((m, status, took))
    per_module: dict[str, Counter[str]] = {}
    for m, status, _ in results:
        per_module.setdefault(m.module, Counter())[status.split(" ")[0].rstrip(":")] += 1
    for module, c in sorted(per_module.items()):
        print(f"  {module:<28} " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    bad = [(m, s) for m, s, _ in results if s not in ("killed", "timeout", "equivalent")]
    for m, status in bad:
        print(f"\n{status.splitlines()[0].upper()}: {m.name} ({m.function})")
        print("\n".join("    " + line for line in m.diff))
        if "\n" in status:
            print(status.partition("\n")[2])
    counts = Counter(s.split(" ")[0] for _, s, _ in results)
    print(f"mutation sample: {counts['killed']} killed, {counts['timeout']} timed out, "
          f"{counts['equivalent']} reviewed equivalent, {len(bad)} survived or failed "
          f"({time.monotonic() - started:.0f} s)")
    if bad:
        print("A surviving mutant needs a test that kills it, or a reviewed entry in "
              f"{EQUIVALENTS.relative_to(ROOT)} saying why no test can.")
    return 1 if bad else 0


def _named(names: Sequence[str], target: Path, prefix: str = "",
           hashes: dict[str, dict[str, str]] | None = None) -> tuple[list[Mutant], list[str]]:
    """The named mutants, generated into ``target``, and the names no module has (printed).

    ``hashes`` (if given) gets mutmut's function hashes of each module generated.
    """
    wanted = set(names)
    modules = sorted({n.removeprefix(f"{PACKAGE}.").partition(".x")[0] for n in names})
    chosen = []
    for module in modules:
        if not (ROOT / module_path(module)).exists():
            continue  # a typo in the name: reported below with the other missing ones
        (target / module_path(module)).parent.mkdir(parents=True, exist_ok=True)
        mutants, by_function = generate_with_hashes(module, target)
        chosen += [m for m in mutants if m.name in wanted]
        if hashes is not None:
            hashes[module] = by_function
    missing = sorted(wanted - {m.name for m in chosen})
    for name in missing:
        print(f"{prefix}no such mutant: {name}")
    return chosen, missing


def run_named(names: Sequence[str], tests: Sequence[str], jobs: int, timeout: float,
              hashes: dict[str, dict[str, str]] | None = None, *, baseline: bool = False,
              on_result: Callable[[Mutant, str, float], None] | None = None,
              ) -> tuple[list[tuple[Mutant, str, float]], list[str]]:
    """Run each named mutant in a fresh pytest process; (mutant, status, seconds) each.

    The mutant is chosen (``MUTANT_UNDER_TEST``) before the process imports anything, so
    code that runs at import is mutated too. Also returns the names no module has. With
    ``baseline``, each module's tests first run with no mutant chosen, and a module whose
    tests fail so is left out (printed): a failure there would read as every mutant killed.
    ``on_result`` is called (in this thread) as each mutant's verdict arrives, so a caller
    can print and save it at once: a long recheck stopped part-way keeps what it decided.
    """
    with tempfile.TemporaryDirectory(prefix="mutation-check-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
        chosen, missing = _named(names, Path(tmp), hashes=hashes)
        if baseline:
            modules = sorted({m.module for m in chosen})
            none = [Mutant(f"{PACKAGE}.{module}.none", module, "", ()) for module in modules]
            with ThreadPoolExecutor(jobs) as pool:
                clean = list(pool.map(lambda m: _run_mutant(m, src, timeout, tests), none))
            failing = {m.module for m, status, _ in clean if status != "survived"}
            for module in sorted(failing):
                print(f"  {module}: its tests fail with no mutant; its mutants are not run")
            chosen = [m for m in chosen if m.module not in failing]
        statuses = []
        with ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(_run_mutant, m, src, timeout, tests) for m in chosen]
            for future in as_completed(futures):
                statuses.append(future.result())
                if on_result is not None:
                    on_result(*statuses[-1])
    return statuses, missing


def check(names: Sequence[str], tests: Sequence[str], jobs: int, timeout: float,
          record: Path | None = None) -> int:
    """Run the named mutants against ``tests`` (default: their modules' tests); 1 if one lives.

    For the author of a new test: does it kill the survivor it was written for? ``record``
    (the saved results) gets a ``k`` or ``t`` for each one killed or timed out, where the
    saved run holds its function with the hash it has now (a changed function's mutants are
    run again by the next ``full``, so nothing stale is written).
    """
    hashes: dict[str, dict[str, str]] = {}
    lives = 0
    recorded: list[str] = []
    skipped: list[str] = []

    def verdict(m: Mutant, status: str, took: float) -> None:
        nonlocal lives
        print(f"  {status.partition(':')[0]:<10} {took:6.1f} s  {m.name}", flush=True)
        if status not in ("killed", "timeout"):
            lives += 1
            print("\n".join("      " + line for line in m.diff), flush=True)
        elif record is not None:  # saved now: a check stopped part-way keeps its kills
            letter = "k" if status == "killed" else "t"
            missed = results.record(record, [(m.module, m.name, letter)], hashes)
            (skipped if missed else recorded).append(m.name)

    _, missing = run_named(names, tests, jobs, timeout, hashes, on_result=verdict)
    if record is not None and (recorded or skipped):
        print(f"recorded {len(recorded)} in {record.name}"
              + (f"; not recorded (function changed since the saved run, or never saved): "
                 f"{', '.join(skipped)}" if skipped else ""))
    return 1 if lives or missing else 0


def describe(names: Sequence[str]) -> int:
    """Print an equivalents entry (reason left to write) for each named mutant."""
    with tempfile.TemporaryDirectory(prefix="mutation-describe-") as tmp:
        chosen, missing = _named(names, Path(tmp), prefix="# ")
    for m in chosen:
        diff = ",\n    ".join(json.dumps(line, ensure_ascii=False) for line in m.diff)
        print(f'[[equivalent]]  # {m.name}\nmodule = "{m.module}"\n'
              f'function = "{m.function}"\ndiff = [\n    {diff},\n]\n'
              'reason = "TODO"\n')
    return 1 if missing else 0
