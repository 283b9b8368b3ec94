"""printk and the console: kernel/printk/printk.c, storing, console_sem handover, flush on panic.

Kernel code: printk() -> vprintk_emit() / vprintk_store() (prb_reserve()/prb_final_commit());
console_trylock(), console_trylock_spinning(), console_lock_spinning_enable(),
console_lock_spinning_disable_and_check(), console_unlock(), console_flush_all(),
console_emit_next_record(), call_console_drivers() -> the serial console's write(),
console_flush_on_panic(CONSOLE_FLUSH_PENDING).

Versions (`kernel_version`):
  < 4.16  a printk() that cannot get console_sem leaves its record to the owner
  4.16+   dbdda842fe96 (5.13 shape here) owner/waiter handover: a printk() that cannot get console_sem spins as
          console_waiter until the owner hands it over; console_seq++ before the write
  5.18    d51507098ff9 no spinning once panic_in_progress(); 13fb0f74d702
          suppress_panic_printk after > 10 dropped records in panic; 8ebc476fd51e non-panic
          CPUs abandon console_sem (abandon_console_lock_in_panic())
  6.9     779dbc2e78d7 non-panic CPUs store nothing and never take console_sem in panic;
          d04d5882cd67 no owner/waiter handover in panic; con->seq advances after the write;
          console_flush_on_panic() flushes without console_trylock()
Knob: console_spin_rule, the thread's proposals against v5.13: "nobody-in-panic" (Petr
Mladek's first suggestion) or "not-panic-cpu" (Stephen Brennan's); "" the kernel's own.
Hooks it fills: PanicCore.printk() and console_flush_on_panic().
The ring is finite: `prb` holds the records the console has not read yet (relative to
console_seq / con->seq), at most RING; a store into a full ring overwrites the oldest
unread record, which the console later sees as a gap (dropped messages, up to LOST_MAX).
Record texts are short labels, so the state stays finite and a livelock is a lasso.
Invariant: check_panic_output() (P-B3): after console_flush_on_panic() every record
the panic CPU stored reached the console; ghost bookkeeping (`output`,
`panic_records`, `overwritten`, `flush_handed_over`) says why one did not.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from panicfuzz.cells import Cell, atomic_t, raw_spinlock_t
from panicfuzz.kernel import (
    BUG_ON,
    READ_ONCE,
    WRITE_ONCE,
    atomic_cmpxchg,
    atomic_inc,
    atomic_read,
    cpu_relax,
    in_nmi,
    local_irq_restore,
    local_irq_save,
    raw_spin_lock,
    raw_spin_unlock,
    smp_processor_id,
    udelay,
)

from .panic import PANIC_CPU_INVALID, PanicCore

RING = 4  # records the ring keeps unread before it overwrites the oldest
LOST_MAX = 9  # dropped-record count, saturated (only "was there a gap" matters)
PANIC_DROPPED_MAX = 12  # panic_console_dropped, saturated: only "> 10" is ever tested
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


class Printk(PanicCore):
    console_spin_rule: ClassVar[str] = ""
    con_write_us: ClassVar[int] = 100  # the serial console's time to write one record

    def __init__(self, variant: str):
        super().__init__(variant)
        self.prb = Cell("prb", prb_state(0, ()))
        self.console_sem = atomic_t("console_sem.count", 1)
        self.console_owner_lock = raw_spinlock_t("console_owner_lock")
        self.console_owner = Cell("console_owner", None)  # the owner's CPU (its task), or None
        self.console_waiter = Cell("console_waiter", False)
        self.suppress_panic_printk = Cell("suppress_panic_printk", 0)  # v5.18
        self.panic_console_dropped = Cell("panic_console_dropped", 0)  # v5.18
        self.dropped_warned = Cell("pr_warn_once.__already_done", False)  # v5.18
        self.uart = Cell("UART_TX", "")  # the serial line: the last record written
        # Observer bookkeeping, not CPU-visible state (nothing in the model reads it):
        self.output: list[str] = []  # records written to the console in full, in order
        self.panic_records: list[str] = []  # records the panic CPU stored during panic()
        self.overwritten: list[str] = []  # panic records the ring overwrote unread
        self.flush_handed_over = False  # console_flush_on_panic() ended by a handover

    def printk_fingerprint(self) -> tuple:
        """What the output check depends on beyond the cells (for a model's fingerprint())."""
        printed = tuple(r for r in self.panic_records if r in self.output)
        return tuple(self.panic_records), printed, tuple(self.overwritten), self.flush_handed_over

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
        if self.kernel_version >= (6, 9) and await self.other_cpu_in_panic():
            return
        if (5, 18) <= self.kernel_version < (6, 9) and await READ_ONCE(self.suppress_panic_printk):
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
        if smp_processor_id() == self.panic_cpu.value:
            self.panic_records.append(text)
        if pushed_out is not None and pushed_out in self.panic_records:
            self.overwritten.append(pushed_out)

    # -- kernel/printk/printk.c: console_sem --------------------------------------------

    # console_trylock(): down_trylock_console_sem(); v6.9 first refuses non-panic CPUs.
    async def console_trylock(self) -> bool:
        if self.kernel_version >= (6, 9) and await self.other_cpu_in_panic():
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
        if self.kernel_version < (4, 16):  # no owner/waiter handover before dbdda842fe96
            return False
        if self.console_spin_rule == "nobody-in-panic" or self.kernel_version >= (5, 18):
            if await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
                return False
        elif self.console_spin_rule == "not-panic-cpu":
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

    # console_lock_spinning_enable() (v4.16+); d04d5882cd67 (v6.9 here): not during panic.
    async def console_lock_spinning_enable(self) -> None:
        if self.kernel_version < (4, 16):
            return
        if self.kernel_version >= (6, 9) and await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
            return
        await raw_spin_lock(self.console_owner_lock)
        await WRITE_ONCE(self.console_owner, smp_processor_id())
        await raw_spin_unlock(self.console_owner_lock)

    # console_lock_spinning_disable_and_check(); d04d5882cd67 (v6.9 here): during panic
    # ignore waiters, they may be stopped CPUs.
    async def console_lock_spinning_disable_and_check(self) -> bool:
        if self.kernel_version < (4, 16):
            return False
        if self.kernel_version >= (6, 9) and await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
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
            if (5, 18) <= self.kernel_version < (6, 9) and await self.other_cpu_in_panic():
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
            if self.kernel_version >= (5, 18) and await self.other_cpu_in_panic():
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
            after = prb_state(0, ring.recs[1:] if self.kernel_version < (6, 9) else ring.recs)
            if await atomic_cmpxchg(self.prb, ring, after) == ring:
                break
        if ring.lost and (5, 18) <= self.kernel_version < (6, 9) and await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
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
        if self.kernel_version >= (6, 9):
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
        await udelay(self.con_write_us)
        await WRITE_ONCE(self.uart, text)
        self.output.append(text)

    # console_flush_on_panic(CONSOLE_FLUSH_PENDING): v5.x console_trylock() (result
    # ignored: lock busting) + console_unlock(); v6.9 no trylock, console_flush_all().
    async def console_flush_on_panic(self) -> None:
        if self.kernel_version >= (6, 9):
            await self.console_flush_all()
            return
        await self.console_trylock()
        self.flush_handed_over = await self.console_unlock()

    # P-B3: after console_flush_on_panic(), every record the panic CPU stored is on the console.
    def check_panic_output(self) -> None:
        if self.panic_cpu.value == PANIC_CPU_INVALID:
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
