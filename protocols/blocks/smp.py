"""CPUs and `cpu_online_mask`: the state every SMP block shares."""

from __future__ import annotations

from typing import ClassVar

from panicfuzz.cells import cpumask_t
from panicfuzz.kernel import smp_processor_id
from panicfuzz.model import Model


class Smp(Model):
    """Every CPU starts online; blocks read `kernel_version` for their version switches."""

    kernel_version: ClassVar[tuple[int, ...]] = (6, 9)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.cpu_online_mask = cpumask_t.of("cpu_online_mask", range(self.ncpus))

    def all_but_self(self) -> int:
        """The mask of every CPU but this one (a constant: APIC_DEST_ALLBUT, not a read)."""
        return ((1 << self.ncpus) - 1) & ~(1 << smp_processor_id())
