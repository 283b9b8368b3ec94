"""Stopping the other CPUs: x86 native_stop_other_cpus(), stop_this_cpu(); arm64 smp_send_stop().

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
arm64 (class Arm64Stop, arch/arm64/kernel/smp.c, machine_kexec.c, process.c): see its docstring.
Ghost hooks of both (no kernel state; for a model's invariants): stop_begins(cpu),
stop_ends(cpu, bounded), cpu_parked(cpu, how).
"""

from __future__ import annotations

from typing import ClassVar

from panicfuzz.cells import Cell, atomic_t, cpumask_t
from panicfuzz.kernel import (
    USEC_PER_MSEC,
    USEC_PER_SEC,
    READ_ONCE,
    WRITE_ONCE,
    atomic_cmpxchg,
    atomic_dec,
    atomic_read,
    atomic_set,
    context_of,
    cpu_relax,
    cpumask_clear_cpu,
    cpumask_empty,
    cpumask_read,
    cpumask_weight,
    cpumask_write,
    cpus_of,
    halt,
    local_daif_mask,
    local_irq_disable,
    send_IPI_mask,
    smp_processor_id,
    spin_until_cond_timeout,
    test_and_set_bit,
    trace_printk,
)

from .crash import KexecCore
from .nmi import X86Nmi
from .smp import Smp

IPI_TIMEOUT_US = USEC_PER_SEC  # wait up to one second for the REBOOT_VECTOR stop
NMI_TIMEOUT_US = 10 * USEC_PER_MSEC  # ... then 10 ms for the NMI stop


class StopHooks(Smp):
    """The ghost hooks both stop blocks call (a model's invariants; no kernel state)."""

    def stop_begins(self, cpu: int) -> None:
        """CPU `cpu` got past the single-stopper guard."""

    def stop_ends(self, cpu: int, bounded: bool) -> None:
        """CPU `cpu`'s stop sequence returns (`bounded`: its waits have timeouts)."""

    def cpu_parked(self, cpu: int, how: str) -> None:
        """CPU `cpu` halts for good, stopped by `how` (the interrupt it is in)."""


class X86Stop(X86Nmi, StopHooks):
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

    # arch/x86/kernel/reboot.c native_machine_shutdown(): local_irq_disable(); stop_other_cpus()
    async def native_machine_shutdown(self) -> None:
        await local_irq_disable()
        await self.stop_other_cpus()

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


class Arm64Stop(KexecCore, StopHooks):
    """arm64: smp_send_stop(), crash_smp_send_stop(), the stop IPIs, machine_crash_shutdown(),
    machine_kexec(), machine_restart() (arch/arm64/kernel/smp.c, machine_kexec.c, process.c).

    Versions: `kernel_version` < (6, 12) is d7402513c935 (v6.7: IPI_CPU_STOP and
    IPI_CPU_CRASH_STOP are pseudo-NMIs from the start); (6, 12)+ is fdfa588124b6
    (stop_in_progress, IRQ first then IPI_CPU_STOP_NMI after 1 s, local_daif_mask() first,
    crash_save_cpu() before set_cpu_online(false)). Knob `arm64_stop_v1`: Douglas
    Anderson's v1 of 7 Dec 2023 (IRQ then NMI, a global stop_mask cleared before
    crash_save_cpu(), no single-stopper guard).
    Invariant: machine_kexec() checks the crash notes of the CPUs the crash stopper
    counted as stopped (`counted_stopped`); the rest are reported by
    smp_crash_stop_failed() ("Some CPUs may be stale").
    """

    arm64_stop_v1: ClassVar[bool] = False

    def __init__(self, variant: str):
        super().__init__(variant)
        self.crash_stop = Cell("crash_stop", 0)
        # d7402513c935: crash_smp_send_stop()'s static cpus_stopped and waiting_for_crash_ipi
        self.cpus_stopped = Cell("cpus_stopped", 0)
        self.waiting_for_crash_ipi = atomic_t("waiting_for_crash_ipi", 0)
        # v1: the global stop_mask; fdfa588124b6: smp_send_stop()'s static stop_in_progress
        self.stop_mask = cpumask_t("stop_mask")
        self.stop_in_progress = atomic_t("stop_in_progress", 0)
        # Ghost state (never read by the kernel code): for the regs text and the invariant
        self.irq_frames: list[list[str]] = [[] for _ in range(self.ncpus)]  # stop handlers on each CPU
        self.counted_stopped = 0  # CPUs the crash stopper counts as stopped (bitmask)
        self.crash_stopper: int | None = None  # the CPU in crash_smp_send_stop()

    def arm64_stop(self) -> str:
        """Which smp_send_stop() this is: "nmi-only" (v6.7), "v1" (Doug's v1), "merged" (v6.12)."""
        if self.arm64_stop_v1:
            return "v1"
        return "merged" if self.kernel_version >= (6, 12) else "nmi-only"

    # arch/arm64/kernel/smp.c panic_smp_self_stop(): local_cpu_stop()
    async def panic_smp_self_stop(self) -> None:
        await self.local_cpu_stop(smp_processor_id(), "panic_smp_self_stop")

    # arch/arm64/kernel/machine_kexec.c: machine_crash_shutdown() (called with irqs off)
    async def machine_crash_shutdown(self) -> None:
        # shutdown non-crashing cpus
        await self.crash_smp_send_stop()
        # for crashing cpu
        await self.crash_save_cpu("regs of panic()", smp_processor_id())
        # machine_kexec_mask_interrupts() (not modelled)
        await self.printk("Starting crashdump kernel...")  # pr_info()

    # arch/arm64/kernel/machine_kexec.c: machine_kexec(): the jump to the crash kernel,
    # which reads every CPU's crash note.
    async def machine_kexec(self) -> None:
        stale = await self.smp_crash_stop_failed()
        self.check_crash_notes(
            self.counted_stopped,
            lambda cpu: f"the crash stopper counted CPU{cpus_of(self.counted_stopped)} as stopped, but CPU{cpu} "
            "signalled 'stopped' before crash_save_cpu(), so the vmcore lacks its registers",
        )
        if stale:
            trace_printk('WARN("Some CPUs may be stale, kdump will be unreliable.")')
        # cpu_soft_restart() into the crash kernel. The run goes on until every CPU is idle:
        # a stop NMI still in flight is taken by its target after the jump.
        # The old kernel's handlers never run on this CPU again.
        await local_daif_mask()
        await self.kdump_kernel_boot()

    # arch/arm64/kernel/process.c: machine_restart() (reboot(2) on another CPU)
    async def machine_restart(self) -> None:
        await local_irq_disable()
        await self.smp_send_stop()
        # efi_reboot() / do_kernel_restart(): the restart handlers are not modelled.
        await halt("machine_restart: do_kernel_restart() not modelled")

    # -- arch/arm64/kernel/smp.c --------------------------------------------------------

    # num_other_online_cpus() = num_online_cpus() - cpu_online(this_cpu): one read.
    async def num_other_online_cpus(self) -> int:
        online = await cpumask_read(self.cpu_online_mask)
        return (online & ~(1 << smp_processor_id())).bit_count()

    # smp_send_stop(): d7402513c935 / v1 / fdfa588124b6.
    async def smp_send_stop(self) -> None:
        this_cpu = smp_processor_id()
        if self.arm64_stop() == "nmi-only":
            began = bool(await self.num_other_online_cpus())
            if began:
                self.stop_begins(this_cpu)
                mask = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
                trace_printk('pr_crit("SMP: stopping secondary CPUs")')
                await self.smp_cross_call(mask, "IPI_CPU_STOP")  # a pseudo-NMI since d7402513c935

            async def stopped() -> bool:
                return await self.num_other_online_cpus() == 0

            # Wait up to one second for other CPUs to stop
            if not await spin_until_cond_timeout(stopped, IPI_TIMEOUT_US):
                trace_printk('pr_warn("SMP: failed to stop secondary CPUs")')
            if began:
                self.stop_ends(this_cpu, bounded=True)
            return

        if await self.num_other_online_cpus() == 0:
            return  # goto skip_ipi
        if self.arm64_stop() == "merged":
            # Only proceed if this is the first CPU to reach this code
            if await test_and_set_bit(0, self.stop_in_progress):
                return
            self.stop_begins(this_cpu)
        crash = self.crash_stopper == this_cpu  # ghost: called from crash_smp_send_stop()

        if self.arm64_stop() == "v1":

            async def all_stopped() -> bool:
                return await cpumask_empty(self.stop_mask)

            mask = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
            await cpumask_write(self.stop_mask, mask)  # cpumask_copy(); cpumask_clear_cpu()
            self.stop_begins(this_cpu)  # no guard: every caller gets here
            trace_printk('pr_crit("SMP: stopping secondary CPUs")')
            await self.smp_cross_call(await cpumask_read(self.stop_mask), "IPI_CPU_STOP")
            await spin_until_cond_timeout(all_stopped, IPI_TIMEOUT_US)
            # If CPUs are still online, try an NMI (ipi_should_be_nmi(IPI_CPU_STOP_NMI)).
            if not await cpumask_empty(self.stop_mask):
                nmi_mask = await cpumask_read(self.stop_mask)
                trace_printk(f'pr_info("SMP: retry stop with NMI for CPUs {cpus_of(nmi_mask)}")')
                await self.smp_cross_call(nmi_mask, "IPI_CPU_STOP_NMI")
                if not await spin_until_cond_timeout(all_stopped, NMI_TIMEOUT_US):
                    trace_printk('pr_warn("SMP: failed to stop secondary CPUs")')
            if crash:
                self.counted_stopped = mask & ~self.stop_mask.value
        else:  # merged

            async def none_online() -> bool:
                return await self.num_other_online_cpus() == 0

            # static cpumask_t mask: written only by the one CPU that got past stop_in_progress
            mask = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
            trace_printk('pr_crit("SMP: stopping secondary CPUs")')
            await self.smp_cross_call(mask, "IPI_CPU_STOP")
            await spin_until_cond_timeout(none_online, IPI_TIMEOUT_US)
            if await self.num_other_online_cpus():  # && ipi_should_be_nmi(IPI_CPU_STOP_NMI)
                # smp_rmb(): a no-op in this sequentially consistent model
                nmi_mask = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
                trace_printk(f'pr_info("SMP: retry stop with NMI for CPUs {cpus_of(nmi_mask)}")')
                await self.smp_cross_call(nmi_mask, "IPI_CPU_STOP_NMI")
                if not await spin_until_cond_timeout(none_online, NMI_TIMEOUT_US):
                    trace_printk('pr_warn("SMP: failed to stop secondary CPUs")')
            if crash:
                self.counted_stopped = mask & ~self.cpu_online_mask.value
        self.stop_ends(this_cpu, bounded=True)
        # skip_ipi: sdei_mask_local_cpu() (not modelled)

    # crash_smp_send_stop(): the static cpus_stopped and waiting_for_crash_ipi in
    # d7402513c935; the global crash_stop flag plus smp_send_stop() in v1 and merged.
    async def crash_smp_send_stop(self) -> None:
        this_cpu = smp_processor_id()
        if self.arm64_stop() == "nmi-only":
            if await READ_ONCE(self.cpus_stopped):
                return
            await WRITE_ONCE(self.cpus_stopped, 1)
            if await self.num_other_online_cpus() == 0:
                return
            self.stop_begins(this_cpu)
            mask = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
            await atomic_set(self.waiting_for_crash_ipi, await self.num_other_online_cpus())
            trace_printk('pr_crit("SMP: stopping secondary CPUs")')
            await self.smp_cross_call(mask, "IPI_CPU_CRASH_STOP")

            async def all_saved() -> bool:
                return await atomic_read(self.waiting_for_crash_ipi) <= 0

            if await spin_until_cond_timeout(all_saved, IPI_TIMEOUT_US):
                self.counted_stopped = mask
            else:
                trace_printk('pr_warn("SMP: failed to stop secondary CPUs")')
            self.stop_ends(this_cpu, bounded=True)
            return
        # This function can be called twice in panic path, but obviously we execute this only once.
        if await READ_ONCE(self.crash_stop):
            return
        await WRITE_ONCE(self.crash_stop, 1)
        self.crash_stopper = this_cpu
        await self.smp_send_stop()
        # sdei_handler_abort() (not modelled)

    # smp_crash_stop_failed(): waiting_for_crash_ipi > 0 / !cpumask_empty(stop_mask) /
    # num_other_online_cpus() != 0.
    async def smp_crash_stop_failed(self) -> bool:
        if self.arm64_stop() == "nmi-only":
            return await atomic_read(self.waiting_for_crash_ipi) > 0
        if self.arm64_stop() == "v1":
            return not await cpumask_empty(self.stop_mask)
        return await self.num_other_online_cpus() != 0

    # smp_cross_call(mask, ipinr) -> __ipi_send_mask(); ipi_should_be_nmi(): with
    # pseudo-NMIs, IPI_CPU_STOP_NMI always, and before the fix IPI_CPU_STOP and
    # IPI_CPU_CRASH_STOP too.
    async def smp_cross_call(self, mask: int, ipi: str) -> None:
        nmi = ipi == "IPI_CPU_STOP_NMI" or self.arm64_stop() == "nmi-only"
        # ipi_handler() -> do_handle_IPI(ipinr); a pseudo-NMI SGI runs the NMI entry below
        if nmi:
            await send_IPI_mask(mask, name=ipi, nmi=True)
        else:
            await send_IPI_mask(mask, lambda: self.do_handle_IPI(ipi), ipi)

    # drivers/irqchip/irq-gic-v3.c gic_handle_irq() -> __gic_handle_nmi() -> ipi_handler():
    # a pseudo-NMI is dispatched by the SGI acknowledged from the GIC (the vector it was sent as)
    async def ipi_handler(self) -> None:
        await self.do_handle_IPI(context_of(smp_processor_id()))

    nmi_entry = ipi_handler

    # do_handle_IPI(): case IPI_CPU_STOP / IPI_CPU_STOP_NMI (v1, merged); IPI_CPU_STOP and
    # IPI_CPU_CRASH_STOP as separate cases in d7402513c935.
    async def do_handle_IPI(self, ipi: str) -> None:  # noqa: N802 - kernel name
        cpu = smp_processor_id()
        self.irq_frames[cpu].append(ipi)
        regs = f"regs of {self.interrupted(cpu)}"  # get_irq_regs()
        if self.arm64_stop() == "nmi-only":
            if ipi == "IPI_CPU_CRASH_STOP":
                await self.ipi_cpu_crash_stop(cpu, regs, ipi)
            else:
                await self.local_cpu_stop(cpu, ipi)
            return
        # case IPI_CPU_STOP: case IPI_CPU_STOP_NMI:
        if self.arm64_stop() == "v1":
            await cpumask_clear_cpu(cpu, self.stop_mask)
        if await READ_ONCE(self.crash_stop):  # IS_ENABLED(CONFIG_KEXEC_CORE) && crash_stop
            await self.ipi_cpu_crash_stop(cpu, regs, ipi)
        else:
            await self.local_cpu_stop(cpu, ipi)

    def interrupted(self, cpu: int) -> str:
        """What the pt_regs of the innermost stop IPI describe: the frame it interrupted."""
        frames = self.irq_frames[cpu]
        return f"the {frames[-2]} handler" if len(frames) > 1 else "the interrupted task"

    # local_cpu_stop(): unchanged by the series.
    async def local_cpu_stop(self, cpu: int, ipi: str) -> None:
        await cpumask_clear_cpu(cpu, self.cpu_online_mask)  # set_cpu_online(cpu, false)
        await local_daif_mask()
        await self.cpu_park_loop(cpu, ipi)  # after sdei_mask_local_cpu() (not modelled)

    # ipi_cpu_crash_stop(cpu, regs): d7402513c935 and v1 save the registers first and
    # mask only IRQs afterwards; merged masks IRQs and pseudo-NMIs first and says
    # "stopped" (offline) only after crash_save_cpu().
    async def ipi_cpu_crash_stop(self, cpu: int, regs: str, ipi: str) -> None:
        if self.arm64_stop() == "merged":
            await local_daif_mask()
            await self.crash_save_cpu(regs, cpu)
            await cpumask_clear_cpu(cpu, self.cpu_online_mask)  # set_cpu_online(cpu, false)
        else:
            await self.crash_save_cpu(regs, cpu)
            if self.arm64_stop() == "nmi-only":
                await atomic_dec(self.waiting_for_crash_ipi)
            await local_irq_disable()
        # sdei_mask_local_cpu(); __cpu_try_die(cpu) (not modelled); just in case:
        await self.cpu_park_loop(cpu, ipi)

    # arch/arm64/include/asm/smp.h: cpu_park_loop(): for (;;) { wfe(); wfi(); }
    async def cpu_park_loop(self, cpu: int, ipi: str) -> None:
        self.cpu_parked(cpu, ipi)
        await halt("cpu_park_loop")

