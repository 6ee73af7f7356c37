"""Mutation testing of mock-sungrow's core with mutmut (docs/testing.md).

``full [GROUP ...]``
    The full run: ``mutmut run`` over the core modules, one module group after another, then
    the ``report``. mutmut keeps its results in ``mutants/`` (git-ignored), so an interrupted
    run continues where it stopped; each group's results are also saved in
    ``tools/mutation_results.json`` (tools/mutation_results.py), and a new checkout's run
    starts from them: only new, changed or undecided mutants run again.
``live [GROUP ...]``
    The saved survivors that no reviewed equivalent explains, by mutmut name: what is left
    to kill or to explain.
``report [--saved]``
    Killed / survived / timed out / no tests per module and per group, from ``mutants/`` or
    (``--saved``) from the saved results: the figure without running anything.
``save``
    Save what ``mutants/`` holds now (an interrupted run's results too).
``recheck MODULE...``
    Run a module's survivors again, each in a fresh process (the full run does this for its
    new survivors): mutmut's forked runs cannot mutate code that runs at import.
``check NAME... [--tests FILE...]``, ``describe NAME...``, ``sample``
    tools/mutation_sample.py: a named mutant against chosen tests, an equivalents entry, and
    the fixed, seeded sample CI runs (no ``mutants/`` tree, no stats phase: a few minutes).

mutmut (not cosmic-ray) because its trampolines put every mutant of a file into one copy and
switch between them per call, and because it maps each function to the tests that call it,
so a mutant runs only those. The hit record is process-wide, so calls made in a server's
event-loop thread are credited to the test that is running.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mutation_results as results
from mutation_groups import GROUPS, PACKAGE, RESULTS, ROOT, TESTS, check_groups, module_path
from mutation_sample import check, describe, generate_with_hashes, run_named, sample


def _status(exit_code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    return str(status_by_exit_code[exit_code])


def _sources() -> dict[str, Path]:
    return {m: module_path(m) for group in GROUPS.values() for m in group}


#: The report's columns, and the saved letters (tools/mutation_results.py) each one counts.
COLUMNS = {"killed": "ky", "timeout": "t", "survived": "s", "survived capped": "c",
           "no tests": "n", "equivalent": "e", "not checked": "."}


def report(*, saved: bool = False, equivalents: bool = False) -> dict[str, Counter[str]]:
    """Print (and return) the status counts per module: from ``mutants/`` or the saved file.

    Both go through the saved form (one letter per mutant), so the two reports agree. With
    ``equivalents``, a survivor that ``tools/mutation_equivalents.toml`` lists (matched by its
    diff in today's source, where its function's hash is the one the result was taken with)
    is counted as *equivalent*, not as live.
    """
    counts: dict[str, Counter[str]] = {}
    kept = results.load(RESULTS) if saved else {}
    for module, source in _sources().items():
        if saved:
            found = {f: (e["hash"], e["results"]) for f, e in kept.get(module, {}).items()}
        else:
            found = results.letters_of(ROOT, source) or {}
        if not found:
            continue
        listed = _listed_equivalents(module, found) if equivalents else set()
        letters: Counter[str] = Counter()
        for function, (_hash, marks) in found.items():
            for number, mark in enumerate(marks, start=1):
                live = mark in "scn" and (function, number) not in listed
                letters[mark if live or mark not in "scn" else "e"] += 1
        counts[module] = Counter({column: sum(letters.get(x, 0) for x in chars)
                                  for column, chars in COLUMNS.items()})
    header = f"{'module':<28}" + "".join(f"{c:>10}" for c in (
        "killed", "timeout", "surv", "capped", "no tests", "equiv", "unrun", "total", "live%"))
    print(header)
    for name, group in GROUPS.items():
        total: Counter[str] = Counter()
        for module in group:
            if module in counts:
                total += counts[module]
                print(_row(module, counts[module]))
        print(_row(f"[{name}]", total))
    return counts


def _listed_equivalents(module: str, found: dict[str, tuple[str, str]]) -> set[tuple[str, int]]:
    """(function, mutant number) of ``module``'s survivors that are reviewed equivalents."""
    import tempfile

    from mutation_sample import generate_with_hashes, load_equivalents

    listed = load_equivalents()
    with tempfile.TemporaryDirectory(prefix="mutation-report-") as tmp:
        (Path(tmp) / module_path(module)).parent.mkdir(parents=True)
        mutants, hashes = generate_with_hashes(module, Path(tmp))
    out = set()
    for m in mutants:
        function, number = results.split_name(m.name)
        saved = found.get(function)
        if (saved is not None and saved[0] == hashes.get(function)
                and (m.module, m.function, m.diff) in listed):
            out.add((function, number))
    return out


def live(modules: Sequence[str]) -> list[str]:
    """Print (and return) the names of the saved live survivors that no review explains.

    Live: survived, capped or without tests in the saved results, and not listed in
    ``tools/mutation_equivalents.toml``: what ``describe`` and ``check`` take next. A function
    edited since its saved run is named instead (its mutants are ``recheck --changed``'s).
    """
    from mutation_sample import load_equivalents

    kept = results.load(RESULTS)
    listed = load_equivalents()
    names = []
    for module in modules:
        with tempfile.TemporaryDirectory(prefix="mutation-live-") as tmp:
            (Path(tmp) / module_path(module)).parent.mkdir(parents=True)
            mutants, hashes = generate_with_hashes(module, Path(tmp))
        saved = kept.get(module, {})
        changed = sorted({f for f, e in saved.items() if hashes.get(f) != e["hash"]}
                         | {results.split_name(m.name)[0] for m in mutants} - set(saved))
        for function in changed:
            print(f"new or changed since its run: {module} {function} "
                  f"(recheck --changed {module})")
        for m in mutants:
            function, number = results.split_name(m.name)
            entry = saved.get(function)
            if entry is None or function in changed:
                continue
            mark = entry["results"][number - 1:number]
            if mark and mark in "scn" and (m.module, m.function, m.diff) not in listed:
                names.append(m.name)
                print(f"{mark} {m.name}")
    return names


def _row(name: str, c: Counter[str]) -> str:
    """A report line; the share counts capped survivors and mutants without tests as live."""
    checked = sum(c.values()) - c["not checked"]
    bad = c["survived"] + c["survived capped"] + c["no tests"]
    share = f"{100 * bad / checked:.1f}" if checked else "-"
    return (f"{name:<28}" + "".join(f"{c[k]:>10}" for k in COLUMNS)
            + f"{sum(c.values()):>10}{share:>10}")


def full(groups: Sequence[str], max_tests: int | None, *, again: bool = False,
         jobs: int = 1, fresh: bool = False) -> int:
    """Run mutmut group by group (``jobs`` workers each, in a child process), then the report.

    One worker by default (the machine is shared). A mutant's run mostly waits on sockets
    (a test's round trips), so on an otherwise idle machine a few more workers than cores
    finish sooner.
    """
    for name in groups or GROUPS:
        print(f"== mutmut run: {name} ({', '.join(_modules_of(name))})", flush=True)
        # A child per group: mutmut's state is per process, and a group's run must not
        # inherit the previous group's forked-from process.
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "_mutmut", name,
                        *(["--max-tests", str(max_tests)] if max_tests else []),
                        *(["--again"] if again else []), *(["--fresh"] if fresh else []),
                        "--jobs", str(jobs)],
                       cwd=ROOT, check=False)
    report()
    return 0


def _modules_of(name: str) -> tuple[str, ...]:
    """A group's modules, or the one module ``name`` (``frontends.winet.api``)."""
    return GROUPS.get(name) or (name,)


def _survivors(module: str) -> list[str]:
    """Names of the mutants of ``module`` that survived (or had no test) in the last run.

    From ``mutants/``, or where that has no run of the module yet (a fresh checkout), from
    the saved results (capped survivors included).
    """
    meta = ROOT / "mutants" / (str(module_path(module)) + ".meta")
    if not meta.exists():
        saved = results.load(RESULTS).get(module, {})
        return sorted(f"{PACKAGE}.{module}.{function}__mutmut_{i}"
                      for function, entry in saved.items()
                      for i, letter in enumerate(entry["results"], start=1) if letter in "scn")
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return sorted(k for k, c in codes.items() if _status(c) in ("survived", "no tests"))


def sync_data(root: Path = ROOT) -> list[Path]:
    """Copy the package's data files (CSV tables, static files) into ``mutants/src``.

    mutmut copies a Python file into its tree again when the file changes, but the other
    files only when it creates the tree: a tree kept between runs would test new code with
    old tables (a registers run met it after data/family_rules.csv changed, and failed its
    clean run). Returns the files copied.
    """
    tree = root / "mutants" / "src"
    copied: list[Path] = []
    if not tree.exists():
        return copied
    for path in sorted((root / "src").rglob("*")):
        if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        target = tree / path.relative_to(root / "src")
        if not target.exists() or target.read_bytes() != path.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied.append(target)
    return copied


def _mutmut_group(name: str, max_tests: int | None, *, again: bool = False,
                  jobs: int = 1, fresh: bool = False) -> None:
    """``mutmut run`` for one group, in this process, optionally with fewer tests per mutant.

    With ``max_tests`` a mutant runs every test of its module's own test files (``TESTS``)
    that calls its function, and at most ``max_tests`` of the other callers (the fastest; one
    case of each test function before a second case of any). A survivor of a heavily used
    function (``Traffic.admit`` runs on every connection of every test) then costs seconds
    instead of the whole suite, and the tests written for the module still all run. The cut
    is made in memory, after the stats are loaded, and never saved. A mutant that survives
    where its function's callers were cut may still be killed by a test left out: it is
    listed as capped (not final) until an uncapped ``--again`` decides it; a survivor whose
    function lost no caller is final.

    Before the run the results saved in ``RESULTS`` are restored into a new ``mutants/`` tree
    (not with ``fresh``); after it, the group's results are saved there again.
    """
    import mutmut.__main__ as mm
    from mutmut.state import state

    collect = mm.collect_or_load_stats
    sources = {m: module_path(m) for m in _modules_of(name)}
    undecided: set[str] = set()
    cut: set[str] = set()

    def collect_then_restore(*args: object, **kwargs: object) -> None:
        collect(*args, **kwargs)  # type: ignore[arg-type]
        # The metas exist now (mutmut generated the mutants first) and are read next.
        if not fresh and results.restore(ROOT, sources, RESULTS):
            print(f"    results restored from {RESULTS.relative_to(ROOT)}", flush=True)
        undecided.update(n for m in sources for n in _names(m, decided=False))
        if max_tests:
            cut.update(_cap(state(), max_tests))

    mm.collect_or_load_stats = collect_then_restore
    collect_data = mm.collect_source_file_mutation_data

    def undecided_only(*, mutant_names: tuple[str, ...] | list[str]) -> Any:
        # mutmut runs every mutant a name pattern matches, decided or not: only ``--again``
        # (named survivors) should; a plain run continues where the last one stopped.
        mutants, by_path = collect_data(mutant_names=mutant_names)
        if not again:
            mutants = [(data, key, result) for data, key, result in mutants if result is None]
        return mutants, by_path

    mm.collect_source_file_mutation_data = undecided_only
    for copied in sync_data():
        print(f"    {copied.relative_to(ROOT)} brought up to date", flush=True)
    if again:  # re-run only what survived, e.g. after new tests
        targets = [n for m in _modules_of(name) for n in _survivors(m)]
        if not targets:
            return
    else:
        targets = [f"{PACKAGE}.{m}.*" for m in _modules_of(name)]
    try:
        mm.cli(["run", "--max-children", str(jobs), *targets], standalone_mode=False)
    finally:
        ran = set(targets) if again else undecided
        alive = [n for m in sources for n in _survivors(m) if n in ran]
        # What this run left alive may still die against the tests the cap left out.
        provisional = [n for n in alive if n.rpartition("__mutmut_")[0] in cut]
        results.mark_capped(ROOT, add=provisional, remove=set(ran) - set(provisional))
        if alive:
            recheck(alive, jobs)
        results.save(ROOT, sources, RESULTS)


#: A recheck's limit per mutant: a true survivor runs all of its module's test files (a few
#: minutes at most). One that runs out of time stays a survivor: a recheck never kills by
#: timeout, since a slow machine would read as a kill.
RECHECK_TIMEOUT = 900.0


def decide_changed(modules: Sequence[str], jobs: int) -> int:
    """Run the mutants the saved results do not decide (changed functions, unrun ones).

    Without a ``mutants/`` tree (whose stats phase alone takes most of an hour), a function
    edited after its module's run, or a run stopped part-way, leaves mutants with no
    verdict. This runs them in fresh processes against the
    module's test files and saves them under the function's new hash: ``k`` / ``t`` for the
    killed and timed out, ``c`` (not final: only the module's own tests ran) for the rest.
    Returns the number of mutants run.
    """
    kept = results.load(RESULTS)
    with tempfile.TemporaryDirectory(prefix="mutation-decide-") as tmp:
        names = []
        for module in modules:
            (Path(tmp) / module_path(module)).parent.mkdir(parents=True, exist_ok=True)
            mutants, hashes = generate_with_hashes(module, Path(tmp))
            saved = kept.get(module, {})
            for m in mutants:
                function, number = results.split_name(m.name)
                entry = saved.get(function)
                if (entry is None or entry["hash"] != hashes[function]
                        or entry["results"][number - 1:number] in ("", ".")):
                    names.append(m.name)
    print(f"    decide: {len(names)} mutants of changed functions", flush=True)
    hashes_now: dict[str, dict[str, str]] = {}
    letters: dict[str, str] = {}

    def verdict(m: Any, status: str, took: float) -> None:
        # Saved as it comes (the function's letters so far), so a stopped run keeps them.
        letters[m.name] = {"killed": "k", "timeout": "t", "survived": "c"}.get(status, ".")
        results.replace_functions(RESULTS, {m.name: letters[m.name]}, hashes_now)
        print(f"    {status.partition(':')[0]:<10} {took:6.1f} s  {m.name}", flush=True)

    run_named(names, (), jobs, RECHECK_TIMEOUT, hashes_now, baseline=True, on_result=verdict)
    print(f"    decide: {sum(v in 'kt' for v in letters.values())} of {len(letters)} killed",
          flush=True)
    return len(letters)


def recheck(names: Sequence[str], jobs: int) -> list[str]:
    """Run mutmut's survivors again, each in a fresh pytest process; the names now killed.

    mutmut's forkserver imports the package once and forks every mutant's run from it, so
    code that runs at import keeps its original in every child: the closures device.reads
    builds into its INPUT table (``_voltage(0)``, ``_yearly("pv")``), registrations, class
    bodies. Their mutants "survive" whatever the tests check: all 97 of device.reads' did,
    and its own tests kill them once the mutant is chosen before the import. Each survivor
    runs its module's test files (``TESTS``) after a clean run of them; a kill is written
    into ``mutants/`` (where the tree holds the module) and into the saved results.
    """
    hashes: dict[str, dict[str, str]] = {}
    killed: list[str] = []
    print(f"    recheck: {len(names)} survivors, each in a fresh process", flush=True)

    def verdict(m: Any, status: str, took: float) -> None:
        # Written as it comes: a recheck of a hundred survivors takes an hour or more, and
        # one stopped part-way keeps every kill it made.
        print(f"    {status.partition(':')[0]:<10} {took:6.1f} s  {m.name}", flush=True)
        if status == "killed":
            killed.append(m.name)
            results.mark_in_tree(ROOT, module_path(m.module), {m.name: "k"})
            results.record(RESULTS, [(m.module, m.name, "k")], hashes)

    statuses, _ = run_named(names, (), jobs, RECHECK_TIMEOUT, hashes, baseline=True,
                            on_result=verdict)
    print(f"    recheck: {len(killed)} of {len(statuses)} killed", flush=True)
    return killed


def _names(module: str, *, decided: bool) -> list[str]:
    """The mutants of ``module`` in ``mutants/`` that have (or have not) a result."""
    meta = ROOT / "mutants" / (str(module_path(module)) + ".meta")
    if not meta.exists():
        return []
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return [k for k, c in codes.items() if (c is not None) == decided]


def _cap(st: Any, max_tests: int) -> set[str]:
    """Cut each function's callers to its module's tests and ``max_tests`` others (in memory).

    Returns the functions that lost callers (see ``_mutmut_group``).
    """
    duration = st.duration_by_test
    by_function = st.tests_by_mangled_function_name
    cut = set()
    for function, tests in by_function.items():
        module = function.removeprefix(f"{PACKAGE}.").rpartition(".")[0]
        own = tuple(f"tests/test_{t}.py" for t in TESTS.get(module, ()))
        mine = {t for t in tests if t.startswith(own)}
        others = sorted(set(tests) - mine, key=lambda t: duration.get(t, 0.0))
        if len(others) <= max_tests:
            continue
        # One case of each test function first: the fastest tests are often the cases of one
        # parametrized test, which all exercise one path.
        first: list[str] = []
        later: list[str] = []
        seen: set[str] = set()
        for test in others:
            base = test.partition("[")[0]
            (later if base in seen else first).append(test)
            seen.add(base)
        by_function[function] = mine | set((first + later)[:max_tests])
        cut.add(function)
    return cut


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python tools/mutation.py {full,report,sample}``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_full = sub.add_parser("full", help="mutmut run over the core, group by group")
    p_full.add_argument("groups", nargs="*",
                        help=f"any of {', '.join(GROUPS)} or a core module (default: all groups)")
    p_full.add_argument("--max-tests", type=int, default=None,
                        help="run each mutant against at most this many of its tests (triage)")
    p_full.add_argument("--again", action="store_true",
                        help="re-run only the survivors of the last run (after new tests)")
    p_full.add_argument("--jobs", type=int, default=1,
                        help="mutants run at once (default 1: the machine is shared)")
    p_full.add_argument("--fresh", action="store_true",
                        help=f"ignore the saved results ({RESULTS.name}): run every mutant")
    p_group = sub.add_parser("_mutmut")  # internal: one group's mutmut run, in this process
    p_group.add_argument("group", choices=[*GROUPS, *TESTS])
    p_group.add_argument("--max-tests", type=int, default=None)
    p_group.add_argument("--again", action="store_true")
    p_group.add_argument("--jobs", type=int, default=1)
    p_group.add_argument("--fresh", action="store_true")
    p_report = sub.add_parser("report", help="killed / survived / timed out per module")
    p_report.add_argument("--saved", action="store_true",
                          help=f"from the saved results ({RESULTS.name}), not from mutants/")
    p_report.add_argument("--equivalents", action="store_true",
                          help="count survivors listed in mutation_equivalents.toml apart")
    sub.add_parser("save", help=f"save the results in mutants/ to {RESULTS.name}")
    p_live = sub.add_parser("live", help="name the saved survivors no review explains")
    p_live.add_argument("modules", nargs="*", help="core modules or groups (default: all)")
    p_describe = sub.add_parser("describe", help="print equivalents entries for mutants")
    p_describe.add_argument("names", nargs="+")
    p_check = sub.add_parser("check", help="run named mutants against chosen tests")
    p_check.add_argument("names", nargs="+")
    p_check.add_argument("--tests", nargs="*", default=[],
                         help="test files or node ids (default: the modules' tests)")
    p_check.add_argument("--jobs", type=int, default=2)
    p_check.add_argument("--timeout", type=float, default=120.0)
    p_check.add_argument("--record", action="store_true",
                         help=f"write the killed ones into {RESULTS.name} (where the saved run "
                              "has their function as it is now)")
    p_recheck = sub.add_parser(
        "recheck", help="run a module's survivors again, each in a fresh process")
    p_recheck.add_argument("modules", nargs="+", help="core modules or groups")
    p_recheck.add_argument("--jobs", type=int, default=1)
    p_recheck.add_argument("--changed", action="store_true",
                           help="run the mutants the saved results leave undecided instead")
    p_sample = sub.add_parser("sample", help="the bounded, seeded sample CI runs")
    p_sample.add_argument("--count", type=int, default=40)
    p_sample.add_argument("--seed", type=int, default=16)
    p_sample.add_argument("--jobs", type=int, default=2)
    p_sample.add_argument("--timeout", type=float, default=120.0,
                          help="seconds before a mutant's run counts as timed out")
    p_sample.add_argument("--list", action="store_true", help="print the sample, run nothing")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    check_groups()
    if args.command == "full":
        unknown = set(args.groups) - set(GROUPS) - set(TESTS)
        if unknown:
            parser.error(f"unknown group(s) {sorted(unknown)}; choose from {list(GROUPS)} "
                         "or a core module")
        return full(args.groups, args.max_tests, again=args.again, jobs=args.jobs,
                    fresh=args.fresh)
    if args.command == "describe":
        return describe(args.names)
    if args.command == "check":
        return check(args.names, args.tests, args.jobs, args.timeout,
                     record=RESULTS if args.record else None)
    if args.command == "_mutmut":
        _mutmut_group(args.group, args.max_tests, again=args.again, jobs=args.jobs,
                      fresh=args.fresh)
        return 0
    if args.command == "recheck":
        modules = [m for name in args.modules for m in _modules_of(name)]
        if args.changed:
            decide_changed(modules, args.jobs)
            return 0
        recheck([n for m in modules for n in _survivors(m)], args.jobs)
        return 0
    if args.command == "live":
        live([m for name in args.modules or GROUPS for m in _modules_of(name)])
        return 0
    if args.command == "report":
        report(saved=args.saved, equivalents=args.equivalents)
        return 0
    if args.command == "save":
        saved = results.save(ROOT, _sources(), RESULTS)
        print(f"{saved} modules' results saved to {RESULTS.relative_to(ROOT)}")
        return 0
    return sample(args.count, args.seed, args.jobs, args.timeout, list_only=args.list)


if __name__ == "__main__":
    sys.exit(main())
