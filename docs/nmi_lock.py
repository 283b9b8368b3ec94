"""A lock that an NMI handler also takes: the classic self-deadlock (the tutorial's model).

An illustrative driver, not kernel code: `foo_count_event()` updates a statistics
counter under `stats_lock`, from task context on every CPU and from the driver's
NMI handler (registered with register_nmi_handler(), arch/x86/include/asm/nmi.h).
raw_spin_lock() is not recursive (include/linux/spinlock.h) and local_irq_save()
does not mask NMIs, so an NMI that arrives while its CPU holds the lock spins on it
forever. The same shape made printk() unsafe in NMI context until "printk/nmi:
generic solution for safe printk in NMI" (Petr Mladek, Linux 4.7).
"""

from panicfuzz.cells import Cell, atomic_t, raw_spinlock_t
from panicfuzz.kernel import (
    READ_ONCE,
    WRITE_ONCE,
    atomic_inc,
    in_nmi,
    raw_spin_lock,
    raw_spin_trylock,
    raw_spin_unlock,
    spin_lock_irqsave,
    spin_unlock_irqrestore,
)
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Model, Variant


class NmiLock(Model):
    name = "nmi_lock"
    source = "illustrative driver; include/linux/spinlock.h, arch/x86/include/asm/nmi.h"
    variants = (
        Variant("spin_lock", "fails", "the NMI handler takes stats_lock like task context does", kind="deadlock"),
        Variant("irqsave", "fails", "task context takes it with spin_lock_irqsave(): masks IRQs, not NMIs", kind="deadlock"),
        Variant("trylock", "holds", "in NMI, raw_spin_trylock() and count a miss when the lock is busy"),
    )
    ncpus = 2

    def __init__(self, variant: str):
        super().__init__(variant)
        self.stats_lock = raw_spinlock_t("stats_lock")
        self.stats_events = Cell("stats.events", 0)
        self.stats_nmi_missed = atomic_t("stats.nmi_missed")

    async def cpu_main(self, cpu: int) -> None:
        await self.foo_count_event()

    # foo.c: foo_count_event(), called from task context and from foo_nmi_handler()
    async def foo_count_event(self) -> None:
        if in_nmi() and self.variant == "trylock":
            if not await raw_spin_trylock(self.stats_lock):
                await atomic_inc(self.stats_nmi_missed)
                return
        elif self.variant == "irqsave" and not in_nmi():
            flags = await spin_lock_irqsave(self.stats_lock)
        else:
            await raw_spin_lock(self.stats_lock)
        events = await READ_ONCE(self.stats_events)
        await WRITE_ONCE(self.stats_events, events + 1)
        if self.variant == "irqsave" and not in_nmi():
            await spin_unlock_irqrestore(self.stats_lock, flags)
        else:
            await raw_spin_unlock(self.stats_lock)

    # foo.c: foo_nmi_handler(), registered with register_nmi_handler(NMI_LOCAL, ...)
    async def foo_nmi_handler(self) -> None:
        await self.foo_count_event()

    nmi_entry = foo_nmi_handler  # every NMI runs it, whoever sent it (one vector)
    events = (Event("NMI", Kind.NMI),)
