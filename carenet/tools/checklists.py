"""Generated reporting checklists: CHEERS 2022 and STRESS-ABS, item by item.

Each item says where it is addressed, as a section of the PSA report (``cea.md``,
:mod:`carenet.sim.psa`) or of the ODD description (``docs/model.md``), or why it does not
apply. :func:`missing_sections` checks every location against the documents' headings,
so that a renamed section cannot leave an item pointing nowhere (tests/sim/test_psa.py).

Sources: Husereau D, Drummond M, Augustovski F, et al. (2022). Consolidated Health Economic
Evaluation Reporting Standards 2022 (CHEERS 2022) statement. *BMJ* 376:e067975. Monks T,
Currie CSM, Onggo BS, Robinson S, Kunc M, Taylor SJE (2019). Strengthening the reporting of
empirical simulation studies: introducing the STRESS guidelines. *Journal of Simulation*
13(1):55-67 (STRESS-ABS).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CHECKLISTS_MD = "checklists.md"
"""The file written beside a PSA's report."""

REPORT, ODD = "report", "odd"
"""Where an item is addressed: the PSA report (cea.md) or the ODD (docs/model.md)."""

_PSA = "Health-economic analysis (PSA)"
_EVAL = "Perspective, time horizon and discounting"
_DESIGN = "Design: arms and parameter distributions"
_SOFT = "Software and reproducibility"
_NO_ENGAGE = (
    "no patients or public were engaged in this generated analysis; a paper using it "
    "states any engagement"
)
_PAPER = "a generated report has none; the paper using it states it"

Item = tuple[str, str, tuple[str, str] | str]
"""(number, item, (document, section heading) or the reason it does not apply)."""

CHEERS: tuple[Item, ...] = (
    ("1", "Title", (REPORT, "carenet cost-effectiveness")),
    ("2", "Abstract", f"not applicable: {_PAPER}"),
    ("3", "Background and objectives", (ODD, "1. Purpose and patterns")),
    ("4", "Health economic analysis plan", (REPORT, _DESIGN)),
    ("5", "Study population", (ODD, "Patients")),
    ("6", "Setting and location", (ODD, "Purpose")),
    ("7", "Comparators", (REPORT, _DESIGN)),
    ("8", "Perspective", (REPORT, _EVAL)),
    ("9", "Time horizon", (REPORT, _EVAL)),
    ("10", "Discount rate", (REPORT, _EVAL)),
    ("11", "Selection of outcomes", (REPORT, _PSA)),
    ("12", "Measurement of outcomes", (ODD, "Accounting")),
    ("13", "Valuation of outcomes", (ODD, "Accounting")),
    ("14", "Measurement and valuation of resources and costs", (ODD, "6. Input data")),
    ("15", "Currency, price date, and conversion", (ODD, "6. Input data")),
    ("16", "Rationale and description of model", (ODD, "3. Process overview and scheduling")),
    ("17", "Analytics and assumptions", (ODD, "7. Submodels")),
    ("18", "Characterising heterogeneity", (ODD, "Patients")),
    (
        "19",
        "Characterising distributional effects",
        "not applicable: no distributional cost-effectiveness analysis; net QALYs by risk "
        "stratum (qalys_net_<stratum>) are in the runs table",
    ),
    ("20", "Characterising uncertainty", (REPORT, _DESIGN)),
    ("21", "Approach to engagement with patients and others", f"not applicable: {_NO_ENGAGE}"),
    ("22", "Study parameters", (REPORT, _DESIGN)),
    ("23", "Summary of main results", (REPORT, "Incremental analysis (mean over draws)")),
    ("24", "Effect of uncertainty", (REPORT, "Probability cost-effective")),
    ("25", "Effect of engagement with patients and others", f"not applicable: {_NO_ENGAGE}"),
    ("26", "Findings, limitations, generalisability, current knowledge", (ODD, "6. Input data")),
    ("27", "Source of funding", f"not applicable: {_PAPER}"),
    ("28", "Conflicts of interest", f"not applicable: {_PAPER}"),
)
"""The 28 items of CHEERS 2022 (Husereau et al. 2022)."""

STRESS_ABS: tuple[Item, ...] = (
    ("1.1", "Purpose of the model", (ODD, "1. Purpose and patterns")),
    ("1.2", "Model outputs", (ODD, "Observation")),
    ("1.3", "Experimentation aims", (REPORT, _DESIGN)),
    ("2.1", "Base model overview diagram", (ODD, "3. Process overview and scheduling")),
    ("2.2", "Base model logic", (ODD, "3. Process overview and scheduling")),
    ("2.3", "Scenario logic", (REPORT, _DESIGN)),
    ("2.4", "Algorithms", (ODD, "7. Submodels")),
    ("2.5.1", "Agents", (ODD, "2. Entities, state variables and scales")),
    ("2.5.2", "Environment", (ODD, "System state: ties, hierarchy, governance")),
    ("2.5.3", "Interactions", (ODD, "Interaction")),
    ("3.1", "Data sources", (ODD, "6. Input data")),
    (
        "3.2",
        "Pre-processing",
        "not applicable: no data are pre-processed; inputs are published unit costs and "
        "stated assumptions",
    ),
    ("3.3", "Input parameters", (REPORT, _DESIGN)),
    ("3.4", "Assumptions", (ODD, "6. Input data")),
    ("4.1", "Initialisation", (ODD, "5. Initialization")),
    ("4.2", "Run length", (REPORT, _EVAL)),
    ("4.3", "Estimation approach", (REPORT, _PSA)),
    ("5.1", "Software or programming language", (REPORT, _SOFT)),
    ("5.2", "Random sampling", (ODD, "Stochasticity")),
    ("5.3", "Model execution", (ODD, "3. Process overview and scheduling")),
    ("5.4", "System specification", (REPORT, _SOFT)),
    ("6", "Code access", (REPORT, _SOFT)),
)
"""The items of STRESS-ABS (Monks et al. 2019)."""

CHECKLISTS = {"CHEERS 2022": CHEERS, "STRESS-ABS": STRESS_ABS}

_DOCS = {REPORT: "cea.md", ODD: "docs/model.md (ODD)"}


def headings(markdown: str) -> set[str]:
    """The section headings of a Markdown text, without their ``#`` marks."""
    return {m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", markdown, re.M)}


def _where(loc: tuple[str, str] | str) -> str:
    if isinstance(loc, str):
        return loc
    return f'{_DOCS[loc[0]]}, section "{loc[1]}"'


def render() -> str:
    """Both checklists as Markdown tables."""
    out = ["# Reporting checklists", ""]
    out.append(
        "Generated by carenet: where each item is addressed in this folder's cea.md or in "
        "the ODD description (docs/model.md), or why it does not apply."
    )
    for name, items in CHECKLISTS.items():
        out += ["", f"## {name}", "", "| item | topic | where addressed |", "|---|---|---|"]
        out += [f"| {n} | {topic} | {_where(loc)} |" for n, topic, loc in items]
    return "\n".join(out) + "\n"


def missing_sections(report_md: str, odd_md: str) -> list[str]:
    """Items whose section is not a heading of the report or the ODD (empty if none).

    A location matches a heading that equals it or starts with it (the report's title
    carries the folder's name).
    """
    docs = {REPORT: headings(report_md), ODD: headings(odd_md)}
    bad = []
    for name, items in CHECKLISTS.items():
        for n, _, loc in items:
            if isinstance(loc, str):
                continue
            if not any(h == loc[1] or h.startswith(loc[1] + ":") for h in docs[loc[0]]):
                bad.append(f"{name} item {n}: no section {loc[1]!r} in {_DOCS[loc[0]]}")
    return bad


def odd_text() -> str:
    """The ODD description as ``carenet docs`` renders it (docs/model.md)."""
    from carenet.tools.odd import render_odd

    return render_odd()


def write_checklists(report: Path) -> Path:
    """Write ``checklists.md`` beside a PSA's report, flagging any location not found.

    Args:
        report: The PSA report (``cea.md``) the checklists point into.

    Returns:
        The path of ``checklists.md`` (written atomically).
    """
    text = render()
    bad = missing_sections(report.read_text(encoding="utf-8"), odd_text())
    text += "".join(f"\n**Location not found:** {b}\n" for b in bad)
    out = report.with_name(CHECKLISTS_MD)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out
