"""printk console handover (console_owner / console_waiter) during panic (seed 001).

Kernel code modelled:
  kernel/printk/printk.c  vprintk_emit(), vprintk_store(), console_trylock(),
                          console_trylock_spinning(), console_lock_spinning_enable(),
                          console_lock_spinning_disable_and_check(), console_unlock(),
                          console_flush_all(), console_emit_next_record(),
                          console_flush_on_panic()   (v5.13, v5.18, v6.9)
  kernel/panic.c          panic(), nmi_panic()       (v5.14 shape, unchanged here up to v6.9)
  arch/x86/kernel/reboot.c crash_smp_send_stop() -> kdump_nmi_shootdown_cpus(), crash_nmi_callback()
  arch/x86/kernel/smp.c   native_stop_other_cpus() (smp_send_stop(): REBOOT IPI, NMI after 1 s)
Thread: "[PATCH] panic: disable optimistic spin after halting CPUs", Stephen Brennan and
  Petr Mladek, 12-18 Jan 2022; merged for v5.18 as 77498617857f, d51507098ff9,
  13fb0f74d702, 8ebc476fd51e; later 779dbc2e78d7 (v6.9) and d04d5882cd67 (2024).

CPU0 runs user space for USER_US, then `echo c > /proc/sysrq-trigger`: one printk, then
panic(). CPU1 is Stephen's flood: `while true; do echo <line> > /dev/kmsg; done`, one
printk every KMSG_US of virtual time, twice as fast as the serial console writes a
record (CON_WRITE_US). Two injectable events on CPU0, each at most once and only
before any panic: a watchdog IRQ that panics (panic() at a moment the search picks:
the timing freedom Stephen's 14 % came from) and a hard-LOCKUP NMI while CPU0 prints
(nmi_panic() in NMI context, the d04d5882cd67 scenario). Configuration:
crash_kexec_post_notifiers=1 (panic() stops the other CPUs with crash_smp_send_stop(),
i.e. NMIs, before the notifiers; Stephen's setup) and no crash kernel loaded, so
panic() goes on to console_flush_on_panic(), where the goal is. The class attribute
`crash_kexec_post_notifiers = False` selects smp_send_stop() (REBOOT IPI, NMI after 1 s).

The ring buffer is kept finite: `prb` holds the records the console has not read
yet (relative to console_seq / con->seq), at most RING of them; a store into a full
ring overwrites the oldest unread record, which the console later sees as a gap
in the sequence numbers (dropped messages, counted up to LOST_MAX). Record texts
are short labels; every CPU1 record is the same "kmsg" line, so the whole state is
finite and a livelock comes back to a state it was in before (a lasso).

Observable: the serial line (`uart`, plus the list `output` of the records written
in full), and which records the panic CPU stored during panic(). Invariant after
the final flush (P-B3): each of those reached the console.
"""

from __future__ import annotations

from typing import NamedTuple

from panicfuzz.cells import Cell, atomic_t, cpumask_t, raw_spinlock_t
from panicfuzz.fingerprint import cells_of
from panicfuzz.kernel import (
    hw_write,
    rdmsr,
    wrmsr,
    BUG_ON,
    USEC_PER_MSEC,
    USEC_PER_SEC,
    READ_ONCE,
    WRITE_ONCE,
    atomic_cmpxchg,
    atomic_dec,
    atomic_inc,
    atomic_read,
    atomic_set,
    cpu_relax,
    cpumask_clear_cpu,
    cpumask_read,
    cpumask_weight,
    goal_reached,
    halt,
    in_nmi,
    local_irq_disable,
    local_irq_restore,
    local_irq_save,
    raw_spin_lock,
    raw_spin_unlock,
    send_IPI_mask,
    smp_processor_id,
    spin_until_cond_timeout,
    udelay,
)
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Model, Variant

NCPUS = 2
PANIC_CPU_INVALID = -1
RING = 4  # records the ring keeps unread before it overwrites the oldest
CON_WRITE_US = 100  # serial console: time to write one record
KMSG_US = 50  # CPU1 stores one record every 50 us: twice as fast as the console
USER_US = 50  # CPU0 runs user space this long before it writes to /proc/sysrq-trigger
LOST_MAX = 9  # dropped-record count, saturated (only "was there a gap" matters)
PANIC_DROPPED_MAX = 12  # panic_console_dropped, saturated: only "> 10" is ever tested

SYSRQ = "sysrq"
KMSG = "kmsg"
PANIC_MSG = "Kernel panic"
NOTIFIER_MSG = "notifier"
DROPPED_WARN = "dropped-warn"


class prb_state(NamedTuple):  # noqa: N801 - printk_ringbuffer, relative to console_seq
    """The unread tail of the ring: (records overwritten unread since the console's last read, unread records)."""

    lost: int
    recs: tuple[str, ...]

    def __str__(self) -> str:
        out: list[str] = []
        for r in self.recs:
            if out and out[-1].startswith(r + "×"):
                n = int(out[-1].rpartition("×")[2]) + 1
                out[-1] = f"{r}×{n}"
            elif out and out[-1] == r:
                out[-1] = f"{r}×2"
            else:
                out.append(r)
        return "[" + ", ".join(out) + "]" + (f" +{self.lost} lost" if self.lost else "")

    def push(self, text: str) -> tuple["prb_state", str | None]:
        """Store a record; a full ring overwrites (and returns) its oldest unread one."""
        if len(self.recs) < RING:
            return prb_state(self.lost, self.recs + (text,)), None
        return prb_state(min(self.lost + 1, LOST_MAX), self.recs[1:] + (text,)), self.recs[0]


class Console(Model):
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
            kind="deadlock",
            source="kernel/printk/printk.c v5.13; Stephen Brennan's v1 changelog (12 Jan 2022)",
        ),
        Variant(
            "no-spin-in-panic",
            "fails",
            "Petr's first suggestion: nobody starts spinning once panic_cpu is set",
            kind="livelock",
            source="Petr Mladek YeBjzX7Z6J1cVtjC@alley; Stephen 18 Jan 2022: livelock in 200/1409 runs",
        ),
        Variant(
            "no-spin-on-panic-cpu",
            "fails",
            "Stephen's counter-proposal: only the panic CPU does not spin; others still hand over. "
            "Search verdict: no livelock, but console_flush_on_panic() deadlocks on console_owner_lock "
            "held by an NMI-stopped CPU, and panic output is lost (stopped waiter / stopped owner)",
            kind="deadlock",
            source="Stephen Brennan 18 Jan 2022 ('if (atomic_read(&panic_cpu) == this_cpu) return 0;')",
        ),
        Variant(
            "v5.18",
            "fails",
            "merged series: no spin in panic, suppress after dropped messages, non-panic CPUs "
            "abandon console_sem; a stopped waiter still gets the console handed over",
            kind="invariant",
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
    ncpus = NCPUS
    goal = "the panic CPU gets through printk() to the end of console_flush_on_panic()"
    max_steps = 500
    crash_kexec_post_notifiers = True  # stop by NMI (crash_smp_send_stop); False: smp_send_stop()

    def __init__(self, variant: str):
        super().__init__(variant)
        self.panic_cpu = atomic_t("panic_cpu", PANIC_CPU_INVALID)
        self.prb = Cell("prb", prb_state(0, ()))
        self.console_sem = atomic_t("console_sem.count", 1)
        self.console_owner_lock = raw_spinlock_t("console_owner_lock")
        self.console_owner = Cell("console_owner", None)  # the owner's CPU (its task), or None
        self.console_waiter = Cell("console_waiter", False)
        self.suppress_panic_printk = Cell("suppress_panic_printk", 0)  # v5.18
        self.panic_console_dropped = Cell("panic_console_dropped", 0)  # v5.18
        self.dropped_warned = Cell("pr_warn_once.__already_done", False)  # v5.18
        self.waiting_for_crash_ipi = atomic_t("waiting_for_crash_ipi", 0)
        # nmi_desc[NMI_LOCAL]: the crash or stop handler registered ahead of perf's (NMI_FLAG_FIRST)
        self.nmi_local_first = Cell("nmi_desc[NMI_LOCAL].first", None)
        # Each CPU's PMU overflow status (MSR_CORE_PERF_GLOBAL_STATUS): set by the watchdog counter
        self.perf_status = [Cell(f"PERF_GLOBAL_STATUS[{c}]", 0) for c in range(NCPUS)]
        self.cpu_online_mask = cpumask_t.of("cpu_online_mask", range(NCPUS))
        self.uart = Cell("UART_TX", "")  # the serial line: the last record written
        # Observer bookkeeping, not CPU-visible state (nothing in the model reads it):
        self.output: list[str] = []  # records written to the console in full, in order
        self.panicking: int | None = None  # the CPU that won panic_cpu
        self.panic_records: list[str] = []  # records it stored during panic()
        self.overwritten: list[str] = []  # panic records the ring overwrote unread
        self.flush_handed_over = False  # console_flush_on_panic() ended by a handover

    def fingerprint(self) -> tuple:
        """All cells (each is finite by construction), plus what the output check depends on."""
        cells = tuple((c.name, c.value) for c in self._cells())
        printed = tuple(r for r in self.panic_records if r in self.output)
        return cells, self.panicking, tuple(self.panic_records), printed, tuple(self.overwritten), self.flush_handed_over

    def _cells(self) -> list[Cell]:
        return cells_of(self)

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

    # -- kernel/printk/printk.c: storing -------------------------------------------------

    # printk() -> vprintk() -> vprintk_emit(). In NMI context (v5.15+ vprintk(), v5.13
    # printk_nmi) the record is only stored and console output is deferred.
    async def printk(self, text: str) -> None:
        if in_nmi():
            await self.vprintk_store(text)
            return
        await self.vprintk_emit(text)

    # vprintk_emit(): v5.13; v5.18 13fb0f74d702 (suppress_panic_printk); v6.9 779dbc2e78d7
    # (non-panic CPUs store nothing once panic is in progress).
    async def vprintk_emit(self, text: str) -> None:
        if self.variant == "v6.9" and await self.other_cpu_in_panic():
            return
        if self.variant == "v5.18" and await READ_ONCE(self.suppress_panic_printk):
            if await atomic_read(self.panic_cpu) != smp_processor_id():
                return
        await self.vprintk_store(text)
        # preempt_disable(); if (console_trylock_spinning()) console_unlock(); preempt_enable();
        if await self.console_trylock_spinning():
            await self.console_unlock()

    # vprintk_store() -> prb_reserve()/prb_final_commit(): lockless, a cmpxchg on the head;
    # a full ring pushes out its oldest record (data_push_tail()).
    async def vprintk_store(self, text: str) -> None:
        while True:
            old = await READ_ONCE(self.prb)
            new, pushed_out = old.push(text)
            if await atomic_cmpxchg(self.prb, old, new) == old:
                break
        if smp_processor_id() == self.panicking:
            self.panic_records.append(text)
        if pushed_out is not None and pushed_out in self.panic_records:
            self.overwritten.append(pushed_out)

    # -- kernel/printk/printk.c: console_sem --------------------------------------------

    # kernel/panic.c (v6.5+ other_cpu_in_panic(); v5.18 abandon_console_lock_in_panic())
    async def other_cpu_in_panic(self) -> bool:
        pcpu = await atomic_read(self.panic_cpu)
        return pcpu != PANIC_CPU_INVALID and pcpu != smp_processor_id()

    # console_trylock(): down_trylock_console_sem(); v6.9 first refuses non-panic CPUs.
    async def console_trylock(self) -> bool:
        if self.variant == "v6.9" and await self.other_cpu_in_panic():
            return False
        return await atomic_cmpxchg(self.console_sem, 1, 0) == 1

    # up_console_sem()
    async def up_console_sem(self) -> None:
        await atomic_inc(self.console_sem)

    # console_trylock_spinning(): v5.13; v5.18/v6.9 d51507098ff9 "if (panic_in_progress())
    # return 0;"; no-spin-in-panic is Petr's draft of it; no-spin-on-panic-cpu is Stephen's
    # "if (atomic_read(&panic_cpu) == this_cpu) return 0;".
    async def console_trylock_spinning(self) -> bool:
        if await self.console_trylock():
            return True
        if self.variant in ("no-spin-in-panic", "v5.18", "v6.9"):
            if await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
                return False
        elif self.variant == "no-spin-on-panic-cpu":
            if await atomic_read(self.panic_cpu) == smp_processor_id():
                return False
        flags = await local_irq_save()  # printk_safe_enter_irqsave()
        await raw_spin_lock(self.console_owner_lock)
        owner, waiter = await READ_ONCE(self.console_owner, self.console_waiter, union="console_owner+waiter")
        spin = not waiter and owner is not None and owner != smp_processor_id()
        if spin:
            await WRITE_ONCE(self.console_waiter, True)
        await raw_spin_unlock(self.console_owner_lock)
        if not spin:
            await local_irq_restore(flags)
            return False
        # The owner hands console_sem over by clearing console_waiter; nothing bounds this.
        while await READ_ONCE(self.console_waiter):
            await cpu_relax()
        await local_irq_restore(flags)
        return True

    # console_lock_spinning_enable(); d04d5882cd67 (v6.9 here): not during panic.
    async def console_lock_spinning_enable(self) -> None:
        if self.variant == "v6.9" and await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
            return
        await raw_spin_lock(self.console_owner_lock)
        await WRITE_ONCE(self.console_owner, smp_processor_id())
        await raw_spin_unlock(self.console_owner_lock)

    # console_lock_spinning_disable_and_check(); d04d5882cd67 (v6.9 here): during panic
    # ignore waiters, they may be stopped CPUs.
    async def console_lock_spinning_disable_and_check(self) -> bool:
        if self.variant == "v6.9" and await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
            return False
        await raw_spin_lock(self.console_owner_lock)
        waiter = await READ_ONCE(self.console_waiter)
        await WRITE_ONCE(self.console_owner, None)
        await raw_spin_unlock(self.console_owner_lock)
        if not waiter:
            return False
        # The waiter owns console_sem now: we must not up() it.
        await WRITE_ONCE(self.console_waiter, False)
        return True

    # -- kernel/printk/printk.c: printing ------------------------------------------------

    # console_unlock(): v6.9 shape (do { console_flush_all(); __console_unlock(); } while
    # (prb_read_valid() && console_trylock())); the v5.13/v5.18 console_unlock() has the
    # same shape with the record loop inline (the loop is console_flush_all() here) and
    # v5.18's "retry && !abandon_console_lock_in_panic() && console_trylock()".
    # Returns whether it ended by a handover (for the report only; the kernel's is void).
    async def console_unlock(self) -> bool:
        while True:
            flushed, handover = await self.console_flush_all()
            if handover:
                return True
            await self.up_console_sem()
            if not flushed:
                return False
            if not (await READ_ONCE(self.prb)).recs:  # prb_read_valid(prb, console_seq, NULL)
                return False
            if self.variant == "v5.18" and await self.other_cpu_in_panic():
                return False
            if not await self.console_trylock():
                return False

    # console_flush_all() (v6.x; the record loop of console_unlock() in v5.13/v5.18):
    # returns (flushed: nothing left or abandoned normally, handover).
    async def console_flush_all(self) -> tuple[bool, bool]:
        while True:
            progress, handover = await self.console_emit_next_record()
            if handover:
                return False, True
            if not progress:
                return True, False
            # v5.18 8ebc476fd51e abandon_console_lock_in_panic(); v6.9 other_cpu_in_panic()
            if self.variant in ("v5.18", "v6.9") and await self.other_cpu_in_panic():
                return False, False

    # console_emit_next_record() (v6.9; one iteration of the v5.x console_unlock() loop).
    # v5.x: console_seq++ BEFORE call_console_drivers(); v6.9: con->seq = seq + 1 after
    # con->write(). Returns (progress, handover).
    async def console_emit_next_record(self) -> tuple[bool, bool]:
        flags = await local_irq_save()  # printk_safe_enter_irqsave()
        while True:  # prb_read_valid(prb, console_seq, &r)
            ring = await READ_ONCE(self.prb)
            if not ring.recs:
                await local_irq_restore(flags)
                return False, False
            text = ring.recs[0]
            # v5.x: console_seq = r.info->seq (gap: dropped) and console_seq++ in one go;
            # v6.9: only the gap is taken (pmsg.dropped), con->seq moves after the write.
            after = prb_state(0, ring.recs[1:] if self.variant != "v6.9" else ring.recs)
            if await atomic_cmpxchg(self.prb, ring, after) == ring:
                break
        if ring.lost and self.variant == "v5.18" and await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
            # 13fb0f74d702: if (panic_in_progress() && panic_console_dropped++ > 10)
            dropped = await READ_ONCE(self.panic_console_dropped)
            await WRITE_ONCE(self.panic_console_dropped, min(dropped + 1, PANIC_DROPPED_MAX))
            if dropped > 10:
                await WRITE_ONCE(self.suppress_panic_printk, 1)
                if not await READ_ONCE(self.dropped_warned):  # pr_warn_once()
                    await WRITE_ONCE(self.dropped_warned, True)
                    await self.printk(DROPPED_WARN)
        await self.console_lock_spinning_enable()
        await self.call_console_drivers(text)
        if self.variant == "v6.9":
            await self.advance_con_seq(text)
        handover = await self.console_lock_spinning_disable_and_check()
        await local_irq_restore(flags)  # printk_safe_exit_irqrestore()
        return True, handover

    # v6.9 console_emit_next_record(): con->seq = pmsg.seq + 1. In the relative ring: drop
    # the record just written, unless the ring overwrote it meanwhile (then the console
    # will see that as a gap).
    async def advance_con_seq(self, text: str) -> None:
        while True:
            ring = await READ_ONCE(self.prb)
            if ring.lost or not ring.recs or ring.recs[0] != text:
                return
            if await atomic_cmpxchg(self.prb, ring, prb_state(0, ring.recs[1:])) == ring:
                return

    # call_console_drivers() -> serial8250_console_write(): slow; the record is on the
    # line only once written in full (a CPU stopped meanwhile leaves it torn).
    async def call_console_drivers(self, text: str) -> None:
        await udelay(CON_WRITE_US)
        await WRITE_ONCE(self.uart, text)
        self.output.append(text)

    # console_flush_on_panic(CONSOLE_FLUSH_PENDING): v5.x console_trylock() (result
    # ignored: lock busting) + console_unlock(); v6.9 no trylock, console_flush_all().
    async def console_flush_on_panic(self) -> None:
        if self.variant == "v6.9":
            await self.console_flush_all()
            return
        await self.console_trylock()
        self.flush_handed_over = await self.console_unlock()

    # -- kernel/panic.c ----------------------------------------------------------------

    # panic() (v5.14 shape; the same order up to v6.9 with crash_kexec_post_notifiers).
    async def panic(self, msg: str) -> None:
        await local_irq_disable()
        this_cpu = smp_processor_id()
        old_cpu = await atomic_cmpxchg(self.panic_cpu, PANIC_CPU_INVALID, this_cpu)
        if old_cpu != PANIC_CPU_INVALID and old_cpu != this_cpu:
            await self.panic_smp_self_stop()
        self.panicking = this_cpu
        await self.printk(PANIC_MSG)  # pr_emerg("Kernel panic - not syncing: %s\n", buf)
        if not self.crash_kexec_post_notifiers:
            # __crash_kexec(NULL) returns: no crash kernel loaded.
            await self.native_stop_other_cpus()
        else:
            await self.kdump_nmi_shootdown_cpus()
        # atomic_notifier_call_chain(&panic_notifier_list): a notifier that prints.
        await self.printk(NOTIFIER_MSG)
        # kmsg_dump(KMSG_DUMP_PANIC): no dumper; __crash_kexec(NULL): no crash kernel.
        await self.console_flush_on_panic()
        await goal_reached("console_flush_on_panic() done")

    # kernel/panic.c: nmi_panic()
    async def nmi_panic(self, msg: str) -> None:
        this_cpu = smp_processor_id()
        old_cpu = await atomic_cmpxchg(self.panic_cpu, PANIC_CPU_INVALID, this_cpu)
        if old_cpu == PANIC_CPU_INVALID:
            await self.panic(msg)
        elif old_cpu != this_cpu:
            await self.panic_smp_self_stop()

    # kernel/panic.c: panic_smp_self_stop() (weak): while (1) cpu_relax();
    async def panic_smp_self_stop(self) -> None:
        await halt("panic_smp_self_stop")

    # -- stopping the other CPUs -------------------------------------------------------------

    # arch/x86/kernel/reboot.c: crash_smp_send_stop() -> kdump_nmi_shootdown_cpus() ->
    # nmi_shootdown_cpus(): NMI to all others, wait up to 1 s for them to check in.
    async def kdump_nmi_shootdown_cpus(self) -> None:
        others = ((1 << NCPUS) - 1) & ~(1 << smp_processor_id())
        await atomic_set(self.waiting_for_crash_ipi, NCPUS - 1)
        await WRITE_ONCE(self.nmi_local_first, "crash_nmi_callback")  # register_nmi_handler()
        await send_IPI_mask(others, nmi=True)

        async def all_in() -> bool:
            return await atomic_read(self.waiting_for_crash_ipi) <= 0

        await spin_until_cond_timeout(all_in, USEC_PER_SEC)

    # arch/x86/kernel/reboot.c: crash_nmi_callback(): save registers, check in, halt.
    async def crash_nmi_callback(self) -> None:
        await atomic_dec(self.waiting_for_crash_ipi)
        await halt("crash_nmi_callback")

    # arch/x86/kernel/smp.c: native_stop_other_cpus() (smp_send_stop()): REBOOT_VECTOR
    # IPI, wait 1 s; then NMI to the CPUs still online, wait 10 ms.
    async def native_stop_other_cpus(self) -> None:
        others = await cpumask_read(self.cpu_online_mask) & ~(1 << smp_processor_id())

        async def only_me() -> bool:
            return await cpumask_weight(self.cpu_online_mask) == 1

        await send_IPI_mask(others, self.stop_this_cpu, "REBOOT_VECTOR")
        if await spin_until_cond_timeout(only_me, USEC_PER_SEC):
            return
        still = await cpumask_read(self.cpu_online_mask) & ~(1 << smp_processor_id())
        await WRITE_ONCE(self.nmi_local_first, "smp_stop_nmi_callback")  # register_stop_handler()
        await send_IPI_mask(still, nmi=True)
        await spin_until_cond_timeout(only_me, 10 * USEC_PER_MSEC)

    # arch/x86/kernel/process.c: stop_this_cpu()
    async def stop_this_cpu(self) -> None:
        await local_irq_disable()
        await cpumask_clear_cpu(smp_processor_id(), self.cpu_online_mask)
        await halt("stop_this_cpu")

    # -- the NMI entry -----------------------------------------------------------------

    # arch/x86/kernel/nmi.c: exc_nmi() -> default_do_nmi() -> nmi_handle(NMI_LOCAL): the
    # handler registered first (crash_nmi_callback() or smp_stop_nmi_callback(), neither
    # returns), then perf_event_nmi_handler().
    async def exc_nmi(self) -> None:
        first = await READ_ONCE(self.nmi_local_first)
        if first == "crash_nmi_callback":
            await self.crash_nmi_callback()
        elif first == "smp_stop_nmi_callback":
            await self.stop_this_cpu()
        await self.perf_event_nmi_handler()

    nmi_entry = exc_nmi

    # arch/x86/events/intel/core.c: intel_pmu_handle_irq(): this CPU's overflow status
    # (an MSR, not shared memory); the watchdog's counter calls its overflow handler.
    async def perf_event_nmi_handler(self) -> None:
        status = self.perf_status[smp_processor_id()]
        if rdmsr(status):
            wrmsr(status, 0)
            await self.watchdog_overflow_callback()

    # -- injectable events ------------------------------------------------------------

    # drivers/watchdog/pretimeout_panic.c: pretimeout_panic() -> panic("watchdog pretimeout
    # event"), from the watchdog's timer/IRQ handler: a panic at a moment the search picks.
    async def watchdog_pretimeout(self) -> None:
        await self.panic("watchdog pretimeout event")

    # kernel/watchdog_hld.c: watchdog_overflow_callback() -> nmi_panic(regs, "Hard LOCKUP")
    # (hardlockup_panic=1): CPU0 looks stuck with irqs off, printing to a slow console.
    async def watchdog_overflow_callback(self) -> None:
        await self.nmi_panic("Hard LOCKUP")

    # The source of the hard LOCKUP NMI: the watchdog's perf counter overflows on `cpu`.
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

    # -- invariants ---------------------------------------------------------------------

    # P-B3: after console_flush_on_panic(), every record the panic CPU stored is on the console.
    def final_check(self) -> None:
        if self.panicking is None:
            return
        for rec in self.panic_records:
            if rec in self.output:
                continue
            BUG_ON(
                rec in self.overwritten,
                "panic-output-overwritten",
                f"lost panic output: '{rec}' (stored by the panic CPU) was overwritten in the ring "
                f"by other CPUs' printk() before any console printed it",
            )
            if rec in self.prb.value.recs:
                handover = (
                    " console_flush_on_panic() handed console_sem over to a waiter that is stopped, "
                    "and returned (the d04d5882cd67 case)."
                    if self.flush_handed_over
                    else ""
                )
                BUG_ON(
                    True,
                    "panic-output-unprinted",
                    f"lost panic output: '{rec}' is still unprinted in the ring after "
                    f"console_flush_on_panic().{handover}",
                )
            BUG_ON(
                True,
                "panic-output-torn",
                f"lost panic output: '{rec}' was being written by a CPU that was stopped in "
                f"call_console_drivers(); console_seq had already moved past it, so "
                f"console_flush_on_panic() never printed it",
            )
