"""The kernel building blocks (protocols/blocks/), each tested through a small model of its own.

Each toy composes blocks, adds a few lines of its own and claims one failing and
one holding variant; the claims are checked by actually searching.
"""

from __future__ import annotations

import pytest

from panicfuzz.cells import Cell, mutex, raw_spinlock_t
from panicfuzz.kernel import (
    READ_ONCE,
    WRITE_ONCE,
    halt,
    mdelay,
    mutex_lock,
    mutex_trylock,
    mutex_unlock,
    run_user_code,
    spin_lock,
    spin_lock_irqsave,
    spin_trylock,
    spin_unlock,
    spin_unlock_irqrestore,
    udelay,
)
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Variant
from panicfuzz.protocols.blocks.clocksource import HpetClocksource
from panicfuzz.protocols.blocks.crash import X86Crash
from panicfuzz.protocols.blocks.mce import Mce
from panicfuzz.protocols.blocks.nmi import NMI_REASON_IOCHK
from panicfuzz.protocols.blocks.printk import Printk
from panicfuzz.protocols.blocks.stop import X86Stop
from panicfuzz.search import search
from tests.support import SCALE

FAILS_DEADLOCK = ("fails", "deadlock")
FAILS_INVARIANT = ("fails", "invariant")


def variant(name: str, claim: tuple[str, ...] = ("holds",)) -> Variant:
    expected, *kind = claim
    return Variant(name, expected, name, kind=kind[0] if kind else None)


def outcome(model, name: str, schedules: int, strategy: str = "hypothesis") -> set[str]:
    report = search(model, name, strategy=strategy, max_schedules=schedules * SCALE, seed=0)
    return {f.result.outcome.kind for f in report.findings}


def assert_claims(model, schedules: int, strategy: str = "hypothesis") -> None:
    for v in model.variants:
        kinds = outcome(model, v.name, schedules, strategy)
        assert kinds == ({v.kind} if v.expected == "fails" else set()), (v.name, kinds)


# -- blocks.panic + blocks.stop: a panic notifier takes a lock a stopped CPU holds ---------


class NotifierLock(X86Stop):
    """CPU0 polls a device with dev->lock held and irqs off for 2 s; CPU1 panics; the
    device's panic notifier takes dev->lock. The REBOOT IPI waits 1 s, then the NMI
    stops CPU0 with the lock held."""

    name = "toy_notifier_lock"
    ncpus = 2
    variants = (variant("spin_lock", FAILS_DEADLOCK), variant("spin_trylock"))
    goal = "the panic CPU reaches emergency_restart()"
    max_steps = 300
    panic_notifier_list = ("dev_panic_notify",)
    panic_timeout = -1

    def __init__(self, v: str):
        super().__init__(v)
        self.dev_lock = raw_spinlock_t("dev->lock")

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != -1

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            flags = await spin_lock_irqsave(self.dev_lock)
            await mdelay(2000)
            await spin_unlock_irqrestore(self.dev_lock, flags)
            await run_user_code()
        await udelay(10)
        await self.panic("test")

    async def dev_panic_notify(self) -> None:
        if self.variant == "spin_trylock":
            if not await spin_trylock(self.dev_lock):
                return
        else:
            await spin_lock(self.dev_lock)
        await spin_unlock(self.dev_lock)


def test_panic_notifier_on_a_lock_held_by_a_stopped_cpu():
    assert_claims(NotifierLock, 60)


# -- blocks.crash: crash_kexec_post_notifiers before and after crash_smp_send_stop() --------


class PostNotifiers(X86Crash, X86Stop):
    """CPU0 idles; CPU1 panics with crash_kexec_post_notifiers and a crash kernel loaded."""

    name = "toy_post_notifiers"
    ncpus = 2
    variants = (variant("v4.10", FAILS_INVARIANT), variant("v4.11"))
    crash_kexec_post_notifiers = True

    def __init__(self, v: str):
        super().__init__(v)
        self.kernel_version = (4, 10) if v == "v4.10" else (4, 11)

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await halt("cpu_idle")
        await self.panic("test")


def test_post_notifiers_lose_the_registers_before_crash_smp_send_stop():
    assert_claims(PostNotifiers, 20)
    report = search(PostNotifiers, "v4.10", max_schedules=5, seed=0)
    assert "CPU0's registers are not in the crash dump" in report.findings[0].result.outcome.message


# -- blocks.nmi + blocks.crash: an external NMI spins on nmi_reason_lock ------------------


class ExternalNmi(X86Crash):
    """Both CPUs idle; an external NMI with IOCHK hits both: one panics, the other waits for
    nmi_reason_lock inside its NMI handler."""

    name = "toy_external_nmi"
    ncpus = 2
    variants = (variant("v4.4", FAILS_INVARIANT), variant("v4.5"))

    def __init__(self, v: str):
        super().__init__(v)
        self.kernel_version = (4, 4) if v == "v4.4" else (4, 5)
        self.nmi_reason_port.value = NMI_REASON_IOCHK

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != -1

    async def cpu_main(self, cpu: int) -> None:
        await halt("cpu_idle")

    def once(self, cpu: int | None) -> bool:
        return self.panic_cpu.value == -1

    events = (Event("external NMI", Kind.NMI, broadcast=True, guard=once),)


def test_external_nmi_keeps_the_shoot_down_latched_until_v4_5():
    assert_claims(ExternalNmi, 60)


# -- blocks.mce: a kmsg dumper after a broadcast #MC ---------------------------------------


class McDumper(Mce, X86Stop):
    """CPU0 (kernel) holds dev->lock with irqs off; CPU1 runs user code; a broadcast #MC
    panics on CPU1 (user #MC is not NMI-class); the kmsg dumper takes dev->lock."""

    name = "toy_mce_dumper"
    ncpus = 2
    variants = (variant("spin_lock", FAILS_DEADLOCK), variant("spin_trylock"))
    kmsg_dumpers = ("dev_dump",)
    panic_timeout = -1
    max_steps = 400

    def __init__(self, v: str):
        super().__init__(v)
        self.dev_lock = raw_spinlock_t("dev->lock")
        self.dev_reg = Cell("dev->reg", 0)

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != -1

    def starts_in_user_mode(self, cpu: int) -> bool:
        return cpu == 1

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            flags = await spin_lock_irqsave(self.dev_lock)
            await WRITE_ONCE(self.dev_reg, 1)
            await spin_unlock_irqrestore(self.dev_lock, flags)
        await run_user_code()

    async def dev_dump(self) -> None:
        if self.variant == "spin_trylock":
            if not await spin_trylock(self.dev_lock):
                return
        else:
            await spin_lock(self.dev_lock)
        await READ_ONCE(self.dev_reg)
        await spin_unlock(self.dev_lock)

    def once(self, cpu: int | None) -> bool:
        return self.panic_cpu.value == -1

    events = (Event("#MC", Kind.MCE, Mce.exc_machine_check, broadcast=True, guard=once),)


def test_mce_panic_then_a_dumper_on_a_lock_of_the_stopped_cpu():
    assert_claims(McDumper, 100)


# -- blocks.clocksource: read_hpet() from kmsg_dump() after a #GP in its locked region ---------


class HpetGp(HpetClocksource, X86Stop):
    name = "toy_hpet_gp"
    ncpus = 2
    variants = (variant("mainline", FAILS_DEADLOCK), variant("read-in-panic"))
    kmsg_dumpers = ("pstore_dump",)
    panic_timeout = -1

    def __init__(self, v: str):
        super().__init__(v)
        self.hpet_read_in_panic = v == "read-in-panic"

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != -1

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await self.read_hpet()
        await halt("cpu_idle")

    async def exc_general_protection(self) -> None:
        await self.oops_end(in_interrupt=False)

    def locked(self, cpu: int | None) -> bool:
        return self.hpet_lock.value == cpu

    events = (Event("#GP", Kind.EXC, exc_general_protection, guard=locked),)


def test_hpet_read_under_its_own_lock_in_panic():
    assert_claims(HpetGp, 40)


# -- blocks.printk: panic output vs a console owner stopped by NMI ----------------------------


class ConsoleOwner(Printk, X86Crash):
    """CPU1 floods printk; CPU0 panics (crash_kexec_post_notifiers: the NMI shoot-down
    stops CPU1 wherever it is), and a panic notifier prints."""

    name = "toy_console_owner"
    ncpus = 2
    variants = (variant("v5.13", FAILS_DEADLOCK), variant("v6.9"))
    crash_kexec_post_notifiers = True
    kexec_crash_image = False
    panic_notifier_list = ("notifier_printk",)
    max_steps = 400

    def __init__(self, v: str):
        super().__init__(v)
        self.kernel_version = (5, 13) if v == "v5.13" else (6, 9)

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != -1

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await udelay(150)
            await self.panic("test")
        while True:
            await self.printk("kmsg")
            await udelay(50)

    async def notifier_printk(self) -> None:
        await self.printk("notifier")


def test_console_handover_to_an_owner_stopped_by_nmi():
    assert_claims(ConsoleOwner, 150, strategy="random")


# -- kernel.mutex_*: a notifier on a mutex whose owner was stopped --------------------------


class MutexNotifier(X86Stop):
    name = "toy_mutex_notifier"
    ncpus = 2
    variants = (variant("mutex_lock", FAILS_DEADLOCK), variant("mutex_trylock"))
    panic_notifier_list = ("dev_panic_notify",)
    panic_timeout = -1

    def __init__(self, v: str):
        super().__init__(v)
        self.dev_mutex = mutex("dev->mutex")

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != -1

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await mutex_lock(self.dev_mutex)
            await mdelay(10)
            await mutex_unlock(self.dev_mutex)
            await run_user_code()
        await self.panic("test")

    async def dev_panic_notify(self) -> None:
        if self.variant == "mutex_trylock":
            if not await mutex_trylock(self.dev_mutex):
                return
        else:
            await mutex_lock(self.dev_mutex)
        await mutex_unlock(self.dev_mutex)


def test_mutex_owner_stopped_in_panic():
    assert_claims(MutexNotifier, 40)


@pytest.mark.parametrize("model", [NotifierLock, PostNotifiers, ExternalNmi, McDumper, HpetGp, ConsoleOwner, MutexNotifier])
def test_a_block_model_names_kernel_functions_in_its_timeline(model):
    """The blocks' frames appear under their kernel names (one failing schedule each)."""
    failing = next(v.name for v in model.variants if v.expected == "fails")
    report = search(model, failing, max_schedules=200 * SCALE, seed=0, first_only=True)
    frames = {text for _, _, _, text in report.findings[0].result.log if text.endswith("()")}
    assert "panic()" in frames, sorted(frames)
