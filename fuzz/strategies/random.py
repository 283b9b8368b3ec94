"""Seeded random deviations: at each decision, leave the default with probability p."""

from __future__ import annotations

import random

from ..trace import Action

# Schedules cycle through these deviation rates: few deviations find shallow
# bugs fast, more find deeper ones.
RATES = (0.3, 0.1, 0.03, 0.01)


class RandomSource:
    def __init__(self, seed: int, index: int):
        # A string seed is hashed with SHA-512 by `random`: stable across processes.
        self.rng = random.Random(f"panicfuzz/{seed}/{index}")
        self.rate = RATES[index % len(RATES)]

    def choose(self, machine, enabled: list[Action]) -> Action:
        if len(enabled) > 1 and self.rng.random() < self.rate:
            return enabled[1 + self.rng.randrange(len(enabled) - 1)]
        return enabled[0]
