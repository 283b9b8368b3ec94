"""PCT: probabilistic concurrency testing with random priorities.

Burckhardt, Kothari, Musuvathi, Nagarakatte, "A Randomized Scheduler with
Probabilistic Guarantees of Finding Bugs", ASPLOS 2010 (Algorithm 1):
give the n CPUs distinct random priorities d, d+1, ..., d+n-1; pick d-1
change points k_1..k_{d-1} uniformly among the k decisions of a run; always
run the enabled CPU with the highest priority, and at change point k_i drop
the running CPU's priority to i. A bug of depth d (d ordering constraints)
is then found with probability at least 1/(n k^(d-1)) per run.

Injected events are ordering constraints too, so here a change point may
instead deliver one of the events on offer (a coin flip when any is): depth
d = d-1 change points, each a priority drop or an injection. Depth 1 is plain
random priorities and injects nothing.

k is not known before a run: `PctSearch` starts from the length of the first
(priority-only) run and keeps the longest run seen since, so the search is a
pure function of (model, variant, seed, depth).
"""

from __future__ import annotations

import random

from ..trace import Action, Inject, Run


class PctSource:
    def __init__(self, seed: int, index: int, *, depth: int, k: int, ncpus: int):
        if depth < 1:
            raise ValueError(f"PCT depth must be at least 1, not {depth}")
        rng = random.Random(f"panicfuzz/pct/{seed}/{index}")
        self.rng = rng
        order = list(range(ncpus))
        rng.shuffle(order)
        # priority[cpu]: higher runs first; initial ones are d..d+n-1.
        self.priority = {cpu: depth + rank for rank, cpu in enumerate(order)}
        # Invariant: len(change_points) == depth - 1 (fewer only when k is smaller).
        points = rng.sample(range(k), min(depth - 1, k))
        self.change_points = {step: i + 1 for i, step in enumerate(sorted(points))}

    def choose(self, machine, enabled: list[Action]) -> Action:
        runs = [a for a in enabled if isinstance(a, Run)]
        best = max(runs, key=lambda a: self.priority[a.cpu])
        i = self.change_points.pop(len(machine.trace), None)
        if i is not None:
            injections = [a for a in enabled if isinstance(a, Inject)]
            if injections and self.rng.random() < 0.5:
                return self.rng.choice(injections)
            self.priority[best.cpu] = i
            best = max(runs, key=lambda a: self.priority[a.cpu])
        return best


class PctSearch:
    """Successive PCT runs of one search: owns the estimate of k."""

    def __init__(self, seed: int, depth: int, ncpus: int):
        self.seed, self.depth, self.ncpus = seed, depth, ncpus
        self.k = 0  # longest run seen (decisions); 0 until the first run

    def source(self, index: int) -> PctSource:
        depth = self.depth if self.k else 1  # the first run measures k
        return PctSource(self.seed, index, depth=depth, k=self.k, ncpus=self.ncpus)

    def observe(self, decisions: int) -> None:
        self.k = max(self.k, decisions)


__all__ = ["PctSearch", "PctSource"]
