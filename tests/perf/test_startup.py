"""Start-up imports only what it uses (issue #17, item 3).

Each check runs in a fresh interpreter, so what is in ``sys.modules`` is exactly what the
command imported. Nothing here is timed: the modules are the mechanism, the time follows.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "matplotlib", "scipy", "SALib", "sklearn", "hydra", "mesa")
"""Never needed to print the command-line help."""

NOT_FOR_A_RUN = (
    "matplotlib",
    "SALib",
    "sklearn",
    "scipy.spatial",
    "mesa.discrete_space",
    "networkx",
)
"""Never needed to build and step the care-system model with locality ties.

(networkx is imported by the random, small-world and scale-free tie generators only.)
(pandas is imported by Mesa itself, ``mesa.agent``; ``scipy.sparse.csgraph`` is used by
the weekly network metrics; Hydra composes the configuration.)
"""

_REPORT = """
import json, sys
print(json.dumps(sorted(sys.modules)), file=sys.__stderr__)
"""


def _modules_after(code: str) -> set[str]:
    """The modules loaded after running ``code`` (then the report) in a fresh Python."""
    out = subprocess.run(
        [sys.executable, "-c", code + _REPORT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stderr.strip().splitlines()[-1]
    return set(json.loads(last))


def test_help_imports_no_heavy_package() -> None:
    modules = _modules_after(
        "import sys\n"
        "sys.argv = ['carenet', '--help']\n"
        "from carenet.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    assert "carenet.cli" in modules  # the check ran the real command
    assert [m for m in HEAVY if m in modules] == []


def test_building_and_stepping_a_model_skips_unused_packages() -> None:
    modules = _modules_after(
        "from carenet.models.model import CareSystemModel\n"
        "from carenet.sim.config import load_config\n"
        "cfg = load_config(['population=small', 'organisations=small',\n"
        "    'population.size=2000', 'steps=3', 'warmup_weeks=0',\n"
        "    'structure.initial_ties=locality'])\n"
        "m = CareSystemModel(cfg)\n"
        "m.run(3)\n"
        "assert len(m.records) == 3\n"
    )
    assert "carenet.models.model" in modules and "mesa.model" in modules
    assert [m for m in NOT_FOR_A_RUN if m in modules] == []


@pytest.mark.parametrize("name", ["discrete_space", "batch_run", "__version__", "Agent"])
def test_rest_of_mesa_still_loads_on_use(name: str) -> None:
    """After the light import, the rest of Mesa loads when first used, as normal."""
    modules = _modules_after(
        "import carenet.models.model\n"
        "import mesa\n"
        f"assert getattr(mesa, {name!r}) is not None\n"
        "from mesa.discrete_space import Network\n"
        "from mesa import DataCollector, Model\n"
        "assert Model is carenet.models.model.CareSystemModel.__mro__[1]\n"
    )
    assert "mesa.discrete_space" in modules and "mesa.batchrunner" in modules


def test_light_import_keeps_a_full_mesa() -> None:
    """When Mesa was imported in full first, it is left as it is."""
    modules = _modules_after(
        "import mesa\n"
        "full = mesa.__dict__.copy()\n"
        "import carenet.models.model\n"
        "assert mesa.batch_run is full['batch_run']\n"
    )
    assert "mesa.batchrunner" in modules
