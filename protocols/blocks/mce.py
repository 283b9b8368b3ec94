"""x86 broadcast machine check: arch/x86/kernel/cpu/mce/core.c (v6.x), non-LMCE fatal #MC.

Every CPU takes the #MC (the engine's rule: NMI-class when it interrupts kernel
mode, not when it enters from user mode, as exc_machine_check_kernel() /
exc_machine_check_user() do since v5.8). The rendezvous: mce_start() calls in
and waits for every CPU, the Monarch (order 1) goes first; mce_end() waits for
the subjects, the Monarch reigns and panics. The waits time out after
monarch_timeout, and a CPU that sees mce_panicked goes to wait_for_panic():
irqs on inside the #MC handler, 5 s of udelay, then panic() (which self-stops
it if another CPU panics first).
Not modelled: __mc_scan_banks() (touches no shared state here: every bank holds a
fatal error), print_mce() output, fake_panic, LMCE.
"""

from __future__ import annotations

from panicfuzz.cells import atomic_t
from panicfuzz.kernel import (
    USEC_PER_SEC,
    atomic_inc,
    atomic_inc_return,
    atomic_read,
    local_irq_enable,
    mdelay,
    spin_until_cond_timeout,
)

from .panic import PanicCore

PANIC_TIMEOUT_MS = 5 * 1000  # wait_for_panic(): PANIC_TIMEOUT * USEC_PER_SEC
MONARCH_TIMEOUT_US = USEC_PER_SEC  # mca_cfg.monarch_timeout on Intel/Zhaoxin


class Mce(PanicCore):
    def __init__(self, variant: str):
        super().__init__(variant)
        self.mce_callin = atomic_t("mce_callin")
        self.mce_executing = atomic_t("mce_executing")
        self.mce_panicked = atomic_t("mce_panicked")

    # exc_machine_check_kernel() (irqentry_nmi_enter: NMI-class) / exc_machine_check_user()
    # (irqentry_enter_from_user_mode: not): the engine decides which by the interrupted mode.
    async def exc_machine_check(self) -> None:
        await self.do_machine_check()

    # do_machine_check(): every bank holds a fatal error, so the Monarch's mce_reign() panics.
    async def do_machine_check(self) -> None:
        order = await self.mce_start()
        await self.mce_end(order)
        await self.mce_panic("Fatal machine check on current CPU")

    # mce_start(): call in, wait for every CPU, then the Monarch (order 1) goes first.
    async def mce_start(self) -> int:
        order = await atomic_inc_return(self.mce_callin)

        async def everyone_in() -> bool:
            return await atomic_read(self.mce_callin) == self.ncpus

        await self.mce_wait(everyone_in, "Timeout: Not all CPUs entered broadcast exception handler")
        if order == 1:
            await atomic_inc(self.mce_executing)
        return order

    # mce_end(): the Monarch waits for every subject, then reigns.
    async def mce_end(self, order: int) -> None:
        await atomic_inc(self.mce_executing)
        if order == 1:

            async def all_scanned() -> bool:
                return await atomic_read(self.mce_executing) > self.ncpus

            await self.mce_wait(all_scanned, "Timeout: Monarch CPU unable to finish machine check processing")
            await self.mce_reign()
        else:

            async def monarch_done() -> bool:
                return await atomic_read(self.mce_executing) == 0

            await self.mce_wait(monarch_done, "Timeout: Monarch CPU did not finish machine check processing")

    # mce_reign(): global worst >= MCE_PANIC_SEVERITY.
    async def mce_reign(self) -> None:
        await self.mce_panic("Fatal machine check")

    # The rendezvous loops: while (!done) { if (mce_timed_out(&timeout, msg)) ...; ndelay(SPINUNIT); }
    # mce_timed_out(): if (atomic_read(&mce_panicked)) wait_for_panic(); on timeout mce_panic(msg).
    async def mce_wait(self, done, msg: str) -> None:
        async def done_or_panicked() -> bool:
            return await done() or await atomic_read(self.mce_panicked) != 0

        if not await spin_until_cond_timeout(done_or_panicked, MONARCH_TIMEOUT_US):
            await self.mce_panic(msg)
        elif not await done():
            await self.wait_for_panic()

    # mce_panic(): only the first CPU proceeds; print_mce() output is not modelled.
    async def mce_panic(self, msg: str) -> None:
        if await atomic_inc_return(self.mce_panicked) > 1:
            await self.wait_for_panic()
        await self.panic(msg)

    # wait_for_panic(): irqs on inside the #MC handler, 5 s of udelay, then panic.
    async def wait_for_panic(self) -> None:
        await local_irq_enable()
        await mdelay(PANIC_TIMEOUT_MS)
        await self.panic("Panicing machine check CPU died")
