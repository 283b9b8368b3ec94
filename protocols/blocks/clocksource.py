"""x86 HPET clocksource read, and the kmsg dumper that reads the clock during panic.

Kernel code: arch/x86/kernel/hpet.c read_hpet() and union hpet_lock (CONFIG_SMP &&
CONFIG_64BIT; Waiman Long's 2018 "x86/hpet: Reduce HPET counter read contention",
v4.19 by our reading, unchanged through v6.x; before it read_hpet() is hpet_readl()), hpet_readl();
fs/pstore/platform.c pstore_dump() -> pstore_record_init() -> ktime_get_real_fast_ns()
(kernel/time/timekeeping.c) -> tk_clock_read() -> the clocksource's read().
Switch: hpet_read_in_panic (Tony W Wang-oc, 28 May 2024,
20240528063836.5248-1-TonyWWang-oc@zhaoxin.com: read the counter directly once
panic_cpu is set; not merged).
Use: list "pstore_dump" in `kmsg_dumpers` to read the HPET in panic()'s kmsg_dump().
"""

from __future__ import annotations

from typing import ClassVar

from panicfuzz.cells import Cell, DeviceCounter, arch_spinlock_t
from panicfuzz.kernel import (
    READ_ONCE,
    WRITE_ONCE,
    arch_spin_trylock,
    arch_spin_unlock,
    atomic_read,
    cpu_relax,
    in_nmi,
    local_irq_restore,
    local_irq_save,
    readl,
)

from .panic import PANIC_CPU_INVALID, PanicCore


class HpetClocksource(PanicCore):
    hpet_read_in_panic: ClassVar[bool] = False

    def __init__(self, variant: str):
        super().__init__(variant)
        self.hpet_lock = arch_spinlock_t("hpet.lock")
        self.hpet_value = Cell("hpet.value", 0)
        self.HPET_COUNTER = DeviceCounter("HPET_COUNTER", 0)

    # arch/x86/kernel/hpet.c: hpet_readl(HPET_COUNTER)
    async def hpet_readl(self) -> int:
        return await readl(self.HPET_COUNTER)

    # arch/x86/kernel/hpet.c: read_hpet(), v5.15..v6.x (SMP, 64-bit); the panic_cpu check is
    # Tony's patch (hunk @@ -804).
    async def read_hpet(self) -> int:
        if in_nmi() or self.kernel_version < (4, 19):
            return await self.hpet_readl()
        if self.hpet_read_in_panic:
            if await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
                return await self.hpet_readl()
        old_lock, old_value = await READ_ONCE(self.hpet_lock, self.hpet_value, union="hpet.lockval")
        if old_lock is None:  # !arch_spin_is_locked(&old.lock)
            flags = await local_irq_save()
            if await arch_spin_trylock(self.hpet_lock):
                v = await self.hpet_readl()
                await WRITE_ONCE(self.hpet_value, v)
                await arch_spin_unlock(self.hpet_lock)
                await local_irq_restore(flags)
                return v
            await local_irq_restore(flags)
        # contended: wait for the holder to publish a new value or unlock.
        while True:
            await cpu_relax()
            new_lock, new_value = await READ_ONCE(self.hpet_lock, self.hpet_value, union="hpet.lockval")
            if not (new_value == old_value and new_lock is not None):
                return new_value

    # fs/pstore/platform.c pstore_dump() -> pstore_record_init() -> ktime_get_real_fast_ns():
    # the record's timestamp, read from the clocksource (the other steps touch nothing modelled)
    async def pstore_dump(self) -> None:
        await self.ktime_get_real_fast_ns()

    # kernel/time/timekeeping.c ktime_get_real_fast_ns() -> tk_clock_read(): the HPET here
    def ktime_get_real_fast_ns(self):
        return self.read_hpet()
