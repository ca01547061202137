import json

import pandas as pd

from tests.cli import carenet

SMALL = [
    "population=small",
    "organisations=small",
    "population.size=4000",
    "steps=6",
    "warmup_weeks=0",
]


def test_reproduce_confirms_an_untouched_run_and_catches_an_edited_one(tmp_path):
    out = tmp_path / "run"
    r = carenet("run", *SMALL, f"out={out}", "progress=false", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ok = carenet("reproduce", str(out), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "reproduced exactly" in ok.stdout
    # Tamper with one saved number: reproduce must notice and name it.
    summary = json.loads((out / "summary.json").read_text())
    summary["metrics"]["qalys_gained"] += 1.0
    (out / "summary.json").write_text(json.dumps(summary))
    ts = pd.read_parquet(out / "timeseries.parquet")
    ts.loc[3, "cost_direct"] += 1.0
    ts.to_parquet(out / "timeseries.parquet", index=False)
    bad = carenet("reproduce", str(out), cwd=tmp_path)
    assert bad.returncode == 1
    assert "summary qalys_gained" in bad.stdout
    assert "timeseries cost_direct: first differs at week 3" in bad.stdout


def test_reproduce_refuses_a_folder_without_a_finished_run(tmp_path):
    r = carenet("reproduce", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("carenet: error: reproduce:")
    assert "Traceback" not in r.stderr
