from carenet.experiments import arrangements


def test_arrangements_prints_a_row_per_metric_and_a_column_per_arrangement(capsys):
    rc = arrangements.main(
        [
            "--reps",
            "2",
            "--jobs",
            "1",
            "population=small",
            "organisations=small",
            "population.size=3000",
            "steps=6",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    for name in arrangements.ARRANGEMENTS:
        assert name in header
    for _, label, _, _ in arrangements.METRICS:
        assert f"| {label} |" in out
    assert "±" in out  # two replications give an interval


def test_arrangements_rejects_a_bad_override_with_one_line(capsys):
    rc = arrangements.main(["--reps", "1", "--jobs", "1", "steps=abc"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("carenet: error: steps") and "\n" not in err
