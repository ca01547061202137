"""Named random streams: one independent generator per process, all from one seed.

Every random draw in carenet goes through a stream named after the process it serves
(``"population"``, ``"demand"``, ``"handoff"`` ...). A stream's generator depends only on the
run seed and the stream's name, so two scenarios run with the same seed share the random
numbers of every process they share (common random numbers), whatever else differs.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(name: str) -> int:
    """Return a stable 32-bit key for a stream name (the same on every machine)."""
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """A set of named generators derived from one seed.

    Args:
        seed: The run seed.

    Example:
        >>> s = Streams(1)
        >>> a = s.get("demand").random()
        >>> a == Streams(1).get("demand").random()
        True
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._gens: dict[str, np.random.Generator] = {}

    def get(self, name: str) -> np.random.Generator:
        """Return the generator for a stream, creating it on first use."""
        gen = self._gens.get(name)
        if gen is None:
            ss = np.random.SeedSequence(entropy=self.seed, spawn_key=(stream_key(name),))
            gen = np.random.Generator(np.random.PCG64(ss))
            self._gens[name] = gen
        return gen

    def seed_for(self, name: str) -> int:
        """Return a 32-bit integer seed for a library that takes its own seed (networkx)."""
        return int(self.get(name).integers(0, 2**31 - 1))
