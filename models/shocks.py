"""When scheduled shocks happen in a run, and whether they can happen at all.

A shock's ``at_week`` and ``duration_weeks`` are weeks of the run, unless the shock is
``relative``: then they are weeks of a :data:`REFERENCE_STEPS`-week (five-year) run,
scaled to the run's ``steps``, so that a preset's shocks fall at the same point of any run
(a hub failure at week 104 of 260 falls at week 10 of a 26-week run).

:func:`scenario_problem` finds shocks and response settings that cannot happen as
configured (a shock at or after the run's last week, more organisations failing than can
fail, more hubs funded than there are organisations, a population with no demand);
configuration validation turns its message into a one-line error, so such a run stops
before anything runs.
:func:`scenario_notes` lists what is applied other than as written (a shock cut short by
the end of the run), for the command to print as warnings.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from carenet.models.schema import SERVICE_KINDS, CarenetConfig

REFERENCE_STEPS = 260
"""Length (weeks) of the reference run that ``relative`` shock weeks are stated for."""


def shock_window(shock: dict[str, Any], steps: int) -> tuple[int, int]:
    """The week a shock starts and how many weeks it lasts (0 = permanent) in this run.

    Args:
        shock: A validated shock (as in ``cfg.scenario.shocks``).
        steps: Weeks the run lasts.

    Returns:
        ``(start, duration)``: as written, or scaled from the reference run when the shock
        is ``relative`` (start rounded down, a non-zero duration kept at least one week).
    """
    start, dur = int(shock["at_week"]), int(shock["duration_weeks"])
    if not shock.get("relative", False) or steps == REFERENCE_STEPS:
        return start, dur
    scaled = start * steps // REFERENCE_STEPS
    if dur:
        dur = max(1, round(dur * steps / REFERENCE_STEPS))
        if start + int(shock["duration_weeks"]) <= REFERENCE_STEPS:
            dur = min(dur, max(1, steps - scaled))  # ends within the run, as in the reference
    return scaled, dur


def org_counts(cfg: CarenetConfig) -> dict[str, int]:
    """Number of organisations of each service kind."""
    return {k: int(getattr(cfg.organisations, f"n_{k}")) for k in SERVICE_KINDS}


def _describe(i: int, shock: dict[str, Any]) -> str:
    return f"scenario.shocks[{i}] ({shock['kind']})"


def scenario_problem(cfg: CarenetConfig) -> str | None:
    """The first shock or response setting that cannot happen as configured, if any.

    Args:
        cfg: A configuration whose values have each been checked.

    Returns:
        A one-line message naming the key, its value and what is allowed; None when every
        shock and response setting can happen.
    """
    steps = cfg.steps
    shocks = cfg.scenario.shocks
    for i, s in enumerate(shocks):
        key, kind = f"scenario.shocks[{i}]", s["kind"]
        if kind == "org_failure" and int(s.get("count", 1)) < 1:
            return (
                f"{key}.count: {s['count']} organisations would fail: the org_failure could "
                "never happen; give a count of at least 1, or remove the shock "
                "(scenario=baseline for no shocks)"
            )
        if s.get("relative"):
            if s["at_week"] >= REFERENCE_STEPS:
                return (
                    f"{key}.at_week: {s['at_week']} is not a week of the {REFERENCE_STEPS}-week "
                    f"reference run that relative weeks ({kind}) are stated for; use 0 to "
                    f"{REFERENCE_STEPS - 1}, or relative: false for a week of this run"
                )
        else:
            if s["at_week"] >= steps:
                return (
                    f"{key}.at_week: {s['at_week']} is not a week of this run (steps={steps}, "
                    f"weeks 0 to {steps - 1}): the {kind} would never happen; use an earlier "
                    "week, more steps, or relative: true to scale its weeks with steps"
                )
    pop = cfg.population
    if sum(a * b for a, b in zip(pop.stratum_shares, pop.episode_rate_per_year, strict=True)) <= 0:
        return (
            f"population.episode_rate_per_year: {pop.episode_rate_per_year} gives no care "
            f"episodes with population.stratum_shares {pop.stratum_shares}: nothing could "
            "happen in the run; give a stratum with a share above 0 a rate above 0"
        )
    problem = _org_failure_problem(cfg)
    if problem:
        return problem
    r = cfg.response
    from .responses import Response, response_problem

    problem = response_problem(r)
    if problem:
        return problem
    n_service = sum(org_counts(cfg).values())
    if "hub_funding" in Response(r) and r.hub_count > n_service:
        return (
            f"response.hub_count: {r.hub_count} is more hubs than the {n_service} service "
            f"organisations (organisations.n_*); use at most {n_service}"
        )
    return None


def _org_failure_problem(cfg: CarenetConfig) -> str | None:
    """Whether the organisation failures ask for more organisations than can fail.

    An organisation fails only while another active one still offers each of its service
    lines (the model never removes a line's last provider), so at most ``n - 1`` of a kind
    can fail in a run. Every set of failure shocks must fit in the kinds they may take.
    """
    counts = org_counts(cfg)
    room = {k: max(0, n - 1) for k, n in counts.items()}
    fails = [
        (i, s, tuple(s["kinds"] or SERVICE_KINDS))
        for i, s in enumerate(cfg.scenario.shocks)
        if s["kind"] == "org_failure" and s["count"] > 0
    ]

    def fits(group: tuple[tuple[int, Any, tuple[str, ...]], ...]) -> tuple[bool, int, set]:
        kinds = {k for _, _, ks in group for k in ks}
        need = sum(int(s["count"]) for _, s, _ in group)
        avail = sum(room[k] for k in kinds)
        return need <= avail, avail, kinds

    for i, s, ks in fails:
        ok, avail, _ = fits(((i, s, ks),))
        if not ok:
            sizes = ", ".join(f"n_{k}={counts[k]}" for k in ks)
            return (
                f"scenario.shocks[{i}].count: {s['count']} organisations of kinds "
                f"{', '.join(ks)} cannot fail; at most {avail} can (a kind keeps at least one "
                f"organisation: organisations.{sizes})"
            )
    if len(fails) <= 12:  # every subset (Hall's condition); a scenario has few such shocks
        for size in range(2, len(fails) + 1):
            for group in combinations(fails, size):
                ok, avail, kinds = fits(group)
                if not ok:
                    which = ", ".join(str(i) for i, _, _ in group)
                    need = sum(int(s["count"]) for _, s, _ in group)
                    return (
                        f"scenario.shocks[{which}].count: together {need} organisations "
                        f"of kinds {', '.join(sorted(kinds))} cannot fail; at most {avail} can "
                        "(a kind keeps at least one organisation)"
                    )
    else:
        ok, avail, kinds = fits(tuple(fails))
        if not ok:
            return (
                f"scenario.shocks: together {sum(int(s['count']) for _, s, _ in fails)} "
                f"organisations cannot fail; at most {avail} can"
            )
    return None


def scenario_notes(cfg: CarenetConfig) -> list[str]:
    """One line for each shock applied other than as written (e.g. cut short by the end).

    Args:
        cfg: A validated configuration.

    Returns:
        Lines saying what is applied, for the command to print as warnings.
    """
    notes = []
    steps = cfg.steps
    for i, s in enumerate(cfg.scenario.shocks):
        start, dur = shock_window(s, steps)
        if s["kind"] == "org_failure":
            continue
        if dur and start + dur > steps:
            notes.append(
                f"{_describe(i, s)}: from week {start} for {dur} weeks runs past the run's "
                f"end (steps={steps}); it applies for the last {steps - start} weeks only"
                + ("" if s["kind"] != "budget_cut" else ", and the cut is never restored")
            )
    return notes
