"""Crash / kdump: the crash path from panic() to the jump into the crash kernel.

Kernel code: kernel/kexec_core.c __crash_kexec(), crash_save_cpu() (kernel/crash_core.c
since v5.x); arch/x86/kernel/crash.c native_machine_crash_shutdown(),
kdump_nmi_shootdown_cpus(), kdump_nmi_callback(), crash_smp_send_stop();
arch/x86/kernel/reboot.c nmi_shootdown_cpus(), crash_nmi_callback(),
run_crash_ipi_callback(), nmi_panic_self_stop(); machine_kexec_64.c machine_kexec().

Versions (`kernel_version`):
  v3.3     native_machine_crash_shutdown(): NMI shoot-down, lapic_shutdown(), disable_IO_APIC()
  v3.9+    ioapic_zap_locks() before disable_IO_APIC() ("Prevent crash_kexec() from
           deadlocking on ioapic_lock")
  v4.5+    crash_ipi_issued (Kawai): CPUs looping in NMI context poll run_crash_ipi_callback()
  v4.11+   crash_smp_send_stop() (0ee59413c967): with crash_kexec_post_notifiers, panic()
           shoots the other CPUs down (saving their registers) before the notifiers; the
           later __crash_kexec() does not shoot them again. Before, panic() stopped them with
           smp_send_stop(): offline, so nmi_shootdown_cpus() (num_online_cpus() - 1, NMI to
           the online CPUs) neither waits for nor reaches them and their notes stay empty
  v6.15+   nmi_shootdown_cpus() sets the emergency NMI handler instead of registering one
Knobs: kexec_crash_image (a crash kernel is loaded), crash_disables_ioapic (False: Don
Zickus' 2012 patch drops disable_IO_APIC()).
Hooks: lapic_shutdown(), disable_local_APIC(), ioapic_zap_locks(), disable_IO_APIC() (the
APICs: not modelled unless the model has them, as protocols/kdump.py does);
kdump_kernel_boot() (what the crash kernel does first; default: the goal).
Invariant: check_crash_notes() at machine_kexec(): every other CPU's registers are in its
crash note ("crash-regs-lost"), unless the model says the stopper reported it missing.
"""

from __future__ import annotations

from typing import ClassVar

from panicfuzz.cells import Cell, atomic_t
from panicfuzz.kernel import (
    BUG_ON,
    USEC_PER_SEC,
    READ_ONCE,
    WRITE_ONCE,
    atomic_dec,
    atomic_read,
    atomic_set,
    context_of,
    cpumask_read,
    cpu_relax,
    goal_reached,
    halt,
    local_irq_disable,
    smp_processor_id,
    spin_until_cond_timeout,
)

from .nmi import X86Nmi
from .panic import PanicCore


class KexecCore(PanicCore):
    """kernel/kexec_core.c, kernel/crash_core.c: __crash_kexec() and the per-CPU crash notes
    the crash kernel's vmcore is built from. The arch blocks provide machine_crash_shutdown()
    and machine_kexec()."""

    kexec_crash_image: ClassVar[bool] = True  # a crash kernel is loaded (kexec -p)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.crash_notes = [Cell(f"crash_notes[{c}]", None) for c in range(self.ncpus)]
        self.crash_saves = [0] * self.ncpus  # ghost: crash_save_cpu() calls per CPU

    # kernel/kexec_core.c __crash_kexec() (crash_kexec() before v4.5): kexec_mutex trylock
    # (not modelled: no kexec_load() in flight); if (kexec_crash_image) { crash_setup_regs(),
    # machine_crash_shutdown(), machine_kexec() }.
    async def crash_kexec(self) -> None:
        if not self.kexec_crash_image:
            return
        await self.machine_crash_shutdown()
        await self.machine_kexec()

    # The crash kernel's first steps (protocols/kdump.py boots it); default: the goal.
    async def kdump_kernel_boot(self) -> None:
        await goal_reached("machine_kexec(): the crash kernel runs")

    # kernel/crash_core.c crash_save_cpu(regs, cpu): fill this CPU's ELF note.
    async def crash_save_cpu(self, regs: str, cpu: int) -> None:
        await WRITE_ONCE(self.crash_notes[cpu], regs)
        self.crash_saves[cpu] += 1

    # The invariant of every crash path: when the crashing CPU jumps, each CPU in `cpus`
    # has its registers in its note. `why(cpu)` says what happened to a missing one.
    def check_crash_notes(self, cpus: int, why) -> None:
        missing = [c for c in range(self.ncpus) if cpus >> c & 1 and self.crash_notes[c].value is None]
        BUG_ON(
            bool(missing),
            "crash-regs-lost",
            f"machine_kexec() on CPU{smp_processor_id()}: CPU{missing[0] if missing else ''}'s registers are not "
            f"in the crash dump: {why(missing[0]) if missing else ''}",
        )


class X86Crash(X86Nmi, KexecCore):
    crash_disables_ioapic: ClassVar[bool] = True

    def __init__(self, variant: str):
        super().__init__(variant)
        self.crashing_cpu = Cell("crashing_cpu", -1)
        self.waiting_for_crash_ipi = atomic_t("waiting_for_crash_ipi")
        self.crash_ipi_issued = Cell("crash_ipi_issued", 0)
        self.crash_stopped = Cell("crash_smp_send_stop.cpus_stopped", 0)  # v4.11+

    # arch/x86/kernel/reboot.c machine_crash_shutdown(): machine_ops.crash_shutdown(regs)
    async def machine_crash_shutdown(self) -> None:
        await self.native_machine_crash_shutdown()

    # arch/x86/kernel/crash.c native_machine_crash_shutdown() (v3.3; v3.9+ ioapic_zap_locks();
    # v4.11+ crash_smp_send_stop() instead of kdump_nmi_shootdown_cpus())
    async def native_machine_crash_shutdown(self) -> None:
        await local_irq_disable()
        if self.kernel_version >= (4, 11):
            await self.crash_smp_send_stop()
        else:
            await self.kdump_nmi_shootdown_cpus()
        # cpu_emergency_vmxoff(); cpu_emergency_svm_disable(): this CPU only
        await self.lapic_shutdown()
        if self.crash_disables_ioapic:
            if self.kernel_version >= (3, 9):
                # "Prevent crash_kexec() from deadlocking on ioapic_lock."
                await self.ioapic_zap_locks()
            await self.disable_IO_APIC()
        # hpet_disable(): not modelled
        await self.crash_save_cpu("regs of panic()", smp_processor_id())

    # kernel/panic.c crash_smp_send_stop() (v4.11+, weak): once, smp_ops.crash_stop_other_cpus(),
    # which x86 sets to kdump_nmi_shootdown_cpus()
    async def crash_smp_send_stop(self) -> None:
        if await READ_ONCE(self.crash_stopped):
            return
        await self.kdump_nmi_shootdown_cpus()
        await WRITE_ONCE(self.crash_stopped, 1)

    # arch/x86/kernel/crash.c kdump_nmi_shootdown_cpus()
    async def kdump_nmi_shootdown_cpus(self) -> None:
        await self.nmi_shootdown_cpus()
        await self.disable_local_APIC()

    # arch/x86/kernel/crash.c kdump_nmi_callback(): crash_save_cpu(regs, cpu); vmxoff; disable_local_APIC()
    async def kdump_nmi_callback(self) -> None:
        cpu = smp_processor_id()
        await self.crash_save_cpu("NMI regs", cpu)
        await self.disable_local_APIC()

    # arch/x86/kernel/reboot.c nmi_shootdown_cpus() (v3.3; crash_ipi_issued from v4.5;
    # the emergency handler from v6.15)
    async def nmi_shootdown_cpus(self) -> None:
        await local_irq_disable()
        this_cpu = smp_processor_id()
        await WRITE_ONCE(self.crashing_cpu, this_cpu)
        # shootdown_callback = kdump_nmi_callback (the only caller here)
        others = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
        await atomic_set(self.waiting_for_crash_ipi, others.bit_count())  # num_online_cpus() - 1
        if self.kernel_version >= (6, 15):
            await self.set_emergency_nmi_handler("crash_nmi_callback")
        else:
            # register_nmi_handler(NMI_LOCAL, crash_nmi_callback, NMI_FLAG_FIRST, "crash")
            await self.register_nmi_handler("crash_nmi_callback", first=True)
        # smp_send_nmi_allbutself() -> apic->send_IPI_allbutself(NMI_VECTOR): the online CPUs
        await self.send_nmi(others)
        if self.kernel_version >= (4, 5):
            # Kick CPUs looping in NMI context.
            await WRITE_ONCE(self.crash_ipi_issued, 1)

        async def all_stopped() -> bool:
            return await atomic_read(self.waiting_for_crash_ipi) <= 0

        # msecs = 1000; while (atomic_read(&waiting_for_crash_ipi) > 0 && msecs) mdelay(1)
        await spin_until_cond_timeout(all_stopped, USEC_PER_SEC)
        # Leave the nmi callback set

    # arch/x86/kernel/reboot.c crash_nmi_callback(): save, check in, halt in NMI context for good
    async def crash_nmi_callback(self) -> bool:
        cpu = smp_processor_id()
        if cpu == await READ_ONCE(self.crashing_cpu):
            return True  # NMI_HANDLED
        await local_irq_disable()
        await self.kdump_nmi_callback()  # shootdown_callback(cpu, regs)
        await atomic_dec(self.waiting_for_crash_ipi)
        await halt("crash_nmi_callback")  # halt(); for (;;) cpu_relax();
        return True

    # arch/x86/kernel/reboot.c run_crash_ipi_callback() (v4.5)
    async def run_crash_ipi_callback(self) -> None:
        if await READ_ONCE(self.crash_ipi_issued):
            await self.crash_nmi_callback()

    # arch/x86/kernel/reboot.c nmi_panic_self_stop() (v4.5): a CPU that lost the panic race
    # in NMI context keeps polling for the crash IPI
    async def nmi_panic_self_stop(self) -> None:
        while True:
            await self.run_crash_ipi_callback()
            await cpu_relax()

    # arch/x86/kernel/machine_kexec_64.c machine_kexec(): relocate_kernel -> purgatory -> the
    # crash kernel. x86 checks nothing: a CPU that did not answer the NMI is silently missing.
    async def machine_kexec(self) -> None:
        await READ_ONCE(*self.crash_notes, union="crash_notes")  # what the crash kernel will find
        self.check_crash_notes(self.all_but_self(), self.why_no_crash_note)
        await self.kdump_kernel_boot()

    def why_no_crash_note(self, cpu: int) -> str:
        if not self.cpu_online_mask.value >> cpu & 1:
            return (
                f"it never ran crash_nmi_callback(): smp_send_stop() had stopped it (in {context_of(cpu)}), "
                "offline, so nmi_shootdown_cpus() neither counted it nor sent it the NMI"
            )
        return (
            f"it never ran crash_nmi_callback() (it is in {context_of(cpu)}: the shoot-down NMI stays "
            "latched while a CPU is inside an NMI handler)"
        )

    # -- hooks -------------------------------------------------------------------------

    # arch/x86/kernel/apic/apic.c lapic_shutdown() / disable_local_APIC(): no APIC modelled
    async def lapic_shutdown(self) -> None:
        pass

    async def disable_local_APIC(self) -> None:  # noqa: N802 - kernel name
        pass

    # arch/x86/kernel/apic/io_apic.c ioapic_zap_locks() / disable_IO_APIC(): no IO-APIC modelled
    async def ioapic_zap_locks(self) -> None:
        pass

    async def disable_IO_APIC(self) -> None:  # noqa: N802 - kernel name
        pass
