"""Trace-level minimisation, run after any search strategy.

A reproducer is shrunk as a list of deviations from the default action
(`panicfuzz.strategies.deviations_of`). Each pass (`panicfuzz.shrinkers.passes`) proposes
smaller candidates; one is kept only if its run fails with the same signature
and is smaller in the order of design §2 (`panicfuzz.trace.Size`). The passes form
one flat list and count their calls and successes, as Hypothesis' shrinker
does; a final bounded exhaustive search proves the preemption and injection
counts minimal (`panicfuzz.shrinkers.shrink`).
"""

from .shrink import PASSES, ShrinkPass, ShrinkReport, shrink

__all__ = ["PASSES", "ShrinkPass", "ShrinkReport", "shrink"]
