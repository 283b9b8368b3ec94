"""One panic() with everything configured at once: printk, pstore on the HPET, the stop method, kdump.

Composed from the blocks (no kernel function of its own but the driver work below):
  blocks.panic        panic() at each variant's kernel version; panic_on_oops in oops_end()
  blocks.printk       printk(), console_unlock() handover, console_flush_on_panic()
  blocks.clocksource  read_hpet(); pstore_dump() as a kmsg dumper reads it in panic()
  blocks.stop         smp_send_stop(): REBOOT_VECTOR, then NMI
  blocks.crash        a crash kernel is loaded (kexec -p): __crash_kexec(), the NMI shoot-down,
                      crash_smp_send_stop(), crash_save_cpu(), machine_kexec()
  here                arch/x86/kernel/setup.c dump_kernel_offset(): the x86 panic notifier that
                      prints "Kernel Offset: ..." (registered whenever KASLR is on)

CPUs: CPU0 is a kernel thread that reads the clock (ktime_get() -> read_hpet()) every
20 us, READS times, then idles; CPU1 prints (a driver's dev_info() every 50 us, three times), then idles;
CPU2 crashes (sysrq-c: panic("sysrq triggered crash")) after 120 us. Event: a #GP on CPU0
inside read_hpet()'s locked region (die() -> oops_end(): panic_on_oops panics, otherwise
the task dies with hpet.lock held and the CPU goes idle).
Goal: the crash kernel runs (machine_kexec()), every other CPU's registers saved.

Result (what the search shows; see README and docs/blocks.md):
  v4.10-post-notifiers     fails: crash-regs-lost. panic() stops the others with
                           smp_send_stop() (offline), so nmi_shootdown_cpus() waits for and
                           reaches none of them: real, fixed by 0ee59413c967 (v4.11)
  v5.13-post-notifiers     fails: deadlock. crash_smp_send_stop() NMI-stops CPU1 while it owns
                           the console; dump_kernel_offset()'s printk() spins as console_waiter
                           for good: real, fixed by d51507098ff9 (v5.18)
  v6.9-post-notifiers      fails: deadlock. The NMI shoot-down stops CPU0 inside read_hpet()'s
                           locked region; pstore_dump() -> read_hpet() on the panic CPU spins on
                           hpet.lock for good (no panic_cpu check upstream)
  v6.9-post-notifiers-tony holds: Tony W Wang-oc's read_hpet() panic_cpu check
  v6.9                     holds: without post notifiers __crash_kexec() runs first
  v6.9-oops-no-panic       fails: deadlock. panic_on_oops=0: a #GP in read_hpet()'s locked
                           region kills the task with hpet.lock held; the later panic's
                           pstore_dump() spins on it (post notifiers, to reach kmsg_dump())
"""

from __future__ import annotations

from panicfuzz.kernel import context_of, halt, local_irq_enable, udelay
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Variant

from .blocks.clocksource import HpetClocksource
from .blocks.crash import X86Crash
from .blocks.panic import PANIC_CPU_INVALID
from .blocks.printk import Printk
from .blocks.stop import X86Stop

READS = 20  # CPU0 reads the clock until well after CPU2's panic has begun
VARIANTS = {  # name: (kernel_version, crash_kexec_post_notifiers, panic_on_oops, Tony's patch)
    "v4.10-post-notifiers": ((4, 10), True, True, False),
    "v5.13-post-notifiers": ((5, 13), True, True, False),
    "v6.9-post-notifiers": ((6, 9), True, True, False),
    "v6.9-post-notifiers-tony": ((6, 9), True, True, True),
    "v6.9": ((6, 9), False, True, False),
    "v6.9-oops-no-panic": ((6, 9), True, False, False),
}


class PanicPath(Printk, HpetClocksource, X86Crash, X86Stop):
    name = "panic_path"
    seed = 5
    source = "kernel/panic.c panic() with printk, pstore/HPET, smp_send_stop() and kdump together (v4.10, v5.13, v6.9)"
    variants = (
        Variant("v4.10-post-notifiers", "fails", "v4.10, crash_kexec_post_notifiers: smp_send_stop() before the notifiers", must=("invariant crash-regs-lost",), source="0ee59413c967 changelog"),
        Variant("v5.13-post-notifiers", "fails", "v5.13, post notifiers: the NMI shoot-down stops the console owner", must=("deadlock in console_trylock_spinning()", "deadlock on hpet.lock in read_hpet()",), source="d51507098ff9 changelog"),
        Variant("v6.9-post-notifiers", "fails", "v6.9, post notifiers: the NMI shoot-down stops the HPET reader; pstore reads the HPET", must=("deadlock on hpet.lock in read_hpet()",), source="arch/x86/kernel/hpet.c v6.9; fs/pstore/platform.c"),
        Variant("v6.9-post-notifiers-tony", "holds", "v6.9, post notifiers, Tony's read_hpet() panic_cpu check", source="20240528063836.5248-1-TonyWWang-oc@zhaoxin.com"),
        Variant("v6.9", "holds", "v6.9 defaults: __crash_kexec() before anything else"),
        Variant("v6.9-oops-no-panic", "fails", "v6.9, post notifiers, panic_on_oops=0: an oops leaves hpet.lock held", must=("deadlock on hpet.lock in read_hpet()",), source="arch/x86/kernel/dumpstack.c oops_end()"),
    )
    ncpus = 3
    goal = "the crash kernel runs with every other CPU's registers saved"
    max_steps = 700
    kmsg_dumpers = ("pstore_dump",)
    panic_notifier_list = ("dump_kernel_offset",)

    def __init__(self, variant: str):
        super().__init__(variant)
        version, post, on_oops, tony = VARIANTS[variant]
        self.kernel_version = version
        self.crash_kexec_post_notifiers = post
        self.panic_on_oops = on_oops
        self.hpet_read_in_panic = tony

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != PANIC_CPU_INVALID

    def fingerprint(self) -> tuple:
        from panicfuzz.fingerprint import model_state

        return model_state(self), self.printk_fingerprint()

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            for _ in range(READS):
                await self.read_hpet()  # ktime_get() -> read_hpet(), from a timer every 20 us
                await udelay(20)
        elif cpu == 1:
            for _ in range(3):
                await self.printk("dev_info")
                await udelay(50)
        else:
            await udelay(120)
            await self.panic("sysrq triggered crash")  # drivers/tty/sysrq.c sysrq_handle_crash()
        await halt("cpu_idle")

    # arch/x86/kernel/setup.c dump_kernel_offset(): pr_emerg("Kernel Offset: ...")
    async def dump_kernel_offset(self) -> None:
        await self.printk("Kernel Offset")

    # arch/x86/kernel/traps.c exc_general_protection() -> die() -> oops_end(); without
    # panic_on_oops make_task_dead(): the task is gone, hpet.lock stays held, the CPU idles
    async def exc_general_protection(self) -> None:
        await self.oops_end(in_interrupt=False)
        await local_irq_enable()
        await halt("make_task_dead(): the idle task runs")

    def in_hpet_locked_region(self, cpu: int | None) -> bool:
        return cpu == 0 and self.hpet_lock.value == 0 and context_of(0) == "task" and self.panic_cpu.value == -1

    events = (Event("#GP", Kind.EXC, exc_general_protection, guard=in_hpet_locked_region),)
