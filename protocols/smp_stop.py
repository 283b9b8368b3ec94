"""Stopping the other CPUs: arm64 smp_send_stop() / crash_smp_send_stop(), IPI first, then NMI (seed 002).

Kernel code modelled:
  arch/arm64/kernel/smp.c        smp_send_stop(), crash_smp_send_stop(), smp_crash_stop_failed(),
                                 num_other_online_cpus(), do_handle_IPI() (the stop IPIs),
                                 local_cpu_stop(), ipi_cpu_crash_stop()
      nmi-only: as of d7402513c935 "arm64: smp: IPI_CPU_STOP and IPI_CPU_CRASH_STOP should
                try for NMI" (v6.7): both stop IPIs are pseudo-NMIs from the start;
      v1:       Douglas Anderson, "[PATCH] arm64: smp: smp_send_stop() and crash_smp_send_stop()
                should try non-NMI first", 7 Dec 2023
                (20231207170251.1.Id4817adef610302554b8aa42b090d57270dc119c@changeid);
      merged:   fdfa588124b6 (v3, 21 Aug 2024, in v6.12).
  arch/arm64/kernel/process.c    machine_restart()
  arch/arm64/kernel/machine_kexec.c machine_crash_shutdown(), machine_kexec()
  kernel/crash_core.c            crash_save_cpu()
  kernel/panic.c, kernel/kexec_core.c panic() -> __crash_kexec() (crash kernel loaded)
  x86: arch/x86/kernel/smp.c native_stop_other_cpus(), smp_stop_nmi_callback(), sysvec_reboot();
       arch/x86/kernel/process.c stop_this_cpu() (v6.6+, after tglx's 1f5e7eb7868e)

CPUs (the same in every variant):
  CPU0 prints to the serial console (the uart port lock is taken irqsave), then runs an
       irqs-off section exactly as long as the stop IPI window (1 s), then user code;
  CPU1 panics. arm64: with a crash kernel loaded, panic() -> __crash_kexec() ->
       machine_crash_shutdown() -> crash_smp_send_stop() -> machine_kexec() (crash mode);
       x86: panic() -> smp_send_stop() -> console flush (x86 kdump does not use this path);
  CPU1 and CPU2 race: CPU2 reboots, machine_restart() -> smp_send_stop(), the second stopper.
No injected events: every bug is an interleaving. Time is virtual: the stop IPI waits 1 s,
the NMI retry 10 ms. CPU0's irqs-off section ends when the stopper's 1 s runs out, the
boundary where a late IRQ stop meets the NMI fallback.

Invariants (BUG_ON keys):
  port-lock-parked    no CPU is parked holding the uart port lock when it could have released
                      it within the IPI window (its lock section is short: only an NMI parks it)
  regs-missing        crash mode: every CPU the crash stopper counts as stopped has its
                      registers in its crash note when machine_kexec() jumps
  crash-stop-nested   the crash-stop body (crash_save_cpu) runs at most once per CPU
  single-stopper      at most one CPU proceeds in the stop sequence at a time
  stopper-timeout     the panic CPU's stopper returns within 1 s + 10 ms
"""

from __future__ import annotations

from panicfuzz.cells import Cell, atomic_t, cpumask_t, raw_spinlock_t
from panicfuzz.kernel import (
    context_of,
    BUG_ON,
    NSEC_PER_USEC,
    USEC_PER_MSEC,
    USEC_PER_SEC,
    READ_ONCE,
    WRITE_ONCE,
    atomic_cmpxchg,
    atomic_dec,
    atomic_read,
    atomic_set,
    cpumask_clear_cpu,
    cpumask_empty,
    cpumask_read,
    cpumask_write,
    cpus_of,
    halt,
    local_clock,
    local_daif_mask,
    local_irq_disable,
    local_irq_restore,
    local_irq_save,
    mdelay,
    run_user_code,
    send_IPI_mask,
    smp_processor_id,
    spin_lock_irqsave,
    spin_trylock,
    spin_unlock,
    spin_until_cond_timeout,
    test_and_set_bit,
    trace_printk,
    cpu_relax,
)
from panicfuzz.model import Model, Variant

NCPUS = 3
CONSOLE_CPU, PANIC_CPU, REBOOT_CPU = 0, 1, 2
PANIC_CPU_INVALID = -1
IPI_TIMEOUT_US = USEC_PER_SEC  # smp_send_stop(): wait up to one second for the IRQ stop
NMI_TIMEOUT_US = 10 * USEC_PER_MSEC  # ... then 10 ms for the NMI stop
IRQS_OFF_MS = IPI_TIMEOUT_US // USEC_PER_MSEC  # CPU0's long irqs-off section
ARM64 = ("nmi-only", "v1", "merged")


class SmpStop(Model):
    name = "smp_stop"
    seed = 2
    source = (
        "arch/arm64/kernel/smp.c smp_send_stop()/crash_smp_send_stop() (d7402513c935, Doug Anderson's v1 "
        "of 7 Dec 2023, fdfa588124b6 in v6.12); arch/x86/kernel/smp.c native_stop_other_cpus() (v6.6+)"
    )
    variants = (
        Variant(
            "nmi-only",
            "fails",
            "d7402513c935: IPI_CPU_STOP / IPI_CPU_CRASH_STOP are pseudo-NMIs from the start",
            kind="invariant",
            source="d7402513c935 (v6.7); motivation in Doug Anderson's v1 changelog",
        ),
        Variant(
            "v1",
            "fails",
            "Doug's v1: IRQ then NMI, global stop_mask cleared before crash_save_cpu(), "
            "local_irq_disable() in ipi_cpu_crash_stop(), no single-stopper guard",
            kind="invariant",
            source="20231207170251.1.Id4817adef610302554b8aa42b090d57270dc119c@changeid; "
            "Will Deacon 12 Apr 2024; Doug's self-review 17 May 2024",
        ),
        Variant(
            "merged",
            "holds",
            "fdfa588124b6: stop_in_progress bit, IRQ then NMI, local_daif_mask() first, "
            "crash_save_cpu() before set_cpu_online(false)",
            source="v3 20240821145353.v3.1.Id4817ade... applied as fdfa588124b6 (v6.12)",
        ),
        Variant(
            "x86",
            "holds",
            "x86 native_stop_other_cpus(): stopping_cpu, REBOOT_VECTOR, then NMI",
            source="arch/x86/kernel/smp.c v6.6+ (tglx 1f5e7eb7868e)",
        ),
    )
    ncpus = NCPUS
    goal = "the panic CPU jumps to the crash kernel (x86: reaches emergency_restart())"
    max_steps = 160

    def __init__(self, variant: str):
        super().__init__(variant)
        self.cpu_online_mask = cpumask_t.of("cpu_online_mask", range(NCPUS))
        self.port_lock = raw_spinlock_t("port.lock")  # struct uart_port::lock
        self.UART_TX = Cell("UART_TX", "")  # the transmit FIFO: last text written
        self.oops_in_progress = Cell("oops_in_progress", 0)
        self.panic_cpu = atomic_t("panic_cpu", PANIC_CPU_INVALID)
        self.crash_stop = Cell("crash_stop", 0)
        self.crash_notes = [Cell(f"crash_notes[{c}]", None) for c in range(NCPUS)]
        # nmi-only: crash_smp_send_stop()'s static cpus_stopped and waiting_for_crash_ipi
        self.cpus_stopped = Cell("cpus_stopped", 0)
        self.waiting_for_crash_ipi = atomic_t("waiting_for_crash_ipi", 0)
        # v1: the global stop_mask; merged: smp_send_stop()'s static stop_in_progress
        self.stop_mask = cpumask_t("stop_mask")
        self.stop_in_progress = atomic_t("stop_in_progress", 0)
        # x86
        self.stopping_cpu = atomic_t("stopping_cpu", -1)
        self.cpus_stop_mask = cpumask_t("cpus_stop_mask")
        # Ghost state for the invariants: never read by the modelled kernel code.
        self.stoppers: dict[int, int] = {}  # CPU proceeding in a stop sequence -> its start (ns)
        self.stop_began: int | None = None  # when the first stop IPI was sent (ns)
        self.parked: dict[int, tuple[int, str]] = {}  # CPU -> (when, by which IPI)
        self.irq_frames: list[list[str]] = [[] for _ in range(NCPUS)]  # stop handlers on each CPU
        self.saves = [0] * NCPUS  # crash_save_cpu() calls per CPU
        self.counted_stopped = 0  # CPUs the crash stopper counts as stopped (bitmask)
        self.crash_stopper: int | None = None  # the CPU in crash_smp_send_stop()
        self.kexec_done = False  # the panic CPU reached the end of the modelled path

    def cpu_label(self, cpu: int) -> str:
        return f"CPU{cpu} ({('console', 'panic', 'reboot')[cpu]})"

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != PANIC_CPU_INVALID and not self.kexec_done

    async def cpu_main(self, cpu: int) -> None:
        if cpu == CONSOLE_CPU:
            await self.uart_console_write("printk: a line of console output")
            await self.irqs_off_section()
            await run_user_code()
        elif cpu == PANIC_CPU:
            await self.panic("Oops - BUG: Fatal exception")
        else:
            if self.variant == "x86":
                await self.native_machine_shutdown()
            else:
                await self.machine_restart()

    # -- the other CPUs' work -------------------------------------------------------

    # drivers/tty/serial/8250/8250_port.c serial8250_console_write() (also qcom_geni's
    # console write): uart_port_lock_irqsave(), or only a trylock when oops_in_progress,
    # in which case the text is written whether or not the lock was taken.
    async def uart_console_write(self, text: str) -> bool:
        if await READ_ONCE(self.oops_in_progress):
            flags = await local_irq_save()
            locked = await spin_trylock(self.port_lock)
        else:
            flags = await spin_lock_irqsave(self.port_lock)
            locked = True
        # uart_console_write(): the FIFO is filled in two halves
        await WRITE_ONCE(self.UART_TX, text[: len(text) // 2])
        await WRITE_ONCE(self.UART_TX, text)
        if locked:
            await spin_unlock(self.port_lock)
        await local_irq_restore(flags)
        return locked

    # Any long irqs-off section (a driver polling hardware with local_irq_save()); it lasts
    # as long as the stop IPI window, so it ends when the stopper gives up on the IRQ.
    async def irqs_off_section(self) -> None:
        flags = await local_irq_save()
        await mdelay(IRQS_OFF_MS)
        await local_irq_restore(flags)

    # -- kernel/panic.c panic() (v6.x), crash kernel loaded, !crash_kexec_post_notifiers ---

    async def panic(self, msg: str) -> None:
        await local_irq_disable()
        this_cpu = smp_processor_id()
        old_cpu = await atomic_cmpxchg(self.panic_cpu, PANIC_CPU_INVALID, this_cpu)
        if old_cpu != PANIC_CPU_INVALID and old_cpu != this_cpu:
            await self.panic_smp_self_stop()
        await WRITE_ONCE(self.oops_in_progress, 1)  # bust_spinlocks(1)
        trace_printk(f'pr_emerg("Kernel panic - not syncing: {msg}") (printk: seed 001)')
        if self.variant == "x86":
            # x86 kdump uses kdump_nmi_shootdown_cpus() (seed 003): here no crash kernel.
            await self.smp_send_stop()
            # console_flush_on_panic() -> serial8250_console_write()
            await self.uart_console_write("Kernel panic - not syncing")
            self.kexec_done = True
            await halt("panic(): emergency_restart() not modelled")
            return
        await self.__crash_kexec()

    # kernel/panic.c: panic_smp_self_stop() (arm64 overrides it with local_cpu_stop())
    async def panic_smp_self_stop(self) -> None:
        while True:
            await cpu_relax()

    # kernel/kexec_core.c: __crash_kexec() -> machine_crash_shutdown(); machine_kexec()
    async def __crash_kexec(self) -> None:
        await self.machine_crash_shutdown()
        await self.machine_kexec()

    # arch/arm64/kernel/machine_kexec.c: machine_crash_shutdown() (called with irqs off)
    async def machine_crash_shutdown(self) -> None:
        # shutdown non-crashing cpus
        await self.crash_smp_send_stop()
        # for crashing cpu
        await self.crash_save_cpu("regs of panic()", smp_processor_id())
        # machine_kexec_mask_interrupts() (not modelled)
        await self.uart_console_write("Starting crashdump kernel...")  # pr_info()

    # arch/arm64/kernel/machine_kexec.c: machine_kexec(): the jump to the crash kernel,
    # which reads every CPU's crash note.
    async def machine_kexec(self) -> None:
        stale = await self.smp_crash_stop_failed()
        missing = [c for c in range(NCPUS) if self.counted_stopped >> c & 1 and self.crash_notes[c].value is None]
        BUG_ON(
            bool(missing),
            "regs-missing",
            f"machine_kexec(): the crash stopper counted CPU{cpus_of(self.counted_stopped)} as stopped, but "
            f"crash_notes[{missing[0] if missing else ''}] is empty: the CPU signalled 'stopped' before "
            "crash_save_cpu(), so the vmcore lacks its registers",
        )
        if stale:
            trace_printk('WARN("Some CPUs may be stale, kdump will be unreliable.")')
        # cpu_soft_restart() into the crash kernel. The run goes on until every CPU is idle:
        # a stop NMI still in flight is taken by its target after the jump.
        # The old kernel's handlers never run on this CPU again.
        await local_daif_mask()
        self.kexec_done = True
        trace_printk("cpu_soft_restart(): the crash kernel runs")
        await halt("in the crash kernel")

    # kernel/crash_core.c: crash_save_cpu(regs, cpu): fill this CPU's ELF note.
    async def crash_save_cpu(self, regs: str, cpu: int) -> None:
        await WRITE_ONCE(self.crash_notes[cpu], regs)
        self.saves[cpu] += 1

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
        if self.variant == "x86":
            await self.native_stop_other_cpus(wait=0 if smp_processor_id() == PANIC_CPU else 1)
            return
        this_cpu = smp_processor_id()
        if self.variant == "nmi-only":
            if await self.num_other_online_cpus():
                self.proceed(this_cpu)
                mask = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
                trace_printk('pr_crit("SMP: stopping secondary CPUs")')
                await self.smp_cross_call(mask, "IPI_CPU_STOP")  # a pseudo-NMI since d7402513c935

            async def stopped() -> bool:
                return await self.num_other_online_cpus() == 0

            # Wait up to one second for other CPUs to stop
            if not await spin_until_cond_timeout(stopped, IPI_TIMEOUT_US):
                trace_printk('pr_warn("SMP: failed to stop secondary CPUs")')
            if this_cpu in self.stoppers:
                self.leave(this_cpu)
            return

        if await self.num_other_online_cpus() == 0:
            return  # goto skip_ipi
        if self.variant == "merged":
            # Only proceed if this is the first CPU to reach this code
            if await test_and_set_bit(0, self.stop_in_progress):
                return
            self.proceed(this_cpu)
        crash = self.crash_stopper == this_cpu  # ghost: called from crash_smp_send_stop()

        if self.variant == "v1":

            async def all_stopped() -> bool:
                return await cpumask_empty(self.stop_mask)

            mask = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
            await cpumask_write(self.stop_mask, mask)  # cpumask_copy(); cpumask_clear_cpu()
            self.proceed(this_cpu)  # no guard: every caller gets here
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
        self.leave(this_cpu)
        # skip_ipi: sdei_mask_local_cpu() (not modelled)

    # crash_smp_send_stop(): the static cpus_stopped and waiting_for_crash_ipi in
    # d7402513c935; the global crash_stop flag plus smp_send_stop() in v1 and merged.
    async def crash_smp_send_stop(self) -> None:
        this_cpu = smp_processor_id()
        if self.variant == "nmi-only":
            if await READ_ONCE(self.cpus_stopped):
                return
            await WRITE_ONCE(self.cpus_stopped, 1)
            if await self.num_other_online_cpus() == 0:
                return
            self.proceed(this_cpu)
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
            self.leave(this_cpu)
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
        if self.variant == "nmi-only":
            return await atomic_read(self.waiting_for_crash_ipi) > 0
        if self.variant == "v1":
            return not await cpumask_empty(self.stop_mask)
        return await self.num_other_online_cpus() != 0

    # smp_cross_call(mask, ipinr) -> __ipi_send_mask(); ipi_should_be_nmi(): with
    # pseudo-NMIs, IPI_CPU_STOP_NMI always, and before the fix IPI_CPU_STOP and
    # IPI_CPU_CRASH_STOP too.
    async def smp_cross_call(self, mask: int, ipi: str) -> None:
        nmi = ipi == "IPI_CPU_STOP_NMI" or self.variant == "nmi-only"
        if self.stop_began is None:
            self.stop_began = local_clock()
        # ipi_handler() -> do_handle_IPI(ipinr); a pseudo-NMI SGI runs the NMI entry (below)
        if nmi:
            await send_IPI_mask(mask, name=ipi, nmi=True)
        else:
            await send_IPI_mask(mask, lambda: self.do_handle_IPI(ipi), ipi)

    # The NMI entry. arm64: gic_handle_irq() -> __gic_handle_nmi() -> ipi_handler(irq):
    # the SGI acknowledged from the GIC is the IPI; x86: exc_nmi() -> nmi_handle(NMI_LOCAL)
    # -> smp_stop_nmi_callback(), the one registered handler.
    def nmi_handler(self, cpu: int):
        if self.variant == "x86":
            return self.smp_stop_nmi_callback
        return lambda: self.do_handle_IPI(context_of(cpu))

    # do_handle_IPI(): case IPI_CPU_STOP / IPI_CPU_STOP_NMI (v1, merged); IPI_CPU_STOP and
    # IPI_CPU_CRASH_STOP as separate cases in d7402513c935.
    async def do_handle_IPI(self, ipi: str) -> None:  # noqa: N802 - kernel name
        cpu = smp_processor_id()
        self.irq_frames[cpu].append(ipi)
        regs = f"regs of {self.interrupted(cpu)}"  # get_irq_regs()
        if self.variant == "nmi-only":
            if ipi == "IPI_CPU_CRASH_STOP":
                await self.ipi_cpu_crash_stop(cpu, regs, ipi)
            else:
                await self.local_cpu_stop(cpu, ipi)
            return
        # case IPI_CPU_STOP: case IPI_CPU_STOP_NMI:
        if self.variant == "v1":
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
        if self.variant == "merged":
            await local_daif_mask()
            await self.crash_save_cpu(regs, cpu)
            await cpumask_clear_cpu(cpu, self.cpu_online_mask)  # set_cpu_online(cpu, false)
        else:
            await self.crash_save_cpu(regs, cpu)
            if self.variant == "nmi-only":
                await atomic_dec(self.waiting_for_crash_ipi)
            await local_irq_disable()
        # sdei_mask_local_cpu(); __cpu_try_die(cpu) (not modelled); just in case:
        await self.cpu_park_loop(cpu, ipi)

    # arch/arm64/include/asm/smp.h: cpu_park_loop(): for (;;) { wfe(); wfi(); }
    async def cpu_park_loop(self, cpu: int, ipi: str) -> None:
        self.parked.setdefault(cpu, (local_clock(), ipi))
        await halt("cpu_park_loop")

    # -- x86: arch/x86/kernel/smp.c, process.c (v6.6+) ------------------------------------

    # arch/x86/kernel/reboot.c: native_machine_shutdown(): local_irq_disable(); stop_other_cpus()
    async def native_machine_shutdown(self) -> None:
        await local_irq_disable()
        await self.smp_send_stop()
        await halt("native_machine_restart: machine_ops.emergency_restart() not modelled")

    # arch/x86/kernel/smp.c: native_stop_other_cpus(wait) (v6.6+): wait is 0 from panic()'s
    # smp_send_stop(), 1 from native_machine_shutdown()'s stop_other_cpus().
    async def native_stop_other_cpus(self, wait: int) -> None:
        this_cpu = smp_processor_id()
        # Only proceed if this is the first CPU to reach this code
        if await atomic_cmpxchg(self.stopping_cpu, -1, this_cpu) != -1:
            return
        self.proceed(this_cpu)
        others = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
        await cpumask_write(self.cpus_stop_mask, others)

        async def all_stopped() -> bool:
            return await cpumask_empty(self.cpus_stop_mask)

        if not await cpumask_empty(self.cpus_stop_mask):
            if self.stop_began is None:
                self.stop_began = local_clock()
            await send_IPI_mask(others, self.sysvec_reboot, "REBOOT_VECTOR")  # apic_send_IPI_allbutself()
            await spin_until_cond_timeout(all_stopped, IPI_TIMEOUT_US)
        # if the REBOOT_VECTOR didn't work, try with the NMI
        if not await cpumask_empty(self.cpus_stop_mask):
            trace_printk('pr_emerg("Shutting down cpus with NMI")')
            await send_IPI_mask(await cpumask_read(self.cpus_stop_mask), nmi=True)  # to smp_stop_nmi_callback()
            if wait:
                while not await cpumask_empty(self.cpus_stop_mask):
                    await cpu_relax()
            else:
                await spin_until_cond_timeout(all_stopped, NMI_TIMEOUT_US)
        # disable_local_APIC(); mcheck_cpu_clear() (not modelled)
        await cpumask_write(self.cpus_stop_mask, 0)
        self.leave(this_cpu, bounded=not wait)

    # sysvec_reboot() -> stop_this_cpu()
    async def sysvec_reboot(self) -> None:
        await self.stop_this_cpu("REBOOT_VECTOR")

    # smp_stop_nmi_callback(): "We are registered on stopping cpu too, avoid spurious NMI"
    async def smp_stop_nmi_callback(self) -> None:
        if smp_processor_id() == await atomic_read(self.stopping_cpu):
            return
        await self.stop_this_cpu("NMI")

    # arch/x86/kernel/process.c: stop_this_cpu(): "I'm done" (cpus_stop_mask) is its last shared write.
    async def stop_this_cpu(self, how: str) -> None:
        cpu = smp_processor_id()
        await local_irq_disable()
        await cpumask_clear_cpu(cpu, self.cpu_online_mask)  # set_cpu_online(cpu, false)
        # disable_local_APIC(); mcheck_cpu_clear(); wbinvd if SME (not modelled)
        await cpumask_clear_cpu(cpu, self.cpus_stop_mask)
        self.parked.setdefault(cpu, (local_clock(), how))
        await halt("stop_this_cpu")

    # -- invariants ------------------------------------------------------------------------

    # Ghost bookkeeping: a CPU got past the single-stopper guard (or there is none).
    def proceed(self, cpu: int) -> None:
        self.stoppers[cpu] = local_clock()

    def leave(self, cpu: int, bounded: bool = True) -> None:
        start = self.stoppers.pop(cpu)
        took = local_clock() - start
        limit = (IPI_TIMEOUT_US + NMI_TIMEOUT_US) * NSEC_PER_USEC
        BUG_ON(
            bounded and took > limit,
            "stopper-timeout",
            f"CPU{cpu}'s stop sequence took {took} ns, more than its 1 s + 10 ms of timeouts",
        )

    def check(self) -> None:
        if len(self.stoppers) > 1:
            a, b = sorted(self.stoppers)
            shared = (
                f"the later one's cpumask_copy() overwrote the global stop_mask the other waits on (now "
                f"{cpus_of(self.stop_mask.value)}); "
                if self.variant == "v1"
                else ""
            )
            BUG_ON(
                True,
                "single-stopper",
                f"CPU{a} and CPU{b} both proceed in the stop sequence at once: {shared}each sends the other "
                "a stop IPI, so the panic CPU can be stopped by the reboot CPU",
            )
        for c, n in enumerate(self.saves):
            BUG_ON(
                n > 1,
                "crash-stop-nested",
                f"CPU{c} ran the crash-stop body twice: {self.crash_notes[c].value} overwrote the crash note "
                "saved by the outer stop (an IPI_CPU_STOP_NMI nested in a late IPI_CPU_STOP handler)",
            )
        for c, (when, ipi) in self.parked.items():
            if self.port_lock.value != c or self.stop_began is None:
                continue
            BUG_ON(
                when - self.stop_began < IPI_TIMEOUT_US * NSEC_PER_USEC,
                "port-lock-parked",
                f"CPU{c} was parked by {ipi} {(when - self.stop_began) // NSEC_PER_USEC} us into the stop "
                f"while holding {self.port_lock} (taken in {self.port_lock.taken_in}()), which it would have "
                "released within the 1 s IPI window: the panic CPU's console output is lost or corrupted",
            )
