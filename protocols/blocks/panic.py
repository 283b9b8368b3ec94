"""kernel/panic.c: panic(), nmi_panic(), oops_end() and the self-stops.

Versions (`kernel_version`):
  < 3.17   crash_kexec(); kmsg_dump(); smp_send_stop(); panic notifiers
  3.17+    crash_kexec_post_notifiers (f06e5153f4ae): without it __crash_kexec() first; the
           notifiers, then kmsg_dump(); with it __crash_kexec() after kmsg_dump()
  4.5+     panic_cpu (1717f2096b54: only the first CPU goes on; modelled for every version,
           earlier kernels serialised with panic_lock or not at all), nmi_panic(),
           console_flush_on_panic() (8d91f8b15361)
  4.11+    with crash_kexec_post_notifiers the other CPUs are stopped by crash_smp_send_stop()
           (0ee59413c967), which saves their registers; before, by smp_send_stop()
  6.x      the same order (panic_other_cpus_shutdown() since v6.7 is a wrapper of it)
Knobs: crash_kexec_post_notifiers, panic_on_oops, panic_timeout (seconds; < 0 reboots at
once, 0 loops forever) and panic_nmi_context (tglx's option 2 in the HPET thread, 29 May
2024: panic() runs NMI-class; a proposal, never merged). The two boot options a search may
vary are declared as scenario parameters (`panicfuzz.scenarios`), for a model to list in its
`parameters`: POST_NOTIFIERS and PANIC_ON_OOPS; the model's class attribute is the default.
Hooks: printk(), bust_spinlocks(), crash_kexec(), smp_send_stop(), crash_smp_send_stop(),
panic_notifier_list (method names), kmsg_dumpers (method names), console_flush_on_panic(),
emergency_restart(). The run's goal is the end of panic(): emergency_restart() or the
final loop.
"""

from __future__ import annotations

from typing import ClassVar

from hypothesis import strategies as st

from panicfuzz.cells import atomic_t
from panicfuzz.kernel import (
    atomic_cmpxchg,
    atomic_read,
    cpu_relax,
    goal_reached,
    local_irq_disable,
    mdelay,
    nmi_enter,
    smp_processor_id,
)

from panicfuzz.model import Parameter

from .smp import Smp

PANIC_CPU_INVALID = -1
PANIC_MSG = "Kernel panic"  # pr_emerg("Kernel panic - not syncing: %s\n", buf): the record's label

# kernel/panic.c: core_param(crash_kexec_post_notifiers, ...) (f06e5153f4ae, v3.17) and
# core_param(panic_on_oops, ...): the boot options the panic threads turn on and off
POST_NOTIFIERS = Parameter(
    "crash_kexec_post_notifiers", st.booleans(), "run the panic notifiers and kmsg dumpers before __crash_kexec() (v3.17+)"
)
PANIC_ON_OOPS = Parameter("panic_on_oops", st.booleans(), "an oops panics; otherwise only the task dies (oops_end())")


class PanicCore(Smp):
    crash_kexec_post_notifiers: ClassVar[bool] = False
    panic_on_oops: ClassVar[bool] = True
    panic_timeout: ClassVar[int] = 0
    panic_nmi_context: ClassVar[bool] = False
    panic_notifier_list: ClassVar[tuple[str, ...]] = ()
    kmsg_dumpers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, variant: str):
        super().__init__(variant)
        self.panic_cpu = atomic_t("panic_cpu", PANIC_CPU_INVALID)

    # kernel/panic.c: panic() (vpanic() since v6.16), v3.17..v6.x; see the module docstring.
    async def panic(self, msg: str) -> None:
        if self.panic_nmi_context:
            nmi_enter()
        await local_irq_disable()
        this_cpu = smp_processor_id()
        old_cpu = await atomic_cmpxchg(self.panic_cpu, PANIC_CPU_INVALID, this_cpu)
        if old_cpu != PANIC_CPU_INVALID and old_cpu != this_cpu:
            await self.panic_smp_self_stop()
        await self.bust_spinlocks()
        await self.printk(PANIC_MSG)
        post = self.crash_kexec_post_notifiers and self.kernel_version >= (3, 17)
        if self.kernel_version < (3, 17):
            await self.crash_kexec()
            await self.kmsg_dump()
            await self.smp_send_stop()
        elif not post:
            await self.crash_kexec()
            await self.smp_send_stop()
        elif self.kernel_version >= (4, 11):
            await self.crash_smp_send_stop()
        else:
            await self.smp_send_stop()
        await self.atomic_notifier_call_chain()
        if self.kernel_version >= (3, 17):
            await self.kmsg_dump()
        if post:
            await self.crash_kexec()
        if self.kernel_version >= (4, 5):
            await self.console_flush_on_panic()
        if self.panic_timeout > 0:
            await mdelay(self.panic_timeout * 1000)
        if self.panic_timeout != 0:
            await self.emergency_restart()
        else:
            await goal_reached("panic(): the final mdelay(PANIC_TIMER_STEP) loop")

    # kernel/panic.c: nmi_panic() (v4.5+): a panic from NMI context; the CPU that lost the
    # race stops in nmi_panic_self_stop(), a nested one on the panic CPU returns.
    async def nmi_panic(self, msg: str) -> None:
        this_cpu = smp_processor_id()
        old_cpu = await atomic_cmpxchg(self.panic_cpu, PANIC_CPU_INVALID, this_cpu)
        if old_cpu == PANIC_CPU_INVALID:
            await self.panic(msg)
        elif old_cpu != this_cpu:
            await self.nmi_panic_self_stop()

    # kernel/panic.c other_cpu_in_panic() (v6.5+; abandon_console_lock_in_panic() in v5.18)
    async def other_cpu_in_panic(self) -> bool:
        pcpu = await atomic_read(self.panic_cpu)
        return pcpu != PANIC_CPU_INVALID and pcpu != smp_processor_id()

    # kernel/panic.c: panic_smp_self_stop() (weak; arm64 overrides it): while (1) cpu_relax();
    async def panic_smp_self_stop(self) -> None:
        while True:
            await cpu_relax()

    # kernel/panic.c: nmi_panic_self_stop() (weak): panic_smp_self_stop(); x86 overrides it (blocks.crash)
    async def nmi_panic_self_stop(self) -> None:
        await self.panic_smp_self_stop()

    # arch/x86/kernel/dumpstack.c: oops_end() after die(): an oops in interrupt context, or
    # any oops with panic_on_oops, panics; otherwise only the task dies (make_task_dead()).
    async def oops_end(self, in_interrupt: bool) -> None:
        if in_interrupt:
            await self.panic("Fatal exception in interrupt")
        if self.panic_on_oops:
            await self.panic("Fatal exception")

    # kernel/notifier.c: atomic_notifier_call_chain(&panic_notifier_list, 0, buf)
    async def atomic_notifier_call_chain(self) -> None:
        for notifier in self.panic_notifier_list:
            await getattr(self, notifier)()

    # kernel/printk/printk.c: kmsg_dump(KMSG_DUMP_PANIC): every registered dumper's ->dump()
    async def kmsg_dump(self) -> None:
        for dumper in self.kmsg_dumpers:
            await getattr(self, dumper)()

    # -- hooks: what is not configured touches nothing ------------------------------------

    # lib/bust_spinlocks.c: bust_spinlocks(1): ++oops_in_progress (only console drivers read it)
    async def bust_spinlocks(self) -> None:
        pass

    # printk(): not modelled unless blocks.printk is composed
    async def printk(self, text: str) -> None:
        pass

    # kernel/kexec_core.c: __crash_kexec(NULL) (crash_kexec() before v4.5): no crash kernel loaded
    async def crash_kexec(self) -> None:
        pass

    # kernel/printk/printk.c: console_flush_on_panic(): no console modelled
    async def console_flush_on_panic(self) -> None:
        pass

    # kernel/reboot.c: emergency_restart() -> machine_emergency_restart(): the run's goal
    async def emergency_restart(self) -> None:
        await goal_reached("emergency_restart()")

    # smp_send_stop() and crash_smp_send_stop() come from a stop block (blocks.stop, blocks.crash).
