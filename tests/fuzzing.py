"""How long the fuzz tests run: bounded for CI, one variable for a longer local run.

``MOCK_SUNGROW_FUZZ_SCALE`` multiplies every fuzz test's example count (default 1: about a
minute for the whole fuzz suite on two cores). ``MOCK_SUNGROW_FUZZ_SCALE=20 python -m pytest
-m fuzz --no-cov`` is the longer local run docs/testing.md describes. Hypothesis keeps no
example database (``database=None``): a run is not steered by earlier ones, and a failure
prints the example that falsified it, which is what to turn into a regression test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def scale() -> int:
    """The multiplier from ``MOCK_SUNGROW_FUZZ_SCALE`` (a positive integer)."""
    raw = os.environ.get("MOCK_SUNGROW_FUZZ_SCALE", "1")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"MOCK_SUNGROW_FUZZ_SCALE must be a positive integer; got {raw!r}"
                         ) from None
    if value < 1:
        raise ValueError(f"MOCK_SUNGROW_FUZZ_SCALE must be a positive integer; got {raw!r}")
    return value


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings for a fuzz test over real sockets: ``examples`` x the scale."""
    return settings(
        max_examples=examples * scale(),
        deadline=None,  # real sockets on a loaded two-core machine
        database=None,
        derandomize=False,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=True,
    )
