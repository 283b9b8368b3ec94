"""Stopping the other CPUs: x86 native_stop_other_cpus(), stop_this_cpu().

Kernel code: arch/x86/kernel/smp.c native_stop_other_cpus(), sysvec_reboot()
(smp_reboot_interrupt() before v5.8), smp_stop_nmi_callback(), register_stop_handler();
arch/x86/kernel/process.c stop_this_cpu(); arch/x86/include/asm/smp.h smp_send_stop()
(stop_other_cpus(0)) and stop_other_cpus() (wait = 1, from native_machine_shutdown()).

Versions (`kernel_version`):
  < 6.6   num_online_cpus() > 1: stopping_cpu cmpxchg, REBOOT_VECTOR to all but self, wait
          1 s for num_online_cpus() == 1; then register the NMI handler, NMI to all but
          self, wait 10 ms (forever with wait)
  6.6+    tglx's 1f5e7eb7868e: stopping_cpu first, cpus_stop_mask (each CPU clears its bit
          as the last thing before it halts), the NMI only to the CPUs still in the mask,
          the mask cleared at the end
The NMI fallback goes through the NMI chain (blocks.nmi): smp_stop_nmi_callback() is a
handler on NMI_LOCAL, registered first.
Ghost hooks (no kernel state; for a model's invariants): stop_begins(cpu),
stop_ends(cpu, bounded), cpu_parked(cpu, how).
"""

from __future__ import annotations

from panicfuzz.cells import atomic_t, cpumask_t
from panicfuzz.kernel import (
    USEC_PER_MSEC,
    USEC_PER_SEC,
    atomic_cmpxchg,
    atomic_read,
    context_of,
    cpu_relax,
    cpumask_clear_cpu,
    cpumask_empty,
    cpumask_read,
    cpumask_weight,
    cpumask_write,
    halt,
    local_irq_disable,
    send_IPI_mask,
    smp_processor_id,
    spin_until_cond_timeout,
    trace_printk,
)

from .nmi import X86Nmi

IPI_TIMEOUT_US = USEC_PER_SEC  # wait up to one second for the REBOOT_VECTOR stop
NMI_TIMEOUT_US = 10 * USEC_PER_MSEC  # ... then 10 ms for the NMI stop


class X86Stop(X86Nmi):
    def __init__(self, variant: str):
        super().__init__(variant)
        self.stopping_cpu = atomic_t("stopping_cpu", -1)
        self.cpus_stop_mask = cpumask_t("cpus_stop_mask")  # v6.6+

    # arch/x86/include/asm/smp.h: smp_send_stop() -> smp_ops.stop_other_cpus(0)
    def smp_send_stop(self):
        return self.native_stop_other_cpus(0)

    # arch/x86/include/asm/smp.h: stop_other_cpus() -> smp_ops.stop_other_cpus(1)
    def stop_other_cpus(self):
        return self.native_stop_other_cpus(1)

    # arch/x86/kernel/smp.c native_stop_other_cpus(wait): v5.x shape, and v6.6+ (1f5e7eb7868e)
    async def native_stop_other_cpus(self, wait: int) -> None:
        this_cpu = smp_processor_id()
        v66 = self.kernel_version >= (6, 6)
        if v66:
            # Only proceed if this is the first CPU to reach this code
            if await atomic_cmpxchg(self.stopping_cpu, -1, this_cpu) != -1:
                return
            self.stop_begins(this_cpu)
            others = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
            await cpumask_write(self.cpus_stop_mask, others)  # cpumask_copy(); cpumask_clear_cpu()

        async def all_stopped() -> bool:
            if v66:
                return await cpumask_empty(self.cpus_stop_mask)
            return await cpumask_weight(self.cpu_online_mask) == 1  # num_online_cpus() == 1

        if not await all_stopped():
            if not v66:
                # did someone beat us here?
                if await atomic_cmpxchg(self.stopping_cpu, -1, this_cpu) != -1:
                    return
                self.stop_begins(this_cpu)
            await send_IPI_mask(self.all_but_self(), self.sysvec_reboot, "REBOOT_VECTOR")  # apic_send_IPI_allbutself()
            await spin_until_cond_timeout(all_stopped, IPI_TIMEOUT_US)
        # if the REBOOT_VECTOR didn't work, try with the NMI
        if not await all_stopped():
            await self.register_stop_handler()
            trace_printk('pr_emerg("Shutting down cpus with NMI")')
            # v6.6+: for_each_cpu(cpu, &cpus_stop_mask) __apic_send_IPI(cpu, NMI_VECTOR)
            await self.send_nmi(await cpumask_read(self.cpus_stop_mask) if v66 else self.all_but_self())
            if wait:
                while not await all_stopped():
                    await cpu_relax()
            else:
                await spin_until_cond_timeout(all_stopped, NMI_TIMEOUT_US)
        # local_irq_save(); disable_local_APIC(); mcheck_cpu_clear(); local_irq_restore(): not modelled
        if v66:
            await cpumask_write(self.cpus_stop_mask, 0)  # cpumask_clear(&cpus_stop_mask)
        self.stop_ends(this_cpu, bounded=not wait)

    # arch/x86/kernel/smp.c register_stop_handler():
    # register_nmi_handler(NMI_LOCAL, smp_stop_nmi_callback, NMI_FLAG_FIRST, "smp_stop")
    async def register_stop_handler(self) -> None:
        await self.register_nmi_handler("smp_stop_nmi_callback", first=True)

    # arch/x86/kernel/smp.c sysvec_reboot() -> stop_this_cpu()
    async def sysvec_reboot(self) -> None:
        await self.stop_this_cpu()

    # arch/x86/kernel/smp.c smp_stop_nmi_callback(): "We are registered on stopping cpu too,
    # avoid spurious NMI"
    async def smp_stop_nmi_callback(self) -> bool:
        if smp_processor_id() == await atomic_read(self.stopping_cpu):
            return True  # NMI_HANDLED
        await self.stop_this_cpu()
        return True

    # arch/x86/kernel/process.c stop_this_cpu(): offline, then (v6.6+) "I'm done" in
    # cpus_stop_mask as its last shared write; halt for good
    async def stop_this_cpu(self) -> None:
        cpu = smp_processor_id()
        await local_irq_disable()
        await cpumask_clear_cpu(cpu, self.cpu_online_mask)  # set_cpu_online(cpu, false)
        # disable_local_APIC(); mcheck_cpu_clear(); wbinvd if SME: not modelled
        if self.kernel_version >= (6, 6):
            await cpumask_clear_cpu(cpu, self.cpus_stop_mask)
        self.cpu_parked(cpu, context_of(cpu))
        await halt("stop_this_cpu")

    # -- ghost hooks (a model's invariants; no kernel state) ------------------------------

    def stop_begins(self, cpu: int) -> None:
        """CPU `cpu` got past the single-stopper guard."""

    def stop_ends(self, cpu: int, bounded: bool) -> None:
        """CPU `cpu`'s stop sequence returns (`bounded`: its waits have timeouts)."""

    def cpu_parked(self, cpu: int, how: str) -> None:
        """CPU `cpu` halts for good, stopped by `how` (the interrupt it is in)."""
