"""x86 HPET clocksource read under panic and broadcast #MC (seed 000).

Kernel code modelled (v6.x, CONFIG_SMP && CONFIG_64BIT):
  arch/x86/kernel/hpet.c         read_hpet(), union hpet_lock
  arch/x86/kernel/cpu/mce/core.c do_machine_check(), mce_start(), mce_end(),
                                 mce_reign(), mce_timed_out(), mce_panic(), wait_for_panic()
  kernel/panic.c                 panic() (the parts on the way to kmsg_dump())
  arch/x86/kernel/smp.c          native_stop_other_cpus(), stop_this_cpu()
Thread: "[PATCH] x86/hpet: Read HPET directly if panic in progress",
  Tony W Wang-oc, 28 May 2024, and tglx's replies of 29 May 2024.

CPU0 runs kernel code that reads the clocksource; CPU1 runs user code. The
injectable events are a broadcast #MC (kernel-mode #MC is NMI-class, user-mode
is not: the engine's rule) and a #GP inside read_hpet()'s locked region.
"""

from __future__ import annotations

from panicfuzz.cells import Cell, DeviceCounter, arch_spinlock_t, atomic_t, cpumask_t
from panicfuzz.kernel import (
    USEC_PER_MSEC,
    USEC_PER_SEC,
    READ_ONCE,
    WRITE_ONCE,
    arch_spin_trylock,
    arch_spin_unlock,
    atomic_cmpxchg,
    atomic_inc,
    atomic_inc_return,
    atomic_read,
    context_of,
    cpumask_clear_cpu,
    cpumask_empty,
    cpumask_read,
    cpumask_write,
    goal_reached,
    halt,
    in_nmi,
    local_irq_disable,
    local_irq_enable,
    local_irq_restore,
    local_irq_save,
    mdelay,
    nmi_enter,
    readl,
    run_user_code,
    send_IPI_mask,
    smp_processor_id,
    spin_until_cond_timeout,
    cpu_relax,
)
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Model, Variant

PANIC_CPU_INVALID = -1
PANIC_TIMEOUT_MS = 5 * 1000  # wait_for_panic(): PANIC_TIMEOUT * USEC_PER_SEC
MONARCH_TIMEOUT_US = USEC_PER_SEC  # mca_cfg.monarch_timeout on Intel/Zhaoxin
NCPUS = 2


class Hpet(Model):
    name = "hpet"
    seed = 0
    source = (
        "arch/x86/kernel/hpet.c read_hpet() (v6.x); arch/x86/kernel/cpu/mce/core.c; "
        "LKML 'x86/hpet: Read HPET directly if panic in progress' (May 2024)"
    )
    variants = (
        Variant(
            "mainline",
            "fails",
            "read_hpet() as merged: only the in_nmi() shortcut",
            kind="deadlock",
            source="arch/x86/kernel/hpet.c v6.x; tglx 29 May 2024, scenarios 1 and 2",
        ),
        Variant(
            "panic-cpu-check",
            "holds",
            "Tony's patch: read the counter directly once panic_cpu is set",
            source="20240528063836.5248-1-TonyWWang-oc@zhaoxin.com",
        ),
        Variant(
            "panic-nmi-context",
            "holds",
            "tglx's option 2: panic() runs as NMI-class context",
            source="tglx 29 May 2024 (87wmnda8mc.ffs@tglx), option #2",
        ),
    )
    ncpus = NCPUS
    goal = "the panic CPU reaches emergency_restart()"
    max_steps = 600

    def __init__(self, variant: str):
        super().__init__(variant)
        self.hpet_lock = arch_spinlock_t("hpet.lock")
        self.hpet_value = Cell("hpet.value", 0)
        self.HPET_COUNTER = DeviceCounter("HPET_COUNTER", 0)
        self.panic_cpu = atomic_t("panic_cpu", PANIC_CPU_INVALID)
        self.mce_callin = atomic_t("mce_callin")
        self.mce_executing = atomic_t("mce_executing")
        self.mce_panicked = atomic_t("mce_panicked")
        self.cpu_online_mask = cpumask_t.of("cpu_online_mask", range(NCPUS))
        self.stopping_cpu = atomic_t("stopping_cpu", -1)
        self.cpus_stop_mask = cpumask_t("cpus_stop_mask")

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != PANIC_CPU_INVALID

    def starts_in_user_mode(self, cpu: int) -> bool:
        return cpu != 0

    def cpu_label(self, cpu: int) -> str:
        return f"CPU{cpu} ({'kernel' if cpu == 0 else 'user'} mode)"

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            # A kernel thread that reads the clock (ktime_get() -> read_hpet()).
            for _ in range(2):
                await self.read_hpet()
        await run_user_code()

    # -- arch/x86/kernel/hpet.c ------------------------------------------------

    # arch/x86/kernel/hpet.c: hpet_readl(HPET_COUNTER)
    async def hpet_readl(self) -> int:
        return await readl(self.HPET_COUNTER)

    # arch/x86/kernel/hpet.c: read_hpet(), v5.15..v6.x (SMP, 64-bit); the
    # panic_cpu check is Tony's patch (hunk @@ -804).
    async def read_hpet(self) -> int:
        if in_nmi():
            return await self.hpet_readl()
        if self.variant == "panic-cpu-check":
            if await atomic_read(self.panic_cpu) != PANIC_CPU_INVALID:
                return await self.hpet_readl()
        old_lock, old_value = await READ_ONCE(self.hpet_lock, self.hpet_value, union="hpet.lockval")
        if old_lock is None:  # !arch_spin_is_locked(&old.lock)
            flags = await local_irq_save()
            if await arch_spin_trylock(self.hpet_lock):
                v = await self.hpet_readl()
                await WRITE_ONCE(self.hpet_value, v)
                await arch_spin_unlock(self.hpet_lock)
                await local_irq_restore(flags)
                return v
            await local_irq_restore(flags)
        # contended: wait for the holder to publish a new value or unlock.
        while True:
            await cpu_relax()
            new_lock, new_value = await READ_ONCE(self.hpet_lock, self.hpet_value, union="hpet.lockval")
            if not (new_value == old_value and new_lock is not None):
                return new_value

    # -- injectable events -------------------------------------------------------

    # arch/x86/kernel/cpu/mce/core.c: exc_machine_check_kernel() (irqentry_nmi_enter:
    # NMI-class) / exc_machine_check_user() (irqentry_enter_from_user_mode: not).
    async def exc_machine_check(self) -> None:
        await self.do_machine_check()

    # arch/x86/kernel/traps.c: exc_general_protection() -> die() -> oops_end() -> panic()
    async def exc_general_protection(self) -> None:
        await self.panic("Fatal exception")

    def no_panic_yet(self, cpu: int | None) -> bool:
        return self.panic_cpu.value == PANIC_CPU_INVALID

    def in_hpet_locked_region(self, cpu: int | None) -> bool:
        return self.hpet_lock.value == cpu and context_of(cpu) == "task"

    events = (
        Event("#MC", Kind.MCE, exc_machine_check, broadcast=True, guard=no_panic_yet),
        Event("#GP", Kind.EXC, exc_general_protection, guard=in_hpet_locked_region),
    )

    # -- arch/x86/kernel/cpu/mce/core.c (v6.x), broadcast (non-LMCE) fatal #MC ---

    # do_machine_check(): every bank holds a fatal error, so the Monarch's
    # mce_reign() panics; __mc_scan_banks() itself touches no shared state here.
    async def do_machine_check(self) -> None:
        order = await self.mce_start()
        await self.mce_end(order)
        await self.mce_panic("Fatal machine check on current CPU")

    # mce_start(): call in, wait for every CPU, then the Monarch (order 1) goes first.
    async def mce_start(self) -> int:
        order = await atomic_inc_return(self.mce_callin)

        async def everyone_in() -> bool:
            return await atomic_read(self.mce_callin) == NCPUS

        await self.mce_wait(everyone_in, "Timeout: Not all CPUs entered broadcast exception handler")
        if order == 1:
            await atomic_inc(self.mce_executing)
        return order

    # mce_end(): the Monarch waits for every subject, then reigns.
    async def mce_end(self, order: int) -> None:
        await atomic_inc(self.mce_executing)
        if order == 1:

            async def all_scanned() -> bool:
                return await atomic_read(self.mce_executing) > NCPUS

            await self.mce_wait(all_scanned, "Timeout: Monarch CPU unable to finish machine check processing")
            await self.mce_reign()
        else:

            async def monarch_done() -> bool:
                return await atomic_read(self.mce_executing) == 0

            await self.mce_wait(monarch_done, "Timeout: Monarch CPU did not finish machine check processing")

    # mce_reign(): global worst >= MCE_PANIC_SEVERITY.
    async def mce_reign(self) -> None:
        await self.mce_panic("Fatal machine check")

    # The rendezvous loops: while (!done) { if (mce_timed_out(&timeout, msg)) ...; ndelay(SPINUNIT); }
    # mce_timed_out(): if (atomic_read(&mce_panicked)) wait_for_panic(); on timeout mce_panic(msg).
    async def mce_wait(self, done, msg: str) -> None:
        async def done_or_panicked() -> bool:
            return await done() or await atomic_read(self.mce_panicked) != 0

        if not await spin_until_cond_timeout(done_or_panicked, MONARCH_TIMEOUT_US):
            await self.mce_panic(msg)
        elif not await done():
            await self.wait_for_panic()

    # mce_panic(): only the first CPU proceeds; print_mce() output is not modelled.
    async def mce_panic(self, msg: str) -> None:
        if await atomic_inc_return(self.mce_panicked) > 1:
            await self.wait_for_panic()
        await self.panic(msg)

    # wait_for_panic(): irqs on inside the #MC handler, 5 s of udelay, then panic.
    async def wait_for_panic(self) -> None:
        await local_irq_enable()
        await mdelay(PANIC_TIMEOUT_MS)
        await self.panic("Panicing machine check CPU died")

    # -- kernel/panic.c (v6.x), up to kmsg_dump() ------------------------------------

    async def panic(self, msg: str) -> None:
        if self.variant == "panic-nmi-context":
            nmi_enter()  # tglx option 2: every panic() runs NMI-class
        await local_irq_disable()
        this_cpu = smp_processor_id()
        old_cpu = await atomic_cmpxchg(self.panic_cpu, PANIC_CPU_INVALID, this_cpu)
        if old_cpu != PANIC_CPU_INVALID and old_cpu != this_cpu:
            await self.panic_smp_self_stop()
        # pr_emerg("Kernel panic - not syncing: ..."): printk is seed 001's model.
        # __crash_kexec(NULL): no crash kernel loaded.
        await self.native_stop_other_cpus()
        # kmsg_dump(KMSG_DUMP_PANIC) -> pstore_dump() -> pstore_record_init()
        #   -> ktime_get_real_fast_ns() -> tk_clock_read() -> read_hpet()
        await self.read_hpet()
        await goal_reached("emergency_restart()")

    # kernel/panic.c: panic_smp_self_stop() (weak): while (1) cpu_relax();
    async def panic_smp_self_stop(self) -> None:
        while True:
            await cpu_relax()

    # -- arch/x86/kernel/smp.c: native_stop_other_cpus() (v6.x, no kexec) -------------

    async def native_stop_other_cpus(self) -> None:
        this_cpu = smp_processor_id()
        if await atomic_cmpxchg(self.stopping_cpu, -1, this_cpu) != -1:
            return
        others = await cpumask_read(self.cpu_online_mask) & ~(1 << this_cpu)
        await cpumask_write(self.cpus_stop_mask, others)

        async def all_stopped() -> bool:
            return await cpumask_empty(self.cpus_stop_mask)

        if others:
            await send_IPI_mask(others, self.sysvec_reboot, "REBOOT_VECTOR")
            if await spin_until_cond_timeout(all_stopped, USEC_PER_SEC):
                return
            # register_stop_handler(): smp_stop_nmi_callback is the only NMI_LOCAL handler here
            await send_IPI_mask(await cpumask_read(self.cpus_stop_mask), nmi=True)
            await spin_until_cond_timeout(all_stopped, 10 * USEC_PER_MSEC)

    # arch/x86/kernel/smp.c: sysvec_reboot() -> stop_this_cpu()
    async def sysvec_reboot(self) -> None:
        await self.stop_this_cpu()

    # arch/x86/kernel/nmi.c: exc_nmi() -> default_do_nmi() -> nmi_handle(NMI_LOCAL): the
    # one registered handler, smp_stop_nmi_callback() (it checks stopping_cpu itself)
    async def exc_nmi(self) -> None:
        await self.smp_stop_nmi_callback()

    nmi_entry = exc_nmi

    # arch/x86/kernel/smp.c: smp_stop_nmi_callback()
    async def smp_stop_nmi_callback(self) -> None:
        if smp_processor_id() == await atomic_read(self.stopping_cpu):
            return
        await self.stop_this_cpu()

    # arch/x86/kernel/process.c: stop_this_cpu()
    async def stop_this_cpu(self) -> None:
        await local_irq_disable()
        cpu = smp_processor_id()
        await cpumask_clear_cpu(cpu, self.cpu_online_mask)
        await cpumask_clear_cpu(cpu, self.cpus_stop_mask)
        await halt("stop_this_cpu")
