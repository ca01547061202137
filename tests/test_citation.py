"""CITATION.cff: valid Citation File Format 1.2.0, its version the package's, pointed to."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CFF = ROOT / "CITATION.cff"


def _cffconvert() -> str:
    exe = shutil.which("cffconvert") or str(Path(sys.executable).with_name("cffconvert"))
    if not Path(exe).exists():
        pytest.fail("cffconvert is not installed: pip install -e '.[test]'")
    return exe


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_cffconvert(), "--validate", "-i", str(path)], capture_output=True, text=True
    )


def test_citation_cff_is_valid_cff_1_2_0() -> None:
    done = _validate(CFF)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout and "1.2.0" in done.stdout


def test_the_validator_rejects_a_broken_copy(tmp_path: Path) -> None:
    bad = tmp_path / "CITATION.cff"  # "title" is required; "titel" is no CFF key
    bad.write_text(
        CFF.read_text(encoding="utf-8").replace("\ntitle:", "\ntitel:"), encoding="utf-8"
    )
    assert _validate(bad).returncode != 0


def test_version_matches_the_package() -> None:
    import yaml

    cff = yaml.safe_load(CFF.read_text(encoding="utf-8"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert str(cff["version"]) == pyproject["project"]["version"]
    from carenet import __version__

    assert str(cff["version"]) == __version__


@pytest.mark.parametrize("doc", ["README.md", "docs/odd/0-introduction.md", "docs/model.md"])
def test_readme_and_odd_point_to_it(doc: str) -> None:
    assert "CITATION.cff" in (ROOT / doc).read_text(encoding="utf-8")
