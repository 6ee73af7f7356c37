"""Separate virtual environments for the real Sungrow client libraries.

Several clients need an old pymodbus (2.5.3) that cannot live beside the pymodbus 3 the rest of
the suite uses, so each gets its own environment under ``.compat-envs/`` (created on first use,
reused while its requirements stay the same). A compatibility test runs the unchanged client in
that environment as a subprocess against a server started by the test, and reads back what the
client printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV_ROOT = Path(os.environ.get("MOCK_SUNGROW_COMPAT_ENVS", ROOT / ".compat-envs"))


def compat_python(name: str, requirements: list[str]) -> Path:
    """The interpreter of an environment holding exactly ``requirements`` (built if needed)."""
    digest = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:10]
    env = ENV_ROOT / f"{name}-{digest}"
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    marker = env / ".complete"
    if not marker.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             *requirements],
            check=True,
        )
        marker.write_text("\n".join(requirements))
    return python


def run_client(python: Path, script: str, *args: str, timeout: float = 120) -> Any:
    """Run ``script`` (dedented) with ``python``; it must print one JSON document last."""
    proc = subprocess.run(
        [str(python), "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"client exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise AssertionError(f"client printed nothing; stderr:\n{proc.stderr}")
    return json.loads(lines[-1])


__all__ = ["compat_python", "run_client", "sys"]
