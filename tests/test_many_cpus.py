"""Shrinking and its minimality proof on a model with many CPUs.

Eight CPUs each do some work on their own data, then increment a shared
counter: with a plain read and write (a lost update needs exactly one
preemption: between one CPU's read and its write, another CPU's whole
increment) or with atomic_inc(). Whatever schedule the search first fails
with (its dice switch between CPUs often), the shrinker must reach the
one-preemption minimum and prove it.
"""

from __future__ import annotations

from panicfuzz.cells import Cell, atomic_t
from panicfuzz.kernel import BUG_ON, READ_ONCE, WRITE_ONCE, atomic_inc
from panicfuzz.model import Model, Variant
from panicfuzz.search import search, verify

NCPUS = 8


class Counter(Model):
    name = "toy-counter"
    seed = 102
    ncpus = NCPUS
    symmetric_cpus = True
    max_steps = 400
    variants = (
        Variant("racy", "fails", "count++ as a read and a write", kind="invariant"),
        Variant("atomic", "holds", "atomic_inc()"),
    )

    def __init__(self, variant: str):
        super().__init__(variant)
        self.count = atomic_t("count")
        self.work = [Cell(f"work[{c}]") for c in range(NCPUS)]

    async def cpu_main(self, cpu: int) -> None:
        for _ in range(3):  # per-CPU work: nothing shared
            await WRITE_ONCE(self.work[cpu], await READ_ONCE(self.work[cpu]) + 1)
        if self.variant == "atomic":
            await atomic_inc(self.count)
        else:
            await WRITE_ONCE(self.count, await READ_ONCE(self.count) + 1)

    def final_check(self) -> None:
        BUG_ON(self.count.value != NCPUS, "lost-update", f"count is {self.count.value}, not {NCPUS}: an increment was lost")


def test_a_lost_update_among_eight_cpus_shrinks_to_one_proven_preemption():
    for seed in range(3):
        report = search(Counter, "racy", seed=seed, first_only=True)
        (f,) = report.findings
        assert f.result.outcome.kind == "invariant"
        assert f.first.preemptions + f.first.switches > 1  # the dice found it with more than one switch
        size = f.result.size
        assert (size.preemptions, size.injected) == (1, 0)
        assert f.shrink_report.minimal is True


def test_the_atomic_counter_holds_in_every_order_of_the_cpus():
    v = verify(Counter, "atomic", preemptions=0, events=0)  # the racy one holds here too: no preemption
    assert v.holds and v.schedules > NCPUS
