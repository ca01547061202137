"""Bad input as a user types it: one line, exit 2, no traceback, nothing written.

Each case runs the installed command in a subprocess. The checks are the ones every bad
input must meet, whatever its message: exit code 2, exactly one line on stderr that starts
with ``carenet: error:`` and names the offending key or thing, no traceback, and no folder
that looks like a finished result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import carenet

SMALL = (
    "population=small",
    "organisations=small",
    "steps=4",
    "warmup_weeks=0",
    "progress=false",
    "figures=false",
)
RULES = Path(__file__).resolve().parent.parent / "models" / "user_rules" / "cautious_rules.py"

# (case id, arguments after ``carenet run``, text the one line must contain)
RUN_CASES: list[tuple[str, list[str], str]] = [
    ("negative_population", ["population.size=-5"], "population.size"),
    ("text_population", ["population.size=abc"], "population.size"),
    ("fractional_population", ["population.size=1.5"], "population.size"),
    ("huge_population", ["population.size=99999999999"], "population.size"),
    ("zero_steps", ["steps=0"], "steps"),
    ("negative_steps", ["steps=-1"], "steps"),
    ("text_steps", ["steps=abc"], "steps"),
    ("too_many_steps", ["steps=100000"], "steps"),
    ("negative_seed", ["seed=-1"], "seed"),
    ("text_seed", ["seed=abc"], "seed"),
    ("zero_replications", ["replications=0"], "replications"),
    ("negative_replications", ["replications=-2"], "replications"),
    ("unknown_structure", ["structure=nope"], "structure"),
    ("unknown_power_rule", ["power_rule=nope"], "power_rule"),
    ("unknown_response", ["response=nope"], "response"),
    ("unknown_scenario", ["scenario=nope"], "scenario"),
    ("unknown_population", ["population=nope"], "population"),
    ("unknown_organisations", ["organisations=nope"], "organisations"),
    ("unknown_costs", ["costs=nope"], "costs"),
    ("unknown_handoff_group", ["handoff=nope"], "handoff"),
    ("misspelt_key", ["population.sizee=5"], "population.sizee"),
    ("unknown_top_key", ["nosuchkey=1"], "nosuchkey"),
    ("unknown_nested_key", ["structure.nope=1"], "structure.nope"),
    ("probability_above_one", ["handoff.cold_fail=1.5"], "handoff.cold_fail"),
    ("probability_below_zero", ["handoff.cold_fail=-0.1"], "handoff.cold_fail"),
    ("probability_nan", ["handoff.cold_fail=nan"], "handoff.cold_fail"),
    ("probability_inf", ["handoff.cold_fail=inf"], "handoff.cold_fail"),
    ("probability_text", ["handoff.cold_fail=high"], "handoff.cold_fail"),
    ("unknown_choice", ["structure.initial_ties=hexagon"], "structure.initial_ties"),
    ("bool_text", ["structure.hierarchy=maybe"], "structure.hierarchy"),
    ("overwrite_text", ["overwrite=maybe"], "overwrite"),
    ("progress_number", ["progress=2"], "progress"),
    ("zero_localities", ["population.localities=0"], "population.localities"),
    ("zero_gp_practices", ["organisations.n_gp=0"], "organisations.n_gp"),
    ("negative_threshold", ["costs.threshold_gbp_per_qaly=-1"], "costs.threshold_gbp_per_qaly"),
    ("negative_lead_time", ["response.contract_lead_time_weeks=-3"], "contract_lead_time_weeks"),
    ("list_for_scalar", ["steps=[1,2]"], "steps"),
    ("dict_for_scalar", ["steps={a:1}"], "steps"),
    ("group_given_a_value", ["structure.hierarchy=[true]"], "structure.hierarchy"),
    ("empty_value_for_int", ["steps="], "steps"),
    ("missing_equals", ["steps"], "steps"),
    ("empty_key", ["=5"], "=5"),
    ("unbalanced_bracket", ["structure.mean_degree=[1,2"], "structure.mean_degree"),
    ("unbalanced_quote", ["out='abc"], "out"),
    ("comma_in_out", ["out=a,b"], "out"),
    ("plus_existing_key", ["+steps=3"], "steps"),
    ("delete_required_key", ["~steps"], "steps"),
    ("rule_file_missing", ["power_rule._target_=/nonexistent/rules.py:Rule"], "power_rule"),
    ("rule_module_missing", ["power_rule._target_=no_such_module_xyz:Rule"], "power_rule"),
    ("rule_class_missing", [f"power_rule._target_={RULES}:NoSuchRule"], "NoSuchRule"),
    ("rule_not_a_class", ["power_rule._target_=os.path:sep"], "power_rule"),
    ("rule_no_colon", ["power_rule._target_=justaname"], "power_rule"),
    ("shock_beyond_run", ["steps=26", "scenario.shocks=[{kind:org_failure,at_week:104}]"], "week"),
    ("budget_cut_at_last_week", ["scenario.shocks=[{kind:budget_cut,at_week:4}]"], "at_week"),
    ("too_many_failures", ["scenario=random_failure", "scenario.shocks.0.count=500"], "count"),
    ("too_many_hubs", ["response=network", "response.hub_count=900"], "hub_count"),
    ("multirun_bad_value", ["-m", "steps=0,1"], "steps"),
    ("multirun_bad_group", ["-m", "structure=network,nope"], "structure"),
    ("multirun_zero_jobs", ["-m", "seed=1,2", "hydra.launcher.n_jobs=0"], "n_jobs"),
    ("unknown_launcher", ["-m", "seed=1,2", "hydra/launcher=nope"], "launcher"),
]


def _assert_one_line(r, code: int, needle: str) -> None:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("carenet: error: "), lines[0]
    assert needle in lines[0], lines[0]


def _assert_nothing_finished(folder: Path) -> None:
    if folder.exists():
        assert not list(folder.rglob("manifest.json")), sorted(folder.rglob("*"))


@pytest.mark.parametrize(
    ("args", "needle"), [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES]
)
def test_bad_run_input_gets_one_line_and_writes_nothing(args, needle, tmp_path):
    out = tmp_path / "o"
    has_out = any(a.startswith("out=") for a in args)
    extra = [] if has_out else [f"out={out}"]
    flags = [a for a in args if a.startswith("-")]
    rest = [a for a in args if not a.startswith("-")]
    # The case's own values come last, so that SMALL never overrides them.
    r = carenet("run", *flags, *SMALL, *rest, *extra, cwd=tmp_path)
    _assert_one_line(r, 2, needle)
    _assert_nothing_finished(out)
    assert not (tmp_path / "outputs").exists() or not list(
        (tmp_path / "outputs").rglob("manifest.json")
    )


def _folders(tmp_path: Path) -> dict[str, Path]:
    """Folders of the kinds a user might point a command at by mistake."""
    empty = tmp_path / "empty"
    empty.mkdir()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "manifest.json").write_text("{not json")
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "manifest.json").write_text(json.dumps({"status": "running"}))
    return {
        "missing": tmp_path / "missing",
        "empty": empty,
        "user_files": mine,
        "a_file": a_file,
        "corrupt_manifest": garbage,
        "incomplete_manifest": incomplete,
    }


KINDS = ["missing", "empty", "user_files", "a_file", "corrupt_manifest", "incomplete_manifest"]


@pytest.mark.parametrize("command", ["collect", "report", "reproduce"])
@pytest.mark.parametrize("kind", KINDS)
def test_result_commands_refuse_a_folder_that_is_not_a_result(command, kind, tmp_path):
    folder = _folders(tmp_path)[kind]
    before = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    r = carenet(command, str(folder), cwd=tmp_path)
    _assert_one_line(r, 2, folder.name)
    after = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert after == before, "a refused command must leave every file as it was"


# (case id, whole command line, text the one line must contain)
CLI_CASES: list[tuple[str, list[str], str]] = [
    ("unknown_command", ["frobnicate"], "frobnicate"),
    ("unknown_run_flag", ["run", "--nosuchflag"], "--nosuchflag"),
    ("collect_without_folder", ["collect"], "DIR"),
    ("report_without_folder", ["report"], "DIR"),
    ("reproduce_without_folder", ["reproduce"], "DIR"),
    ("unknown_docs_flag", ["docs", "--nosuch"], "--nosuch"),
    ("unknown_bench_flag", ["bench", "--nosuch"], "--nosuch"),
    ("unknown_report_flag", ["report", "x", "--nosuch"], "--nosuch"),
]


@pytest.mark.parametrize(
    ("argv", "needle"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_bad_command_line_gets_one_line(argv, needle, tmp_path):
    r = carenet(*argv, cwd=tmp_path)
    _assert_one_line(r, 2, needle)


def test_output_piped_into_a_reader_that_stops_early_is_quiet(tmp_path):
    """``carenet ... | head``: the closed pipe ends the command without a traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "carenet", "run", "--help"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.read(10)
    proc.stdout.close()  # the reader goes away before the command has written everything
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
