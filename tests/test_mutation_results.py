"""tools/mutation_results.py: the full mutation run's results survive a new checkout.

A fake ``mutants/`` tree (the metas mutmut writes: exit code per mutant, hash per function) is
saved, then restored into the fresh metas of a "new checkout": decided mutants of unchanged
functions keep their verdict, a changed function's mutants run again, and a survivor of a
capped run stays marked as not final.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import mutation_results as results

SOURCE = Path("src/mock_sungrow/faults/spec.py")
KEY = "mock_sungrow.faults.spec.{}__mutmut_{}"


def _write_meta(root: Path, codes: dict[str, int | None], hashes: dict[str, str]) -> Path:
    meta = root / "mutants" / (str(SOURCE) + ".meta")
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes, "hash_by_function_name": hashes,
                                "durations_by_key": {}}))
    return meta


def _codes(meta: Path) -> dict[str, int | None]:
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return codes


@pytest.fixture
def run_tree(tmp_path: Path) -> Path:
    """A finished run: ``matches`` has 4 mutants (killed, survived, timed out, capped
    survivor), ``covers`` 2 (no tests, not checked)."""
    root = tmp_path / "old"
    codes = {KEY.format("xǁMatchǁmatches", 1): 1, KEY.format("xǁMatchǁmatches", 2): 0,
             KEY.format("xǁMatchǁmatches", 3): 36, KEY.format("xǁMatchǁmatches", 4): 0,
             KEY.format("xǁMatchǁcovers", 1): 33, KEY.format("xǁMatchǁcovers", 2): None}
    _write_meta(root, codes, {"xǁMatchǁmatches": "aaa", "xǁMatchǁcovers": "bbb"})
    results.mark_capped(root, add=[KEY.format("xǁMatchǁmatches", 4)])
    return root


def test_saved_results_are_a_letter_per_mutant(run_tree: Path, tmp_path: Path) -> None:
    saved = tmp_path / "results.json"
    assert results.save(run_tree, {"faults.spec": SOURCE, "faults.traffic":
                                   Path("src/mock_sungrow/faults/traffic.py")}, saved) == 1
    data = json.loads(saved.read_text())
    assert data == {"faults.spec": {
        "xǁMatchǁcovers": {"hash": "bbb", "results": "n."},
        "xǁMatchǁmatches": {"hash": "aaa", "results": "kstc"},
    }}
    assert results.counts(data["faults.spec"]) == {"k": 1, "s": 1, "t": 1, "c": 1, "n": 1,
                                                   ".": 1}


def test_a_new_checkout_keeps_the_verdicts_of_unchanged_functions(
    run_tree: Path, tmp_path: Path,
) -> None:
    saved = tmp_path / "results.json"
    results.save(run_tree, {"faults.spec": SOURCE}, saved)
    new = tmp_path / "new"
    # What mutmut generates in the new checkout: nothing decided; ``covers`` was edited
    # (new hash) and gained a mutant.
    fresh = dict.fromkeys([KEY.format("xǁMatchǁmatches", i) for i in (1, 2, 3, 4)]
                          + [KEY.format("xǁMatchǁcovers", i) for i in (1, 2, 3)])
    meta = _write_meta(new, fresh, {"xǁMatchǁmatches": "aaa", "xǁMatchǁcovers": "ccc"})
    assert results.restore(new, {"faults.spec": SOURCE}, saved) == 1
    codes = _codes(meta)
    assert [codes[KEY.format("xǁMatchǁmatches", i)] for i in (1, 2, 3, 4)] == [1, 0, 36, 0]
    assert [codes[KEY.format("xǁMatchǁcovers", i)] for i in (1, 2, 3)] == [None] * 3
    # The capped survivor is still not final, and is reported as such.
    assert results.capped(new) == {KEY.format("xǁMatchǁmatches", 4)}
    letters = results.letters_of(new, SOURCE)
    assert letters is not None and letters["xǁMatchǁmatches"] == ("aaa", "kstc")


def test_a_tree_with_results_of_its_own_is_left_alone(run_tree: Path, tmp_path: Path) -> None:
    saved = tmp_path / "results.json"
    results.save(run_tree, {"faults.spec": SOURCE}, saved)
    new = tmp_path / "new"
    mine = {KEY.format("xǁMatchǁmatches", 1): 0, KEY.format("xǁMatchǁmatches", 2): None}
    meta = _write_meta(new, mine, {"xǁMatchǁmatches": "aaa"})
    assert results.restore(new, {"faults.spec": SOURCE}, saved) == 0
    assert _codes(meta) == mine


def test_an_uncapped_rerun_makes_a_capped_survivor_final(run_tree: Path) -> None:
    name = KEY.format("xǁMatchǁmatches", 4)
    results.mark_capped(run_tree, remove=[name])
    assert results.capped(run_tree) == set()
    letters = results.letters_of(run_tree, SOURCE)
    assert letters is not None and letters["xǁMatchǁmatches"][1] == "ksts"


def test_check_records_a_kill_only_where_the_function_is_unchanged(run_tree: Path,
                                                                   tmp_path: Path) -> None:
    """``check --record``: a survivor a new test kills is written as killed (and a capped one
    too); a mutant of a function changed since the saved run is left for the next ``full``."""
    saved = tmp_path / "results.json"
    results.save(run_tree, {"faults.spec": SOURCE}, saved)
    skipped = results.record(saved, [
        ("faults.spec", KEY.format("xǁMatchǁmatches", 2), "k"),
        ("faults.spec", KEY.format("xǁMatchǁmatches", 4), "t"),
        ("faults.spec", KEY.format("xǁMatchǁcovers", 2), "k"),
        ("faults.traffic", "mock_sungrow.faults.traffic.x_f__mutmut_1", "k"),
    ], {"faults.spec": {"xǁMatchǁmatches": "aaa", "xǁMatchǁcovers": "changed"}})
    assert skipped == [KEY.format("xǁMatchǁcovers", 2),
                       "mock_sungrow.faults.traffic.x_f__mutmut_1"]
    data = json.loads(saved.read_text())["faults.spec"]
    assert data["xǁMatchǁmatches"]["results"] == "kktt"
    assert data["xǁMatchǁcovers"]["results"] == "n."


def test_saving_a_tree_that_did_not_run_a_module_keeps_its_saved_results(
    run_tree: Path, tmp_path: Path,
) -> None:
    """A tree holds a meta for every core module; one run for another group leaves this
    module undecided there, and saving that tree must not wipe what was saved before (it
    once did, for every module of two groups). A changed function's old letters go."""
    saved = tmp_path / "results.json"
    results.save(run_tree, {"faults.spec": SOURCE}, saved)
    other = tmp_path / "other"
    codes: dict[str, int | None] = {KEY.format("xǁMatchǁmatches", n): None for n in range(1, 5)}
    codes |= {KEY.format("xǁMatchǁcovers", 1): None, KEY.format("xǁMatchǁcovers", 2): 1}
    _write_meta(other, codes, {"xǁMatchǁmatches": "aaa", "xǁMatchǁcovers": "changed"})
    results.save(other, {"faults.spec": SOURCE}, saved)
    data = json.loads(saved.read_text())["faults.spec"]
    assert data["xǁMatchǁmatches"] == {"hash": "aaa", "results": "kstc"}
    assert data["xǁMatchǁcovers"] == {"hash": "changed", "results": ".k"}


def test_a_recheck_kill_is_written_into_the_tree(run_tree: Path) -> None:
    """``recheck``: a survivor killed in a fresh process is killed in ``mutants/`` too, and
    no longer a capped survivor; a module with no meta there is reported as not written."""
    name = KEY.format("xǁMatchǁmatches", 4)
    assert results.mark_in_tree(run_tree, SOURCE, {name: "k"}) is True
    assert _codes(run_tree / "mutants" / (str(SOURCE) + ".meta"))[name] == 1
    assert results.capped(run_tree) == set()
    letters = results.letters_of(run_tree, SOURCE)
    assert letters is not None and letters["xǁMatchǁmatches"][1] == "kstk"
    assert results.mark_in_tree(run_tree, Path("src/mock_sungrow/faults/traffic.py"),
                                {"mock_sungrow.faults.traffic.x_f__mutmut_1": "k"}) is False


def test_a_kept_tree_gets_the_new_data_files(tmp_path: Path) -> None:
    """mutmut recopies changed Python files only: the tool brings the tables up to date."""
    import mutation

    (tmp_path / "src" / "pkg" / "data").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "data" / "rules.csv").write_text("new\n")
    (tmp_path / "src" / "pkg" / "code.py").write_text("x = 1\n")
    assert mutation.sync_data(tmp_path) == []  # no tree yet: mutmut will create it whole
    kept = tmp_path / "mutants" / "src" / "pkg" / "data" / "rules.csv"
    kept.parent.mkdir(parents=True)
    kept.write_text("old\n")
    assert mutation.sync_data(tmp_path) == [kept]
    assert kept.read_text() == "new\n"
    assert not (tmp_path / "mutants" / "src" / "pkg" / "code.py").exists()  # mutmut's own
    assert mutation.sync_data(tmp_path) == []


def test_recheck_changed_saves_whole_functions_under_their_new_hash(
    run_tree: Path, tmp_path: Path,
) -> None:
    """``recheck --changed``: a changed function's verdicts replace its old ones; a function
    of the same hash keeps the letters of the mutants that did not run again."""
    saved = tmp_path / "results.json"
    results.save(run_tree, {"faults.spec": SOURCE}, saved)
    results.replace_functions(saved, {
        KEY.format("xǁMatchǁmatches", 1): "k", KEY.format("xǁMatchǁmatches", 2): "c",
        KEY.format("xǁMatchǁcovers", 2): "k",
    }, {"faults.spec": {"xǁMatchǁmatches": "new", "xǁMatchǁcovers": "bbb"}})
    data = json.loads(saved.read_text())["faults.spec"]
    assert data["xǁMatchǁmatches"] == {"hash": "new", "results": "kc"}
    assert data["xǁMatchǁcovers"] == {"hash": "bbb", "results": "nk"}
