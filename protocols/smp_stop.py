"""Stopping the other CPUs: arm64 smp_send_stop() / crash_smp_send_stop(), IPI first, then NMI (seed 002).

Kernel code modelled, from the blocks:
  blocks.stop.Arm64Stop  smp_send_stop(), crash_smp_send_stop(), do_handle_IPI(), local_cpu_stop(),
                         ipi_cpu_crash_stop(), machine_crash_shutdown(), machine_kexec(),
                         machine_restart():
      nmi-only: as of d7402513c935 "arm64: smp: IPI_CPU_STOP and IPI_CPU_CRASH_STOP should
                try for NMI" (v6.7): both stop IPIs are pseudo-NMIs from the start;
      v1:       Douglas Anderson, "[PATCH] arm64: smp: smp_send_stop() and crash_smp_send_stop()
                should try non-NMI first", 7 Dec 2023
                (20231207170251.1.Id4817adef610302554b8aa42b090d57270dc119c@changeid);
      merged:   fdfa588124b6 (v3, 21 Aug 2024, in v6.12).
  blocks.stop.X86Stop    x86 native_stop_other_cpus(), stop_this_cpu() (v6.6+, tglx's 1f5e7eb7868e)
  blocks.panic, blocks.crash  panic() -> __crash_kexec() (arm64: a crash kernel is loaded),
                         crash_save_cpu() and the crash-notes invariant
  here                   serial8250_console_write() (the port lock), a long irqs-off section

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
  crash-regs-lost     crash mode: every CPU the crash stopper counts as stopped has its
                      registers in its crash note when machine_kexec() jumps (blocks.crash)
  crash-stop-nested   the crash-stop body (crash_save_cpu) runs at most once per CPU
  single-stopper      at most one CPU proceeds in the stop sequence at a time
  stopper-timeout     the panic CPU's stopper returns within 1 s + 10 ms
"""

from __future__ import annotations

from panicfuzz.cells import Cell, raw_spinlock_t
from panicfuzz.kernel import (
    BUG_ON,
    NSEC_PER_USEC,
    READ_ONCE,
    WRITE_ONCE,
    cpus_of,
    halt,
    local_clock,
    local_irq_restore,
    local_irq_save,
    mdelay,
    run_user_code,
    spin_lock_irqsave,
    spin_trylock,
    spin_unlock,
)
from panicfuzz.model import Variant

from .blocks.panic import PANIC_CPU_INVALID, PANIC_MSG, PanicCore
from .blocks.stop import IPI_TIMEOUT_US, NMI_TIMEOUT_US, Arm64Stop, X86Stop

NCPUS = 3
CONSOLE_CPU, PANIC_CPU, REBOOT_CPU = 0, 1, 2
IRQS_OFF_MS = IPI_TIMEOUT_US // 1000  # CPU0's long irqs-off section
VERSIONS = {"nmi-only": (6, 7), "v1": (6, 7), "merged": (6, 12), "x86": (6, 6)}


class SmpStop(Arm64Stop, X86Stop):
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
            must=("invariant port-lock-parked", "invariant single-stopper", "deadlock in cpu_park_loop()",),
            source="d7402513c935 (v6.7); motivation in Doug Anderson's v1 changelog",
        ),
        Variant(
            "v1",
            "fails",
            "Doug's v1: IRQ then NMI, global stop_mask cleared before crash_save_cpu(), "
            "local_irq_disable() in ipi_cpu_crash_stop(), no single-stopper guard",
            must=("invariant crash-regs-lost", "invariant crash-stop-nested", "invariant single-stopper",),
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
    # After the jump (x86: emergency_restart()) the others run on: a stop NMI still in
    # flight is taken by its target, a CPU on its way through its stop path gets there.
    settle_after_goal = max_steps
    panic_timeout = -1

    def __init__(self, variant: str):
        super().__init__(variant)
        self.kernel_version = VERSIONS[variant]
        self.arm64_stop_v1 = variant == "v1"
        self.kexec_crash_image = variant != "x86"  # x86 kdump is seed 003's model
        self.port_lock = raw_spinlock_t("port.lock")  # struct uart_port::lock
        self.UART_TX = Cell("UART_TX", "")  # the transmit FIFO: last text written
        self.oops_in_progress = Cell("oops_in_progress", 0)
        # Ghost state for the invariants: never read by the modelled kernel code.
        self.stoppers: dict[int, int] = {}  # CPU proceeding in a stop sequence -> its start (ns)
        self.stop_began: int | None = None  # when the first stop IPI was sent (ns)
        self.parked: dict[int, tuple[int, str]] = {}  # CPU -> (when, by which IPI)

    def cpu_label(self, cpu: int) -> str:
        return f"CPU{cpu} ({('console', 'panic', 'reboot')[cpu]})"

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != PANIC_CPU_INVALID

    async def cpu_main(self, cpu: int) -> None:
        if cpu == CONSOLE_CPU:
            await self.uart_console_write("printk: a line of console output")
            await self.irqs_off_section()
            await run_user_code()
        elif cpu == PANIC_CPU:
            await self.panic("Oops - BUG: Fatal exception")
        elif self.variant == "x86":
            await self.native_machine_shutdown()
            await halt("native_machine_restart: machine_ops.emergency_restart() not modelled")
        else:
            await self.machine_restart()

    # The arch picks the stop code (both blocks are composed; the variant is one arch).
    def smp_send_stop(self):
        return X86Stop.smp_send_stop(self) if self.variant == "x86" else Arm64Stop.smp_send_stop(self)

    # The NMI entry: x86 do_nmi() (blocks.nmi), arm64 ipi_handler() (blocks.stop).
    def nmi_handler(self, cpu: int):
        return self.do_nmi if self.variant == "x86" else self.ipi_handler

    def panic_smp_self_stop(self):
        return PanicCore.panic_smp_self_stop(self) if self.variant == "x86" else Arm64Stop.panic_smp_self_stop(self)

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

    # -- panic()'s hooks ---------------------------------------------------------------

    # lib/bust_spinlocks.c bust_spinlocks(1): the console driver only trylocks from now on
    async def bust_spinlocks(self) -> None:
        await WRITE_ONCE(self.oops_in_progress, 1)

    # printk() of the crash path's own lines ("Starting crashdump kernel..."); the panic
    # message itself is printed before any stopping begins (not modelled: seed 001's model)
    async def printk(self, text: str) -> None:
        if text != PANIC_MSG:
            await self.uart_console_write(text)

    # x86: console_flush_on_panic() -> serial8250_console_write()
    async def console_flush_on_panic(self) -> None:
        if self.variant == "x86":
            await self.uart_console_write("Kernel panic - not syncing")

    # -- invariants ------------------------------------------------------------------------

    # Ghost hooks of the stop blocks: a CPU got past the single-stopper guard (or there is none).
    def stop_begins(self, cpu: int) -> None:
        self.stoppers[cpu] = local_clock()
        if self.stop_began is None:
            self.stop_began = local_clock()

    def stop_ends(self, cpu: int, bounded: bool) -> None:
        start = self.stoppers.pop(cpu)
        took = local_clock() - start
        limit = (IPI_TIMEOUT_US + NMI_TIMEOUT_US) * NSEC_PER_USEC
        BUG_ON(
            bounded and took > limit,
            "stopper-timeout",
            f"CPU{cpu}'s stop sequence took {took} ns, more than its 1 s + 10 ms of timeouts",
        )

    def cpu_parked(self, cpu: int, how: str) -> None:
        self.parked.setdefault(cpu, (local_clock(), how))

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
        for c, n in enumerate(self.crash_saves):
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
