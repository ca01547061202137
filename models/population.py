"""The patient population, held in arrays (never one Python object per patient).

Each patient has a risk stratum, a locality, a registered GP practice, a running health
account (QALYs gained minus lost in the run) and a flag for an open care episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carenet.models.schema import PopulationConfig


@dataclass
class Population:
    """Patient arrays, index = patient id.

    Attributes:
        stratum: Risk stratum index (0 well, 1 ltc, 2 multimorbid, 3 frail), int8.
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

    @property
    def size(self) -> int:
        """Number of patients."""
        return len(self.stratum)


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
