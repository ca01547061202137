"""The layers import downwards only (docs/architecture.md).

Read from the source (every import statement, also those inside functions), so a lazy
import cannot hide a dependency that goes the wrong way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# folder (package) -> packages its modules must not import
RULES = {
    "sim": ("carenet.models", "carenet.tools", "carenet.viz", "carenet.experiments"),
    "models": ("carenet.sim", "carenet.tools", "carenet.viz", "carenet.experiments"),
    "carenet/params.py": ("carenet.sim", "carenet.models"),
    "carenet/spec.py": ("carenet.sim", "carenet.models"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value))
            elif isinstance(arg, ast.JoinedStr) and arg.values:
                head = arg.values[0]
                if isinstance(head, ast.Constant):
                    found.append((node.lineno, str(head.value)))
    return found


@pytest.mark.parametrize("where", list(RULES))
def test_no_import_goes_up_a_layer(where):
    target = ROOT / where
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {name}"
        for p in files
        for line, name in _imports(p)
        if any(name == f or name.startswith(f + ".") for f in RULES[where])
    ]
    assert not bad, "\n".join(bad)
