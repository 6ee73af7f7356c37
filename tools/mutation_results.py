"""The full mutation run's results, kept in the repository (tools/mutation_results.json).

mutmut keeps its results in ``mutants/``, which is git-ignored and lives only as long as one
checkout: the full run takes longer than one sitting, and a fresh clone would start it again
from nothing. ``save`` copies each core module's results out of ``mutants/`` into
``tools/mutation_results.json``; ``restore`` writes them back into a new ``mutants/`` tree
before a run, so mutmut skips what was decided and runs the rest. A result is kept with the
hash mutmut gives its function: when the function changes, mutmut sees a new hash and runs
its mutants again, exactly as it does within one tree.

A function's results are one letter per mutant, in mutmut's numbering (``__mutmut_1`` first):

    k killed   t timed out   s survived   c survived a capped run (``--max-tests``: not final)
    n no tests   y caught by the type checker   .  not checked (or nothing final)

Only ``c`` and ``.`` are run again by a plain ``full``; ``c`` by ``full --again``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

#: mutmut's exit codes for each letter (the first is what ``restore`` writes back).
CODES: dict[str, tuple[int, ...]] = {
    "k": (1, 3), "t": (36, -24, 24, 152, 255), "s": (0,), "n": (33, 5), "y": (37,),
}
_LETTER = {code: letter for letter, codes in CODES.items() for code in codes}
#: Names of the mutants whose "survived" came from a capped run (beside mutmut's own files).
CAPPED = Path("mutants") / "capped.json"


def _meta(root: Path, source: Path) -> Path:
    return root / "mutants" / (str(source) + ".meta")


def capped(root: Path) -> set[str]:
    """The mutants whose last verdict is a capped run's "survived"."""
    path = root / CAPPED
    return set(json.loads(path.read_text())) if path.exists() else set()


def mark_capped(root: Path, *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
    """Record that ``add`` survived a capped run and ``remove`` were decided without a cap."""
    names = (capped(root) | set(add)) - set(remove)
    (root / CAPPED).write_text(json.dumps(sorted(names)))


def split_name(key: str) -> tuple[str, int]:
    """``mock_sungrow.faults.spec.xǁMatchǁmatches__mutmut_3`` -> (``xǁMatchǁmatches``, 3)."""
    name, _, number = key.rpartition("__mutmut_")
    return name.rpartition(".")[2], int(number)


def letters_of(root: Path, source: Path) -> dict[str, tuple[str, str]] | None:
    """One module's results from ``mutants/``: function -> (hash, letters); None: no run."""
    meta = _meta(root, source)
    if not meta.exists():
        return None
    data = json.loads(meta.read_text())
    hashes: dict[str, str] = data["hash_by_function_name"]
    provisional = capped(root)
    by_function: dict[str, dict[int, str]] = {}
    for key, code in data["exit_code_by_key"].items():
        function, number = split_name(key)
        letter = _LETTER.get(code, ".") if code is not None else "."
        if letter == "s" and key in provisional:
            letter = "c"
        by_function.setdefault(function, {})[number] = letter
    out = {}
    for function, numbered in sorted(by_function.items()):
        letters = "".join(numbered.get(n, ".") for n in range(1, max(numbered) + 1))
        out[function] = (hashes.get(function, ""), letters)
    return out


def save(root: Path, sources: dict[str, Path], results: Path) -> int:
    """Merge the modules that ``mutants/`` holds into ``results``; the number saved.

    A tree holds a meta for every core module, run or not: a mutant the tree has not decided
    (``.``) keeps its saved letter where its function's hash is unchanged. Without that, a
    ``save`` after one group's run wiped every other group's results (it did, once).
    """
    kept = load(results)
    saved = 0
    for module, source in sources.items():
        letters = letters_of(root, source)
        if letters is not None:
            before = kept.get(module, {})
            kept[module] = {f: {"hash": h, "results": merge(r, before.get(f), h)}
                            for f, (h, r) in letters.items()}
            saved += 1
    results.write_text(json.dumps(kept, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return saved


def merge(letters: str, saved: dict[str, str] | None, hashed: str) -> str:
    """``letters`` with each undecided mutant taken from ``saved`` if its hash matches.

    Undecided: a ``.``, or a number beyond the end of ``letters`` (a partial rerun).
    """
    if saved is None or saved["hash"] != hashed:
        return letters
    old = saved["results"]
    out = []
    for i in range(max(len(letters), len(old))):
        mark = letters[i:i + 1] or "."
        out.append(old[i:i + 1] or "." if mark == "." else mark)
    return "".join(out)


def load(results: Path) -> dict[str, dict[str, dict[str, str]]]:
    """The saved results: module -> function -> {"hash", "results"}."""
    if not results.exists():
        return {}
    data: dict[str, dict[str, dict[str, str]]] = json.loads(results.read_text())
    return data


def restore(root: Path, sources: dict[str, Path], results: Path) -> int:
    """Write the saved results into ``mutants/`` metas that have none yet; modules restored.

    A module whose meta already holds a decided mutant is left alone (the tree is newer than
    the saved file). Capped survivors go back as survived and are listed as capped again.
    """
    kept = load(results)
    restored = 0
    provisional = []
    for module, source in sources.items():
        saved = kept.get(module)
        meta = _meta(root, source)
        if not saved or not meta.exists():
            continue
        data = json.loads(meta.read_text())
        codes: dict[str, int | None] = data["exit_code_by_key"]
        if any(code is not None for code in codes.values()):
            continue
        for key in codes:
            function, number = split_name(key)
            entry = saved.get(function)
            if entry is None or entry["hash"] != data["hash_by_function_name"].get(function):
                continue  # a new or changed function: mutmut runs it
            letter = entry["results"][number - 1:number] or "."
            if letter == "c":
                provisional.append(key)
                letter = "s"
            if letter in CODES:
                codes[key] = CODES[letter][0]
        meta.write_text(json.dumps(data, indent=4))
        restored += 1
    mark_capped(root, add=provisional)
    return restored


def record(results: Path, decided: Iterable[tuple[str, str, str]],
           hashes: dict[str, dict[str, str]]) -> list[str]:
    """Write verdicts of ``check`` into ``results``: (module, mutant name, letter) each.

    ``hashes`` are mutmut's function hashes of the source as it is now (module -> function ->
    hash). A verdict is written only where the saved run holds the function with that hash;
    the names left out are returned.
    """
    kept = load(results)
    skipped = []
    for module, name, letter in decided:
        function, number = split_name(name)
        entry = kept.get(module, {}).get(function)
        if entry is None or entry["hash"] != hashes.get(module, {}).get(function):
            skipped.append(name)
            continue
        letters = entry["results"].ljust(number, ".")
        entry["results"] = letters[:number - 1] + letter + letters[number:]
    results.write_text(json.dumps(kept, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return skipped


def mark_in_tree(root: Path, source: Path, decided: dict[str, str]) -> bool:
    """Write verdicts (mutant name -> letter) into one module's ``mutants/`` meta, if any."""
    meta = _meta(root, source)
    if not meta.exists():
        return False
    data = json.loads(meta.read_text())
    codes: dict[str, int | None] = data["exit_code_by_key"]
    for name, letter in decided.items():
        if name in codes:
            codes[name] = CODES[letter][0]
    meta.write_text(json.dumps(data, indent=4))
    mark_capped(root, remove=decided)
    return True


def replace_functions(results: Path, letters: dict[str, str],
                      hashes: dict[str, dict[str, str]]) -> None:
    """Save whole functions' verdicts under their current hash (``recheck --changed``).

    ``letters`` maps mutant names to letters; ``hashes`` is module -> function -> hash of
    the source as run. A function's old entry of another hash is replaced; one of the same
    hash keeps the letters of the mutants not run.
    """
    kept = load(results)
    by_function: dict[tuple[str, str], dict[int, str]] = {}
    for name, letter in letters.items():
        module = name.removeprefix("mock_sungrow.").partition(".x")[0]
        function, number = split_name(name)
        by_function.setdefault((module, function), {})[number] = letter
    for (module, function), numbered in by_function.items():
        hashed = hashes[module][function]
        marks = "".join(numbered.get(n, ".") for n in range(1, max(numbered) + 1))
        before = kept.setdefault(module, {}).get(function)
        kept[module][function] = {"hash": hashed, "results": merge(marks, before, hashed)}
    results.write_text(json.dumps(kept, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def counts(saved: dict[str, dict[str, str]]) -> dict[str, int]:
    """Letters counted over one module's saved functions."""
    out: dict[str, int] = {}
    for entry in saved.values():
        for letter in entry["results"]:
            out[letter] = out.get(letter, 0) + 1
    return out
