"""Reading TOML and YAML documents: installation files and scenario files alike.

TOML comes from the standard library (``tomllib``, or ``tomli`` on Python 3.10), YAML from
PyYAML when it is installed (``pip install 'mock-sungrow[yaml]'``). The suffix decides. Every
failure is the caller's error type, with a message naming the file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SUFFIXES = (".toml", ".yaml", ".yml")


def load_document(path: str | Path, error: type[ValueError], what: str) -> Any:
    """The data in the TOML or YAML file ``path`` (a ``what``: "scenario", "installation")."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise error(f"{path}: a{'n' if what[0] in 'aeiou' else ''} {what} is a .toml, .yaml "
                    "or .yml file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    if suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise error(f"{path}: not valid TOML: {exc}") from None
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is a test dependency
        raise error(f"{path}: reading YAML needs PyYAML (pip install 'mock-sungrow[yaml]')"
                    ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
