"""A new model composed from the blocks, written outside the repository in under 100 lines.

The model is the issue's example: a driver's panic notifier takes a lock that another
CPU held when panic() stopped it (buggy: spin_lock(); fixed: spin_trylock()). Both
verdicts are checked by searching.
"""

from __future__ import annotations

import importlib.util
import textwrap

from panicfuzz.search import search

MODEL = textwrap.dedent(
    '''
    """A watchdog driver's panic notifier vs a CPU stopped with the device lock held.

    drivers/watchdog/example_wdt.c (a composite of ipmi_watchdog's and hpwdt's notifiers):
    wdt_panic_notify() reprograms the watchdog so it does not fire during the dump, under
    wdt->lock, which wdt_ping() takes with irqs off for a slow, polled register write.
    CPU0 pings the watchdog; CPU1 panics; panic() stops CPU0 (REBOOT_VECTOR, then NMI
    after 1 s: CPU0 has irqs off) and runs the notifier.
    """

    from panicfuzz.cells import Cell, raw_spinlock_t
    from panicfuzz.kernel import WRITE_ONCE, mdelay, run_user_code, spin_lock, spin_lock_irqsave
    from panicfuzz.kernel import spin_trylock, spin_unlock, spin_unlock_irqrestore, udelay
    from panicfuzz.model import Variant
    from panicfuzz.protocols.blocks.panic import PANIC_CPU_INVALID
    from panicfuzz.protocols.blocks.stop import X86Stop


    class WdtPanic(X86Stop):
        name = "wdt_panic"
        seed = 100
        source = "kernel/panic.c panic() (v6.9) via panicfuzz blocks; drivers/watchdog/example_wdt.c"
        variants = (
            Variant("spin_lock", "fails", "the notifier spins on wdt->lock", kind="deadlock"),
            Variant("spin_trylock", "holds", "the notifier gives up if wdt->lock is taken"),
        )
        ncpus = 2
        goal = "the panic CPU reaches emergency_restart()"
        max_steps = 300
        panic_notifier_list = ("wdt_panic_notify",)
        panic_timeout = -1

        def __init__(self, variant):
            super().__init__(variant)
            self.wdt_lock = raw_spinlock_t("wdt->lock")
            self.wdt_timeout = Cell("WDT_TIMEOUT register", 30)

        def goal_pending(self):
            return self.panic_cpu.value != PANIC_CPU_INVALID

        async def cpu_main(self, cpu):
            if cpu == 0:
                await self.wdt_ping()
                await run_user_code()
            await udelay(10)
            await self.panic("Oops")

        # drivers/watchdog/example_wdt.c wdt_ping(): a slow polled write with irqs off
        async def wdt_ping(self):
            flags = await spin_lock_irqsave(self.wdt_lock)
            await mdelay(2000)  # the register takes up to 2 s to accept the write
            await WRITE_ONCE(self.wdt_timeout, 30)
            await spin_unlock_irqrestore(self.wdt_lock, flags)

        # drivers/watchdog/example_wdt.c wdt_panic_notify(): stretch the timeout for the dump
        async def wdt_panic_notify(self):
            if self.variant == "spin_trylock":
                if not await spin_trylock(self.wdt_lock):
                    return  # the holder is stopped: leave the watchdog alone
            else:
                await spin_lock(self.wdt_lock)
            await WRITE_ONCE(self.wdt_timeout, 255)
            await spin_unlock(self.wdt_lock)
    '''
)


def load(path):
    spec = importlib.util.spec_from_file_location("wdt_panic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WdtPanic


def test_a_new_model_from_the_blocks_in_under_100_lines(tmp_path):
    path = tmp_path / "wdt_panic.py"
    path.write_text(MODEL)
    assert len(MODEL.strip().splitlines()) < 100
    model = load(path)
    buggy = search(model, "spin_lock", max_schedules=60, seed=0)
    assert {f.result.outcome.kind for f in buggy.findings} == {"deadlock"}
    message = buggy.findings[0].result.outcome.message
    assert "spins in wdt_panic_notify() on wdt->lock, held by CPU0 since wdt_ping()" in message, message
    assert "halted in stop_this_cpu() (in NMI)" in message, message
    fixed = search(model, "spin_trylock", max_schedules=60, seed=0)
    assert not fixed.findings
