"""printk console handover (console_owner / console_waiter) during panic (seed 001).

Kernel code modelled, from the blocks, at each variant's kernel version (v5.13, v5.18, v6.9):
  blocks.printk   vprintk_emit(), console_trylock_spinning(), the owner/waiter handover,
                  console_unlock(), console_flush_on_panic()
  blocks.panic    panic(), nmi_panic()
  blocks.crash    crash_smp_send_stop() -> kdump_nmi_shootdown_cpus() -> nmi_shootdown_cpus(),
                  crash_nmi_callback() (no crash kernel loaded: only the stop)
  blocks.stop     native_stop_other_cpus() (without crash_kexec_post_notifiers)
Thread: "[PATCH] panic: disable optimistic spin after halting CPUs", Stephen Brennan and
  Petr Mladek, 12-18 Jan 2022; merged for v5.18 as 77498617857f, d51507098ff9,
  13fb0f74d702, 8ebc476fd51e; later 779dbc2e78d7 (v6.9) and d04d5882cd67 (2024).

CPU0 runs user space for USER_US, then `echo c > /proc/sysrq-trigger`: one printk, then
panic(). CPU1 is Stephen's flood: `while true; do echo <line> > /dev/kmsg; done`, one
printk every KMSG_US of virtual time, twice as fast as the serial console writes a
record (con_write_us). Two injectable events on CPU0, each at most once and only
before any panic: a watchdog IRQ that panics (panic() at a moment the search picks:
the timing freedom Stephen's 14 % came from) and a hard-LOCKUP NMI while CPU0 prints
(nmi_panic() in NMI context, the d04d5882cd67 scenario). Configuration:
crash_kexec_post_notifiers=1 (panic() stops the other CPUs with crash_smp_send_stop(),
i.e. NMIs, before the notifiers; Stephen's setup) and no crash kernel loaded, so
panic() goes on to console_flush_on_panic(). A panic notifier prints. Every CPU1 record
is the same "kmsg" line, so the whole state is finite and a livelock is a lasso.
Invariant after the final flush (P-B3, blocks.printk): every record the panic CPU
stored reached the console.
"""

from __future__ import annotations

from panicfuzz.fingerprint import model_state
from panicfuzz.cells import Cell
from panicfuzz.kernel import hw_write, rdmsr, smp_processor_id, udelay, wrmsr
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Variant

from .blocks.crash import X86Crash
from .blocks.nmi import NmiHandlers
from .blocks.panic import PANIC_CPU_INVALID, POST_NOTIFIERS
from .blocks.printk import Printk
from .blocks.stop import X86Stop

KMSG_US = 50  # CPU1 stores one record every 50 us: twice as fast as the console
USER_US = 50  # CPU0 runs user space this long before it writes to /proc/sysrq-trigger
SYSRQ = "sysrq"
KMSG = "kmsg"
NOTIFIER_MSG = "notifier"
VERSIONS = {"v5.13": (5, 13), "no-spin-in-panic": (5, 13), "no-spin-on-panic-cpu": (5, 13), "v5.18": (5, 18), "v6.9": (6, 9)}
SPIN_RULES = {"no-spin-in-panic": "nobody-in-panic", "no-spin-on-panic-cpu": "not-panic-cpu"}


class Console(Printk, X86Crash, X86Stop):
    name = "console"
    seed = 1
    source = (
        "kernel/printk/printk.c console_trylock_spinning()/console_unlock() (v5.13, v5.18, v6.9); "
        "kernel/panic.c panic(); LKML 'panic: disable optimistic spin after halting CPUs' (Jan 2022)"
    )
    variants = (
        Variant(
            "v5.13",
            "fails",
            "pre-fix: the panic CPU spins as console_waiter on an owner stopped by NMI",
            must=("deadlock in console_trylock_spinning()", "deadlock on console_owner_lock in console_lock_spinning_enable()", "invariant panic-output-unprinted", "invariant panic-output-torn",),
            source="kernel/printk/printk.c v5.13; Stephen Brennan's v1 changelog (12 Jan 2022)",
        ),
        Variant(
            "no-spin-in-panic",
            "fails",
            "Petr's first suggestion: nobody starts spinning once panic_cpu is set",
            must=("livelock in console_emit_next_record()", "deadlock on console_owner_lock in console_lock_spinning_enable()", "invariant panic-output-unprinted", "invariant panic-output-torn",),
            source="Petr Mladek YeBjzX7Z6J1cVtjC@alley; Stephen 18 Jan 2022: livelock in 200/1409 runs",
        ),
        Variant(
            "no-spin-on-panic-cpu",
            "fails",
            "Stephen's counter-proposal: only the panic CPU does not spin; others still hand over. "
            "Search verdict: no livelock, but console_flush_on_panic() deadlocks on console_owner_lock "
            "held by an NMI-stopped CPU, and panic output is lost (stopped waiter / stopped owner)",
            must=("deadlock on console_owner_lock in console_lock_spinning_enable()", "invariant panic-output-unprinted", "invariant panic-output-torn",),
            source="Stephen Brennan 18 Jan 2022 ('if (atomic_read(&panic_cpu) == this_cpu) return 0;')",
        ),
        Variant(
            "v5.18",
            "fails",
            "merged series: no spin in panic, suppress after dropped messages, non-panic CPUs "
            "abandon console_sem; a stopped waiter still gets the console handed over",
            must=("invariant panic-output-unprinted", "invariant panic-output-torn", "deadlock on console_owner_lock in console_lock_spinning_enable()",),
            source="77498617857f d51507098ff9 13fb0f74d702 8ebc476fd51e (v5.18); d04d5882cd67 changelog",
        ),
        Variant(
            "v6.9",
            "holds",
            "current shape: non-panic CPUs store nothing and never take console_sem in panic, "
            "no owner/waiter handover in panic, con->seq advances after the write",
            source="kernel/printk/printk.c v6.9 (779dbc2e78d7) + d04d5882cd67",
        ),
    )
    ncpus = 2
    goal = "the panic CPU gets through printk() to the end of console_flush_on_panic()"
    max_steps = 500
    crash_kexec_post_notifiers = True  # stop by NMI (crash_smp_send_stop); False: smp_send_stop()
    parameters = (POST_NOTIFIERS,)  # Stephen's setup has it on; a search also tries it off
    kexec_crash_image = False
    panic_notifier_list = ("notifier_printk",)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.kernel_version = VERSIONS[variant]
        self.console_spin_rule = SPIN_RULES.get(variant, "")
        # The perf NMI handler is on NMI_LOCAL from boot (init_hw_perf_events()); each CPU's
        # PMU overflow status (MSR_CORE_PERF_GLOBAL_STATUS) says whether an NMI is its.
        self.nmi_local_handler.value = NmiHandlers(("perf_event_nmi_handler",))
        self.perf_status = [Cell(f"PERF_GLOBAL_STATUS[{c}]", 0) for c in range(self.ncpus)]

    def fingerprint(self) -> tuple:
        """All cells (each is finite by construction), plus what the output check depends on."""
        return model_state(self), self.printk_fingerprint()

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            # User space runs for a while (irqs on), then `echo c > /proc/sysrq-trigger`:
            # drivers/tty/sysrq.c __handle_sysrq() prints, then sysrq_handle_crash() panics.
            await udelay(USER_US)
            await self.printk(SYSRQ)
            await self.panic("sysrq triggered crash")
        else:
            # Stephen's reproducer: while true; do echo <991 chars> > /dev/kmsg; done
            # (devkmsg_write() -> printk_emit()); no counter, so the loop has finite state.
            while True:
                await self.printk(KMSG)
                await udelay(KMSG_US)

    # A panic notifier that prints (atomic_notifier_call_chain(&panic_notifier_list)).
    async def notifier_printk(self) -> None:
        await self.printk(NOTIFIER_MSG)

    # -- injectable events ------------------------------------------------------------

    # drivers/watchdog/pretimeout_panic.c: pretimeout_panic() -> panic("watchdog pretimeout
    # event"), from the watchdog's timer/IRQ handler: a panic at a moment the search picks.
    async def watchdog_pretimeout(self) -> None:
        await self.panic("watchdog pretimeout event")

    # kernel/watchdog_hld.c: watchdog_overflow_callback() -> nmi_panic(regs, "Hard LOCKUP")
    # (hardlockup_panic=1): CPU0 looks stuck with irqs off, printing to a slow console.
    async def watchdog_overflow_callback(self) -> None:
        await self.nmi_panic("Hard LOCKUP")

    # arch/x86/events/core.c perf_event_nmi_handler() -> intel_pmu_handle_irq(): this CPU's
    # overflow status (an MSR, CPU-local); the watchdog's counter runs its overflow handler
    async def perf_event_nmi_handler(self) -> bool:
        status = self.perf_status[smp_processor_id()]
        if not rdmsr(status):
            return False
        wrmsr(status, 0)
        await self.watchdog_overflow_callback()
        return True

    # The hard LOCKUP NMI's source: the watchdog's perf counter overflows on `cpu`.
    def watchdog_counter_overflows(self, cpu: int) -> None:
        hw_write(self.perf_status[cpu], 1)

    def no_panic_yet_on_cpu0(self, cpu: int | None) -> bool:
        return cpu == 0 and self.panic_cpu.value == PANIC_CPU_INVALID

    def printing_on_cpu0(self, cpu: int | None) -> bool:
        """CPU0 is the console owner (printing a record with irqs off): where a hard lockup is seen."""
        return self.no_panic_yet_on_cpu0(cpu) and self.console_owner.value == 0

    events = (
        Event("watchdog IRQ", Kind.IRQ, watchdog_pretimeout, guard=no_panic_yet_on_cpu0),
        Event("hard LOCKUP NMI", Kind.NMI, watchdog_counter_overflows, guard=printing_on_cpu0),
    )

    def final_check(self) -> None:
        self.check_panic_output()
