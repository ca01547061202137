"""The engine runs any Mesa model through a spec: Boltzmann (run, sweep, kill, resume,
collect, report, reproduce), Schelling, a user's own spec by ``model._target_``, and the
layering (the engine imports no model)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from carenet.sim.config import ConfigError, load_config, to_dict
from carenet.sim.modelspec import RUN_KEYS, load_spec, spec_of
from carenet.sim.runner import simulate
from carenet.sim.sweep import finished_ids
from tests.cli import carenet

ROOT = Path(__file__).resolve().parents[2]
BOLTZMANN = ["model=boltzmann", "steps=15", "n=30"]

USER_SPEC = """
from dataclasses import dataclass

from mesa.examples import BoltzmannWealth
from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannScenario

from carenet.params import P
from carenet.spec import MesaSpec, Metric


@dataclass
class Params:
    n: int = P(40, lo=2, doc="Agents.")
    width: int = P(5, lo=1, doc="Width.")
    height: int = P(5, lo=1, doc="Height.")


class MySpec(MesaSpec):
    name = "mine"
    model_class = BoltzmannWealth
    scenario_class = BoltzmannScenario
    schema = Params
    metrics = (Metric("Gini", "index", "neither", "mean", "share", "Wealth inequality"),)
"""


def test_no_engine_module_imports_a_model():
    for path in sorted((ROOT / "sim").glob("*.py")):
        if path.name in ("odd.py", "paramdocs.py", "modelcode.py", "bench.py"):
            continue  # docs generation and benchmarks are outer layers
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) carenet\.models", text, re.M), path.name
        assert "from .cli import" not in text or path.name == "commands.py", path.name
    assert not (ROOT / "sim" / "schema.py").exists()


def test_run_keys_are_the_engines_and_every_model_has_them():
    cfg = load_config(BOLTZMANN)
    assert all(hasattr(cfg, k) for k in RUN_KEYS)
    assert isinstance(cfg, load_spec("boltzmann").schema)
    assert to_dict(cfg)["model"] == "boltzmann"
    assert "model" not in to_dict(
        load_config(["steps=3", "warmup_weeks=0"])
    )  # the default: identities unchanged


def test_boltzmann_runs_and_is_reproducible():
    cfg = load_config(BOLTZMANN)
    a, b = simulate(cfg, seed=3), simulate(cfg, seed=3)
    assert list(a.timeseries.columns) == ["week", "Gini"]
    assert len(a.timeseries) == 15 and a.timeseries["week"].tolist() == list(range(1, 16))
    assert a.summary == b.summary and a.timeseries.equals(b.timeseries)
    assert a.summary["Gini"] == a.timeseries["Gini"].iloc[-1]
    assert simulate(cfg, seed=4).summary != a.summary


def test_schelling_runs_too():
    cfg = load_config(["model=schelling", "steps=5", "width=10", "height=10"])
    res = simulate(cfg)
    assert spec_of(cfg).name == "schelling"
    assert {"pct_happy", "happy"} <= set(res.timeseries.columns)
    assert 0 <= res.summary["pct_happy"] <= 100


def test_a_users_spec_by_target(tmp_path, monkeypatch):
    (tmp_path / "my_spec.py").write_text(USER_SPEC)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = load_config(["model._target_=my_spec:MySpec", "steps=4", "n=10"])
    res = simulate(cfg)
    assert res.summary["Gini"] == pytest.approx(res.timeseries["Gini"].mean())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model=nosuch"], "model: 'nosuch' is not a known model; allowed: "),
        (["model._target_=nowhere.at_all:Spec"], "cannot import the module 'nowhere.at_all'"),
        (["model._target_=json:dumps"], "is not a model spec"),
        (["model=boltzmann", "n=0"], "n: 0 is not allowed; expected an integer from 1"),
        (["model=boltzmann", "population.size=5"], "population.size: unknown key"),
        (["model=boltzmann", "model=schelling"], "another override already chose"),
    ],
)
def test_bad_model_choices_are_one_line(overrides, expected):
    with pytest.raises(ConfigError) as exc:
        load_config(overrides)
    assert expected in str(exc.value) and "\n" not in str(exc.value)


def test_bad_model_on_the_command_line_exits_2(tmp_path):
    r = carenet("run", "model=nosuch", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def _popen(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "carenet", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_boltzmann_command_sweep_kill_resume_collect_report_reproduce(tmp_path):
    one = tmp_path / "one"
    r = carenet("run", *BOLTZMANN, f"out={one}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Gini" in r.stdout and "network.json" not in r.stdout
    assert json.loads((one / "summary.json").read_text())["metrics"]["Gini"] > 0
    assert (one / "figures" / "overview.png").is_file()
    r = carenet("reproduce", str(one), cwd=tmp_path)
    assert r.returncode == 0 and "reproduced exactly" in r.stdout, r.stdout + r.stderr
    # A sweep with replications, one run at a time, killed partway, then resumed.
    sweep = tmp_path / "sweep"
    cmd = ["run", "-m", "model=boltzmann", "steps=400", "n=20,60", "replications=3"]
    cmd += [f"out={sweep}", "hydra/launcher=basic"]
    p = _popen(cmd, tmp_path)
    deadline = time.monotonic() + 240
    while len(finished_ids(sweep)) < 2 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done = len(finished_ids(sweep))
    assert 2 <= done < 6, "the sweep should have been killed partway"
    r = carenet(*cmd, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"({done} already there)" in r.stdout
    assert len(finished_ids(sweep)) == 6
    r = carenet("collect", str(sweep), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    runs = pd.read_parquet(sweep / "runs.parquet")
    assert len(runs) == 6 and {"n", "width", "height", "Gini"} <= set(runs.columns)
    assert "population.size" not in runs.columns
    assert sorted(runs["n"].unique().tolist()) == [20, 60]
    r = carenet("report", str(sweep), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = (sweep / "report.md").read_text()
    assert re.search(r"^\| Gini \| [0-9.]+ \[", report, re.M), report
    assert (sweep / "figures" / "timeseries.png").is_file()


def test_run_keys_are_declared_once_and_lead_every_schema():
    """carenet's schema declares no run key; the engine adds them, first, for every model."""
    from dataclasses import fields

    from carenet.params import iter_params
    from carenet.sim.modelspec import RUN_KEYS, RunKeys, run_schema

    assert not {f.name for f in fields(load_spec("").schema)} & set(RUN_KEYS)
    engine = {f.name: (f.default, dict(f.metadata)) for f in fields(RunKeys)}
    for selector in ("", "boltzmann"):
        cls = run_schema(selector)
        assert issubclass(cls, load_spec(selector).schema)
        assert [k for k, _ in iter_params(cls)][: len(RUN_KEYS)] == list(RUN_KEYS)
        got = {f.name: (f.default, dict(f.metadata)) for f in fields(cls) if f.name in engine}
        assert got == engine


def test_a_pickled_configuration_loads_in_a_fresh_process(tmp_path):
    """The run schema is made on the fly; a worker that never made one still unpickles it."""
    import pickle
    import subprocess
    import sys

    from carenet.sim.config import load_config

    path = tmp_path / "cfg.pkl"
    path.write_bytes(pickle.dumps(load_config(["steps=3", "warmup_weeks=0", "seed=7"])))
    code = f"import pickle; c = pickle.load(open({str(path)!r}, 'rb')); print(c.steps, c.seed)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["3", "7"], out.stderr
