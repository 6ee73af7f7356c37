"""The argument types of the ``mock-sungrow`` command line.

Each turns a flag's text into its value or raises ``argparse.ArgumentTypeError`` with a message
in command-line terms (what was given, what is accepted, an example), which argparse prints
with the flag's name before exiting with status 2.
"""

from __future__ import annotations

import argparse
from datetime import datetime


def port(text: str) -> int:
    """A port number, 0..65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"ports are 0..65535 (0 = any free port); got {value}")
    return value


def cloud(text: str) -> float | str:
    """A cloud factor 0..1.5, or ``random`` for seeded passing clouds."""
    if text.strip().lower() in ("random", "walk"):
        return "random"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a cloud factor is a number 0..1.5 or 'random'; got {text!r}") from None
    if not 0.0 <= value <= 1.5:
        raise argparse.ArgumentTypeError(f"a cloud factor is within 0..1.5; got {value}")
    return value


def house_load(text: str) -> float | list[float]:
    """A constant load in W, or 24 comma-separated hourly values."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a house load is W or 24 comma-separated hourly values in W; got {text!r}"
        ) from None
    if len(values) not in (1, 24) or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(
            "a house load is one non-negative value in W or 24 comma-separated hourly values"
        )
    return values[0] if len(values) == 1 else values


def instant(text: str) -> str:
    """A ``--manual-clock`` start: ISO 8601 with a zone (``Z`` too, also on Python 3.10)."""
    if not text:
        return text
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date and time: {text!r}; for example 2026-06-21T12:00+10:00 "
            "or 2026-06-21T02:00Z") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone; add one, for example {text}+10:00 or {text}Z")
    return iso


def battery_kwh(text: str) -> float:
    """A battery capacity in kWh, 0..10000 (0: none)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a capacity in kWh: {text!r}") from None
    if not 0.0 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"battery capacity is 0..10000 kWh; got {value}")
    return value
