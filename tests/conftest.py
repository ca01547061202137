"""Suite-wide test settings.

Hypothesis: no per-example deadline (a 2-core machine under load can take longer than the
default 200 ms for one example, which would make a correct test fail by timing), and
derandomised in CI so that every run of the suite tries the same examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "carenet",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
    print_blob=True,
)
settings.load_profile("carenet")

# The fault tests' real mounts (read-only bind mounts, a tiny tmpfs), undone after each test.
from tests.faults import mounts  # noqa: E402, F401
