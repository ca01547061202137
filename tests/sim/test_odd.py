"""The generated documentation (docs/model.md, docs/parameters.md) matches the code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import carenet
from carenet.models.power import RULES
from carenet.tools import odd

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
STALE = "docs are out of date: run `carenet docs` and commit docs/{name}"


@pytest.fixture(scope="module")
def model_md() -> str:
    return odd.render_odd()


@pytest.fixture(scope="module")
def parameters_md() -> str:
    return odd.render_parameters()


def test_committed_model_md_is_up_to_date(model_md: str) -> None:
    on_disk = (DOCS / "model.md").read_text(encoding="utf-8")
    assert on_disk == model_md, STALE.format(name="model.md")


def test_committed_parameters_md_is_up_to_date(parameters_md: str) -> None:
    on_disk = (DOCS / "parameters.md").read_text(encoding="utf-8")
    assert on_disk == parameters_md, STALE.format(name="parameters.md")


def test_rendering_is_deterministic(model_md: str, parameters_md: str) -> None:
    assert odd.render_odd() == model_md
    assert odd.render_parameters() == parameters_md


def test_every_schema_parameter_key_is_in_parameters_md(parameters_md: str) -> None:
    missing = [k for k in odd.all_param_keys() if f"`{k}`" not in parameters_md]
    assert not missing, f"parameters missing from parameters.md: {missing}"


def test_every_group_option_is_listed(parameters_md: str) -> None:
    from carenet.sim.config import GROUPS, group_options

    for group in GROUPS:
        section = parameters_md.split(f"\n## {group}\n", 1)[1].split("\n## ", 1)[0]
        for opt in group_options(group):
            assert f"| `{opt}`" in section, f"{group}={opt} not listed"


def test_every_step_stage_is_in_model_md(model_md: str) -> None:
    stages = odd.step_stages()
    assert len(stages) >= 5, "could not read the stages from CareSystemModel.step"
    for i, stage in enumerate(stages, 1):
        assert f"| {i} | {stage} |" in model_md, f"stage {stage!r} missing from model.md"
        assert f"**{stage}**" in model_md


def test_every_registered_rule_is_described(model_md: str) -> None:
    for name, cls in RULES.items():
        assert f"#### `{name}`" in model_md, f"rule {name!r} has no section in model.md"
        if cls is not None:
            summary = odd.doc_parts(cls)[0].split("\n")[0]
            assert summary and summary in model_md


def test_every_named_stream_is_documented(model_md: str) -> None:
    streams = odd.stream_calls()
    assert {"demand", "handoff", "health"} <= set(streams)
    for name in streams:
        assert f"| `{name}` |" in model_md
    assert "not yet described" not in model_md


def test_odd_has_all_sections(model_md: str) -> None:
    for heading in (
        "## 1. Purpose and patterns",
        "## 2. Entities, state variables and scales",
        "## 3. Process overview and scheduling",
        "## 4. Design concepts",
        "## 5. Initialization",
        "## 6. Input data",
        "## 7. Submodels",
        "## How to cite",
    ):
        assert heading in model_md
    for concept in (
        "Basic principles",
        "Emergence",
        "Adaptation",
        "Objectives",
        "Learning",
        "Prediction",
        "Sensing",
        "Interaction",
        "Stochasticity",
        "Collectives",
        "Observation",
    ):
        assert f"### {concept}\n" in model_md


def test_output_carries_no_paths_or_dates(model_md: str, parameters_md: str) -> None:
    for text in (model_md, parameters_md):
        assert str(ROOT) not in text
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text)
        assert not re.search(r"\b[0-9a-f]{40}\b", text)


def test_template_naming_a_missing_parameter_fails() -> None:
    with pytest.raises(odd.DocsError, match="handoff.no_such_key"):
        odd.fill("uses [[handoff.no_such_key]]")
    with pytest.raises(odd.DocsError, match="no_such_method"):
        odd.fill("see [[@model.CareSystemModel.no_such_method]]")
    assert "(default 0.25)" in odd.fill("[[handoff.cold_fail=]]")


def test_cmd_docs_writes_then_checks(tmp_path: Path) -> None:
    assert odd.cmd_docs(SimpleNamespace(out=tmp_path, check=False)) == 0
    assert (tmp_path / "model.md").read_text(encoding="utf-8") == odd.render_odd()
    assert odd.cmd_docs(SimpleNamespace(out=tmp_path, check=True)) == 0
    (tmp_path / "parameters.md").unlink()
    assert odd.cmd_docs(SimpleNamespace(out=tmp_path, check=True)) == 1


TEMPLATES = DOCS / "odd"


def test_templates_leave_no_placeholder_or_reference(model_md: str) -> None:
    for mark in ("{{", "}}", "[[", "]]", "\x00", "not yet described"):
        assert mark not in model_md, f"{mark!r} left in model.md"


def test_every_placeholder_is_used_by_a_template() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in TEMPLATES.glob("*.md"))
    unused = [n for n in odd.PLACEHOLDERS if not re.search(r"\{\{ *" + n + r"\b", text)]
    assert not unused, f"placeholders no template uses: {unused}"


def test_every_template_is_rendered_in_order(model_md: str) -> None:
    heads = [
        p.read_text(encoding="utf-8").splitlines()[0]
        for p in sorted(TEMPLATES.glob("[0-9]*-*.md"), key=lambda p: int(p.name.split("-")[0]))
    ]
    where = [model_md.index(h + "\n") for h in heads]
    assert len(heads) >= 9 and where == sorted(where)


def test_template_naming_an_unknown_placeholder_fails(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    shutil.copytree(TEMPLATES, folder)
    assert odd.render_odd(folder) == odd.render_odd()
    with (folder / "6-input-data.md").open("a", encoding="utf-8") as fh:
        fh.write("\nSee {{ no_such_block }}.\n")
    with pytest.raises(odd.DocsError, match=r"6-input-data\.md names placeholder.*no_such_block"):
        odd.render_odd(folder)


def test_malformed_placeholders_and_stale_descriptions_fail() -> None:
    with pytest.raises(odd.DocsError, match="unclosed or malformed"):
        odd.render_template("carenet {{ version", "x.md")
    with pytest.raises(odd.DocsError, match="no_such_stream"):
        odd.render_template("{{ streams\n- `no_such_stream`: gone\n}}", "x.md")
    with pytest.raises(odd.DocsError, match="no_such_state"):
        odd.render_template("{{ system_state\n- `no_such_state`: gone\n}}", "x.md")
    with pytest.raises(odd.DocsError, match="no_such_field"):
        odd.render_template("{{ episode_fields\n- `no_such_field`: gone\n}}", "x.md")
    with pytest.raises(odd.DocsError, match="assignment 'mixed'"):
        odd.render_template("{{ rules }}", "x.md")
    with pytest.raises(odd.DocsError, match="NoSuchClass"):
        odd.render_template("{{ doc:power.NoSuchClass }}", "x.md")
    with pytest.raises(odd.DocsError, match="is not '- `name`: description'"):
        odd.render_template("{{ streams\nno list here\n}}", "x.md")


def test_template_rendering_keeps_tables_code_and_list_items() -> None:
    text = odd.render_template(
        "A {{ version }}\nwrapped line.\n\n| a |\n|---|\n\n```text\nkeep\nlines\n```\n\n"
        "- item [[seed=]]\n  continued\n- `x`: {{ doc:structure.build_layout }}",
        "x.md",
    )
    lines = text.splitlines()
    assert lines[0] == f"A {carenet.__version__} wrapped line."
    assert lines[2:4] == ["| a |", "|---|"] and lines[5:9] == ["```text", "keep", "lines", "```"]
    assert lines[10] == "- item [`seed`](parameters.md#top-level) (default 12345) continued"
    assert lines[11].startswith("- `x`: ") and all(x.startswith("  ") for x in lines[12:])


def test_odd_pins_no_source_text() -> None:
    src = Path(odd.__file__).read_text(encoding="utf-8")
    assert "_CODE_FACTS" not in src and "getsource" not in src


def test_installed_carenet_writes_the_docs(tmp_path: Path) -> None:
    """A non-editable install ships the templates: `carenet docs` works from the wheel."""
    src, wheels = tmp_path / "src", tmp_path / "wheels"
    # Built from a copy, so that the build leaves nothing in the working tree.
    parts = ("carenet", "sim", "models", "configs", "experiments", "viz", "hydra_plugins", "docs")
    for part in parts:
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, f"cannot build the wheel: {built.stderr[-2000:]}"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    wheel = next(wheels.glob("carenet-*.whl"))
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", wheel], check=True, timeout=300)
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies come from this interpreter's site-packages (added as a plain path, so
    # the editable install's finder there is not loaded).
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (Path(site) / "deps.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")
    out = tmp_path / "d"
    r = subprocess.run(
        [venv / "bin" / "carenet", "docs", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    where = subprocess.run(
        [py, "-c", "import carenet.tools.odd as o; print(o.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(venv) in where, "the installed carenet, not the working tree, must be tested"
    for name in ("model.md", "parameters.md"):
        assert (out / name).read_text(encoding="utf-8") == (DOCS / name).read_text(encoding="utf-8")


def _carenet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carenet.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_check_passes_in_repo() -> None:
    r = _carenet("docs", "--check", cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_cli_check_fails_on_modified_copy(tmp_path: Path) -> None:
    shutil.copytree(DOCS, tmp_path / "docs")
    with (tmp_path / "docs" / "model.md").open("a", encoding="utf-8") as fh:
        fh.write("\nhand edit\n")
    r = _carenet("docs", "--check", cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.md" in lines[0] and "carenet docs" in lines[0]
