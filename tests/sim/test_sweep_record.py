"""One reader of sweep.json: resume, collect and report refuse a damaged one alike."""

from __future__ import annotations

import json

import pytest

from carenet.sim.collect import SWEEP_NOTE, CollectError, read_sweep_strict
from carenet.sim.sweep import RESUME_NOTE, SweepError, load_sweep

GOOD = {"kind": "carenet-sweep", "runs": [{"run_id": "a"}], "swept": []}


@pytest.mark.parametrize(
    "text",
    [
        '{"kind": "carenet-sweep", "runs": [',  # truncated
        "\xff\xfe",  # not text
        json.dumps({"runs": []}),  # no kind
        json.dumps({**GOOD, "runs": {"a": 1}}),  # runs not a list
        json.dumps({**GOOD, "runs": [{"id": "a"}]}),  # a run without its id
        json.dumps({**GOOD, "swept": [{"key": "seed"}]}),  # swept without values
        json.dumps([1, 2]),
    ],
)
def test_a_damaged_record_is_refused_with_each_readers_note(tmp_path, text):
    (tmp_path / "sweep.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(SweepError) as resume:
        load_sweep(tmp_path)
    with pytest.raises(CollectError) as collect:
        read_sweep_strict(tmp_path)
    for exc, note in ((resume.value, RESUME_NOTE), (collect.value, SWEEP_NOTE)):
        line = str(exc)
        assert "\n" not in line and line.startswith(str(tmp_path / "sweep.json"))
        assert line.endswith(note)


def test_a_good_record_is_read_and_none_is_none(tmp_path):
    assert load_sweep(tmp_path) is None and read_sweep_strict(tmp_path) is None
    (tmp_path / "sweep.json").write_text(json.dumps(GOOD))
    assert load_sweep(tmp_path) == GOOD == read_sweep_strict(tmp_path)
