"""x86 cross-modifying code: text_poke_bp() breakpoint patching of a live CALL (seed 004).

Kernel code modelled:
  arch/x86/kernel/alternative.c  text_poke_bp() (v3.x..v5.2, "redirect"), text_poke_bp_batch(),
                                 poke_int3_handler(), text_poke_sync(), try_get_desc()/put_desc()
                                 in three shapes: v5.3/5.4 (bp_patching.vec/nr_entries),
                                 v5.5..v6.0 (1f676247f36a: refcounted bp_desc on the patcher's
                                 stack), v6.1+ (Nadav Amit 2022: global bp_desc)
  arch/x86/include/asm/text-patching.h  int3_emulate_call()
  arch/x86/kernel/traps.c        do_int3() / exc_int3()
Threads: "[PATCH v3 0/6] Static calls" (Jan 2019): H. Peter Anvin 13 Jan (cpumask
  text_poke_sync), Andy Lutomirski's objection, hpa 14 Jan (bp_poke_state machine,
  lkml.iu.edu 1901.1/06819); Nicolai Stange (Apr 2019, the lost ftrace call);
  Masami Hiramatsu 285a54efe386 (Nov 2019); Nadav Amit
  20220920224743.3089-1-namit@vmware.com (2022).

The patch site is a 5-byte `call old_fn` that static_call_update() turns into
`call new_fn` (same opcode, new rel32). Its bytes are three cells: the opcode
byte and the two halves of the displacement (text_poke() writes the tail with
a memcpy, not atomically). Executing the site is one fetch of all three:
`call` + matching halves runs the callee; `int3` raises #BP; anything else is a
torn instruction.

CPU0 runs kernel code that calls through the site twice, then idles with irqs
on. CPU1 is the patcher (holding text_mutex), then idles. Injected while the
patch is in progress, on either CPU: a device IRQ, an NMI (perf: x86_pmu static
calls) and a #MC whose handlers call through the site, and an unrelated int3
(a kprobe) in CPU0's kernel code.

Result (LKMM style), each found by searching (tests/test_text_poke.py):
  bp-waits            fails: deadlock. An irq/NMI/#MC on the patcher executes the site and its
                      #BP waits for the patcher, its own interrupted frame (Andy Lutomirski).
                      Also found: unhandled-int3 (an NMI nested in a #BP clears the CPU's
                      text_poke_cpumask bit for the outer #BP that has not yet looked).
  hpa-state-machine   fails: invariant torn-insn, and livelock. The undo of a #BP from one
                      round lands in the patcher's retry (ABA on both the int3 byte and the
                      cpumask bit), so cmpxchg(1 -> 2) succeeds with no int3 in place and the
                      tail is rewritten under a fetching CPU; and undo/retry can ping-pong
                      forever (hpa, 15 Jan 2019: "reduce the risk of livelock").
  v3-redirect         fails: invariant lost-call
  emulate-null-vec    fails: invariant null-desc (also use-after-scope of the on-stack tp)
  emulate-stack-desc  fails: invariant use-after-scope
  emulate             holds
"""

from __future__ import annotations

import attrs

from panicfuzz.cells import Cell, atomic_t, cpumask_t
from panicfuzz.fingerprint import model_state
from panicfuzz.kernel import (
    READ_ONCE,
    WRITE_ONCE,
    BUG_ON,
    atomic_cmpxchg,
    atomic_dec,
    atomic_dec_and_test,
    atomic_inc,
    atomic_inc_not_zero,
    atomic_read,
    atomic_set,
    context_of,
    cpu_relax,
    cpumask_clear_cpu,
    cpumask_empty,
    cpumask_write,
    halt,
    raise_exception,
    send_IPI_mask,
    smp_processor_id,
    smp_store_release,
    trace_printk,
)
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Model, Variant

NCPUS = 2
CALLER = 0  # kernel code calling through the static call site
PATCHER = 1  # static_call_update() -> text_poke_bp()

INT3 = "int3"  # 0xcc
CALL = "call"  # 0xe8 rel32
OLD_FN = "old_fn"
NEW_FN = "new_fn"
SITE = 0x100  # address of the patched CALL
CALL_INSN_SIZE = 5
INT3_INSN_SIZE = 1
KPROBE_ADDR = 0x200  # an unrelated kprobe'd instruction in CPU0's code

# hpa's bp_poke_state (14 Jan 2019)
BP_IDLE, BP_INT3, BP_PATCH, BP_DONE, BP_UNDONE = 0, 1, 2, 3, 4


@attrs.define(eq=False)
class PtRegs:
    """The #BP frame: what poke_int3_handler() may change before IRET."""

    ip: int  # regs->ip: the address after the int3
    call: str | None = None  # int3_emulate_call() pushed a return address and went here


@attrs.define(eq=False)
class TextPokeLoc:
    """`struct text_poke_loc tp` and, for emulate-stack-desc, `struct bp_patching_desc desc`:
    locals of the patcher's text_poke_bp() frame. `live` ends when that frame returns."""

    addr: Cell  # tp.rel_addr: read by the handler to match the int3's address
    opcode: str
    func: str  # the CALL target the handler emulates
    refs: atomic_t | None = None  # desc.refs (emulate-stack-desc only)
    live: bool = True

    def __str__(self) -> str:
        return "&desc" if self.refs is not None else "&tp"


class _Null:
    """The NULL pointer, as the timeline prints it."""

    def __str__(self) -> str:
        return "NULL"

    __repr__ = __str__


NULL = _Null()


@attrs.define(eq=False)
class Execution:
    """One execution of the site by one context: how many times a callee ran."""

    cpu: int
    context: str
    calls: int = 0


class TextPoke(Model):
    name = "text_poke"
    seed = 4
    source = (
        "arch/x86/kernel/alternative.c text_poke_bp()/text_poke_bp_batch()/poke_int3_handler() "
        "(v3.x, v5.4, v5.5-6.0, v6.1+); LKML '[PATCH v3 0/6] Static calls' (Jan 2019)"
    )
    variants = (
        Variant(
            "bp-waits",
            "fails",
            "hpa 13 Jan 2019: cpumask text_poke_sync; the #BP handler waits until the breakpoint is gone",
            must=("deadlock on text_poke_cpumask in poke_int3_handler_wait()", "invariant unhandled-int3",),
            source="hpa 13 Jan 2019 (text_poke_cpumask), Andy Lutomirski's reply of 14 Jan 2019",
        ),
        Variant(
            "hpa-state-machine",
            "fails",
            "hpa 14 Jan 2019: the #BP handler undoes (state 1/4) or completes (state 2) the patch; "
            "found by search: a stale undo defeats the retry (torn CALL), and undo/retry livelocks",
            must=("invariant torn-insn", "livelock in poke_int3_handler_hpa()", "hang in text_poke_sync()",),
            source="lkml.iu.edu/hypermail/linux/kernel/1901.1/06819.html",
        ),
        Variant(
            "v3-redirect",
            "fails",
            "v3.x..v5.2 text_poke_bp(): the #BP handler resumes after the instruction",
            must=("invariant lost-call",),
            source="arch/x86/kernel/alternative.c v3.x..v5.2; Nicolai Stange, Apr 2019 (lost ftrace call)",
        ),
        Variant(
            "emulate-null-vec",
            "fails",
            "v5.4: int3_emulate_call(), bp_patching.vec/nr_entries cleared without a final sync",
            must=("invariant null-desc", "invariant use-after-scope",),
            source="arch/x86/kernel/alternative.c v5.4; fixed by 285a54efe386 (Masami Hiramatsu, Nov 2019)",
        ),
        Variant(
            "emulate-stack-desc",
            "fails",
            "v5.5..v6.0: refcounted bp_desc pointing into the patcher's stack frame",
            must=("invariant use-after-scope",),
            source="1f676247f36a (v5.5); fixed by Nadav Amit 20220920224743.3089-1-namit@vmware.com",
        ),
        Variant(
            "emulate",
            "holds",
            "v6.1+: global bp_desc, refcount set with release, patcher waits for zero; int3_emulate_call()",
            source="arch/x86/kernel/alternative.c v6.1..v6.13",
        ),
    )
    ncpus = NCPUS
    goal = "static_call_update() returns and every call through the site completes"
    max_steps = 70

    def __init__(self, variant: str):
        super().__init__(variant)
        # The kernel text of the site, as fetched by every CPU.
        self.site_op = Cell("site.op", CALL)
        self.site_lo = Cell("site.disp_lo", OLD_FN)
        self.site_hi = Cell("site.disp_hi", OLD_FN)
        hpa = variant in ("bp-waits", "hpa-state-machine")
        # on_each_cpu(..., wait=1): the CPUs that have not yet run the function
        # (csd_lock_wait); in hpa's proposal the explicit text_poke_cpumask.
        self.sync_mask = cpumask_t("text_poke_cpumask" if hpa else "on_each_cpu.pending")
        self.bp_patching_in_progress = Cell("bp_patching_in_progress", 0)  # v3.x, bp-waits
        self.bp_poke_state = atomic_t("bp_poke_state", BP_IDLE)  # hpa 14 Jan
        self.bp_old_value = CALL  # hpa: read under text_mutex before patching
        self.bp_patching_vec = Cell("bp_patching.vec", NULL)  # v5.4
        self.bp_patching_nr_entries = Cell("bp_patching.nr_entries", 0)  # v5.4
        self.bp_desc_ptr = Cell("bp_desc", NULL)  # v5.5..6.0: struct bp_patching_desc *
        self.bp_desc_vec = Cell("bp_desc.vec", NULL)  # v6.1+: static struct bp_patching_desc
        self.bp_desc_refs = atomic_t("bp_desc.refs", 0)
        self.calls = {OLD_FN: atomic_t("old_fn.calls"), NEW_FN: atomic_t("new_fn.calls")}
        # Bookkeeping for guards and checks (not kernel state).
        self.patching = False
        self.patch_done = False
        self.in_flight: list[Execution] = []
        self.regs_live: list[PtRegs] = []  # #BP frames being handled
        self.tp: TextPokeLoc | None = None  # the patcher's frame, once it is entered

    def fingerprint(self) -> tuple:
        """The cells plus what lives outside them: bookkeeping, #BP frames, the patcher's frame."""
        tp = self.tp
        frame = None if tp is None else (tp.live, None if tp.refs is None else tp.refs.value)
        return (
            model_state(self),
            self.patching,
            self.patch_done,
            tuple((e.cpu, e.context, e.calls) for e in self.in_flight),
            tuple((r.ip, r.call) for r in self.regs_live),
            frame,
        )

    def cpu_label(self, cpu: int) -> str:
        return f"CPU{cpu} ({'caller' if cpu == CALLER else 'patcher'})"

    def goal_pending(self) -> bool:
        return not self.patch_done or bool(self.in_flight)

    async def cpu_main(self, cpu: int) -> None:
        if cpu == CALLER:
            for _ in range(2):
                await self.static_call_site()
        else:
            await self.static_call_update()
        await self.default_idle()

    # arch/x86/kernel/process.c: default_idle(): sti; hlt (irqs on: IPIs are taken)
    async def default_idle(self) -> None:
        await halt("default_idle")

    # -- the call site --------------------------------------------------------

    # include/linux/static_call.h: static_call(tp_func)(); with inline static
    # calls the site is `call tp_func` itself. One fetch of its bytes per
    # attempt; an int3 traps (do_int3), after which execution continues at
    # regs->ip: the site again (re-execute), the emulated call target, or past it.
    async def static_call_site(self) -> None:
        cpu = smp_processor_id()
        ex = Execution(cpu, context_of(cpu))
        self.in_flight.append(ex)
        while True:
            op, lo, hi = await READ_ONCE(self.site_op, self.site_lo, self.site_hi, union="site")
            if op == INT3:
                regs = PtRegs(SITE + INT3_INSN_SIZE)
                self.regs_live.append(regs)
                await raise_exception("#BP", lambda: self.exc_int3(regs))
                self.regs_live.remove(regs)
                if regs.call is not None:  # int3_emulate_call(): the callee runs, returns past the site
                    await self.callee(regs.call, ex)
                    break
                if regs.ip == SITE:  # re-execute the instruction
                    continue
                BUG_ON(regs.ip != SITE + CALL_INSN_SIZE, "bad-resume", f"#BP returned to {regs.ip:#x}")
                break  # resumed after the CALL
            BUG_ON(
                op != CALL or lo != hi,
                "torn-insn",
                f"CPU{cpu} executes a torn instruction at the site: {op} with displacement halves {lo}/{hi}",
            )
            await self.callee(lo, ex)
            break
        BUG_ON(
            ex.calls == 0,
            "lost-call",
            f"CPU{cpu} ({ex.context}) executed the CALL at the site but no callee ran: the call was lost",
        )
        BUG_ON(ex.calls > 1, "double-call", f"CPU{cpu} ({ex.context}): one CALL ran the callee {ex.calls} times")
        self.in_flight.remove(ex)

    # old_fn() / new_fn(): the static call's targets
    async def callee(self, func: str, ex: Execution) -> None:
        ex.calls += 1
        await atomic_inc(self.calls[func])

    # -- injectable events -------------------------------------------------------

    # arch/x86/kernel/irq.c: common_interrupt() -> a device handler calling through the site
    async def common_interrupt(self) -> None:
        await self.static_call_site()

    # arch/x86/kernel/nmi.c: exc_nmi() -> perf_event_nmi_handler() -> static_call(x86_pmu_handle_irq)
    async def exc_nmi(self) -> None:
        await self.static_call_site()

    nmi_entry = exc_nmi

    # arch/x86/kernel/cpu/mce/core.c: exc_machine_check() -> a notifier calling through the site
    async def exc_machine_check(self) -> None:
        await self.static_call_site()

    # An unrelated int3: a kprobe on an instruction in CPU0's kernel code.
    async def kprobe_int3(self) -> None:
        regs = PtRegs(KPROBE_ADDR + INT3_INSN_SIZE)
        self.regs_live.append(regs)
        await self.exc_int3(regs)
        self.regs_live.remove(regs)

    # One interrupt frame deep: from task context (or the idle loop) only.
    def patch_in_progress(self, cpu: int | None) -> bool:
        return self.patching and context_of(cpu) == "task"

    # CPU0's kernel code, the idle loop included (it runs code after every
    # interrupt); not the patcher (text_poke_bp() and its callees are NOKPROBE).
    # Offered only where poke_int3_handler() reads the descriptor for a foreign
    # int3 (v5.4+); the older handlers reject it by address before touching
    # anything the patcher writes (hpa) or after one read of a flag (v3.x), so
    # the event could not change their outcome and would only cost search time.
    def caller_running_kernel_code(self, cpu: int | None) -> bool:
        return (
            self.variant.startswith("emulate")
            and self.patching
            and cpu == CALLER
            and context_of(cpu) == "task"
        )

    events = (
        Event("irq", Kind.IRQ, common_interrupt, guard=patch_in_progress),
        Event("NMI", Kind.NMI, guard=patch_in_progress),
        Event("#MC", Kind.MCE, exc_machine_check, guard=patch_in_progress),
        Event("kprobe-int3", Kind.EXC, kprobe_int3, guard=caller_running_kernel_code),
    )

    # -- arch/x86/kernel/traps.c ----------------------------------------------------

    # do_int3() (v3.x..v5.7) / exc_int3() (v5.8+): poke_int3_handler() first, then
    # kprobe_int3_handler(); an int3 nobody claims is die("int3").
    async def exc_int3(self, regs: PtRegs) -> None:
        if await self.poke_int3_handler(regs):
            return
        if regs.ip == KPROBE_ADDR + INT3_INSN_SIZE:
            trace_printk("kprobe_int3_handler(): the kprobe's own int3")
            return
        BUG_ON(
            True,
            "unhandled-int3",
            f"int3 at the site not claimed by poke_int3_handler(): die('int3') on CPU{smp_processor_id()}",
        )

    async def poke_int3_handler(self, regs: PtRegs) -> bool:
        if self.variant == "v3-redirect":
            return await self.poke_int3_handler_v3(regs)
        if self.variant == "bp-waits":
            return await self.poke_int3_handler_wait(regs)
        if self.variant == "hpa-state-machine":
            return await self.poke_int3_handler_hpa(regs)
        if self.variant == "emulate-null-vec":
            return await self.poke_int3_handler_v54(regs)
        return await self.poke_int3_handler_desc(regs)

    # -- sync ------------------------------------------------------------------------

    # arch/x86/kernel/alternative.c: text_poke_sync() = on_each_cpu(do_sync_core, NULL, 1)
    # (smp_call_function_many(): IPI, then csd_lock_wait() with irqs on; the local
    # call of do_sync_core() touches nothing shared). For hpa's variants his
    # text_poke_sync() of 13 Jan 2019: text_poke_cpumask = online - self;
    # on_each_cpu_mask(..., false); while (!cpumask_empty()) cpu_relax().
    async def text_poke_sync(self) -> None:
        others = ((1 << NCPUS) - 1) & ~(1 << smp_processor_id())
        await cpumask_write(self.sync_mask, others)
        if self.variant in ("bp-waits", "hpa-state-machine"):
            await send_IPI_mask(others, self.text_poke_sync_cpu, "CALL_FUNCTION_VECTOR")
        else:
            await send_IPI_mask(others, self.do_sync_core, "CALL_FUNCTION_VECTOR")
        while not await cpumask_empty(self.sync_mask):
            await cpu_relax()

    # arch/x86/kernel/alternative.c: do_sync_core(): sync_core(); then csd_unlock()
    async def do_sync_core(self) -> None:
        await cpumask_clear_cpu(smp_processor_id(), self.sync_mask)

    # hpa 13 Jan 2019: text_poke_sync_cpu(): clear our bit; the IRET serializes.
    async def text_poke_sync_cpu(self) -> None:
        await cpumask_clear_cpu(smp_processor_id(), self.sync_mask)

    # text_poke(): write through the temporary poking_mm alias; the 4-byte
    # displacement is a memcpy, two steps here.
    async def text_poke_tail(self, func: str) -> None:
        await WRITE_ONCE(self.site_lo, func)
        await WRITE_ONCE(self.site_hi, func)

    # -- the patcher ---------------------------------------------------------------------

    # kernel/static_call.c: static_call_update() -> arch_static_call_transform()
    # -> __static_call_transform() -> text_poke_bp(insn, code, CALL_INSN_SIZE, emulate),
    # under text_mutex.
    async def static_call_update(self) -> None:
        self.patching = True
        # struct text_poke_loc tp: a local of text_poke_bp() (v5.4+), on the patcher's stack.
        tp = self.tp = TextPokeLoc(Cell("tp.rel_addr", SITE), CALL, NEW_FN)
        if self.variant in ("v3-redirect", "bp-waits"):
            await self.text_poke_bp_v3()
        elif self.variant == "hpa-state-machine":
            await self.text_poke_bp_hpa()
        else:
            await self.text_poke_bp_batch(tp)
        tp.live = False  # text_poke_bp() returned: its frame is reused
        trace_printk("text_poke_bp() returns (its stack frame is gone)")
        self.patching = False
        self.patch_done = True

    # arch/x86/kernel/alternative.c v3.x..v5.2: text_poke_bp(addr, opcode, len, handler).
    # bp_int3_addr (= addr + 1) and bp_int3_handler (= addr + len: skip the CALL) are
    # written before bp_patching_in_progress, ordered by smp_wmb(): constants here.
    # bp-waits: the same phases with hpa's cpumask text_poke_sync().
    async def text_poke_bp_v3(self) -> None:
        await WRITE_ONCE(self.bp_patching_in_progress, 1)
        await WRITE_ONCE(self.site_op, INT3)
        await self.text_poke_sync()
        await self.text_poke_tail(NEW_FN)
        await self.text_poke_sync()
        await WRITE_ONCE(self.site_op, CALL)
        await self.text_poke_sync()
        await WRITE_ONCE(self.bp_patching_in_progress, 0)

    # v3.x..v5.2 poke_int3_handler(): if (!bp_patching_in_progress) return 0;
    # if (user_mode(regs) || regs->ip != (unsigned long)bp_int3_addr) return 0;
    # regs->ip = (unsigned long) bp_int3_handler; return 1;
    async def poke_int3_handler_v3(self, regs: PtRegs) -> bool:
        if not await READ_ONCE(self.bp_patching_in_progress):
            return False
        if regs.ip != SITE + INT3_INSN_SIZE:
            return False
        regs.ip = SITE + CALL_INSN_SIZE
        trace_printk("regs->ip = bp_int3_handler (after the CALL)")
        return True

    # hpa 13 Jan 2019 as a #BP policy: clear our bit in text_poke_cpumask (his
    # invariant 3; the IRET that follows serializes) and wait until the breakpoint
    # is gone, then re-execute. The bit is cleared again while waiting, so later
    # syncs do not wait for us (Andy: "periodically check if a sync is needed").
    async def poke_int3_handler_wait(self, regs: PtRegs) -> bool:
        if not await READ_ONCE(self.bp_patching_in_progress):
            return False
        if regs.ip != SITE + INT3_INSN_SIZE:
            return False
        cpu = smp_processor_id()
        while True:
            await cpumask_clear_cpu(cpu, self.sync_mask)
            if await READ_ONCE(self.site_op) != INT3:
                break
            await cpu_relax()
        regs.ip = SITE
        trace_printk("regs->ip -= 1 (re-execute the patched instruction)")
        return True

    # hpa 14 Jan 2019, patcher (single site, under text_mutex):
    #   bp_old_value = *bp_write_addr
    #   do { bp_poke_state = 1; *bp_write_addr = 0xcc; mask = online - self; IPIs; wait mask == 0 }
    #   while (cmpxchg(&bp_poke_state, 1, 2) != 1);
    #   patch sites, remove breakpoints after patching each one
    #   bp_poke_state = 3; mask = online - self; IPIs; wait mask == 0; bp_poke_state = 0
    async def text_poke_bp_hpa(self) -> None:
        while True:
            await atomic_set(self.bp_poke_state, BP_INT3)
            await WRITE_ONCE(self.site_op, INT3)
            await self.text_poke_sync()
            if await atomic_cmpxchg(self.bp_poke_state, BP_INT3, BP_PATCH) == BP_INT3:
                break
        await self.text_poke_tail(NEW_FN)
        await WRITE_ONCE(self.site_op, CALL)
        await atomic_set(self.bp_poke_state, BP_DONE)
        await self.text_poke_sync()
        await atomic_set(self.bp_poke_state, BP_IDLE)

    # hpa 14 Jan 2019, #BP handler:
    #   state = cmpxchg(&bp_poke_state, 1, 4);
    #   1, 4: cmpxchg(bp_write_addr, 0xcc, bp_old_value)     undo
    #   2:    complete patch sequence; remove breakpoint       help
    #   3:    nothing ("the #BP will go away on its own")
    #   0:    return 0
    #   clear bit in mask; return 1   (re-execute)
    # bp_write_addr is "the write address for the breakpoint that was taken"
    # (his 15 Jan mail): an int3 elsewhere is not ours.
    # Found by search: a handler that read state 1 in round k undoes *after* the
    # patcher's retry rewrote the int3 in round k+1, and clears the CPU's bit of
    # round k+1's mask: the patcher's cmpxchg(1 -> 2) then succeeds with the old
    # opcode byte in place and text_poke_tail() runs under a fetching CPU.
    async def poke_int3_handler_hpa(self, regs: PtRegs) -> bool:
        if regs.ip != SITE + INT3_INSN_SIZE:
            return False
        state = await atomic_cmpxchg(self.bp_poke_state, BP_INT3, BP_UNDONE)
        if state in (BP_INT3, BP_UNDONE):
            await atomic_cmpxchg(self.site_op, INT3, self.bp_old_value)
        elif state == BP_PATCH:
            await self.text_poke_tail(NEW_FN)
            await WRITE_ONCE(self.site_op, CALL)
        elif state == BP_IDLE:
            return False
        await cpumask_clear_cpu(smp_processor_id(), self.sync_mask)
        regs.ip = SITE
        trace_printk("regs->ip -= 1 (re-execute)")
        return True

    # arch/x86/kernel/alternative.c: text_poke_bp_batch(tp, 1) in three shapes.
    #   v5.4:     bp_patching.vec = tp; nr_entries = 1; ... bp_patching.vec = NULL; nr_entries = 0
    #   v5.5-6.0: struct bp_patching_desc desc = { tp, 1, ATOMIC_INIT(1) };
    #             smp_store_release(&bp_desc, &desc); ... WRITE_ONCE(bp_desc, NULL);
    #             if (!atomic_dec_and_test(&desc.refs)) atomic_cond_read_acquire(&desc.refs, !VAL);
    #   v6.1+:    bp_desc.vec = tp; bp_desc.nr_entries = 1; atomic_set_release(&bp_desc.refs, 1);
    #             ... if (!atomic_dec_and_test(&bp_desc.refs)) atomic_cond_read_acquire(..., !VAL);
    async def text_poke_bp_batch(self, tp: TextPokeLoc) -> None:
        if self.variant == "emulate-null-vec":
            await WRITE_ONCE(self.bp_patching_vec, tp)
            await WRITE_ONCE(self.bp_patching_nr_entries, 1)
        elif self.variant == "emulate-stack-desc":
            tp.refs = atomic_t("desc.refs", 1)  # ATOMIC_INIT(1) in the on-stack initialiser
            await smp_store_release(self.bp_desc_ptr, tp)
        else:
            await WRITE_ONCE(self.bp_desc_vec, tp)
            await atomic_set(self.bp_desc_refs, 1)  # atomic_set_release()
        await WRITE_ONCE(self.site_op, INT3)  # step 1: int3 on the first byte
        await self.text_poke_sync()
        await self.text_poke_tail(NEW_FN)  # step 2: the tail
        await self.text_poke_sync()
        await WRITE_ONCE(self.site_op, CALL)  # step 3: the first byte
        await self.text_poke_sync()
        if self.variant == "emulate-null-vec":
            await WRITE_ONCE(self.bp_patching_vec, NULL)
            await WRITE_ONCE(self.bp_patching_nr_entries, 0)
        elif self.variant == "emulate-stack-desc":
            await WRITE_ONCE(self.bp_desc_ptr, NULL)
            if not await atomic_dec_and_test(tp.refs):
                while await atomic_read(tp.refs):
                    await cpu_relax()
        else:
            if not await atomic_dec_and_test(self.bp_desc_refs):
                while await atomic_read(self.bp_desc_refs):
                    await cpu_relax()

    # v5.4 poke_int3_handler(): smp_rmb(); if (likely(!bp_patching.nr_entries)) return 0;
    # ip = regs->ip - INT3_INSN_SIZE; nr_entries == 1: tp = bp_patching.vec;
    # if (tp->addr != ip) return 0; ... int3_emulate_call(regs, tp->... target); return 1;
    async def poke_int3_handler_v54(self, regs: PtRegs) -> bool:
        if not await READ_ONCE(self.bp_patching_nr_entries):
            return False
        tp = await READ_ONCE(self.bp_patching_vec)
        return await self.emulate(regs, tp, "bp_patching.vec")

    # v5.5+ poke_int3_handler(): desc = try_get_desc(); if (!desc) return 0; look up
    # regs->ip - 1 in desc->vec; CALL: int3_emulate_call(); out_put: put_desc().
    async def poke_int3_handler_desc(self, regs: PtRegs) -> bool:
        desc = await self.try_get_desc()
        if desc is None:
            return False
        if self.variant == "emulate-stack-desc":
            tp = desc  # desc->vec: the tp of the same frame
        else:
            tp = await READ_ONCE(self.bp_desc_vec)
        ret = await self.emulate(regs, tp, "desc->vec")
        await self.put_desc(desc)
        return ret

    # try_get_desc(): v5.5-6.0: desc = READ_ONCE(bp_desc); if (!desc ||
    # !atomic_inc_not_zero(&desc->refs)) return NULL;  v6.1+: &bp_desc if
    # atomic_inc_not_zero(&bp_desc.refs).
    async def try_get_desc(self):
        if self.variant == "emulate-stack-desc":
            desc = await READ_ONCE(self.bp_desc_ptr)
            if desc is NULL:
                return None
            got = await atomic_inc_not_zero(desc.refs)
            self.check_scope(desc, "desc->refs")
            return desc if got else None
        if not await atomic_inc_not_zero(self.bp_desc_refs):
            return None
        return self

    # put_desc(): smp_mb__before_atomic(); atomic_dec(&desc->refs);
    async def put_desc(self, desc) -> None:
        if self.variant == "emulate-stack-desc":
            await atomic_dec(desc.refs)
            self.check_scope(desc, "desc->refs")
        else:
            await atomic_dec(self.bp_desc_refs)

    # The lookup and int3_emulate_call(regs, tp->addr + CALL_INSN_SIZE + tp->rel32):
    # push the return address into the int3 gap and set regs->ip to the target.
    async def emulate(self, regs: PtRegs, tp: TextPokeLoc | _Null, what: str) -> bool:
        BUG_ON(
            tp is NULL,
            "null-desc",
            f"poke_int3_handler() on CPU{smp_processor_id()} dereferences {what} == NULL: "
            "the patcher cleared the descriptor under it",
        )
        addr = await READ_ONCE(tp.addr)
        self.check_scope(tp, "tp->rel_addr")
        if regs.ip - INT3_INSN_SIZE != addr:
            return False
        regs.call = tp.func
        trace_printk(f"int3_emulate_call(regs, {tp.func})")
        return True

    def check_scope(self, loc: TextPokeLoc, what: str) -> None:
        BUG_ON(
            not loc.live,
            "use-after-scope",
            f"poke_int3_handler() on CPU{smp_processor_id()} uses {what} after text_poke_bp() returned: "
            "that stack frame is gone",
        )

    # -- end of run --------------------------------------------------------------------

    def final_check(self) -> None:
        text = (self.site_op.value, self.site_lo.value, self.site_hi.value)
        BUG_ON(text != (CALL, NEW_FN, NEW_FN), "not-patched", f"the site ends as {text}, not `call new_fn`")
