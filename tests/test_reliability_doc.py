"""docs/reliability.md and the fault suite agree, both ways.

Every row of the document's tables names a test that exists, and every test in a
``test_faults_*.py`` file is named by at least one row, so the list of bad inputs and faults
that are tested, and what each gets, cannot drift from the tests themselves.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
NODE = re.compile(r"`?(tests/[\w/]+\.py)::(\w+)(?:\[[^\]]*\])?`?")


def _rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        # Cells split at unescaped bars (a command may hold a shell pipe, written \\|).
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if cells and cells[0].lower() == "case":
            continue
        rows.append(cells)
    return rows


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")
    }


def test_every_row_names_a_test_that_exists():
    rows = _rows()
    assert len(rows) >= 100, f"docs/reliability.md lists only {len(rows)} cases"
    for cells in rows:
        assert len(cells) == 4, f"a row needs case | command | what it gets | test: {cells}"
        found = NODE.findall(cells[3])
        assert found, f"no test node id in {cells[3]!r}"
        for file, name in found:
            assert (ROOT / file).is_file(), f"{file} (named in docs/reliability.md) is missing"
            assert name in _tests_in(ROOT / file), f"{file}::{name} does not exist"


def test_every_fault_test_is_listed():
    named = {(f, n) for cells in _rows() for f, n in NODE.findall(cells[3])}
    for path in sorted((ROOT / "tests").rglob("test_faults_*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for name in sorted(_tests_in(path)):
            assert (rel, name) in named, f"{rel}::{name} is not listed in docs/reliability.md"
