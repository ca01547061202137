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
    "pandas",
    "matplotlib",
    "SALib",
    "sklearn",
    "scipy",
    "mesa.discrete_space",
    "networkx",
)
"""Never needed to build and step the care-system model with locality ties.

(networkx is imported by the random, small-world and scale-free tie generators only.)
(Mesa's ``mesa.agent`` imports pandas, and gets a stand-in that imports it on first use,
which carenet's model never makes; the summary reads the records without it. Hydra composes
the configuration. No part of SciPy: the weekly mean path length is a bit-set search, not
``scipy.sparse.csgraph``.)
"""

_REPORT = """
import json, sys
print(json.dumps(sorted(sys.modules)), file=sys.__stderr__)
"""


def _modules_after(code: str, env: dict | None = None, cwd: object = None) -> set[str]:
    """The modules loaded after running ``code`` (then the report) in a fresh Python."""
    out = subprocess.run(
        [sys.executable, "-c", code + _REPORT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=cwd,
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


def _cli_run_modules(tmp_path, out: str) -> set[str]:
    """The modules a whole ``carenet run`` (figure included) loads, in a fresh Python."""
    import os

    code = (
        "import sys\n"
        "from carenet.cli import main\n"
        "rc = main(['run', 'population=small', 'organisations=small', 'population.size=2000',\n"
        f"    'steps=2', 'warmup_weeks=0', 'progress=false', 'out={out}'])\n"
        "assert rc == 0, rc\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("CARENET_NO_CACHE", None)
    return _modules_after(code, env=env, cwd=tmp_path)


def test_a_run_draws_its_figure_without_pyplot_and_a_second_composes_without_hydra(tmp_path):
    """The figure needs no pyplot; a run whose composition is cached needs no Hydra."""
    first = _cli_run_modules(tmp_path, str(tmp_path / "a"))
    assert "matplotlib.figure" in first and "matplotlib.pyplot" not in first
    assert "pandas" not in first and "pyarrow.parquet" in first  # the Parquet file by pyarrow
    assert "hydra" in first  # composed, and the composition stored
    second = _cli_run_modules(tmp_path, str(tmp_path / "b"))  # another folder: same entry
    assert "hydra" not in second and "omegaconf" not in second
    assert (tmp_path / "b" / "figures" / "overview.png").stat().st_size > 10_000
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert a == b


_GC_PROBE = """
import gc, sys
from carenet.cli import main
run = ['run', 'population=small', 'organisations=small', 'population.size=2000', 'steps=2',
       'warmup_weeks=0', 'progress=false', 'figures=false', 'out=OUT', 'overwrite=true']
before = gc.get_freeze_count()
assert main(run) == 0  # a program calling main([...]): its collector is left alone
assert gc.isenabled() and gc.get_freeze_count() == before
sys.argv = ['carenet', *run]
assert main() == 0  # the console script: start-up's objects frozen, collector back on
assert gc.isenabled() and gc.get_freeze_count() > before + 50_000
print('ok')
"""


def test_startup_collector_is_the_console_scripts_alone(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _GC_PROBE.replace("OUT", str(tmp_path / "r"))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**__import__("os").environ, "CARENET_NO_CACHE": "1"},
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_mesas_pandas_stand_in_hands_on_the_real_pandas() -> None:
    """Mesa's ``pd`` imports pandas on first use; later imports get the real module."""
    modules = _modules_after(
        "import sys\n"
        "import carenet.models.model\n"
        "assert 'pandas' not in sys.modules\n"
        "import mesa.agent, mesa.mesa_logging\n"
        "assert 'mesa.model' in mesa.mesa_logging._module_loggers  # its own module's name\n"
        "import inspect; inspect.getmodule(inspect.currentframe())  # reads every __file__\n"
        "assert 'pandas' not in sys.modules\n"
        "series = mesa.agent.pd.Series([1, 2])\n"
        "import pandas\n"
        "assert type(series) is pandas.Series and sys.modules['pandas'] is pandas\n"
        "assert mesa.agent.pd is not pandas and mesa.agent.pd.DataFrame is pandas.DataFrame\n"
    )
    assert "pandas.core.frame" in modules


def test_pandas_imported_first_is_the_one_mesa_uses() -> None:
    _modules_after(
        "import pandas\nimport carenet.models.model, mesa.agent\nassert mesa.agent.pd is pandas\n"
    )
