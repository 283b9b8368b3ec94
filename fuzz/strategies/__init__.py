"""Decision sources: each chooses one action among those the machine offers.

A source has one method, `choose(machine, enabled) -> Action`; `enabled[0]` is
always the default action (keep running the CPU that ran last, inject
nothing), so a source that always returns it runs the simplest schedule.
"""

from .deviations import Deviations, deviations_of
from .random import RandomSource
from .replay import Replay

__all__ = ["Deviations", "RandomSource", "Replay", "deviations_of"]
