"""``carenet docs`` never replaces a user's file and fails with one line."""

from __future__ import annotations

from tests.cli import carenet


def _one_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr
    return lines[0]


def test_docs_into_a_file_is_refused(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    r = carenet("docs", "--out", str(target), cwd=tmp_path)
    assert r.returncode == 2
    assert "is a file" in _one_line(r)
    assert target.read_text() == "mine"


def test_docs_never_replace_a_users_own_model_md(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "model.md").write_text("my own notes")
    r = carenet("docs", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2
    assert "was not written by carenet docs" in _one_line(r)
    assert (out / "model.md").read_text() == "my own notes"
    assert not (out / "parameters.md").exists()


def test_docs_written_twice_replace_only_their_own_files(tmp_path):
    out = tmp_path / "d"
    assert carenet("docs", "--out", str(out), cwd=tmp_path).returncode == 0
    first = (out / "model.md").read_text()
    r = carenet("docs", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out / "model.md").read_text() == first
    assert sorted(p.name for p in out.iterdir()) == ["model.md", "parameters.md"]
