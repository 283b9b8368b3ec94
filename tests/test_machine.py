"""Machine semantics, pinned down on toy models with hand-written traces."""

from __future__ import annotations

import ast

from panicfuzz.cells import Cell, atomic_t, cpumask_t
from panicfuzz import kernel
from panicfuzz.kernel import (
    BUG_ON,
    READ_ONCE,
    WRITE_ONCE,
    goal_reached,
    halt,
    send_IPI,
    atomic_cmpxchg,
    atomic_inc_not_zero,
    cpu_relax,
    cpumask_clear_cpu,
    cpumask_read,
    cpumask_weight,
)
from panicfuzz.machine import Kind, Machine
from panicfuzz.model import Event, Model, Variant
from panicfuzz.run import execute
from panicfuzz.strategies import Deviations, Replay
from panicfuzz.trace import Inject, Run, parse_action
from tests.toys import Flood, Halter, Semantics


def run(model, devs, variant="base", **kw):
    return execute(model, variant, Deviations(devs), logging=True, **kw)


def seen(result) -> tuple:
    """The final value of the toy's `seen` cell, read back from the event log."""
    last = [e[3] for e in result.log if e[3].startswith("WRITE_ONCE(seen, ")][-1]
    return ast.literal_eval(last[len("WRITE_ONCE(seen, ") : -1])


# Decision 0 starts CPU0, which runs up to its first primitive; decision n (n >= 1)
# lets the n-th primitive of CPU0 take effect.


def test_default_schedule_holds():
    r = run(Semantics, [])
    assert r.outcome.kind is None
    assert set(r.kinds) == {"d"}


def test_masked_irq_stays_pending_until_irqs_are_enabled():
    # Raise the IRQ once CPU0's local_irq_disable() has taken effect.
    r = run(Semantics, [(2, Inject("IRQ", 0))])
    # Delivered right after local_irq_enable(), before the next step of the interrupted code.
    assert seen(r) == (("irqs-off",), ("irq", False, False, 0), ("irqs-on",))
    entry = [i for i, e in enumerate(r.log) if e[3].startswith("> IRQ")][0]
    enable = [i for i, e in enumerate(r.log) if e[3] == "local_irq_enable()"][0]
    assert entry > enable


def test_nmi_is_delivered_with_irqs_off_and_latched_while_one_runs():
    # The first NMI arrives with irqs off; the second while the first handler runs.
    r = run(Semantics, [(2, Inject("NMI", 0)), (1, Inject("NMI", 0))])
    notes = [x for x in seen(r) if x[0] == "nmi"]
    assert notes == [("nmi", True, False, 1), ("nmi", True, False, 1)]  # never nested
    entries = [i for i, e in enumerate(r.log) if e[3].startswith("> NMI")]
    returns = [i for i, e in enumerate(r.log) if e[3] == "< return from NMI"]
    assert entries[1] > returns[0]


def test_nmi_latch_holds_at_most_one_pending():
    m = Machine(Semantics("base"), Deviations([]), max_steps=10)
    cpu = m.cpus[0]
    for _ in range(3):
        m.raise_interrupt(cpu, Kind.NMI, "NMI")
    assert [p.kind for p in cpu.pending] == [Kind.NMI]


def test_user_mode_mce_is_not_nmi_class_kernel_mode_is():
    r = run(Semantics, [(1, Inject("#MC"))])
    notes = [x for x in seen(r) if x[0] == "mce"]
    # CPU0 in the kernel: in_nmi(); CPU1 from user mode: not NMI-class.
    assert sorted(notes) == [("mce", False, True, 0), ("mce", True, False, 0)]


def test_halted_cpu_never_runs_for_a_masked_irq_but_takes_an_nmi():
    r = run(Halter, [])
    assert r.outcome.kind is None
    ran = [e[3] for e in r.log if e[3].startswith("WRITE_ONCE(ran")]
    assert ran == ["WRITE_ONCE(ran, ('nmi',))"]
    assert not any(e[3].startswith("> IPI") for e in r.log)


def test_self_deadlock_in_exception_names_the_chain():
    # #GP on CPU0 while it holds toy.lock: the handler spins on its own lock.
    r = run(Semantics, [(3, Inject("#GP", 0))])
    assert r.outcome.kind == "deadlock"
    assert "spins in grab() (in #GP) on toy.lock, which it holds itself in the interrupted" in r.outcome.message


def test_replay_reproduces_the_event_log_and_detects_divergence():
    r = run(Semantics, [(1, Inject("#MC")), (0, Run(1))])
    again = execute(Semantics, "base", Replay(r.trace), logging=True)
    assert again.log_digest() == r.log_digest()
    bad = list(r.trace)
    bad[0] = parse_action("cpu7")
    out = execute(Semantics, "base", Replay(bad))
    assert out.outcome.kind == "model-error"
    assert "nondeterministic at decision 0" in out.outcome.message


def test_livelock_is_proven_by_a_lasso_and_the_cycle_repeats():
    r = run(Flood, [], variant="flood")
    assert r.outcome.kind == "livelock"
    cycle = r.outcome.detail["cycle"]
    start, length = cycle["start"], cycle["length"]
    assert "cycle starts here" in " ".join(e[3] for e in r.log)
    # Go around the cycle twice more by replaying its decisions: the state at each
    # lap's start is the same.
    trace = list(r.trace[:start]) + list(r.trace[start : start + length]) * 3
    prints = []

    class Probe(Replay):
        def choose(self, m, enabled):
            from panicfuzz.fingerprint import fingerprint

            if self.pos in (start, start + length, start + 2 * length):
                prints.append((fingerprint(m), m.last))
            return super().choose(m, enabled)

    execute(Flood, "flood", Probe(trace), max_steps=10_000)
    assert len(prints) == 3 and prints[0] == prints[1] == prints[2]


def test_a_starved_cpu_is_not_a_livelock():
    # The bounded producer stops: whatever the schedule, the consumer drains.
    r = run(Flood, [(0, Run(1))], variant="bounded")
    assert r.outcome.kind is None


def test_a_python_error_in_a_model_is_a_model_error_with_its_location():
    from tests.toys import Broken

    r = run(Broken, [])
    assert r.outcome.kind == "model-error"
    assert r.outcome.message.startswith("ZeroDivisionError: integer division or modulo by zero (at toys.py:")
    assert "in cpu_main()" in r.outcome.message


def test_fingerprint_sees_a_cpu_between_two_steps_of_one_primitive():
    # With irqs already off, spin_lock_irqsave()'s local_irq_save() step changes no
    # cell and no model frame, yet the CPU is one step further: a different state.
    from panicfuzz.fingerprint import fingerprint
    from tests.toys import Semantics

    class Probe(Deviations):
        def __init__(self):
            super().__init__([])
            self.prints = []

        def choose(self, m, enabled):
            self.prints.append(fingerprint(m))
            return super().choose(m, enabled)

    class IrqsOffThenLock(Semantics):
        async def cpu_main(self, cpu: int) -> None:
            from panicfuzz.kernel import local_irq_disable, spin_lock_irqsave

            await local_irq_disable()
            await spin_lock_irqsave(self.lock)

    IrqsOffThenLock.ncpus = 1
    probe = Probe()
    execute(IrqsOffThenLock, "base", probe)
    assert len(probe.prints) == len(set(probe.prints)) == 4


def test_a_livelock_below_a_stale_deadline_is_still_proven():
    # The IRQ lands inside CPU0's udelay(5) and never returns: the interrupted
    # frame keeps a deadline that has long passed, which must not make every
    # later state look new.
    r = run(Flood, [(2, Inject("drain", 0))], variant="flood")
    assert any(e[3].startswith("> drain") for e in r.log)
    assert r.outcome.kind == "livelock", r.outcome.message


def test_every_nmi_runs_the_models_nmi_entry_and_a_latched_one_merges_the_sources():
    from tests.toys import NmiVector

    # CPU1 writes its stop request and sends the NMI; then the watchdog NMI hits CPU0
    # while the first is still pending: one delivery of the entry, which sees both.
    r = run(NmiVector, [(0, Run(1)), (2, Inject("watchdog NMI", 0))])
    assert seen(r) == (("watchdog", "stop"),)
    assert [e[3] for e in r.log if e[3].startswith("> ")] == ["> NMI (NMI)"]
    # The watchdog alone: the same entry, which finds no stop request.
    alone = run(NmiVector, [(2, Inject("watchdog NMI", 0))])
    assert seen(alone)[0] == ("watchdog",)


def test_an_nmi_takes_no_handler_of_its_sender():
    from panicfuzz.kernel import send_IPI_mask

    class Sender(Halter):
        async def cpu_main(self, cpu: int) -> None:
            await send_IPI_mask(1, self.handler_nmi, "NMI", nmi=True)

    r = execute(Sender, "base", Deviations([]))
    assert r.outcome.kind == "model-error" and "put the sender's intent in shared state" in r.outcome.message


class NoOpWrite(Model):
    """CPU1 does one locked RMW that leaves a word as it was; CPU0 spins on the word for good."""

    name = "toy-noop-write"
    ncpus = 2
    max_steps = 100
    variants = tuple(
        Variant(op, "fails", f"{op} leaves the word unchanged; CPU0 spins forever", kind="deadlock")
        for op in ("cpumask_clear_cpu", "atomic_cmpxchg", "atomic_inc_not_zero", "test_and_set_bit")
    )

    def __init__(self, variant: str):
        super().__init__(variant)
        self.word = cpumask_t.of("word", [0]) if variant != "atomic_inc_not_zero" else atomic_t("word", 0)

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            start = await READ_ONCE(self.word)
            while await READ_ONCE(self.word) == start:
                await cpu_relax()
        elif self.variant == "cpumask_clear_cpu":
            await cpumask_clear_cpu(1, self.word)  # `lock btr` of a clear bit
        elif self.variant == "atomic_cmpxchg":
            await atomic_cmpxchg(self.word, 5, 6)  # fails: `lock cmpxchg` writes back what it read
        elif self.variant == "test_and_set_bit":
            while await kernel.test_and_set_bit(0, self.word):  # `lock bts` of a set bit, in a spin
                await cpu_relax()
        else:
            await atomic_inc_not_zero(self.word)  # finds 0: the cmpxchg loop stores nothing


def test_a_locked_rmw_that_changes_nothing_still_writes_the_line():
    for op in ("cpumask_clear_cpu", "atomic_cmpxchg"):
        r = execute(NoOpWrite, op, Deviations([]))
        assert r.outcome.kind == "deadlock", r.outcome.message
        assert "word = 1 (last written by CPU1)" in r.outcome.message, r.outcome.message


def test_a_conditional_rmw_that_does_not_apply_stores_nothing():
    r = execute(NoOpWrite, "atomic_inc_not_zero", Deviations([]))
    assert r.outcome.kind == "deadlock" and "word = 0 (never written)" in r.outcome.message, r.outcome.message


def test_an_unchanged_write_wakes_no_spinner_so_two_rmw_spinners_deadlock():
    # CPU1 spins with `lock bts` on the bit CPU0's word holds; CPU0 spins on the word. Each bts
    # writes the line, but a spinner woken by it would only re-read the same word: a deadlock.
    r = execute(NoOpWrite, "test_and_set_bit", Deviations([]), logging=True)
    assert r.outcome.kind == "deadlock", r.outcome.message
    assert any(e[1] == 1 and e[3] == "spins: word unchanged" for e in r.log)


def test_cpumask_weight_is_logged_as_a_number():
    # int.bit_count(1) is the cached small int 1: an identity test took it for the mask itself.
    class Weigh(Model):
        name = "toy-weigh"
        ncpus = 1
        variants = (Variant("base", "holds", "reads a mask"),)

        async def cpu_main(self, cpu: int) -> None:
            mask = cpumask_t.of("mask", [0])
            assert await cpumask_weight(mask) == 1
            assert await cpumask_read(mask) == 1

    r = execute(Weigh, "base", Deviations([]), logging=True)
    texts = [e[3] for e in r.log]
    assert "cpumask_weight(&mask) = 1 ({0})" in texts and "READ mask = {0}" in texts, texts


class LateNmi(Model):
    """CPU0 sends CPU1 an NMI and reaches the goal at once; CPU1 is in an irqs-off section then."""

    name = "toy-late-nmi"
    ncpus = 2
    max_steps = 100
    goal = "CPU0 jumps to the crash kernel"
    variants = (Variant("base", "holds", "the goal ends the run: the NMI is never taken"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.taken = Cell("taken", 0)

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await send_IPI(1, nmi=True)
            await goal_reached("jump")
        else:
            await halt("stopped")

    async def nmi(self) -> None:
        await WRITE_ONCE(self.taken, 1)

    nmi_entry = nmi

    def final_check(self) -> None:
        BUG_ON(self.taken.value == 1, "late-nmi", "CPU1 took the NMI after the jump")


class Settling(LateNmi):
    settle_after_goal = 10


def test_the_goal_ends_the_run_unless_the_model_lets_the_machine_settle():
    assert execute(LateNmi, "base", Deviations([])).outcome.kind is None
    r = execute(Settling, "base", Deviations([]), logging=True)
    assert r.outcome.kind == "invariant" and r.outcome.signature_parts == ("invariant", "late-nmi"), r.outcome
    texts = [(e[1], e[3]) for e in r.log]
    assert texts.index((0, "halts (after the goal)")) < texts.index((1, "> NMI (NMI)"))


def test_settling_is_bounded_and_offers_no_injection():
    class Busy(Settling):
        settle_after_goal = 3

        async def cpu_main(self, cpu: int) -> None:
            if cpu == 0:
                await goal_reached("jump")
            while True:  # CPU1 never settles: the run ends held after 3 more steps
                await WRITE_ONCE(self.taken, 2)

        events = (Event("NMI", Kind.NMI),)

    class Record:
        offers: list = []

        def choose(self, machine, enabled):
            self.offers.append((machine.goal_reached, enabled))
            return enabled[0]

    src = Record()
    r = execute(Busy, "base", src, logging=True)
    assert r.outcome.kind is None
    after = [offer for reached, offer in src.offers if reached]
    assert after and len(after) <= 3 and not any(isinstance(a, Inject) for offer in after for a in offer)
    assert any(isinstance(a, Inject) for reached, offer in src.offers if not reached for a in offer)
