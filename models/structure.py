"""The two structures: a hierarchy and a network of peer ties.

The hierarchy is a tree of reporting, approval and commissioning lines; the network is a
graph of peer ties between service organisations.

Both are built once at the start from the ``structure`` stream, with networkx graph
generators given explicit seeds drawn from that stream, so one seed always lays the same
structure. During a run the hierarchy only changes when an organisation fails (its
children report to its parent); peer ties are held as dense matrices in the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carenet.models.schema import BUREAUCRATIC_KINDS, SERVICE_KINDS, OrganisationsConfig


@dataclass
class OrgLayout:
    """Who the organisations are: kind, locality coverage and relative size.

    Attributes:
        kinds: Kind name of each organisation, index = organisation id.
        locality: Home locality of each organisation (-1 for system-wide bodies).
        cover: Boolean matrix [org, locality]: localities whose patients it serves.
        size: Relative size within its kind (mean 1), log-normal.
    """

    kinds: list[str]
    locality: np.ndarray
    cover: np.ndarray
    size: np.ndarray

    @property
    def n(self) -> int:
        """Number of organisations."""
        return len(self.kinds)


def build_layout(cfg: OrganisationsConfig, localities: int, rng: np.random.Generator) -> OrgLayout:
    """Create the organisations of one integrated care system.

    Service organisations come first (in ``SERVICE_KINDS`` order), then one national body,
    one commissioner (ICB), one regulator and one Health & Wellbeing board.
    """
    counts = {
        "gp": cfg.n_gp,
        "acute": cfg.n_acute,
        "community": cfg.n_community,
        "mental_health": cfg.n_mental_health,
        "social_care": cfg.n_social_care,
        "vcse": cfg.n_vcse,
    }
    kinds: list[str] = []
    loc: list[int] = []
    covers: list[np.ndarray] = []
    sizes: list[float] = []
    for kind in SERVICE_KINDS:
        n_k = counts[kind]
        raw = (
            rng.lognormal(mean=0.0, sigma=cfg.size_sigma, size=n_k)
            if cfg.size_sigma
            else (np.ones(n_k))
        )
        raw = raw / raw.mean()
        for j in range(n_k):
            c = np.zeros(localities, dtype=bool)
            if n_k >= localities:
                c[j % localities] = True
            else:
                c[np.arange(localities) % n_k == j] = True
            kinds.append(kind)
            loc.append(int(np.flatnonzero(c)[0]))
            covers.append(c)
            sizes.append(float(raw[j]))
    for kind in BUREAUCRATIC_KINDS:
        kinds.append(kind)
        loc.append(-1)
        covers.append(np.zeros(localities, dtype=bool))
        sizes.append(1.0)
    return OrgLayout(
        kinds=kinds,
        locality=np.array(loc, dtype=np.int32),
        cover=np.array(covers, dtype=bool),
        size=np.array(sizes, dtype=float),
    )


def build_hierarchy(layout: OrgLayout) -> np.ndarray:
    """Return the parent of each organisation in the hierarchy (-1 for the root).

    The tree: national body at the root; the commissioner (ICB), the regulator and the
    Health & Wellbeing board report to it; NHS providers (acute, community, mental health)
    and GP practices are commissioned by the ICB; local-authority social care reports to the
    HWB; each VCSE organisation is commissioned by the social-care authority that covers its
    locality.
    """
    kinds = layout.kinds
    idx = {k: [i for i, x in enumerate(kinds) if x == k] for k in dict.fromkeys(kinds)}
    national = idx["national_body"][0]
    icb = idx["commissioner"][0]
    hwb = idx["hwb"][0]
    parent = np.full(layout.n, -1, dtype=np.int32)
    for k in ("commissioner", "regulator", "hwb"):
        for i in idx[k]:
            parent[i] = national
    for k in ("gp", "acute", "community", "mental_health"):
        for i in idx.get(k, []):
            parent[i] = icb
    social = idx.get("social_care", [])
    for i in social:
        parent[i] = hwb
    for i in idx.get("vcse", []):
        loc = layout.locality[i]
        covering = [s for s in social if layout.cover[s, loc]]
        parent[i] = covering[0] if covering else hwb
    return parent


def depths(parent: np.ndarray) -> np.ndarray:
    """Depth of each node in the tree (root = 0)."""
    d = np.zeros(len(parent), dtype=np.int32)
    for i in range(len(parent)):
        j, k = i, 0
        while parent[j] >= 0:
            j = parent[j]
            k += 1
        d[i] = k
    return d


def escalation_levels(parent: np.ndarray) -> np.ndarray:
    """Matrix of hierarchy levels a handoff climbs and descends between two organisations.

    Levels = depth(a) + depth(b) - 2 * depth(lowest common superior). Zero on the diagonal.
    """
    n = len(parent)
    d = depths(parent).astype(np.int64)
    maxd = int(d.max()) if n else 0
    # anc[k, i]: i's ancestor at depth k (itself at its own depth; -1 below it).
    anc = np.full((maxd + 1, n), -1, dtype=np.int64)
    cur = np.arange(n)
    for _ in range(maxd + 1):
        anc[d[cur], np.arange(n)] = cur
        cur = np.where(parent[cur] >= 0, parent[cur], cur)
    lca_depth = np.full((n, n), -1, dtype=np.int64)
    for k in range(maxd + 1):  # deeper common ancestors overwrite shallower ones
        a = anc[k]
        lca_depth[(a[:, None] == a[None, :]) & (a[:, None] >= 0)] = k
    if (lca_depth < 0).any():
        raise ValueError("escalation levels need one hierarchy: some organisations share no root")
    return (d[:, None] + d[None, :] - 2 * lca_depth).astype(np.int32)


def branches(parent: np.ndarray, locality: np.ndarray, service: np.ndarray) -> np.ndarray:
    """The branch of each organisation: its place for a service organisation.

    The system is organised by place (locality): each locality's providers of every kind,
    NHS and local government alike, form one branch (its place-based partnership), so a
    branch cuts across service lines and a referrer that favours its own branch favours
    its own place's providers of the line it needs. A provider that serves several
    localities belongs to the place of its home locality (its main site). A bureaucratic
    body's branch is its ancestor just below the root (itself if it is one), so no
    bureaucratic body shares a branch with a provider. (Before issue #12 the branch was
    the ancestor below the root, which put every provider of a line in one branch, so a
    bias towards the branch cancelled in every referral.)

    Args:
        parent: Parent of each organisation (-1 for the root).
        locality: Home locality of each organisation (-1 for system-wide bodies).
        service: Whether each organisation serves patients.

    Returns:
        A branch label per organisation; equal labels mean the same branch. A place's
        label is ``n + locality`` (never an organisation id).
    """
    n = len(parent)
    b = np.zeros(n, dtype=np.int32)
    for i in range(n):
        if service[i] and locality[i] >= 0:
            b[i] = n + int(locality[i])
            continue
        j = i
        while parent[j] >= 0 and parent[parent[j]] >= 0:
            j = int(parent[j])
        b[i] = j
    return b


def initial_ties(
    kind: str,
    service: np.ndarray,
    layout: OrgLayout,
    mean_degree: float,
    rewire_prob: float,
    locality_ratio: float,
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """Lay the initial peer ties between service organisations.

    Args:
        kind: none, random, small_world, scale_free or locality.
        service: Ids of the service organisations.
        layout: The organisations.
        mean_degree: Target mean ties per organisation.
        rewire_prob: Small-world rewiring probability.
        locality_ratio: Within- vs across-locality tie odds (locality ties).
        rng: The structure stream; networkx gets seeds drawn from it.

    Returns:
        Sorted list of (a, b) ties with a < b, in organisation ids.
    """
    n = len(service)
    if kind == "none" or n < 2 or mean_degree <= 0:
        return []
    seed = int(rng.integers(0, 2**31 - 1))
    k = max(1, min(n - 1, int(round(mean_degree))))
    if kind in ("random", "small_world", "scale_free"):
        import networkx as nx  # only the generators need it (imported on first use)
    if kind == "random":
        m = int(round(n * mean_degree / 2))
        g = nx.gnm_random_graph(n, min(m, n * (n - 1) // 2), seed=seed)
        order = np.arange(n)
    elif kind == "small_world":
        # Ring ordered by locality so that ring neighbours are local before rewiring.
        order = np.argsort(layout.locality[service], kind="stable")
        g = nx.watts_strogatz_graph(n, max(2, k), rewire_prob, seed=seed)
    elif kind == "scale_free":
        # Barabasi-Albert hubs are the earliest nodes: shuffle so hubs are random orgs.
        order = rng.permutation(n)
        g = nx.barabasi_albert_graph(n, max(1, k // 2), seed=seed)
    elif kind == "locality":
        loc = layout.locality[service]
        same = loc[:, None] == loc[None, :]
        n_same = (same.sum() - n) / 2
        n_diff = same.size / 2 - n / 2 - n_same
        m = n * mean_degree / 2
        p_out = m / (locality_ratio * n_same + n_diff) if (n_same or n_diff) else 0.0
        probs = np.where(same, min(1.0, locality_ratio * p_out), min(1.0, p_out))
        u = rng.random((n, n))
        iu = np.triu_indices(n, 1)
        hit = u[iu] < probs[iu]
        pairs = zip(iu[0][hit], iu[1][hit], strict=True)
        ties = [(int(service[a]), int(service[b])) for a, b in pairs]
        return sorted((min(a, b), max(a, b)) for a, b in ties)
    else:  # pragma: no cover - validated earlier
        raise ValueError(f"unknown initial_ties {kind!r}")
    ties = [(int(service[order[a]]), int(service[order[b]])) for a, b in g.edges()]
    return sorted((min(a, b), max(a, b)) for a, b in ties)
