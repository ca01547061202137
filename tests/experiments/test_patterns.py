from carenet.experiments import patterns


def test_every_pattern_gets_a_verdict_with_its_evidence(capsys):
    rc = patterns.main(["--reps", "2", "--jobs", "1", "population.size=3000", "steps=8"])
    assert rc == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("- **")]
    assert len(lines) == len(patterns.PATTERNS)
    for ln in lines:
        assert ": holds.**" in ln or ": does not hold.**" in ln


def test_contracting_verdict_compares_paired_transaction_shares():
    seeds = [1, 2]
    v = patterns.contracting(
        ["population=small", "organisations=small", "population.size=3000", "steps=8"], seeds, 1
    )
    assert "transaction share" in v.evidence and "paired difference" in v.evidence
