"""The patient population, held in arrays (never one Python object per patient).

Each patient has a risk stratum, a locality, a registered GP practice, a running health
account (QALYs gained minus lost in the run) and a flag for an open care episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carenet.models.schema import STRATA, PopulationConfig


@dataclass
class Population:
    """Patient arrays, index = patient id, and the members of each stratum.

    ``stratum`` is read-only: a patient changes stratum through :meth:`move` (or
    :meth:`set_strata`), which keeps the per-stratum member index up to date, so that
    the demand stage can draw from a stratum's members without scanning the population.

    Attributes:
        stratum: Risk stratum index (0 well, 1 ltc, 2 multimorbid, 3 frail), int8,
            read-only.
        locality: Locality index, int16.
        gp: Organisation id of the registered GP practice, int32.
        health: Net QALYs gained in the run so far, float32.
        in_episode: Whether the patient has an open care episode.
    """

    stratum: np.ndarray
    locality: np.ndarray
    gp: np.ndarray
    health: np.ndarray
    in_episode: np.ndarray
    n_strata: int = len(STRATA)

    def __post_init__(self) -> None:
        self._stratum = np.array(self.stratum, dtype=np.int8)  # the writable base
        self.stratum = self._stratum.view()
        self.stratum.flags.writeable = False
        self._reindex()

    def _reindex(self) -> None:
        """Build the member index from ``stratum``: one pass over the population."""
        # order: patient ids grouped by stratum, stratum s at order[start[s]:start[s+1]];
        # pos: each patient's place in order.
        self._order = np.argsort(self._stratum, kind="stable").astype(np.int32)
        counts = np.bincount(self._stratum, minlength=self.n_strata)
        self._start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._pos = np.empty(self.size, dtype=np.int32)
        self._pos[self._order] = np.arange(self.size, dtype=np.int32)

    @property
    def size(self) -> int:
        """Number of patients."""
        return len(self.stratum)

    def count(self, s: int) -> int:
        """Number of patients in stratum ``s``."""
        return int(self._start[s + 1] - self._start[s])

    def members(self, s: int) -> np.ndarray:
        """The patients in stratum ``s`` (a read-only view, in no particular order).

        The order depends only on the history of moves, so it is reproducible; the view
        changes with the next :meth:`move`.
        """
        view = self._order[self._start[s] : self._start[s + 1]]
        view.flags.writeable = False
        return view

    def move(self, pids: np.ndarray, delta: int) -> None:
        """Move patients ``pids`` (distinct) one stratum up (``delta=1``) or down (``-1``).

        Each patient moves from the stratum it is in now; the member index is updated in
        time proportional to the movers.

        Raises:
            ValueError: ``delta`` is not 1 or -1, a patient appears twice, or a move
                would leave the strata.
        """
        pids = np.asarray(pids, dtype=np.int64)
        if pids.size == 0:
            return
        if delta not in (1, -1):
            raise ValueError(f"delta: {delta!r} is not allowed; expected 1 or -1")
        # A sort and a neighbour comparison: np.unique (NumPy 2.5) was 20 times slower here.
        ordered = np.sort(pids)
        if (ordered[1:] == ordered[:-1]).any():
            raise ValueError("pids: a patient appears twice; expected distinct patients")
        old = self._stratum[pids]
        if (old + delta < 0).any() or (old + delta >= self.n_strata).any():
            raise ValueError(f"pids: a move by {delta} would leave strata 0-{self.n_strata - 1}")
        for s in range(self.n_strata):
            group = pids[old == s]
            if group.size:
                self._shift(group, s, delta)

    def _shift(self, group: np.ndarray, s: int, delta: int) -> None:
        """Move ``group`` (all in stratum ``s``) to the neighbouring stratum ``s + delta``.

        The block of stratum ``s`` gives up its last (moving up) or first (moving down)
        ``d`` places to the neighbouring block; movers outside those places swap with the
        non-movers inside them.
        """
        d = group.size
        order, pos = self._order, self._pos
        lo = self._start[s + 1] - d if delta == 1 else self._start[s]
        p = pos[group]
        inside = (p >= lo) & (p < lo + d)
        held = np.zeros(d, dtype=bool)
        held[p[inside] - lo] = True
        free = lo + np.flatnonzero(~held)  # places to hand over that non-movers hold
        out = p[~inside]  # places of movers outside them
        movers, stayers = order[out], order[free]
        order[out], order[free] = stayers, movers
        pos[stayers], pos[movers] = out, free
        if delta == 1:
            self._start[s + 1] = lo
        else:
            self._start[s] = lo + d
        self._stratum[group] += delta

    def set_strata(self, stratum: np.ndarray) -> None:
        """Replace every patient's stratum (rebuilds the member index: one pass)."""
        self._stratum[:] = stratum
        self._reindex()


def build_population(
    cfg: PopulationConfig,
    gp_ids: np.ndarray,
    gp_locality: np.ndarray,
    gp_size: np.ndarray,
    rng: np.random.Generator,
) -> Population:
    """Draw a population: strata from their shares, localities, GP lists by practice size.

    Args:
        cfg: Population parameters.
        gp_ids: Organisation ids of the GP practices.
        gp_locality: Locality of each practice.
        gp_size: Relative list size of each practice.
        rng: The ``population`` stream.
    """
    n = cfg.size
    shares = np.asarray(cfg.stratum_shares, dtype=float)
    stratum = rng.choice(len(shares), size=n, p=shares / shares.sum()).astype(np.int8)
    # Localities in proportion to the GP list sizes they hold (a practice-free locality
    # gets no patients).
    loc_weight = np.bincount(gp_locality, weights=gp_size, minlength=cfg.localities)
    locality = rng.choice(cfg.localities, size=n, p=loc_weight / loc_weight.sum()).astype(np.int16)
    gp = np.empty(n, dtype=np.int32)
    u = rng.random(n)
    for loc in range(cfg.localities):
        members = np.flatnonzero(locality == loc)
        if members.size == 0:
            continue
        mask = gp_locality == loc
        w = gp_size[mask]
        cum = np.cumsum(w / w.sum())
        cum[-1] = 1.0
        gp[members] = gp_ids[mask][np.searchsorted(cum, u[members], side="right")]
    return Population(
        stratum=stratum,
        locality=locality,
        gp=gp,
        health=np.zeros(n, dtype=np.float32),
        in_episode=np.zeros(n, dtype=bool),
    )
