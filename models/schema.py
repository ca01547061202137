"""carenet's model parameters: every parameter with its type, range, unit and meaning.

The dataclasses here are the single declaration of the care-system model's parameters
(declared with :func:`carenet.params.param`). Hydra composes
YAML from ``configs/`` on top of these defaults; :mod:`carenet.sim.config` then checks every
value against the metadata declared here (type, range, allowed names) before anything runs,
and the ODD documentation is generated from the same metadata.

Units: money in pounds sterling (GBP) at the price year stated with each cost; time in weeks
(one model step is one week); probabilities in [0, 1]; health in QALYs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carenet.params import PROB, P

# power first: it re-exports the rules package, which imports power back.
from . import power  # noqa: F401
from .rules import Domination, Empowerment, default

STRATA: tuple[str, ...] = ("well", "ltc", "multimorbid", "frail")
"""Risk strata, in order of need: well, one long-term condition, multimorbidity, frail."""

SERVICE_KINDS: tuple[str, ...] = (
    "gp",
    "acute",
    "community",
    "mental_health",
    "social_care",
    "vcse",
)
"""Organisation kinds that serve patients."""

BUREAUCRATIC_KINDS: tuple[str, ...] = ("national_body", "commissioner", "regulator", "hwb")
"""Organisation kinds that govern but do not serve patients (HWB = Health & Wellbeing board)."""

ORG_KINDS: tuple[str, ...] = SERVICE_KINDS + BUREAUCRATIC_KINDS

LINES: dict[str, str] = {
    "gp_consult": "gp",
    "ae": "acute",
    "inpatient": "acute",
    "community_rehab": "community",
    "district_nursing": "community",
    "mh_treatment": "mental_health",
    "social_care": "social_care",
    "vcse_support": "vcse",
}
"""Service lines and the organisation kind that provides each."""


@dataclass
class CostItem:
    """A unit cost with its source and price year."""

    gbp: float = P(0.0, lo=0.0, hi=1e9, unit="GBP", doc="Cost of one unit.")
    unit: str = P("", doc="What one unit is.")
    source: str = P("", doc="Published source of the figure, or 'assumption' with a reason.")
    price_year: str = P("", doc="Price year of the figure (e.g. 2023/24).")


def _cost(gbp: float, unit: str, source: str, price_year: str) -> dict[str, Any]:
    return {"gbp": gbp, "unit": unit, "source": source, "price_year": price_year}


DEFAULT_COST_ITEMS: dict[str, dict[str, Any]] = {
    "gp_consultation": _cost(
        48.0,
        "10-minute GP consultation, with direct-care staff, incl. qualification costs",
        "PSSRU/CHE Unit Costs of Health and Social Care 2025 (as quoted in DESIGN.md)",
        "2024/25",
    ),
    "ae_attendance": _cost(
        280.0, "A&E attendance", "NHS National Cost Collection (as quoted)", "2024/25"
    ),
    "nonelective_long_stay": _cost(
        5132.0,
        "non-elective admission, long stay (episode)",
        "NHS National Cost Collection (as quoted)",
        "2023/24",
    ),
    "nonelective_short_stay": _cost(
        791.0,
        "non-elective admission, short stay (episode)",
        "NHS National Cost Collection (as quoted)",
        "2023/24",
    ),
    "district_nurse_contact": _cost(
        58.11,
        "district nurse face-to-face contact",
        "NHS National Cost Collection (as quoted)",
        "2023/24",
    ),
    "crisis_response_contact": _cost(
        123.81,
        "intermediate-care crisis response contact",
        "NHS National Cost Collection (as quoted)",
        "2023/24",
    ),
    "mh_contact": _cost(
        302.0,
        "mental-health care contact",
        "NHS National Cost Collection (as quoted)",
        "2023/24",
    ),
    "social_worker_hour": _cost(
        54.0,
        "hour of adult-services social worker time, excl. qualifications",
        "PSSRU/CHE Unit Costs of Health and Social Care 2025 (as quoted)",
        "2024/25",
    ),
    "vcse_session": _cost(
        30.0,
        "VCSE support session (link worker or group)",
        "assumption: no national unit cost; set near a social-worker half-hour; vary it",
        "2024/25",
    ),
    "delayed_discharge_night": _cost(
        395.0,
        "night of delayed discharge in an acute bed",
        "The King's Fund 2023 (2022/23 uplift, as quoted)",
        "2022/23",
    ),
    "professional_hour": _cost(
        57.0,
        "hour of professional time (Band 5 nurse, incl. qualifications) for admin and ties",
        "PSSRU/CHE Unit Costs of Health and Social Care 2025 (as quoted)",
        "2024/25",
    ),
}


NHSCII_SOURCE = (
    "NHS Cost Inflation Index (NHSCII), pay and prices, financial years; Jones K.C. et al. "
    "(2025) Unit Costs of Health and Social Care 2024 Manual, PSSRU (Kent) & Centre for "
    "Health Economics (York); rebased here to 2022/23 = 100 (provisional values: "
    "docs/health-economics.md)"
)
"""Where the inflation index comes from (configs/costs/uk.yaml repeats it)."""

DEFAULT_INFLATION_INDEX: dict[str, float] = {
    "2022/23": 100.0,
    "2023/24": 103.9,
    "2024/25": 107.6,
}
"""NHSCII (pay and prices) by financial year, 2022/23 = 100 (see :data:`NHSCII_SOURCE`).

Provisional: the annual changes (3.9% to 2023/24, 3.6% to 2024/25) were entered without
the manual at hand and are not verified; check them against the manual's NHSCII table
before quoting absolute costs (docs/health-economics.md). Comparisons between
arrangements do not depend on them.
"""


@dataclass
class CostsConfig:
    """Unit costs (each with source and price year), the price year, discounting, threshold.

    Each unit cost keeps its own source and price year; the model inflates it to
    ``price_year`` with ``inflation_index`` (cost x index[price_year] / index[item's year],
    :func:`carenet.models.ledger.unit_costs`). Costs and QALYs after the warm-up are
    discounted at the annual rates here (docs/health-economics.md).
    """

    name: str = P("uk", doc="Name of this cost set.")
    items: dict = P(DEFAULT_COST_ITEMS, doc="Unit costs by name: gbp, unit, source, price_year.")
    threshold_gbp_per_qaly: float = P(
        20000.0,
        lo=0.0,
        hi=1e6,
        unit="GBP/QALY",
        doc="Willingness to pay per QALY for net monetary benefit (NICE range 20,000-30,000).",
        source="NICE",
    )
    price_year: str = P(
        "2024/25",
        doc="Financial year every unit cost is inflated to (a key of inflation_index).",
        source="the latest year of the unit costs quoted (Unit Costs 2024 manual)",
    )
    inflation_index: dict = P(
        DEFAULT_INFLATION_INDEX,
        doc="Price index by financial year (NHSCII pay and prices; any base).",
        source=NHSCII_SOURCE,
    )
    discount_rate_costs: float = P(
        0.035,
        lo=0.0,
        hi=0.2,
        unit="per year",
        doc="Annual discount rate for costs, from the end of the warm-up.",
        source="NICE health technology evaluations manual 2022 (PMG36) section 4.5",
    )
    discount_rate_health: float = P(
        0.035,
        lo=0.0,
        hi=0.2,
        unit="per year",
        doc="Annual discount rate for QALYs, from the end of the warm-up (1.5% is NICE's "
        "sensitivity case for long-lasting health effects).",
        source="NICE health technology evaluations manual 2022 (PMG36) section 4.5",
    )


CALIBRATED = (
    "calibrated: carenet calibrate --fit to the published activity rates of "
    "configs/calibration/targets.yaml; the fit's record is configs/calibration/fitted.json "
    "(docs/calibration.md)"
)
"""Source of the defaults that ``carenet calibrate --fit`` set."""


@dataclass
class PopulationConfig:
    """The patient population: size, localities, risk strata and how often needs arise."""

    name: str = P("default", doc="Name of this population.")
    size: int = P(500_000, lo=1, hi=20_000_000, unit="persons", doc="Number of patients.")
    localities: int = P(5, lo=1, hi=100, unit="places", doc="Number of localities (places).")
    stratum_shares: list = P(
        [0.70, 0.18, 0.09, 0.03],
        lo=0.0,
        hi=1.0,
        length=4,
        unit="share",
        doc="Share of patients in each stratum (well, ltc, multimorbid, frail); sums to 1.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    episode_rate_per_year: list = P(
        [1.448484, 5.793937, 12.070702, 19.313124],
        lo=0.0,
        hi=52.0,
        length=4,
        unit="episodes/person/year",
        doc="Rate at which care episodes arise, by stratum (a patient has one episode at a "
        "time). The level is calibrated (one factor on all strata); the ratios between the "
        "strata are illustrative assumptions.",
        source=CALIBRATED,
    )
    progression_per_year: list = P(
        [0.01, 0.025, 0.015, 0.0],
        length=4,
        unit="probability/year",
        doc="Natural progression (ageing, onset) up one stratum; the defaults roughly balance "
        "recovery_on_completion so the stratum mix holds steady when no handoff fails.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
        **PROB,
    )
    progression_on_failure: list = P(
        [0.05, 0.05, 0.05, 0.0],
        length=4,
        unit="probability",
        doc="Chance that a failed handoff moves the patient up one stratum.",
        **PROB,
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    recovery_on_completion: list = P(
        [0.0, 0.03, 0.02, 0.01],
        length=4,
        unit="probability",
        doc="Chance that a completed episode moves the patient down one stratum.",
        **PROB,
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )


@dataclass
class OrganisationsConfig:
    """How many organisations of each kind, their sizes, capacities and relationship time."""

    n_gp: int = P(100, lo=1, hi=5000, unit="orgs", doc="GP practices.")
    n_acute: int = P(2, lo=1, hi=100, unit="orgs", doc="Acute trusts (A&E, admissions).")
    n_community: int = P(2, lo=1, hi=100, unit="orgs", doc="Community services providers.")
    n_mental_health: int = P(1, lo=1, hi=100, unit="orgs", doc="Mental health trusts.")
    n_social_care: int = P(2, lo=1, hi=100, unit="orgs", doc="Local-authority social care.")
    n_vcse: int = P(40, lo=1, hi=5000, unit="orgs", doc="Voluntary/community organisations.")
    size_sigma: float = P(
        0.5, lo=0.0, hi=3.0, doc="Log-normal dispersion of organisation sizes within a kind."
    )
    capacity_headroom: float = P(
        1.1,
        lo=0.1,
        hi=10.0,
        unit="ratio",
        doc="Capacity of each service line relative to its expected baseline demand.",
    )
    relationship_hours: float = P(
        8.0,
        lo=0.0,
        hi=1000.0,
        unit="hours/week",
        doc="Staff time each organisation can spend on working relationships.",
    )
    tie_upkeep_hours: float = P(
        1.0,
        lo=0.01,
        hi=100.0,
        unit="hours/week",
        doc="Staff time one tie costs each of its two ends.",
    )
    local_referral_bias: float = P(
        4.0,
        lo=1.0,
        hi=1000.0,
        unit="ratio",
        doc="Referral weight on organisations covering the referrer's own locality.",
    )
    budget_max_change: float = P(
        0.05,
        lo=0.0,
        hi=1.0,
        unit="share/year",
        doc="Largest change in an organisation's budget at one annual allocation.",
    )
    budget_ring_fence: float = P(
        1.0,
        lo=0.0,
        hi=1.0,
        unit="share",
        doc="Share of each funding stream's budget that only its own organisations bid for "
        "at the annual allocation (the rest is bid for across streams); pooled budgets are "
        "outside it. Streams: ICB core (acute, community), primary care (GP), mental health, "
        "local authority (social care, VCSE). 1: money moves between streams only through "
        "a pool; 0: every non-pooled organisation bids against all others (before #12).",
        source="NHS England ICB allocations identify the delegated primary medical care "
        "allocation separately; the Mental Health Investment Standard (NHS Long Term Plan "
        "2019) sets a floor on mental health spending growth; adult social care is a "
        "local-authority duty (Care Act 2014) funded outside NHS allocations; money moves "
        "between NHS and councils by pooling (NHS Act 2006 s.75, the Better Care Fund)",
    )
    brokerage_capacity: float = P(
        20.0,
        lo=0.0,
        hi=1e6,
        unit="handoffs/week",
        doc="Handoffs an organisation can broker for others each week.",
    )


@dataclass
class StructureConfig:
    """What exists at the start (hierarchy lines, peer ties) and whether ties change."""

    name: str = P(
        "hybrid",
        choices=("hierarchy", "network", "hybrid"),
        doc="Structure preset; hierarchy/initial_ties below say what it means.",
    )
    hierarchy: bool = P(True, doc="Whether reporting/approval lines exist (escalation route).")
    initial_ties: str = P(
        "locality",
        choices=("none", "random", "small_world", "scale_free", "locality"),
        doc="How peer ties between service organisations are laid at the start.",
    )
    mean_degree: float = P(
        4.0, lo=0.0, hi=100.0, unit="ties/org", doc="Mean number of initial ties per org."
    )
    rewire_prob: float = P(0.1, doc="Small-world rewiring probability.", **PROB)
    locality_ratio: float = P(
        8.0,
        lo=1.0,
        hi=1000.0,
        unit="ratio",
        doc="How much likelier a tie within a locality is than across (locality ties).",
    )
    initial_trust: float = P(0.5, doc="Mean trust on an initial tie.", **PROB)
    initial_trust_spread: float = P(0.1, lo=0.0, hi=0.5, doc="Half-width of initial trust.")
    dynamic_ties: bool = P(True, doc="Whether ties form and dissolve during the run.")
    tie_update_weeks: int = P(
        4, lo=1, hi=520, unit="weeks", doc="Interval between tie-formation rounds."
    )
    max_new_ties: int = P(
        1, lo=0, hi=100, unit="ties", doc="New ties an org may seek in one round."
    )
    dissolve_below_trust: float = P(
        0.15, doc="A tie whose trust falls below this dissolves.", **PROB
    )
    new_tie_trust: float = P(0.4, doc="Trust on a newly formed tie.", **PROB)


@dataclass
class HandoffConfig:
    """How a handoff's route sets its delay, admin time and chance of failure."""

    cold_fail: float = P(
        0.25,
        doc=(
            "Failure chance of a cold handoff (no tie, broker or hierarchy): the referral is "
            "lost, refused or not acted on. Reasoning: a referral to an unknown team with no "
            "relationship or approval behind it is the least reliable route; the same "
            "receiver-overload term as every route is added (overload_fail_slope)."
        ),
        **PROB,
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    best_fail: float = P(
        0.02,
        doc=(
            "Failure chance over a fully trusted direct tie; a tie of trust T fails at "
            "best + (cold - best) x (1 - T). Reasoning: a trusted working relationship "
            "removes most, not all, lost referrals."
        ),
        **PROB,
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    cold_delay_weeks: float = P(
        0.3,
        lo=0.0,
        hi=52.0,
        unit="weeks",
        doc=(
            "Delay of a cold handoff (finding the right team, a referral form, triage): "
            "about two days. The level of all four route delays (cold, best, broker, "
            "escalation per level) is calibrated by one factor to delayed-discharge bed "
            "days; their ratios are the assumptions (a cold referral ten times a trusted "
            "call, a broker or an approval level a quarter of a cold referral)."
        ),
        source=CALIBRATED,
    )
    best_delay_weeks: float = P(
        0.03,
        lo=0.0,
        hi=52.0,
        unit="weeks",
        doc=(
            "Delay over a fully trusted tie (interpolated by trust like failure): a phone "
            "call between people who know each other, a fraction of a day. Level "
            "calibrated with cold_delay_weeks (ratio 1:10 assumed)."
        ),
        source=CALIBRATED,
    )
    direct_admin_hours: float = P(
        0.25,
        lo=0.0,
        hi=100.0,
        unit="hours",
        doc="Admin time of a direct handoff (one call or message between known contacts).",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    cold_admin_hours: float = P(
        1.0,
        lo=0.0,
        hi=100.0,
        unit="hours",
        doc="Admin time of a cold handoff (finding the service, forms, chasing).",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    broker_admin_hours: float = P(
        0.75,
        lo=0.0,
        hi=100.0,
        unit="hours",
        doc=(
            "Admin time of a brokered handoff (two legs, the broker's time included); "
            "brokers are capped at organisations.brokerage_capacity handoffs a week, "
            "beyond which a handoff takes the best route without a broker."
        ),
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    broker_delay_weeks: float = P(
        0.075,
        lo=0.0,
        hi=52.0,
        unit="weeks",
        doc=(
            "Extra delay added by a broker (its failure and trust delay are those of the "
            "weaker leg): one more person relays the referral, about half a day. Level "
            "calibrated with cold_delay_weeks (a quarter of it, assumed)."
        ),
        source=CALIBRATED,
    )
    escalation_fail: float = P(
        0.04,
        doc=(
            "Failure chance of a handoff approved through the hierarchy, whatever the trust. "
            "Reasoning: a formally approved referral is rarely lost, but approval does not "
            "make the receiver know the patient. Load acts on it as on every route: the "
            "receiver's queue adds overload_fail_slope, and the approving body's capacity "
            "(escalation_capacity_per_org) queues approvals beyond it."
        ),
        **PROB,
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    escalation_delay_per_level: float = P(
        0.075,
        lo=0.0,
        hi=52.0,
        unit="weeks/level",
        doc=(
            "Approval delay per hierarchy level climbed and descended (to the lowest common "
            "superior and back), before any wait for the approver's capacity: a sign-off "
            "at each level, about half a day. Level calibrated with cold_delay_weeks (a "
            "quarter of it, assumed)."
        ),
        source=CALIBRATED,
    )
    escalation_admin_hours_per_level: float = P(
        0.5,
        lo=0.0,
        hi=100.0,
        unit="hours/level",
        doc="Admin time per hierarchy level (requests, forms and sign-off at each level).",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    escalation_capacity_per_org: float = P(
        20.0,
        lo=0.01,
        hi=1e6,
        unit="handoffs/week per organisation",
        doc=(
            "Approvals a body of the hierarchy can give a week, per active service "
            "organisation below it (the lowest common superior of the pair approves). "
            "Beyond it approvals queue: the body's backlog carries over, and a handoff "
            "waits backlog / capacity extra weeks in transit (priced into the route's "
            "expected delay). Reasoning: the same coordination capacity per organisation "
            "as a broker's (organisations.brokerage_capacity), so that neither structure's "
            "coordination route is unlimited; approval staff scale with the number of "
            "organisations a body oversees."
        ),
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    shared_records_fail_multiplier: float = P(
        0.6,
        lo=0.0,
        hi=1.0,
        unit="ratio",
        doc="Failure chance is multiplied by this when records are shared on the route.",
    )
    share_threshold: float = P(
        0.5, doc="Both ends' data-sharing levels must reach this to share records.", **PROB
    )
    repeat_assessment_prob: float = P(
        0.7,
        doc="Chance of a repeated assessment when records are not shared.",
        **PROB,
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    overload_fail_slope: float = P(
        0.1,
        lo=0.0,
        hi=1.0,
        unit="per queue/capacity",
        doc=(
            "Extra failure chance per unit of the receiver's queue relative to its capacity, "
            "added to every route alike (direct, broker, escalation, cold)."
        ),
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    trust_gain: float = P(0.05, doc="Trust gained per unit success share (slow).", **PROB)
    trust_loss: float = P(0.25, doc="Trust lost per unit failure share (fast).", **PROB)


@dataclass
class HealthConfig:
    """Health consequences of care, waiting, failure and emergency admission."""

    qaly_loss_wait_per_week: list = P(
        [0.0005, 0.001, 0.002, 0.004],
        lo=0.0,
        hi=1.0,
        length=4,
        unit="QALY/week",
        doc="Health lost per week an episode waits (queue or handoff delay), by stratum.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    qaly_loss_failure: list = P(
        [0.01, 0.02, 0.04, 0.08],
        lo=0.0,
        hi=1.0,
        length=4,
        unit="QALY",
        doc="Health lost when a handoff fails, by stratum.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    emergency_prob_failure: list = P(
        [0.02, 0.05, 0.12, 0.25],
        length=4,
        unit="probability",
        doc="Chance a failed handoff ends in an emergency admission, by stratum.",
        **PROB,
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    emergency_hazard_wait: list = P(
        [0.0005, 0.001, 0.003, 0.008],
        length=4,
        unit="probability/week",
        doc="Weekly chance of emergency admission while an episode waits, by stratum.",
        **PROB,
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    qaly_loss_emergency: float = P(
        0.02,
        lo=0.0,
        hi=1.0,
        unit="QALY",
        doc="Health lost in an emergency admission.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    emergency_long_stay_from: int = P(
        2,
        lo=0,
        hi=4,
        unit="stratum index",
        doc="Strata from this index up are admitted as long stays (others short).",
    )
    delay_gain_decay: float = P(
        0.05,
        lo=0.0,
        hi=10.0,
        unit="per week",
        doc="An episode's health gain is divided by (1 + decay x weeks of delay).",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    on_time_weeks: int = P(
        4, lo=0, hi=520, unit="weeks", doc="An episode is on time if it waited at most this."
    )
    experience_wait_penalty: float = P(
        0.03,
        lo=0.0,
        hi=1.0,
        doc="Experience score lost per week waiting.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    experience_repeat_penalty: float = P(
        0.1,
        lo=0.0,
        hi=1.0,
        doc="Experience score lost per repeated assessment.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    repeat_assessment_share: float = P(
        0.5,
        lo=0.0,
        hi=5.0,
        unit="service-weeks",
        doc="Cost of a repeated assessment as a share of one week of the receiving service.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )


@dataclass
class PowerRuleConfig:
    """The power rule organisations follow (see models/rules/ for each rule).

    The defaults of a rule's own parameters are declared once, in its class's constructor
    (``models/rules/domination.py``, ``empowerment.py``), and read from there.
    """

    name: str = P(
        "mixed",
        doc="Registered rule name: domination, empowerment, mixed or adaptive (or _target_).",
    )
    _target_: str = P(
        "",
        doc="Import path 'pkg.module.Class' or 'path/to/file.py:Class' of a user-written rule.",
    )
    params: dict = P({}, doc="Keyword arguments passed to a user-written rule.")
    domination_sharing: float = P(
        default(Domination, "sharing"), doc="Data-sharing level under domination.", **PROB
    )
    empowerment_sharing: float = P(
        default(Empowerment, "sharing"), doc="Data-sharing level under empowerment.", **PROB
    )
    branch_bias: float = P(
        default(Domination, "branch_bias"),
        lo=1.0,
        hi=1000.0,
        unit="ratio",
        doc="Domination: weight on referrals and ties inside the org's own branch.",
    )
    capture_strength: float = P(
        default(Domination, "capture_strength"),
        lo=0.0,
        hi=20.0,
        doc="Domination: how strongly authority captures budget.",
    )
    escalate_out_of_branch: bool = P(
        default(Domination, "escalate_out_of_branch"),
        doc="Domination: demand hierarchy approval for referrals out of its branch.",
    )
    choice_sharpness: float = P(
        default(Empowerment, "choice_sharpness"),
        lo=0.0,
        hi=100.0,
        doc="Empowerment: softmax sharpness of referral by expected outcome (0 = uniform).",
    )
    influence_preference: float = P(
        default(Empowerment, "influence_preference"),
        lo=0.0,
        hi=100.0,
        doc="Empowerment: weight on a partner's influence when tying.",
    )
    empower_share: float = P(
        0.5, doc="Mixed/adaptive: share of organisations starting under empowerment.", **PROB
    )
    assign_by: str = P(
        "random", choices=("random", "kind"), doc="Mixed: assign rules at random or by kind."
    )
    empowering_kinds: list = P(
        ["vcse", "community", "gp"], doc="Mixed by kind: kinds that follow empowerment."
    )
    imitation_rate: float = P(
        0.1, doc="Adaptive: chance per round that an org compares itself to a partner.", **PROB
    )
    imitation_noise: float = P(
        0.05,
        lo=1e-6,
        hi=10.0,
        doc="Adaptive: noise of the Fermi imitation rule (small = imitate only the better).",
    )
    imitation_weeks: int = P(
        13, lo=1, hi=520, unit="weeks", doc="Adaptive: interval between imitation rounds."
    )


@dataclass
class ResponseConfig:
    """The system's response to an integration mandate: bureaucratic, network or none."""

    name: str = P("none", doc="Response name (a label: none, bureaucratic, network, or your own).")
    components: list = P(
        [],
        doc="Components the response is made of (models/responses/): contracts, "
        "shared_records, boards, inspections, hub_funding, relationship_time, pooled_budget. "
        "A component acts only when listed; its parameters (response.*) act only then.",
    )
    contract_setup_gbp: float = P(
        5000.0,
        lo=0.0,
        hi=1e8,
        unit="GBP",
        doc="Cost to set up one contract (assumption: legal and procurement time).",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    contract_lead_time_weeks: int = P(
        8, lo=0, hi=520, unit="weeks", doc="Weeks before a new contract is in force."
    )
    contract_duration_weeks: int = P(
        52, lo=1, hi=1040, unit="weeks", doc="Weeks until a contract must be renewed."
    )
    contract_renewal_gbp: float = P(
        2000.0,
        lo=0.0,
        hi=1e8,
        unit="GBP",
        doc="Cost to renew a contract (assumption).",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    monitoring_share: float = P(
        0.05,
        lo=0.0,
        hi=1.0,
        unit="share",
        doc="Contract monitoring cost as a share of the care value flowing under it.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    contract_fail_multiplier: float = P(
        0.8,
        lo=0.0,
        hi=2.0,
        unit="ratio",
        doc="Failure chance under a contract is multiplied by this (agreed protocol).",
    )
    board_interval_weeks: int = P(4, lo=1, hi=520, unit="weeks", doc="Weeks between boards.")
    board_attendees: int = P(
        12,
        lo=0,
        hi=1000,
        unit="people",
        doc="People at each board, one from each of the largest active service organisations "
        "(by budget): also the number of organisations that attend.",
    )
    board_hours: float = P(
        4.0, lo=0.0, hi=100.0, unit="hours", doc="Hours each attendee spends per board."
    )
    board_trust_boost: float = P(
        0.02,
        lo=0.0,
        hi=1.0,
        doc="Share of the gap to full trust closed, per board, on each tie between two "
        "attending organisations.",
    )
    board_tie_trust: float = P(
        0.2,
        doc="Trust on the weak tie a board forms between two attending organisations that "
        "hand patients to each other and have none (0: boards form no ties). Just above "
        "structure.dissolve_below_trust (0.15): a named contact from a meeting, weaker than "
        "a tie an organisation seeks for its value (structure.new_tie_trust, 0.4), kept "
        "only if the handoffs over it go well.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
        **PROB,
    )
    inspection_interval_weeks: int = P(
        52, lo=1, hi=1040, unit="weeks", doc="Weeks between inspections of one provider."
    )
    inspection_cost_gbp: float = P(
        15000.0,
        lo=0.0,
        hi=1e8,
        unit="GBP",
        doc="Cost of one inspection incl. preparation (assumption).",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    inspection_effect: float = P(
        0.2,
        lo=0.0,
        hi=1.0,
        unit="ratio",
        doc="Just after inspection, the provider's handoff failure falls by this share.",
    )
    inspection_half_life_weeks: float = P(
        26.0, lo=0.1, hi=1040.0, unit="weeks", doc="Half-life of the inspection effect."
    )
    shared_records_investment_gbp: float = P(
        40000.0,
        lo=0.0,
        hi=1e9,
        unit="GBP/org",
        doc="One-off investment per service organisation (assumption).",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    shared_records_running_gbp: float = P(
        80.0,
        lo=0.0,
        hi=1e7,
        unit="GBP/org/week",
        doc="Running cost per organisation per week (assumption).",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )
    shared_records_golive_weeks: int = P(
        26,
        lo=0,
        hi=520,
        unit="weeks",
        doc="Weeks from investment (the first week after the warm-up) until records are shared.",
    )
    sharing_boost: float = P(
        0.4, lo=0.0, hi=1.0, doc="Added to each org's data-sharing level at go-live."
    )
    extra_relationship_hours: float = P(
        0.0, lo=0.0, hi=1000.0, unit="hours/week", doc="Extra relationship time funded per org."
    )
    shared_savings_share: float = P(
        0.5, doc="Share of a year's failure-cost savings returned to the pool.", **PROB
    )
    hub_count: int = P(
        5,
        lo=0,
        hi=1000,
        unit="orgs",
        doc="Number of hubs funded (at most the number of service organisations).",
    )
    hub_extra_brokerage: float = P(
        60.0, lo=0.0, hi=1e6, unit="handoffs/week", doc="Brokerage capacity added per hub."
    )
    hub_funding_gbp: float = P(
        1500.0,
        lo=0.0,
        hi=1e8,
        unit="GBP/hub/week",
        doc="Cost of funding one hub.",
        source="assumption: illustrative, not estimated; vary it in sensitivity analysis",
    )


@dataclass
class ShockConfig:
    """One scheduled shock."""

    kind: str = P(
        "winter_surge",
        choices=("winter_surge", "budget_cut", "org_failure", "data_outage"),
        doc="What happens.",
    )
    at_week: int = P(
        26,
        lo=0,
        hi=100000,
        unit="week",
        doc="Week at which the shock starts: a week of the run (0 to steps - 1; a later week "
        "is an error), or of a 260-week run when relative is true.",
    )
    duration_weeks: int = P(
        12,
        lo=0,
        hi=100000,
        unit="weeks",
        doc="How long it lasts (0 = permanent; org failures are always permanent and ignore it). A "
        "shock that would last past the run's end applies until the end (with a warning).",
    )
    relative: bool = P(
        False,
        doc="Whether at_week and duration_weeks are weeks of a 260-week (five-year) run, "
        "scaled to the run's steps (start rounded down; a non-zero duration lasts at least "
        "a week), so the shock falls at the same point of any run. The scenario presets "
        "set it; a 260-week run applies the weeks as written.",
    )
    magnitude: float = P(
        0.2,
        lo=0.0,
        hi=10.0,
        doc="Surge: extra demand share; budget cut: share of capacity removed.",
    )
    target: str = P(
        "random",
        choices=("random", "size", "authority", "degree", "betweenness"),
        doc="Org failure: how the failing organisations are chosen.",
    )
    count: int = P(
        1,
        lo=0,
        hi=1000,
        unit="orgs",
        doc="Org failure: how many fail; each kind keeps at least one organisation (more than "
        "can fail is an error).",
    )
    kinds: list = P([], doc="Org failure: restrict to these kinds (empty = any service kind).")


@dataclass
class ScenarioConfig:
    """A named scenario: a list of shocks scheduled in time."""

    name: str = P("baseline", doc="Scenario name.")
    shocks: list = P([], doc="Shocks (see ShockConfig).")


DEFAULT_PATHWAYS: list[dict[str, Any]] = [
    {
        "name": "gp_only",
        "weights": [4.29719, 2.954318, 2.417169, 1.611446],
        "qaly_gain": 0.01,
        "steps": [{"line": "gp_consult", "weeks": 1, "item": "gp_consultation", "units": 2.0}],
    },
    {
        "name": "diabetes_review",
        "weights": [0.02, 0.25, 0.20, 0.10],
        "qaly_gain": 0.03,
        "steps": [
            {"line": "gp_consult", "weeks": 1, "item": "gp_consultation", "units": 3.0},
            {
                "line": "district_nursing",
                "weeks": 2,
                "item": "district_nurse_contact",
                "units": 1.0,
            },
        ],
    },
    {
        "name": "social_prescribing",
        "weights": [0.10, 0.08, 0.08, 0.08],
        "qaly_gain": 0.02,
        "steps": [
            {"line": "gp_consult", "weeks": 1, "item": "gp_consultation", "units": 2.0},
            {"line": "vcse_support", "weeks": 4, "item": "vcse_session", "units": 1.0},
        ],
    },
    {
        "name": "mental_health_crisis",
        "weights": [0.05, 0.05, 0.05, 0.03],
        "qaly_gain": 0.12,
        "steps": [
            {"line": "gp_consult", "weeks": 1, "item": "gp_consultation", "units": 2.0},
            {"line": "mh_treatment", "weeks": 3, "item": "mh_contact", "units": 1.0},
            {"line": "vcse_support", "weeks": 4, "item": "vcse_session", "units": 1.0},
        ],
    },
    {
        "name": "ae_discharged",
        "weights": [0.328223, 0.328223, 0.393868, 0.492335],
        "qaly_gain": 0.005,
        "steps": [{"line": "ae", "weeks": 1, "item": "ae_attendance", "units": 1.0}],
    },
    {
        "name": "emergency_admission_home",
        "weights": [0.004, 0.03, 0.06, 0.08],
        "qaly_gain": 0.08,
        "steps": [
            {"line": "ae", "weeks": 1, "item": "ae_attendance", "units": 1.0},
            {"line": "inpatient", "weeks": 1, "item": "nonelective_short_stay", "units": 1.0},
        ],
    },
    {
        "name": "ltc_exacerbation",
        "weights": [0.002, 0.03, 0.08, 0.12],
        "qaly_gain": 0.12,
        "steps": [
            {"line": "gp_consult", "weeks": 1, "item": "gp_consultation", "units": 2.0},
            {"line": "ae", "weeks": 1, "item": "ae_attendance", "units": 1.0},
            {"line": "inpatient", "weeks": 1, "item": "nonelective_short_stay", "units": 1.0},
            {
                "line": "district_nursing",
                "weeks": 2,
                "item": "district_nurse_contact",
                "units": 2.0,
            },
        ],
    },
    {
        "name": "frail_fall",
        "weights": [0.001, 0.01, 0.04, 0.20],
        "qaly_gain": 0.3,
        "steps": [
            {"line": "ae", "weeks": 1, "item": "ae_attendance", "units": 1.0},
            {"line": "inpatient", "weeks": 2, "item": "nonelective_long_stay", "units": 0.5},
            {
                "line": "community_rehab",
                "weeks": 4,
                "item": "crisis_response_contact",
                "units": 2.0,
            },
            {"line": "social_care", "weeks": 6, "item": "social_worker_hour", "units": 3.0},
        ],
    },
]
"""Default pathway library. ``weights`` give each pathway's relative chance by stratum;
each step names a service line, its weeks of service, the cost item and units per week.
Health gains are illustrative assumptions (QALYs per completed episode), not estimates.
A GP step's units are appointments with practice staff in the episode (assumed: 2, and 3
for a long-term-condition review with GP, nurse and tests). ``ae_discharged`` (an A&E
attendance without admission) and ``emergency_admission_home`` (admitted, discharged
home without new support: about half of discharges in England's discharge-to-assess
model) bring the mix of A&E, admissions and supported discharges toward England's;
the weights of ``gp_only`` and ``ae_discharged`` are calibrated (one factor each on all
strata; configs/calibration/fitted.json), the others are assumptions."""


@dataclass
class PathwaysConfig:
    """The library of care pathways an episode can follow."""

    name: str = P("default", doc="Name of this pathway library.")
    library: list = P(DEFAULT_PATHWAYS, doc="Pathways: name, weights, qaly_gain, steps.")


@dataclass
class CarenetConfig:
    """A whole scenario: every group.

    The run keys (``seed``, ``steps``, ``out``...) are the engine's
    (``carenet.sim.modelspec.RunKeys``): the engine adds them to this schema when it
    validates a configuration (``run_schema``), so they are declared in one place.
    """

    population: PopulationConfig = field(default_factory=PopulationConfig)
    organisations: OrganisationsConfig = field(default_factory=OrganisationsConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)
    handoff: HandoffConfig = field(default_factory=HandoffConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    power_rule: PowerRuleConfig = field(default_factory=PowerRuleConfig)
    response: ResponseConfig = field(default_factory=ResponseConfig)
    costs: CostsConfig = field(default_factory=CostsConfig)
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    pathways: PathwaysConfig = field(default_factory=PathwaysConfig)
    warmup_weeks: int = P(
        52,
        lo=0,
        hi=5199,
        unit="weeks",
        doc="Weeks simulated first and left out of every summary metric (the warm-up: "
        "queues, episodes, ties and trust settle from their built state). Must be below "
        "steps; 0 counts every week. Default: the start-up transient of weekly cost and net "
        "QALYs lasts about one quarter (MSER-5 per run, median over 5 seeds: 5-20 weeks in "
        "the reference arrangements, but 60 for the network's QALYs), rounded up to one "
        "budget year; slower trends "
        "(trust building, queue growth) are dynamics, left in (docs/warmup.md, "
        "benchmarks/warmup.py).",
    )


SCHEMAS: dict[str, type] = {
    c.__name__: c
    for c in (
        CostItem,
        CostsConfig,
        PopulationConfig,
        OrganisationsConfig,
        StructureConfig,
        HandoffConfig,
        HealthConfig,
        PowerRuleConfig,
        ResponseConfig,
        ShockConfig,
        ScenarioConfig,
        PathwaysConfig,
        CarenetConfig,
    )
}
