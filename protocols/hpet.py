"""x86 HPET clocksource read under panic and broadcast #MC (seed 000).

Kernel code modelled (v6.x, CONFIG_SMP && CONFIG_64BIT), from the blocks:
  blocks.clocksource  read_hpet(), union hpet_lock; pstore_dump() reads it in kmsg_dump()
  blocks.mce          do_machine_check() rendezvous, mce_panic(), wait_for_panic()
  blocks.panic        panic(): smp_send_stop(), then kmsg_dump(), then emergency_restart()
  blocks.stop         native_stop_other_cpus(), stop_this_cpu()
  here                arch/x86/kernel/traps.c exc_general_protection() -> die() -> oops_end()
Thread: "[PATCH] x86/hpet: Read HPET directly if panic in progress",
  Tony W Wang-oc, 28 May 2024, and tglx's replies of 29 May 2024.

CPU0 runs kernel code that reads the clocksource; CPU1 runs user code. The
injectable events are a broadcast #MC (kernel-mode #MC is NMI-class, user-mode
is not: the engine's rule) and a #GP inside read_hpet()'s locked region.
No crash kernel is loaded; panic=-1 (reboot at once).
"""

from __future__ import annotations

from panicfuzz.kernel import context_of, run_user_code
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Variant

from .blocks.clocksource import HpetClocksource
from .blocks.mce import Mce
from .blocks.panic import PANIC_CPU_INVALID
from .blocks.stop import X86Stop


class Hpet(Mce, HpetClocksource, X86Stop):
    name = "hpet"
    seed = 0
    source = (
        "arch/x86/kernel/hpet.c read_hpet() (v6.x); arch/x86/kernel/cpu/mce/core.c; "
        "LKML 'x86/hpet: Read HPET directly if panic in progress' (May 2024)"
    )
    variants = (
        Variant(
            "mainline",
            "fails",
            "read_hpet() as merged: only the in_nmi() shortcut",
            must=("deadlock on hpet.lock in read_hpet()",),
            source="arch/x86/kernel/hpet.c v6.x; tglx 29 May 2024, scenarios 1 and 2",
        ),
        Variant(
            "panic-cpu-check",
            "holds",
            "Tony's patch: read the counter directly once panic_cpu is set",
            source="20240528063836.5248-1-TonyWWang-oc@zhaoxin.com",
        ),
        Variant(
            "panic-nmi-context",
            "holds",
            "tglx's option 2: panic() runs as NMI-class context",
            source="tglx 29 May 2024 (87wmnda8mc.ffs@tglx), option #2",
        ),
    )
    ncpus = 2
    goal = "the panic CPU reaches emergency_restart()"
    max_steps = 600
    kmsg_dumpers = ("pstore_dump",)
    panic_timeout = -1

    def __init__(self, variant: str):
        super().__init__(variant)
        self.hpet_read_in_panic = variant == "panic-cpu-check"
        self.panic_nmi_context = variant == "panic-nmi-context"

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != PANIC_CPU_INVALID

    def starts_in_user_mode(self, cpu: int) -> bool:
        return cpu != 0

    def cpu_label(self, cpu: int) -> str:
        return f"CPU{cpu} ({'kernel' if cpu == 0 else 'user'} mode)"

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            # A kernel thread that reads the clock (ktime_get() -> read_hpet()).
            for _ in range(2):
                await self.read_hpet()
        await run_user_code()

    # arch/x86/kernel/traps.c: exc_general_protection() -> die() -> oops_end() -> panic()
    async def exc_general_protection(self) -> None:
        await self.oops_end(in_interrupt=False)

    def no_panic_yet(self, cpu: int | None) -> bool:
        return self.panic_cpu.value == PANIC_CPU_INVALID

    def in_hpet_locked_region(self, cpu: int | None) -> bool:
        return self.hpet_lock.value == cpu and context_of(cpu) == "task"

    events = (
        Event("#MC", Kind.MCE, Mce.exc_machine_check, broadcast=True, guard=no_panic_yet),
        Event("#GP", Kind.EXC, exc_general_protection, guard=in_hpet_locked_region),
    )
