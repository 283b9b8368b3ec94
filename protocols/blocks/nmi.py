"""x86 NMI entry and handler chain: arch/x86/kernel/nmi.c.

An NMI is one vector per CPU: every sender (the NMI shoot-down, the stop
fallback, an external NMI) raises the same entry, do_nmi(), and the CPU's
NMI latch merges what arrives while one is pending or running. What the NMI
is *for* lives in shared state: the handlers registered on NMI_LOCAL, the
reason port, crash_ipi_issued. `send_nmi()` is the only place that raises it.

Versions (`kernel_version`):
  v3.2+   nmi_handle() walks nmi_desc[NMI_LOCAL] (register_nmi_handler(), NMI_FLAG_FIRST
          puts a handler first); the desc->lock that register_nmi_handler() takes is not
          modelled (no model registers concurrently)
  < 4.5   default_do_nmi(): raw_spin_lock(&nmi_reason_lock) for a non-CPU-specific NMI
  4.5+    Kawai (58c5661f2144): while (!raw_spin_trylock(&nmi_reason_lock)) {
          run_crash_ipi_callback(regs); cpu_relax(); }, and io_check_error() -> nmi_panic()
  6.15+   the emergency handler (Waiman Long, 2025): nmi_shootdown_cpus() sets
          nmi_desc[NMI_LOCAL].emerg_handler without taking desc->lock; nmi_handle() runs
          it instead of the list when it is set
Names: do_nmi() is exc_nmi() since v5.8.
Hook: run_crash_ipi_callback() (blocks.crash; without it no crash IPI is ever issued).
"""

from __future__ import annotations

from panicfuzz.cells import Cell, raw_spinlock_t
from panicfuzz.kernel import READ_ONCE, WRITE_ONCE, cpu_relax, raw_spin_lock, raw_spin_trylock, raw_spin_unlock, send_IPI_mask

from .panic import PanicCore

NMI_REASON_SERR = 0x80  # arch/x86/include/asm/mach_traps.h
NMI_REASON_IOCHK = 0x40
NMI_REASON_MASK = NMI_REASON_SERR | NMI_REASON_IOCHK


class NmiHandlers(tuple):
    """The handlers on nmi_desc[NMI_LOCAL], in call order (method names)."""

    def __str__(self) -> str:
        return ", ".join(self)


class X86Nmi(PanicCore):
    def __init__(self, variant: str):
        super().__init__(variant)
        self.nmi_local_handler = Cell("nmi_desc[NMI_LOCAL]", None)  # None: the list is empty
        self.nmi_emerg_handler = Cell("nmi_desc[NMI_LOCAL].emerg_handler", None)  # v6.15+
        self.nmi_reason_lock = raw_spinlock_t("nmi_reason_lock")
        self.nmi_reason_port = Cell("NMI_REASON_PORT", 0)  # x86_platform.get_nmi_reason(): port 0x61

    # apic->send_IPI_mask(mask, NMI_VECTOR): the CPUs in `mask` enter do_nmi().
    def send_nmi(self, mask: int):
        return send_IPI_mask(mask, nmi=True)

    # nmi.c do_nmi() (exc_nmi() since v5.8): every NMI, IPI or external, enters here
    async def do_nmi(self) -> None:
        await self.default_do_nmi()

    nmi_entry = do_nmi  # what every NMI runs (panicfuzz.model.Model.nmi_handler)

    # nmi.c default_do_nmi(): the handler chain first; a non-CPU-specific NMI then reads
    # the reason port under nmi_reason_lock (v4.5: trylock, polling for a crash IPI)
    async def default_do_nmi(self) -> None:
        if await self.nmi_handle():
            return
        # Non-CPU-specific NMI: NMI sources can be processed on any CPU
        if self.kernel_version >= (4, 5):
            while not await raw_spin_trylock(self.nmi_reason_lock):
                await self.run_crash_ipi_callback()
                await cpu_relax()
        else:
            await raw_spin_lock(self.nmi_reason_lock)
        reason = await READ_ONCE(self.nmi_reason_port)  # x86_platform.get_nmi_reason()
        if reason & NMI_REASON_MASK:
            if reason & NMI_REASON_IOCHK:
                await self.io_check_error()
            await raw_spin_unlock(self.nmi_reason_lock)
            return
        await raw_spin_unlock(self.nmi_reason_lock)
        # unknown_nmi_error(): not reached in these models

    # nmi.c nmi_handle(NMI_LOCAL): the emergency handler alone if set (v6.15+), else every
    # registered handler; returns whether one handled it
    async def nmi_handle(self) -> bool:
        if self.kernel_version >= (6, 15):
            emergency = await READ_ONCE(self.nmi_emerg_handler)
            if emergency is not None:
                return await getattr(self, emergency)()
        handlers = await READ_ONCE(self.nmi_local_handler)
        handled = False
        for handler in handlers or ():
            handled |= await getattr(self, handler)()
        return handled

    # nmi.c __register_nmi_handler(): list_add_rcu() (NMI_FLAG_FIRST) or list_add_tail_rcu()
    async def register_nmi_handler(self, handler: str, first: bool = False) -> None:
        old = tuple(self.nmi_local_handler.value or ())
        new = (handler, *old) if first else (*old, handler)
        await WRITE_ONCE(self.nmi_local_handler, NmiHandlers(new))

    # nmi.c set_emergency_nmi_handler() (v6.15+): no lock, one pointer
    async def set_emergency_nmi_handler(self, handler: str) -> None:
        await WRITE_ONCE(self.nmi_emerg_handler, handler)

    # nmi.c io_check_error(): with panic_on_io_nmi (v4.5: nmi_panic())
    async def io_check_error(self) -> None:
        # pr_emerg("NMI: IOCK error (debug interrupt?) for reason %02x on CPU %d.\n")
        if self.kernel_version >= (4, 5):
            await self.nmi_panic("NMI IOCK error: Not continuing")
        else:
            await self.panic("NMI IOCK error: Not continuing")

    # arch/x86/kernel/reboot.c run_crash_ipi_callback() is blocks.crash's; without a crash
    # path no crash IPI is ever issued.
    async def run_crash_ipi_callback(self) -> None:
        pass
