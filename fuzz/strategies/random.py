"""Dice: at each decision, leave the default with probability `rate`, to an alternative chosen uniformly."""

from __future__ import annotations

import random

from ..trace import Action

# The random strategy's schedules cycle through these deviation rates: few
# deviations find shallow bugs fast, more find deeper ones.
RATES = (0.3, 0.1, 0.03, 0.01)


class Dice:
    def __init__(self, key: str, rate: float):
        # A string seed is hashed with SHA-512 by `random`: stable across processes.
        self.rng = random.Random(key)
        self.rate = rate

    def choose(self, machine, enabled: list[Action]) -> Action:
        if len(enabled) > 1 and self.rng.random() < self.rate:
            return enabled[1 + self.rng.randrange(len(enabled) - 1)]
        return enabled[0]


def RandomSource(seed: int, index: int) -> Dice:
    """The random strategy's `index`-th schedule of search `seed`."""
    return Dice(f"panicfuzz/{seed}/{index}", RATES[index % len(RATES)])
