"""Launchers: one sweep under basic, local, joblib, submitit (local, SLURM) and Ray, same results.

The reference is the sweep run in this process with ``hydra/launcher=basic``. Every other
launcher runs the same sweep through ``carenet run -m`` in a subprocess, starting from a
folder that a "killed" reference left (one finished run, one failure record), so each
case checks three things at once: the numbers of every run equal the reference value by
value (``carenet collect`` tables and each ``summary.json``), the finished run is skipped
(resume), and failing runs are recorded the same way and retried.

SLURM runs against stand-in ``sbatch``/``srun``/``sacct`` (``tests/sim/fake_slurm/``) that
check and record the job script and run the array here; Ray runs both started by the
launcher and attached to a head this module starts on 127.0.0.1 and always stops.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from carenet.sim.collect import collect
from carenet.sim.sweep import failed_records, finished_ids, plan_sweep, run_sweep

pytest.importorskip("submitit", reason="pip install -e '.[test]' installs carenet[slurm]")
pytest.importorskip("ray", reason="pip install -e '.[test]' installs carenet[ray]")

TINY = [
    "population=small",
    "organisations=small",
    "population.size=5000",
    "steps=6",
    "warmup_weeks=0",
]
FAKE_SLURM = Path(__file__).parent / "fake_slurm"
TIMEOUT = 240  # seconds for one sweep subprocess; a hang fails the test instead of CI

RULE = '''
"""A power rule that fails where there are no hierarchy lines (injects failing runs)."""
from carenet.models.power import PowerRule


class FailsInNetworks(PowerRule):
    def data_sharing(self, org, view):
        if not view.hierarchy:
            raise RuntimeError("injected failure: no hierarchy lines")
        return super().data_sharing(org, view)
'''


def _sweep(rule: Path) -> list[str]:
    """3 structures x 2 replications = 6 runs: 4 finish, 2 (network) fail."""
    return [
        "structure=hierarchy,hybrid,network",
        "replications=2",
        f"power_rule._target_={rule}:FailsInNetworks",
        *TINY,
        "progress=false",
    ]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rule(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "fails_in_networks.py"
    path.write_text(RULE)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, rule: Path) -> Path:
    """The sweep run one job at a time in this process (basic launcher)."""
    out = tmp_path_factory.mktemp("reference") / "sweep"
    result = run_sweep(plan_sweep([*_sweep(rule), f"out={out}", "hydra/launcher=basic"]))
    assert result["counts"]["finished"] == 4 and result["counts"]["failed"] == 2
    collect(out)
    return out


@pytest.fixture(scope="module")
def base_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of the sweep subprocesses: Ray token auth, Ray files in a private folder.

    A token in the environment keeps Ray from writing one to ~/.ray; a short private
    RAY_TMPDIR keeps its sockets under the path-length limit and out of /tmp/ray.
    """
    ray_tmp = tempfile.mkdtemp(prefix="crn-ray-", dir="/tmp")
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "RAY_TMPDIR": ray_tmp,
        "RAY_USAGE_STATS_ENABLED": "0",
        # Ray turns 127.0.0.1 into the machine's address unless told it is not a cluster;
        # with this, a head started on 127.0.0.1 is reachable as 127.0.0.1 (see ray_head).
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    yield env
    shutil.rmtree(ray_tmp, ignore_errors=True)


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def ray_head(base_env: dict[str, str]) -> Iterator[str]:
    """A Ray head on 127.0.0.1 only, with token auth; stopped (its process group) at the end.

    Every port Ray would otherwise take at a fixed number is given a free one. The head
    runs in its own session with ``--block``, so SIGTERM to it stops every Ray process it
    started (draining disabled, so at once); SIGKILL to its group is the fallback.
    """
    ports = _free_ports(8)
    env = {**base_env, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    temp_dir = tempfile.mkdtemp(prefix="crn-head-", dir="/tmp")
    log = open(Path(temp_dir) / "head.log", "w")  # closed in teardown
    cmd = [
        str(Path(sys.executable).with_name("ray")),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={ports[0]}",
        f"--ray-client-server-port={ports[1]}",
        f"--node-manager-port={ports[2]}",
        f"--object-manager-port={ports[3]}",
        f"--dashboard-agent-listen-port={ports[4]}",
        f"--dashboard-agent-grpc-port={ports[5]}",
        f"--metrics-export-port={ports[6]}",
        f"--runtime-env-agent-port={ports[7]}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--num-cpus=2",
        f"--temp-dir={temp_dir}",
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in (Path(temp_dir) / "head.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("ray head did not start:\n" + (Path(temp_dir) / "head.log").read_text())
            time.sleep(0.2)
        yield f"127.0.0.1:{ports[0]}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        # Reap the head first: a zombie still counts as a member of its group.
        while (proc.poll() is None or _group_alive(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


# --- helpers ----------------------------------------------------------------------------


def _carenet(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "import sys; from carenet.cli import main; sys.exit(main())"]
    return subprocess.run(
        cmd + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def _seed_from_reference(reference: Path, out: Path) -> tuple[str, str]:
    """A folder as a killed sweep left it: sweep.json, one finished run, one failure."""
    out.mkdir(parents=True)
    shutil.copy2(reference / "sweep.json", out / "sweep.json")
    kept = sorted(finished_ids(reference))[0]
    shutil.copytree(reference / "runs" / kept, out / "runs" / kept)
    failed = sorted(failed_records(reference))[0]
    (out / "failures").mkdir()
    shutil.copy2(reference / "failures" / f"{failed}.json", out / "failures" / f"{failed}.json")
    return kept, failed


def _metrics(folder: Path) -> dict[str, dict]:
    return {
        rid: json.loads((folder / "runs" / rid / "summary.json").read_text())["metrics"]
        for rid in sorted(finished_ids(folder))
    }


def _assert_same_results(ref: Path, out: Path) -> None:
    """Per-run numbers equal value by value; only the runs' own wall time may differ."""
    ref_metrics, out_metrics = _metrics(ref), _metrics(out)
    assert sorted(out_metrics) == sorted(ref_metrics) and len(ref_metrics) == 4
    for rid, metrics in ref_metrics.items():
        assert out_metrics[rid].keys() == metrics.keys()
        for key, value in metrics.items():
            assert out_metrics[rid][key] == value, (rid, key)  # exact, not approximate
    collect(out)
    runs_ref = pd.read_parquet(ref / "runs.parquet").set_index("run_id").sort_index()
    runs_out = pd.read_parquet(out / "runs.parquet").set_index("run_id").sort_index()
    timing = ["wall_seconds"]
    pd.testing.assert_frame_equal(
        runs_out.drop(columns=timing), runs_ref.drop(columns=timing), check_exact=True
    )
    assert (runs_out["status"] == "failed").sum() == 2
    ts_ref = pd.read_parquet(ref / "timeseries.parquet")
    ts_out = pd.read_parquet(out / "timeseries.parquet")
    sort = ["run_id", "week", "metric"]
    pd.testing.assert_frame_equal(
        ts_out.sort_values(sort).reset_index(drop=True),
        ts_ref.sort_values(sort).reset_index(drop=True),
        check_exact=True,
    )


def _check_slurm_job(fake: Path, out: Path) -> None:
    """The job script the stand-in sbatch received: one array, carenet's defaults."""
    scripts = sorted((fake / "jobs").glob("*.sh"))
    assert len(scripts) == 1, "one sweep = one SLURM job array"
    script = scripts[0].read_text()
    opts = json.loads(scripts[0].with_suffix(".json").read_text())["options"]
    # One task per run left to do: 6 planned, 1 already finished (not launched again);
    # 5 < 64, so all at once.
    assert opts["array"] == "0-4%5"
    assert opts["time"] == "60" and opts["cpus-per-task"] == "1" and opts["mem"] == "4GB"
    assert opts["job-name"] == "carenet" and opts["nodes"] == "1"
    submitit_dir = out.resolve() / ".hydra" / ".submitit"
    assert opts["output"] == f"{submitit_dir}/%A_%a/%A_%a_0_log.out"
    venv_activate = Path(sys.prefix) / "bin" / "activate"
    assert f"\n# setup\nsource {venv_activate}\n" in script
    srun = [line for line in script.splitlines() if line.startswith("srun ")]
    assert len(srun) == 1 and "-m submitit.core._submit" in srun[0]
    assert srun[0].split(" -u -m ")[0].endswith(sys.executable)
    # The result file comes before the task's exit: give the stand-in a moment to record it.
    # Wait until every task has reached a final state (PENDING and RUNNING are not), not
    # merely until the set of states changes.
    final = {"COMPLETED", "FAILED"}
    deadline = time.monotonic() + 60
    while True:
        states = {p.read_text() for p in sorted((fake / "state").iterdir())}
        if states <= final or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert states == {"COMPLETED"}  # failing runs are recorded by carenet, not job failures


# --- the test ---------------------------------------------------------------------------

LAUNCHERS = {
    "local": ["hydra/launcher=local", "hydra.launcher.n_jobs=2"],
    "local_serial": ["hydra/launcher=local", "hydra.launcher.n_jobs=1"],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local"],
    "slurm": ["hydra/launcher=slurm"],
    "ray_local": ["hydra/launcher=ray"],
    "ray_cluster": ["hydra/launcher=ray"],  # + the address of the head this module starts
}


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_same_seed_same_results_across_launchers(
    launcher: str,
    reference: Path,
    rule: Path,
    base_env: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    out = tmp_path / "sweep"
    kept, failed = _seed_from_reference(reference, out)
    kept_manifest = (out / "runs" / kept / "manifest.json").read_bytes()
    old_failure = json.loads((out / "failures" / f"{failed}.json").read_text())
    env = dict(base_env)
    args = ["run", "-m", *_sweep(rule), f"out={out}", *LAUNCHERS[launcher]]
    if launcher == "slurm":
        fake = tmp_path / "fake_slurm"
        fake.mkdir()
        env["PATH"] = f"{FAKE_SLURM}{os.pathsep}{env['PATH']}"
        env["FAKE_SLURM_DIR"] = str(fake)
    if launcher == "ray_cluster":
        args.append(f"hydra.launcher.ray.init.address={request.getfixturevalue('ray_head')}")

    r = _carenet(args, tmp_path, env)

    detail = f"stdout:\n{r.stdout}\nstderr:\n{r.stderr[-4000:]}"
    assert r.returncode == 1, detail  # two runs fail by design
    assert "4/6 runs finished (1 already there), 2 failed, 0 missing" in r.stdout, detail
    _assert_same_results(reference, out)
    # Resume: the finished run was skipped, not run again.
    assert (out / "runs" / kept / "manifest.json").read_bytes() == kept_manifest
    # Failures: the same runs, the same error; the recorded one was retried.
    records = failed_records(out)
    assert records.keys() == failed_records(reference).keys()
    for rec in records.values():
        # The model names the rule and the method that raised, then the exception.
        assert rec["error"] == (
            "RuleError: power rule FailsInNetworks.data_sharing (organisation 0, week 0) "
            "raised RuntimeError: injected failure: no hierarchy lines"
        )
        assert "Traceback" in rec["traceback"] and rec["seed"] is not None
    assert records[failed]["time"] > old_failure["time"]
    assert r.stderr.count("injected failure") >= 4  # as they happened, and listed at the end
    manifest = json.loads((out / "sweep.json").read_text())
    name = LAUNCHERS[launcher][0].split("=", 1)[1]
    assert [i["launcher"] for i in manifest["invocations"]] == ["basic", name]
    if launcher == "slurm":
        _check_slurm_job(fake, out)


# --- launcher settings, without starting anything ------------------------------------------


def test_ray_init_arguments_start_here_only_without_an_address():
    from omegaconf import OmegaConf

    from hydra_plugins.carenet_launchers.ray_launcher import init_arguments

    cfg = OmegaConf.create(
        {"init": {"address": None, "namespace": "n"}, "local": {"num_cpus": 2}, "remote": {}}
    )
    assert init_arguments(cfg, environ={}) == {"namespace": "n", "num_cpus": 2}
    # Attaching: Ray refuses resource arguments, so the local ones are left out.
    assert init_arguments(cfg, environ={"RAY_ADDRESS": "h:6379"}) == {"namespace": "n"}
    cfg.init.address = "127.0.0.1:6379"
    assert init_arguments(cfg, environ={}) == {"address": "127.0.0.1:6379", "namespace": "n"}


def test_slurm_setup_line_activates_this_environment():
    from hydra_plugins.carenet_launchers import env_setup_line

    line = env_setup_line()
    if sys.prefix != sys.base_prefix:  # a virtual environment, as in CI
        assert line == f"source {Path(sys.prefix) / 'bin' / 'activate'}"
    else:
        assert sys.prefix in line or str(Path(sys.executable).parent) in line


def test_submitit_slurm_names_carenets_slurm_preset(tmp_path):
    from carenet.sim.sweep import launcher_overrides, plan_sweep

    plan = plan_sweep(
        [
            "structure=hierarchy,network",
            "population=small",
            "organisations=small",
            "steps=2",
            "warmup_weeks=0",
            f"out={tmp_path / 'sw'}",
            "hydra/launcher=submitit_slurm",
            "hydra.launcher.partition=short",
        ]
    )
    ovs = launcher_overrides(plan)
    assert "hydra/launcher=slurm" in ovs
    assert "hydra/launcher=submitit_slurm" not in ovs
    assert "hydra.launcher.partition=short" in ovs


def test_sweeps_use_carenets_sweeper_which_does_not_compose_jobs_twice(tmp_path):
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    from carenet.sim.sweep import launcher_overrides, plan_sweep
    from hydra_plugins.carenet_launchers.sweeper import CarenetSweeper

    plan = plan_sweep(
        [
            "seed=1,2",
            "population=small",
            "organisations=small",
            "steps=2",
            "warmup_weeks=0",
            f"out={tmp_path}",
        ]
    )
    assert "hydra/sweeper=carenet" in launcher_overrides(plan)
    user = plan_sweep(
        ["seed=1,2", "steps=2", "warmup_weeks=0", f"out={tmp_path / 'b'}", "hydra/sweeper=basic"]
    )
    assert "hydra/sweeper=carenet" not in launcher_overrides(user)
    # Hydra's own check composes every job before launch (here it fails: no config
    # loader); carenet's returns at once, as its plan has already composed every job.
    bare = object.__new__(CarenetSweeper)
    assert bare.validate_batch_is_legal([["seed=1"], ["seed=2"]]) is None
    with pytest.raises(AttributeError):
        BasicSweeper.validate_batch_is_legal(bare, [["seed=1"]])


# --- carenet's config loader: Hydra's job configurations, composed once ------------------

JOBS = [
    ["seed=1", "population=small", "+replication=0"],
    ["seed=2", "population=small", "+replication=1", "steps=10", "warmup_weeks=0"],
    ["population=small", "seed=5", "population.size=1000"],
    ["+power_rule.params.k=3", "seed=4"],
    ["structure=network", "steps=10", "warmup_weeks=0", "figures=false", "out='/tmp/a b'"],
    ["++seed=3", "seed=4"],  # composed by Hydra: the same key fixed and set
    ["population.stratum_shares=[0.25,0.25,0.25,0.25]"],  # a list: Hydra's override code
]


@pytest.fixture(scope="module")
def hydra_loader():
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.types import RunMode

    from carenet.sim.config import _register_schemas

    _register_schemas()
    inner = ConfigLoaderImpl(config_search_path=create_config_search_path("pkg://carenet.configs"))
    master = inner.load_configuration(
        "config",
        overrides=["hydra/launcher=local", "hydra/sweeper=carenet", "hydra.job.chdir=false"],
        run_mode=RunMode.MULTIRUN,
    )
    return inner, master


@pytest.mark.parametrize("planned", [False, True], ids=["fresh", "after-plan"])
def test_planned_loader_gives_hydras_job_configurations(hydra_loader, planned):
    from omegaconf import OmegaConf

    from carenet.sim.config import compose_many
    from hydra_plugins.carenet_launchers.sweeper import PlannedConfigLoader

    inner, master = hydra_loader
    compose_many([[ov for ov in job if not ov.startswith("+replication")] for job in JOBS])
    if not planned:
        compose_many([["seed=9"]])  # the plan's compositions are not these jobs'
    loader = PlannedConfigLoader(inner)
    for job in JOBS:
        want = OmegaConf.to_container(inner.load_sweep_config(master, list(job)))
        got = loader.load_sweep_config(master, list(job))
        assert OmegaConf.to_container(got) == want, job
        data = loader.load_sweep_data(master, job)
        want.pop("hydra")
        assert data == want, job
        data["seed"] = -1  # the job's own copy
        assert loader.load_sweep_data(master, job)["seed"] != -1


def test_planned_loader_never_reuses_another_sweeps_compositions(hydra_loader):
    from hydra_plugins.carenet_launchers import sweeper

    inner, master = hydra_loader
    a, b = sweeper.PlannedConfigLoader(inner), sweeper.PlannedConfigLoader(inner)
    assert a.token != b.token
    a.load_sweep_config(master, ["structure=network"])
    assert {k[0] for k in sweeper._BASES} == {a.token}
    b.load_sweep_config(master, ["structure=network"])
    assert {k[0] for k in sweeper._BASES} == {b.token}


def test_local_launcher_is_the_sweep_default(tmp_path):
    from carenet.sim.sweep import DEFAULT_LAUNCHER, launcher_overrides, plan_sweep

    plan = plan_sweep(["seed=1,2", "steps=2", "warmup_weeks=0", f"out={tmp_path}"])
    assert DEFAULT_LAUNCHER == "local" and plan.launcher == "local"
    assert "hydra/launcher=local" in launcher_overrides(plan)


def test_local_launcher_under_hydras_own_sweeper_gives_the_same_runs(tmp_path):
    """With ``hydra/sweeper=basic`` the local launcher composes through Hydra's loader."""
    common = ["seed=1,2", *TINY, "hydra/launcher=local", "hydra.launcher.n_jobs=1"]
    ours = plan_sweep([*common, f"out={tmp_path / 'a'}"])
    hydras = plan_sweep([*common, f"out={tmp_path / 'b'}", "hydra/sweeper=basic"])
    for plan in (ours, hydras):
        assert run_sweep(plan)["counts"]["finished"] == 2
    assert finished_ids(ours.out) == finished_ids(hydras.out) == set(ours.run_ids)
    for rid in ours.run_ids:
        a = json.loads((ours.out / "runs" / rid / "summary.json").read_text())
        b = json.loads((hydras.out / "runs" / rid / "summary.json").read_text())
        assert a == b


# --- designs through the cluster launchers -------------------------------------------------


@pytest.mark.parametrize("launcher", ["slurm", "ray_local"])
def test_a_design_gives_the_same_results_under_slurm_and_ray(
    launcher: str, base_env: dict[str, str], tmp_path: Path
) -> None:
    """A design's points run as the sweep's scenarios, so any launcher runs them alike."""
    import pandas as pd

    from tests.sim.design_fixtures import run_design, write_design

    f = write_design(tmp_path, n=2)  # 2 x (3 + 2) = 10 points
    local = tmp_path / "local"
    run_design(f, local, "replications=1")
    collect(local)
    out = tmp_path / "out"
    env = dict(base_env)
    if launcher == "slurm":
        fake = tmp_path / "fake_slurm"
        fake.mkdir()
        env["PATH"] = f"{FAKE_SLURM}{os.pathsep}{env['PATH']}"
        env["FAKE_SLURM_DIR"] = str(fake)
    args = ["run", "-m", f"design={f}", "replications=1", f"out={out}", "progress=false"]
    args += LAUNCHERS[launcher]
    r = _carenet(args, tmp_path, env)
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr[-4000:]}"
    collect(out)
    cols = ["run_id", "design_point", "y"]
    a = pd.read_parquet(local / "runs.parquet")[cols].sort_values("run_id")
    b = pd.read_parquet(out / "runs.parquet")[cols].sort_values("run_id")
    assert len(a) > 0
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
