"""Mutation testing of mock-sungrow's core with mutmut (docs/testing.md).

Four commands (and ``describe``, which prints equivalents entries):

``full [GROUP ...]``
    The full run: ``mutmut run`` over the core modules, one module group after another, with
    one worker (the machine is shared), then the ``report``. mutmut keeps its results in
    ``mutants/`` (git-ignored), so an interrupted run continues where it stopped.
``report``
    Killed / survived / timed out / no tests per module and per group, from ``mutants/``.
``check NAME... [--tests FILE...]``
    Run the named mutants against the given tests (default: their modules' tests) and say
    which live: how the author of a new test checks that it kills its survivor.
``sample [--count N] [--seed S] [--jobs J]``
    What CI runs: a fixed, seeded sample of N mutants across the core modules, each against
    the tests of its module in a fresh pytest process. Fails if a sampled mutant survives that
    ``tools/mutation_equivalents.toml`` does not list as a reviewed equivalent. It needs no
    ``mutants/`` tree and no stats phase, so it costs a few minutes, not hours.

mutmut (not cosmic-ray) because its trampolines put every mutant of a file into one copy and
switch between them per call, and because it maps each function to the tests that call it,
so a mutant runs only those. The hit record is process-wide, so calls made in a server's
event-loop thread are credited to the test that is running.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - CI runs 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mock_sungrow"

#: The core, in the groups the full run goes through (pyproject's ``only_mutate`` is the same
#: set; ``_check_groups`` keeps them equal).
GROUPS: dict[str, tuple[str, ...]] = {
    "registers": ("device.catalog", "device.codec", "device.registermap", "device.bank",
                  "device.datablock", "device.reads", "device.writes", "device.family"),
    "winet": ("frontends.winet.api", "frontends.winet.services", "frontends.winet.protocol",
              "frontends.winet.auth", "frontends.winet.payloads", "frontends.winet.devicelist",
              "frontends.winet.status"),
    "faults": ("faults.catalogue", "faults.decision", "faults.effects", "faults.faultset",
               "faults.lifetimes", "faults.params", "faults.spec", "faults.traffic",
               "faults.requestlog", "faults.kinds.base", "faults.kinds.connect",
               "faults.kinds.frame", "faults.kinds.plant", "faults.kinds.request",
               "faults.kinds.session", "faults.kinds.words"),
    "modbus": ("frontends.modbus.app", "frontends.modbus.pdu", "frontends.modbus.codec",
               "frontends.modbus.aes", "frontends.modbus.path", "frontends.modbus.stream",
               "frontends.modbus.tcp", "frontends.modbus.distort", "frontends.modbus.rtu"),
}

#: The test files (``tests/test_NAME.py``) that exercise each module, for the sample, which has
#: no per-function map: the files that test the module's concern, the most pointed first
#: (pytest stops at the first failure). Chosen by reading the tests after issue 9's layout
#: (mutmut's stats phase gives the exact callers: ``full`` uses those).
TESTS: dict[str, tuple[str, ...]] = {
    "device.catalog": ("catalog_rules", "register_map_rules", "registers"),
    "device.codec": ("register_values", "register_map_rules", "registers", "catalog_rules",
                     "out_of_range"),
    "device.registermap": ("register_map_blocks", "block_read_rules", "register_map_rules",
                           "family_rules", "dongle_view", "catalog_rules", "modbus_tcp",
                           "hybrid", "registers"),
    "device.bank": ("register_bank_rules", "block_read_rules", "register_map_rules",
                    "registers", "datablock", "devices", "modbus_tcp"),
    "device.datablock": ("register_map_rules", "block_read_rules", "datablock", "modbus_tcp",
                         "registers"),
    "device.reads": ("register_values", "register_reads_rules", "registers", "hybrid",
                     "plant", "register_map_rules", "ems"),
    "device.family": ("family_rules", "dongle_view", "block_read_rules", "fidelity"),
    "device.writes": ("register_writes_rules", "register_bank_rules", "registers", "ems",
                      "devices", "out_of_range", "hybrid"),
    "frontends.winet.api": ("winet_http_rules", "winet_api_rules", "winet", "winet_bad_input",
                            "fault_effects", "fault_catalogue"),
    "frontends.winet.services": ("winet_service_rules", "winet", "winet_api_rules",
                                 "winet_bad_input", "devices", "hybrid"),
    "frontends.winet.protocol": ("winet_service_rules", "winet_http_rules", "winet_bad_input",
                                 "winet_api_rules", "winet"),
    "frontends.winet.auth": ("winet_session_rules", "winet_sessions_bounded",
                             "winet_service_rules", "winet_http_rules", "winet_api_rules",
                             "winet", "fault_catalogue"),
    "frontends.winet.payloads": ("winet_payload_rules", "winet_service_rules",
                                 "winet_http_rules", "winet_api_rules",
                                 "winet", "hybrid", "winet_word_faults", "devices",
                                 "fault_effects"),
    "frontends.winet.devicelist": ("winet_service_rules", "winet_http_rules", "winet",
                                   "winet_api_rules", "installation", "devices"),
    "frontends.winet.status": ("winet_service_rules", "winet", "winet_api_rules",
                               "winet_word_faults"),
    "faults.catalogue": ("fault_kind_rules", "fault_param_rules", "fault_catalogue",
                         "fault_registry", "faults_model"),
    "faults.decision": ("request_fault_rules", "frame_fault_rules", "fault_effects",
                        "fault_matching", "fault_catalogue"),
    "faults.effects": ("state_fault_rules", "fault_effects", "fault_registry", "fault_lifetimes",
                       "installation_faults"),
    "faults.faultset": ("fault_set_rules", "fault_lifetimes", "fault_matching", "faults_model",
                        "fault_effects"),
    "faults.lifetimes": ("fault_set_rules", "state_fault_rules", "fault_lifetimes", "faults_model",
                         "fault_effects"),
    "faults.params": ("fault_param_rules", "fault_spec_rules", "faults_model", "fault_spec_errors",
                      "fault_catalogue"),
    "faults.spec": ("fault_spec_rules", "fault_matching", "faults_model", "fault_spec_errors",
                    "fault_catalogue", "control_api", "scenario"),
    "faults.traffic": ("traffic_memory_rules", "request_fault_rules", "word_fault_rules",
                       "fault_matching", "winet_api_rules", "fault_effects", "fault_catalogue",
                       "faults_model", "installation_faults", "encrypted", "winet"),
    "faults.requestlog": ("request_log_rules", "fault_matching", "faults_model", "fault_effects",
                          "control_api", "request_log_peers", "modbus_tcp", "fault_catalogue"),
    "faults.kinds.base": ("fault_kind_rules", "fault_param_rules", "fault_registry",
                          "fault_catalogue", "faults_model"),
    "faults.kinds.connect": ("request_fault_rules", "traffic_memory_rules", "fault_effects",
                             "fault_catalogue", "installation_faults", "connection_lifecycle",
                             "winet_faults"),
    "faults.kinds.frame": ("frame_fault_rules", "fault_catalogue", "fault_effects",
                           "encrypted_faults"),
    "faults.kinds.plant": ("state_fault_rules", "fault_effects", "fault_catalogue",
                           "fault_lifetimes"),
    "faults.kinds.request": ("request_fault_rules", "fault_catalogue", "fault_effects",
                             "installation_faults", "fault_matching", "winet_faults"),
    "faults.kinds.session": ("session_fault_rules", "fault_effects", "installation_faults",
                             "encrypted_faults", "winet_faults", "fault_catalogue"),
    "faults.kinds.words": ("word_fault_rules", "fault_catalogue", "winet_word_faults", "devices",
                           "fault_effects"),
    "frontends.modbus.app": ("modbus_tcp", "modbus_edge_paths", "datablock", "encrypted",
                             "fault_catalogue"),
    "frontends.modbus.pdu": ("rtu_crc_rules", "rtu", "mbap_framing_rules", "modbus_tcp",
                             "modbus_edge_paths", "encrypted_framing"),
    "frontends.modbus.codec": ("mbap_framing_rules", "modbus_tcp", "modbus_edge_paths",
                               "codec_fit", "backpressure", "connection_lifecycle"),
    "frontends.modbus.aes": ("encrypted_framing", "encrypted_key_rules", "encrypted",
                             "encrypted_faults", "fault_effects", "fault_catalogue"),
    "frontends.modbus.path": ("request_path_rules", "modbus_tcp", "backpressure",
                              "modbus_edge_paths", "codec_fit", "modbus_log_rules",
                              "fault_effects", "fault_catalogue", "connection_lifecycle"),
    "frontends.modbus.stream": ("connection_lifecycle", "backpressure", "modbus_tcp",
                                "fault_effects"),
    "frontends.modbus.tcp": ("modbus_port_rules", "modbus_tcp", "encrypted", "server",
                             "connection_lifecycle"),
    "frontends.modbus.distort": ("modbus_log_rules", "modbus_fault_shape_rules",
                                 "fault_catalogue", "fault_effects",
                                 "devices", "encrypted_faults", "modbus_tcp"),
    "frontends.modbus.rtu": ("rtu_crc_rules", "rtu"),
}

EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.toml"
#: Exit codes of a mutant's pytest run, read as mutmut reads them.
KILLED, SURVIVED = (1, 2, 3), 0  # 2: the mutant broke collection (an import-time error)


def module_path(module: str) -> Path:
    """``frontends.winet.api`` -> ``src/mock_sungrow/frontends/winet/api.py``."""
    return Path("src", PACKAGE, *module.split(".")).with_suffix(".py")


def _check_groups() -> None:
    configured = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    ours = {str(module_path(m)) for group in GROUPS.values() for m in group}
    if set(configured["only_mutate"]) != ours or set(TESTS) != {
        m for group in GROUPS.values() for m in group
    }:
        raise SystemExit("tools/mutation.py GROUPS/TESTS and pyproject's only_mutate differ")


# ----------------------------------------------------------------------------- report


def _status(exit_code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    return str(status_by_exit_code[exit_code])


def report(out: Iterable[str] | None = None) -> dict[str, Counter[str]]:
    """Print (and return) the status counts per module from mutmut's ``mutants/`` tree."""
    counts: dict[str, Counter[str]] = {}
    for group in GROUPS.values():
        for module in group:
            meta = ROOT / "mutants" / (str(module_path(module)) + ".meta")
            if not meta.exists():
                continue
            try:
                codes = json.loads(meta.read_text())["exit_code_by_key"]
            except (ValueError, KeyError):  # a run stopped while mutmut wrote it
                print(f"{meta}: unreadable (an interrupted run?); module left out")
                continue
            counts[module] = Counter(_status(c) for c in codes.values())
    columns = ("killed", "timeout", "survived", "no tests", "not checked")
    header = f"{'module':<28}" + "".join(f"{c:>12}" for c in (*columns, "total", "surv%"))
    print(header)
    for name, group in GROUPS.items():
        total: Counter[str] = Counter()
        for module in group:
            if module in counts:
                total += counts[module]
                print(_row(module, counts[module], columns))
        print(_row(f"[{name}]", total, columns))
    return counts


def _row(name: str, c: Counter[str], columns: Sequence[str]) -> str:
    checked = sum(c.values()) - c["not checked"]
    bad = c["survived"] + c["no tests"] + c["suspicious"]
    share = f"{100 * bad / checked:.1f}" if checked else "-"
    return (f"{name:<28}" + "".join(f"{c[k]:>12}" for k in columns)
            + f"{sum(c.values()):>12}{share:>12}")


def full(groups: Sequence[str], max_tests: int | None, *, again: bool = False,
         jobs: int = 1) -> int:
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
                        *(["--again"] if again else []), "--jobs", str(jobs)],
                       cwd=ROOT, check=False)
    report()
    return 0


def _modules_of(name: str) -> tuple[str, ...]:
    """A group's modules, or the one module ``name`` (``frontends.winet.api``)."""
    return GROUPS.get(name) or (name,)


def _survivors(module: str) -> list[str]:
    """Names of the mutants of ``module`` that survived (or had no test) in the last run."""
    meta = ROOT / "mutants" / (str(module_path(module)) + ".meta")
    if not meta.exists():
        return []
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return sorted(k for k, c in codes.items() if _status(c) in ("survived", "no tests"))


def _mutmut_group(name: str, max_tests: int | None, *, again: bool = False,
                  jobs: int = 1) -> None:
    """``mutmut run`` for one group, in this process, optionally with fewer tests per mutant.

    With ``max_tests`` a mutant runs at most that many of the tests that call its function:
    first those of its module's test files (``TESTS``), fastest first, then the fastest others;
    one case of each test function before a second case of any.
    A survivor of a heavily used function (the catalogue parser is called by 420 tests) then
    costs seconds instead of minutes. The cut is made in memory, after the stats are loaded,
    and never saved: a later run without it uses every test again. A mutant that survives a
    capped run may still be killed by a test left out, so survivors are re-run uncapped
    (``mutmut run NAME ...``) before they are counted.
    """
    import mutmut.__main__ as mm
    from mutmut.state import state

    if max_tests:
        collect = mm.collect_or_load_stats

        def capped(*args: object, **kwargs: object) -> None:
            collect(*args, **kwargs)  # type: ignore[arg-type]
            duration = state().duration_by_test
            by_function = state().tests_by_mangled_function_name
            for function, tests in by_function.items():
                module = function.removeprefix(f"{PACKAGE}.").rpartition(".")[0]
                own = tuple(f"tests/test_{t}.py" for t in TESTS.get(module, ()))

                def rank(test: str, own: tuple[str, ...] = own) -> tuple[bool, float]:
                    return (not test.startswith(own), duration.get(test, 0.0))

                if len(tests) > max_tests:
                    # One case of each test function first: the fastest tests are often
                    # the cases of one parametrized test, which all exercise one path.
                    first: list[str] = []
                    again: list[str] = []
                    seen: set[str] = set()
                    for test in sorted(tests, key=rank):
                        base = test.partition("[")[0]
                        (again if base in seen else first).append(test)
                        seen.add(base)
                    by_function[function] = set((first + again)[:max_tests])

        mm.collect_or_load_stats = capped
    if again:  # re-run only what survived, e.g. after new tests
        targets = [n for m in _modules_of(name) for n in _survivors(m)]
        if not targets:
            return
    else:
        targets = [f"{PACKAGE}.{m}.*" for m in _modules_of(name)]
    mm.cli(["run", "--max-children", str(jobs), *targets])


# ----------------------------------------------------------------------------- sample


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
    return mutants


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
            [sys.executable, "-m", "pytest", "-x", "-q", "--no-cov", "-p", "no:randomly",
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
                print(f"  {status.split(':')[0]:<10} {took:6.1f} s  {m.name}", flush=True)
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


def _named(names: Sequence[str], target: Path, prefix: str = "") -> tuple[list[Mutant], list[str]]:
    """The named mutants, generated into ``target``, and the names no module has (printed)."""
    wanted = set(names)
    modules = sorted({n.removeprefix(f"{PACKAGE}.").partition(".x")[0] for n in names})
    chosen = []
    for module in modules:
        if not (ROOT / module_path(module)).exists():
            continue  # a typo in the name: reported below with the other missing ones
        (target / module_path(module)).parent.mkdir(parents=True, exist_ok=True)
        chosen += [m for m in generate(module, target) if m.name in wanted]
    missing = sorted(wanted - {m.name for m in chosen})
    for name in missing:
        print(f"{prefix}no such mutant: {name}")
    return chosen, missing


def check(names: Sequence[str], tests: Sequence[str], jobs: int, timeout: float) -> int:
    """Run the named mutants against ``tests`` (default: their modules' tests); 1 if one lives.

    For the author of a new test: does it kill the survivor it was written for?
    """
    with tempfile.TemporaryDirectory(prefix="mutation-check-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
        chosen, missing = _named(names, Path(tmp))
        with ThreadPoolExecutor(jobs) as pool:
            statuses = list(pool.map(lambda m: _run_mutant(m, src, timeout, tests), chosen))
    lives = 0
    for m, status, took in statuses:
        print(f"  {status.split(':')[0]:<10} {took:6.1f} s  {m.name}")
        if status not in ("killed", "timeout"):
            lives += 1
            print("\n".join("      " + line for line in m.diff))
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
    p_group = sub.add_parser("_mutmut")  # internal: one group's mutmut run, in this process
    p_group.add_argument("group", choices=[*GROUPS, *TESTS])
    p_group.add_argument("--max-tests", type=int, default=None)
    p_group.add_argument("--again", action="store_true")
    p_group.add_argument("--jobs", type=int, default=1)
    sub.add_parser("report", help="killed / survived / timed out per module")
    p_describe = sub.add_parser("describe", help="print equivalents entries for mutants")
    p_describe.add_argument("names", nargs="+")
    p_check = sub.add_parser("check", help="run named mutants against chosen tests")
    p_check.add_argument("names", nargs="+")
    p_check.add_argument("--tests", nargs="*", default=[],
                         help="test files or node ids (default: the modules' tests)")
    p_check.add_argument("--jobs", type=int, default=2)
    p_check.add_argument("--timeout", type=float, default=120.0)
    p_sample = sub.add_parser("sample", help="the bounded, seeded sample CI runs")
    p_sample.add_argument("--count", type=int, default=40)
    p_sample.add_argument("--seed", type=int, default=16)
    p_sample.add_argument("--jobs", type=int, default=2)
    p_sample.add_argument("--timeout", type=float, default=120.0,
                          help="seconds before a mutant's run counts as timed out")
    p_sample.add_argument("--list", action="store_true", help="print the sample, run nothing")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    _check_groups()
    if args.command == "full":
        unknown = set(args.groups) - set(GROUPS) - set(TESTS)
        if unknown:
            parser.error(f"unknown group(s) {sorted(unknown)}; choose from {list(GROUPS)} "
                         "or a core module")
        return full(args.groups, args.max_tests, again=args.again, jobs=args.jobs)
    if args.command == "describe":
        return describe(args.names)
    if args.command == "check":
        return check(args.names, args.tests, args.jobs, args.timeout)
    if args.command == "_mutmut":
        _mutmut_group(args.group, args.max_tests, again=args.again, jobs=args.jobs)
        return 0
    if args.command == "report":
        report()
        return 0
    return sample(args.count, args.seed, args.jobs, args.timeout, list_only=args.list)


if __name__ == "__main__":
    sys.exit(main())
