"""Tiny models that pin down engine semantics (not kernel protocols)."""

from __future__ import annotations

from panicfuzz.cells import Cell, atomic_t, raw_spinlock_t
from panicfuzz.kernel import (
    BUG_ON,
    READ_ONCE,
    cpu_relax,
    spin_until_cond_timeout,
    atomic_add_unless,
    atomic_dec,
    atomic_read,
    WRITE_ONCE,
    goal_reached,
    halt,
    hw_write,
    in_nmi,
    local_irq_disable,
    local_irq_enable,
    raw_spin_lock,
    raw_spin_unlock,
    rdmsr,
    run_user_code,
    send_IPI,
    udelay,
    user_mode,
)
from panicfuzz.machine import Kind, current_machine
from panicfuzz.model import Event, Model, Variant


class Flood(Model):
    """A consumer that must drain a bounded buffer that a producer may refill forever."""

    name = "toy-flood"
    seed = 100
    ncpus = 2
    goal = "CPU0 drains the buffer"
    max_steps = 150
    variants = (
        Variant("bounded", "holds", "the producer writes three records"),
        Variant("flood", "fails", "the producer writes forever, faster than the consumer", kind="livelock"),
    )

    def __init__(self, variant: str):
        super().__init__(variant)
        self.pending = atomic_t("pending", 1)

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await udelay(5)  # the "drain" IRQ may arrive here and never return
            await self.drain()
        elif self.variant == "bounded":
            for _ in range(3):
                await self.produce()
        else:
            while True:
                await self.produce()

    async def drain(self) -> None:
        while await atomic_read(self.pending):
            await udelay(10)  # one record through a slow console
            await atomic_dec(self.pending)
        await goal_reached("buffer drained")

    events = (Event("drain", Kind.IRQ, drain, guard=lambda self, cpu: cpu == 0),)

    async def produce(self) -> None:
        await udelay(3)
        await atomic_add_unless(self.pending, 1, 4)  # a ring buffer of four records


class Semantics(Model):
    """CPU0 takes a lock and masks irqs; CPU1 is in user mode. Events probe delivery rules."""

    name = "toy-semantics"
    seed = 101
    ncpus = 2
    max_steps = 100
    variants = (Variant("base", "holds", "no deadlock unless an event makes one"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.lock = raw_spinlock_t("toy.lock")
        self.seen = Cell("seen", ())  # (event, in_nmi, user_mode) per handler run

    def starts_in_user_mode(self, cpu: int) -> bool:
        return cpu == 1

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 1:
            await run_user_code()
        await local_irq_disable()
        await raw_spin_lock(self.lock)
        await WRITE_ONCE(self.seen, await READ_ONCE(self.seen) + (("irqs-off",),))
        await raw_spin_unlock(self.lock)
        await local_irq_enable()
        await WRITE_ONCE(self.seen, await READ_ONCE(self.seen) + (("irqs-on",),))

    async def note(self, what: str) -> None:
        nmis = sum(name == "NMI" for name, _ in current_machine().current.contexts)
        await WRITE_ONCE(self.seen, await READ_ONCE(self.seen) + ((what, in_nmi(), user_mode(), nmis),))

    async def irq(self) -> None:
        await self.note("irq")

    async def nmi(self) -> None:
        await self.note("nmi")
        await udelay(5)

    nmi_entry = nmi

    async def mce(self) -> None:
        await self.note("mce")

    async def grab(self) -> None:
        """An exception handler that needs the lock its own CPU holds: a self-deadlock."""
        await raw_spin_lock(self.lock)

    async def stop(self) -> None:
        await halt("stop")

    async def ipi_and_stop(self) -> None:
        await send_IPI(0, self.stop, "STOP")
        await self.note("sent")

    events = (
        Event("IRQ", Kind.IRQ, irq, limit=1),
        Event("NMI", Kind.NMI, limit=2),
        Event("#MC", Kind.MCE, mce, broadcast=True),
        Event("#GP", Kind.EXC, grab),
    )





class Halter(Model):
    """CPU0 halts with irqs off; CPU1 sends it an IPI and then an NMI."""

    name = "toy-halter"
    seed = 102
    ncpus = 2
    max_steps = 100
    variants = (Variant("base", "holds", "a halted CPU only runs for an NMI"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.ran = Cell("ran", ())

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await local_irq_disable()
            await halt("test")
        await send_IPI(0, self.handler_irq, "IPI")
        await send_IPI(0, nmi=True)

    async def handler_irq(self) -> None:
        await WRITE_ONCE(self.ran, await READ_ONCE(self.ran) + ("irq",))

    async def handler_nmi(self) -> None:
        await WRITE_ONCE(self.ran, await READ_ONCE(self.ran) + ("nmi",))

    nmi_entry = handler_nmi


class Broken(Model):
    """A model with a bug of its own: a Python error is a model error, not a protocol failure."""

    name = "toy-broken"
    seed = 103
    ncpus = 1
    variants = (Variant("base", "holds", "divides by zero on its second step"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.x = Cell("x", 0)

    async def cpu_main(self, cpu: int) -> None:
        x = await READ_ONCE(self.x)
        await WRITE_ONCE(self.x, 1 // x)


class LostWakeup(Model):
    """CPU1 sets a flag and waits 500 us for CPU0's ack; CPU0 waits for the flag.

    CPU0's wait takes a schedule point after its read. If CPU1's write lands in
    between, it wakes no one (CPU0 is not yet watching): the machine must see
    that the flag no longer holds the value read and not block CPU0 on it
    (a blocked poller would sleep to its own 1 ms deadline, past CPU1's timeout).
    """

    name = "toy-lost-wakeup"
    seed = 104
    ncpus = 2
    max_steps = 200
    variants = (
        Variant("spin", "holds", "cpu_relax() spin; a second step after the read"),
        Variant("poll", "holds", "spin_until_cond_timeout(); the condition enables irqs after its read"),
    )

    def __init__(self, variant: str):
        super().__init__(variant)
        self.flag = Cell("flag", 0)
        self.ack = Cell("ack", 0)

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 1:
            await WRITE_ONCE(self.flag, 1)
            BUG_ON(not await spin_until_cond_timeout(self.acked, 500), "ack-timed-out", "CPU0 never acked")
            return
        if self.variant == "spin":
            while not await self.flag_seen():
                await cpu_relax()
        else:
            await spin_until_cond_timeout(self.flag_seen, 1000)
        await WRITE_ONCE(self.ack, 1)

    async def flag_seen(self) -> bool:
        v = await READ_ONCE(self.flag)
        await local_irq_enable()
        return v == 1

    async def acked(self) -> bool:
        return await READ_ONCE(self.ack) == 1


class NmiVector(Model):
    """CPU0 halts with irqs off. CPU1 asks it to stop by NMI; a watchdog NMI may hit CPU0 too.

    Both are the one NMI vector: the entry reads what each source wants from
    shared state (the stop request, the PMU's status), however many were latched.
    """

    name = "toy-nmi-vector"
    seed = 105
    ncpus = 2
    max_steps = 100
    variants = (Variant("base", "holds", "every NMI runs exc_nmi()"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.stop_request = Cell("stop_request", 0)
        self.perf_status = Cell("PERF_GLOBAL_STATUS[0]", 0)
        self.seen = Cell("seen", ())

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await local_irq_disable()
            await halt("test")
        await WRITE_ONCE(self.stop_request, 1)
        await send_IPI(0, nmi=True)

    async def exc_nmi(self) -> None:
        handled = ()
        if rdmsr(self.perf_status):
            handled += ("watchdog",)
        if await READ_ONCE(self.stop_request):
            handled += ("stop",)
        await WRITE_ONCE(self.seen, await READ_ONCE(self.seen) + (handled,))

    nmi_entry = exc_nmi

    def pmu_overflows(self, cpu: int) -> None:
        hw_write(self.perf_status, 1)

    events = (Event("watchdog NMI", Kind.NMI, pmu_overflows, guard=lambda self, cpu: cpu == 0),)


class Stuck(Model):
    """CPU1 runs local code that never reaches a schedule point: the watchdog's model error."""

    name = "toy-stuck"
    seed = 108
    ncpus = 2
    variants = (Variant("spins", "fails", "CPU1 loops without a primitive once CPU0 set the flag", kind="model-error"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.flag = Cell("flag", 0)

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await WRITE_ONCE(self.flag, 1)
        elif await READ_ONCE(self.flag):
            self.spin_forever()

    def spin_forever(self) -> None:
        n = 0
        while True:
            n += 1


class Idle(Model):
    """Every CPU's entry returns at once: nothing can go wrong, so nothing is tested (vacuity)."""

    name = "toy-idle"
    seed = 109
    ncpus = 2
    goal = "CPU0 publishes the flag"
    variants = (
        Variant("returns", "holds", "cpu_main returns at once: the goal is never reached"),
        Variant("no-goal", "holds", "as returns, in a model without a goal: no shared access ever happens"),
        Variant("works", "holds", "CPU0 writes the flag, CPU1 reads it, CPU0 reaches the goal"),
    )

    def __init__(self, variant: str):
        super().__init__(variant)
        self.flag = Cell("flag", 0)
        if variant == "no-goal":
            self.goal = None

    def goal_pending(self) -> bool:
        return self.flag.value != 0  # owed once CPU0 started (as a panic model's, once panic() began)

    async def cpu_main(self, cpu: int) -> None:
        if self.variant != "works":
            return
        if cpu == 0:
            await WRITE_ONCE(self.flag, 1)
            await goal_reached("flag published")
        else:
            await READ_ONCE(self.flag)
