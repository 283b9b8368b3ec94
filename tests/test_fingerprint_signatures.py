"""Signatures name the bug: what fails and the wait-for shape, never incidental frames or helper names."""

from __future__ import annotations

from panicfuzz.cells import Cell, raw_spinlock_t
from panicfuzz.claims import answers
from panicfuzz.kernel import WRITE_ONCE, halt, raw_spin_lock, raw_spin_unlock
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Model, Variant, helper
from panicfuzz.run import execute
from panicfuzz.strategies import RandomSource


def on_cpu0(model, cpu) -> bool:
    return cpu == 0


class StoppedHolder(Model):
    """CPU0 updates under `lock` and may be stopped inside it, by an NMI or by a stop IPI;
    CPU1 then spins on the lock in `reader()`. The spinner's end state is the same either
    way; the holder's (halted in `nmi_stop()` in NMI, or in `irq_stop()` in the IPI) is not."""

    name = "toy-stopped-holder"
    ncpus = 2
    variants = (Variant("v", "fails", "the holder is stopped with the lock held", kind="deadlock"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.lock = raw_spinlock_t("lock")
        self.step = Cell("step", 0)

    async def cpu_main(self, cpu: int) -> None:
        await (self.update() if cpu == 0 else self.reader())

    async def update(self) -> None:
        await raw_spin_lock(self.lock)
        await self.first_half()
        await self.second_half()
        await raw_spin_unlock(self.lock)

    @helper
    async def first_half(self) -> None:
        await WRITE_ONCE(self.step, 1)

    @helper
    async def second_half(self) -> None:
        await WRITE_ONCE(self.step, 2)

    async def reader(self) -> None:
        await raw_spin_lock(self.lock)
        await raw_spin_unlock(self.lock)

    async def nmi_stop(self) -> None:
        await halt("nmi_stop")

    async def irq_stop(self) -> None:
        await halt("irq_stop")

    nmi_entry = nmi_stop
    events = (
        Event("NMI", Kind.NMI, guard=on_cpu0),
        Event("STOP_IPI", Kind.IRQ, irq_stop, guard=on_cpu0),
    )


def deadlocks(model, runs: int = 400) -> dict[str, set]:
    """Signature -> the (step, context) pairs it was reached with, over random schedules."""
    out: dict[str, set] = {}
    for seed in range(runs):
        r = execute(model, "v", RandomSource(seed, 0), final_state=True)
        if r.outcome.kind == "deadlock":
            context = next((c for c in ("NMI", "STOP_IPI") if f"(in {c})" in r.outcome.message), "?")
            out.setdefault(r.signature, set()).add((dict(r.final)["step"], context))
    return out


def test_two_bugs_with_the_same_spinner_get_two_signatures():
    found = deadlocks(StoppedHolder)
    assert len(found) == 2, found  # stopped by the NMI, stopped by the IPI
    contexts = [{c for _, c in hows} for hows in found.values()]
    assert sorted(map(sorted, contexts)) == [["NMI"], ["STOP_IPI"]]


def test_one_bug_reached_through_different_helpers_is_one_signature():
    found = deadlocks(StoppedHolder)
    steps = {sig: {s for s, _ in hows} for sig, hows in found.items()}
    assert all(len(s) >= 2 for s in steps.values()), steps  # stopped in first_half() or in second_half()


def _spinner(helper_name: str, marked: bool) -> type[Model]:
    """CPU1 spins in kernel function `reader()` through a helper named `helper_name`."""

    async def take(self) -> None:
        await raw_spin_lock(self.lock)

    take.__code__ = take.__code__.replace(co_name=helper_name, co_qualname=f"Spinner.{helper_name}")
    take = helper(take) if marked else take

    class Spinner(StoppedHolder):
        async def reader(self) -> None:
            await take(self)
            await raw_spin_unlock(self.lock)

    return Spinner


def test_renaming_a_helper_leaves_the_signature_unchanged():
    a, b = deadlocks(_spinner("grab", True), 100), deadlocks(_spinner("take_the_lock", True), 100)
    assert a.keys() == b.keys() and a
    # unmarked, the helper counts as the kernel function the CPU spins in: a rename is another bug
    assert deadlocks(_spinner("grab", False), 100).keys().isdisjoint(deadlocks(_spinner("take_the_lock", False), 100).keys())


def test_a_helper_stays_out_of_the_timeline_and_the_names():
    for seed in range(100):
        r = execute(StoppedHolder, "v", RandomSource(seed, 0), logging=True, final_state=True)
        if r.outcome.kind == "deadlock" and dict(r.final)["step"] == 1:  # stopped inside first_half()
            break
    text = " ".join(str(e) for e in r.log)
    assert "update()" in text and "reader()" in text and "first_half()" not in text
    assert "deadlock on lock in reader()" in answers(r.outcome)
