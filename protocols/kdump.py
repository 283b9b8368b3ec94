"""x86 kdump crash shutdown: NMI shoot-down vs ioapic_lock, the kdump kernel's
first interrupts, and the external-NMI nmi_reason_lock case (seed 003).

Kernel code modelled: the crash path (native_machine_crash_shutdown(), the NMI
shoot-down, crash_nmi_callback(), machine_kexec()) and the NMI chain (do_nmi(),
default_do_nmi(), nmi_reason_lock, io_check_error()) are blocks.crash and blocks.nmi,
at each variant's kernel version (v3.3, v3.9 for zap-locks, v4.4, v4.5); this module
adds the APICs, the IRQ path and the kdump kernel's first steps:
  arch/x86/kernel/apic/io_apic.c ioapic_read_entry(), ioapic_write_entry(), clear_IO_APIC_pin(),
                                clear_IO_APIC(), disable_IO_APIC(), enable_IO_APIC(),
                                setup_IO_APIC(), ioapic_zap_locks(), ack_apic_edge()
  arch/x86/kernel/apic/apic.c   lapic_shutdown(), disable_local_APIC(), setup_local_APIC()
  arch/x86/kernel/irq.c         do_IRQ();  kernel/irq/chip.c handle_edge_irq(), handle_fasteoi_irq()
  arch/x86/kernel/smpboot.c     native_smp_prepare_cpus(): setup_local_APIC(); enable_IO_APIC();
                                ...; smpboot_setup_io_apic() -> setup_IO_APIC()  (v3.3)
Threads: "[PATCH] x86, kdump: No need to disable ioapic in crash path", Don Zickus,
  29 Feb 2012, with Seiji Aguchi's (15 Mar, 2 May 2012) and Eric W. Biederman's
  (2 May 2012) replies; Hidehiro Kawai, "x86/nmi: Save regs in crash dump on external
  NMI" (v4.5).

Two scenarios share the model; the variant picks one.

kdump scenario (v3.3, no-ioapic-disable, ioapic-before-lapic, zap-locks). CPU0 plays
Don's CPU0: it idles with interrupts on and takes the device interrupts the search
injects. CPU1 plays Don's CPU4: it crashes at once (sysrq-c), shoots CPU0 down with an
NMI, shuts the APICs down and jumps to the kdump kernel, which then runs on CPU1 too:
it boots with interrupts on, sets up the local APIC and the IO-APIC in the variant's
order, probes eth0 (request_irq) and sends the dump, waiting up to 1 s for eth0's
interrupt. The IO-APIC has two pins:
  pin 4   ttyS0, edge-triggered, to CPU0, an affinity move pending: its IRQ path takes
          ioapic_lock in ack_apic_edge() (Don's backtrace);
  pin 19  eth0 INTx, level-triggered, to CPU1: remote IRR is set when a CPU accepts
          the interrupt and cleared by the EOI; while it is set the pin is silent.
CPU1's local APIC keeps a level vector's ISR (and TMR) bit across lapic_shutdown() and
kexec; the kdump kernel's setup_local_APIC() EOIs such a stale bit.
Events (each at most once): "IRQ4 edge" on CPU0 in the crashed kernel; "eth0 INTx" on
CPU1 whenever the IO-APIC would deliver it there and CPU1 takes it at its next step (see
eth0_can_raise), in either kernel; "BUG in e1000_intr" on CPU1 inside eth0's handler
before its EOI (the crash then happens in interrupt context with remote IRR set:
Suresh Siddha's scenario that Seiji Aguchi quotes; Don's lkdtm-in-do_IRQ test).

nmi-reason scenario (pre-4.5-nmi-reason, v4.5-nmi-reason). An external NMI with IOCHK
set in the NMI reason port hits both CPUs; both enter default_do_nmi(), one takes
nmi_reason_lock and panics; the other spins on it inside its NMI handler, where the
shoot-down NMI stays latched. The goal is machine_kexec() with every CPU's registers.

Invariants: the crashing CPU reaches machine_kexec() (a deadlock says otherwise);
every other CPU's registers are saved before machine_kexec() ("crash-regs-lost");
the kdump kernel takes eth0's interrupt ("kdump-screaming-irq": an unmasked level
interrupt with no handler re-fires forever before setup_IO_APIC(); "kdump-no-device-irq":
eth0's interrupt never arrives, e.g. a pin stuck with remote IRR set).

Result (LKMM style: what the search shows for each variant):
  v3.3                deadlock   (Don's CPU0/CPU4 trace)
  no-ioapic-disable   invariant  kdump-screaming-irq
  ioapic-before-lapic holds      (found by searching, see below)
  zap-locks           holds
  pre-4.5-nmi-reason  invariant  crash-regs-lost
  v4.5-nmi-reason     holds

ioapic-before-lapic, what the search showed: no failure (hypothesis and random, 2000
schedules each; exhaustive up to 4 preemptions with every event, 23645 schedules). In
kernel terms: clear_IO_APIC_pin() masks pin 19 and EOIs a stale remote IRR while the
local APIC is still software-disabled, setup_IO_APIC() reprograms the pin with the
kdump kernel's vector and leaves it masked ("Mask level triggered irqs") until
request_irq(); setup_local_APIC()'s extra EOI for a stale ISR bit then names the old
vector (0x41), which no pin carries any more. So nothing reaches the CPU before a
handler exists, and the asserted INTx line is delivered to e1000_intr() once unmasked.
Not modelled: check_timer() inside setup_IO_APIC(), which needs a working local APIC
to see IRQ0 (Don's "probably a reason for this like timers"): moving all of
setup_IO_APIC() before setup_local_APIC() would have to leave the timer check after
it; and MSI interrupts (Eric's screaming MSI), which the IO-APIC does not control.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from panicfuzz.cells import Cell, raw_spinlock_t
from panicfuzz.kernel import (
    USEC_PER_SEC,
    BUG_ON,
    READ_ONCE,
    WRITE_ONCE,
    goal_reached,
    halt,
    irqs_disabled_on,
    local_irq_enable,
    local_irq_restore,
    local_irq_save,
    raw_spin_lock,
    raw_spin_lock_init,
    raw_spin_unlock,
    send_IPI,
    smp_processor_id,
    spin_until_cond_timeout,
    trace_printk,
)
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Variant, helper

from .blocks.crash import X86Crash
from .blocks.nmi import NMI_REASON_IOCHK
from .blocks.panic import PANIC_CPU_INVALID

NCPUS = 2
CPU_IRQ = 0  # Don's CPU0: takes the device interrupt, holds ioapic_lock
CPU_CRASH = 1  # Don's CPU4: crashes, shoots the others down, boots the kdump kernel


class Vector(int):
    """An interrupt vector, shown in hex."""

    def __str__(self) -> str:
        return hex(self)


SERIAL_PIN, ETH0_PIN = 4, 19
SERIAL_IRQ, ETH0_IRQ = 4, 19
SERIAL_VECTOR = Vector(0x31)  # crashed kernel's vectors
ETH0_VECTOR = Vector(0x41)
KDUMP_ETH0_VECTOR = Vector(0x51)  # the kdump kernel assigns eth0 its own vector
NO_IRQ = -1

NMI_VARIANTS = ("pre-4.5-nmi-reason", "v4.5-nmi-reason")
VERSIONS = {
    "v3.3": (3, 3),
    "no-ioapic-disable": (3, 3),
    "ioapic-before-lapic": (3, 3),
    "zap-locks": (3, 9),
    "pre-4.5-nmi-reason": (4, 4),
    "v4.5-nmi-reason": (4, 5),
}


class IO_APIC_route_entry(NamedTuple):  # noqa: N801 - kernel name
    """One IO-APIC redirection entry (the fields the model needs).

    `irr` is remote IRR: read-only for software, set when a local APIC accepts a
    level-triggered interrupt, cleared by the EOI for its vector.
    """

    vector: int
    level: bool
    mask: bool
    irr: bool = False
    dest: int = 0

    def __str__(self) -> str:
        return (
            f"{{{self.vector:#x} {'level' if self.level else 'edge'} "
            f"{'masked' if self.mask else 'unmasked'} rIRR={int(self.irr)} CPU{self.dest}}}"
        )


class Kdump(X86Crash):
    name = "kdump"
    seed = 3
    source = (
        "arch/x86/kernel/crash.c, reboot.c, nmi.c, apic/io_apic.c, apic/apic.c, smpboot.c (v3.3, v3.9, v4.5); "
        "LKML 'x86, kdump: No need to disable ioapic in crash path' (Don Zickus, Feb-May 2012); "
        "'x86/nmi: Save regs in crash dump on external NMI' (Hidehiro Kawai, v4.5)"
    )
    variants = (
        Variant(
            "v3.3",
            "fails",
            "disable_IO_APIC() after the NMI shoot-down, no lock busting",
            must=("deadlock on ioapic_lock in ioapic_read_entry()",),
            source="arch/x86/kernel/crash.c v3.3; Don Zickus 29 Feb 2012 (CPU0/CPU4 backtraces)",
        ),
        Variant(
            "no-ioapic-disable",
            "fails",
            "Don's patch: disable_IO_APIC() dropped from the crash path; the kdump kernel "
            "enables its local APIC before it programs the IO-APIC",
            must=("invariant kdump-screaming-irq",),
            source="Don Zickus 29 Feb 2012 (patch), 30 Apr 2012 (ethernet irq left triggered)",
        ),
        Variant(
            "ioapic-before-lapic",
            "holds",
            "Don's patch plus Eric's order: the kdump kernel clears and programs the IO-APIC "
            "before it enables its local APIC (outcome found by searching; see the module docstring)",
            source="Eric W. Biederman 2 May 2012; Seiji Aguchi 2 May 2012",
        ),
        Variant(
            "zap-locks",
            "holds",
            "merged: ioapic_zap_locks() before disable_IO_APIC() in the crash path",
            source="arch/x86/kernel/crash.c v3.9+ ('Prevent crash_kexec() from deadlocking on ioapic_lock')",
        ),
        Variant(
            "pre-4.5-nmi-reason",
            "fails",
            "external NMI: default_do_nmi() spins in raw_spin_lock(&nmi_reason_lock) with NMIs latched",
            must=("invariant crash-regs-lost",),
            source="arch/x86/kernel/nmi.c v4.4; Kawai's changelog",
        ),
        Variant(
            "v4.5-nmi-reason",
            "holds",
            "Kawai's fix: trylock nmi_reason_lock and poll run_crash_ipi_callback() while waiting",
            source="arch/x86/kernel/nmi.c, reboot.c v4.5 (crash_ipi_issued)",
        ),
    )
    ncpus = NCPUS
    goal = "machine_kexec() with every CPU's registers saved, and (kdump scenario) the kdump kernel takes eth0's interrupt"
    max_steps = 700

    def __init__(self, variant: str):
        super().__init__(variant)
        self.nmi_scenario = variant in NMI_VARIANTS
        # -- the IO-APIC and its devices (hardware) --
        self.ioapic_lock = raw_spinlock_t("ioapic_lock")
        self.rte = {
            SERIAL_PIN: Cell("IO-APIC pin 4", IO_APIC_route_entry(SERIAL_VECTOR, level=False, mask=False, dest=CPU_IRQ)),
            ETH0_PIN: Cell("IO-APIC pin 19", IO_APIC_route_entry(ETH0_VECTOR, level=True, mask=False, dest=CPU_CRASH)),
        }
        self.eth0_intx = Cell("eth0 INTx line", 0)
        self.lapic_enabled = [Cell(f"CPU{c} APIC_SPIV.enable", 1) for c in range(NCPUS)]
        # The level vector in service (ISR bit, with its TMR bit); it survives a software
        # disable of the local APIC and kexec (SDM vol. 3 10.4.7.2).
        self.lapic_isr = [Cell(f"CPU{c} APIC_ISR", None) for c in range(NCPUS)]
        # per-CPU vector_irq[] of the crashed kernel (CPU0 takes ttyS0, CPU1 eth0)
        self.vector_irq = {SERIAL_VECTOR: Cell("vector_irq[0x31]", SERIAL_IRQ), ETH0_VECTOR: Cell("vector_irq[0x41]", ETH0_IRQ)}
        # -- the crash path and the NMI chain are blocks.crash's; the external NMI's reason --
        self.nmi_reason_port.value = NMI_REASON_IOCHK if self.nmi_scenario else 0
        self.kernel_version = VERSIONS[variant]
        self.crash_disables_ioapic = variant not in ("no-ioapic-disable", "ioapic-before-lapic")
        # -- the kdump kernel (its own memory) --
        self.kdump_kernel = Cell("kdump kernel running", 0)
        self.kdump_ioapic_lock = raw_spinlock_t("ioapic_lock (kdump)")
        self.kdump_vector_irq = {ETH0_VECTOR: Cell("kdump vector_irq[0x41]", NO_IRQ), KDUMP_ETH0_VECTOR: Cell("kdump vector_irq[0x51]", NO_IRQ)}
        self.kdump_eth0_action = Cell("irq 19 action (kdump)", None)
        self.kdump_eth0_irqs = Cell("eth0 interrupts taken (kdump)", 0)
        self.eth0_action = Cell("irq 19 action", "e1000_intr")
        self.eth0_irqs = Cell("eth0 interrupts taken", 0)
        # Ghost state for the screaming-interrupt invariant, not kernel memory.
        self.unhandled = Cell("ghost: unhandled level deliveries", 0)

    # -- the machine ------------------------------------------------------------

    def cpu_label(self, cpu: int) -> str:
        if self.nmi_scenario:
            return f"CPU{cpu} (external NMI)"
        return "CPU0 (Don's CPU0: takes IRQs)" if cpu == CPU_IRQ else "CPU1 (Don's CPU4: crashes, kdump)"

    def goal_pending(self) -> bool:
        return self.panic_cpu.value != PANIC_CPU_INVALID

    async def cpu_main(self, cpu: int) -> None:
        if self.nmi_scenario or cpu == CPU_IRQ:
            # cpu_idle() -> safe_halt(): interrupts on, device IRQs and NMIs come in here.
            await halt("cpu_idle")
        # drivers/tty/sysrq.c sysrq_handle_crash(): a crash in task context on CPU1.
        await self.panic("sysrq triggered crash")

    # -- injectable events ---------------------------------------------------------

    def serial_can_raise(self, cpu: int | None) -> bool:
        rte = self.rte[SERIAL_PIN].value
        return not self.nmi_scenario and not self.kdump_kernel.value and cpu == rte.dest and not rte.mask

    def eth0_can_raise(self, cpu: int | None) -> bool:
        # eth0 asserts INTx and the IO-APIC delivers to the pin's CPU. The engine
        # cannot change IO-APIC state at injection time, so the acceptance (remote
        # IRR := 1) is the handler's first step; the event is therefore offered only
        # when that CPU takes it at its very next step: irqs on, local APIC enabled.
        rte = self.rte[ETH0_PIN].value
        return (
            not self.nmi_scenario
            and cpu == rte.dest
            and not rte.mask
            and not rte.irr
            and not self.eth0_intx.value
            and bool(self.lapic_enabled[cpu].value)
            and not irqs_disabled_on(cpu)
        )

    def in_eth0_handler_before_eoi(self, cpu: int | None) -> bool:
        return (
            not self.nmi_scenario
            and not self.kdump_kernel.value
            and self.panic_cpu.value == PANIC_CPU_INVALID
            and cpu is not None
            and self.lapic_isr[cpu].value == ETH0_VECTOR
        )

    def no_panic_yet(self, cpu: int | None) -> bool:
        return self.nmi_scenario and self.panic_cpu.value == PANIC_CPU_INVALID

    # arch/x86/kernel/entry_64.S common_interrupt -> do_IRQ() for ttyS0's vector
    async def common_interrupt(self) -> None:
        await self.do_IRQ(SERIAL_VECTOR, False)

    # eth0 asserts INTx: the IO-APIC sends the pin's vector, CPU1's local APIC accepts it
    @helper
    async def eth0_asserts_intx(self) -> None:
        rte = await self.hw_eth0_intx_accepted()
        await self.do_IRQ(rte.vector, True)

    # arch/x86/kernel/traps.c do_invalid_op(): a BUG() in e1000_intr() -> die() ->
    # oops_end() -> panic("Fatal exception in interrupt"): the kernel crashes before the
    # interrupt is EOI'd (Suresh Siddha's remote-IRR scenario; Don's lkdtm-in-do_IRQ test)
    async def do_invalid_op(self) -> None:
        await self.panic("Fatal exception in interrupt")

    events = (
        Event("IRQ4 edge", Kind.IRQ, common_interrupt, guard=serial_can_raise),
        Event("eth0 INTx", Kind.IRQ, eth0_asserts_intx, guard=eth0_can_raise),
        Event("BUG in e1000_intr", Kind.EXC, do_invalid_op, guard=in_eth0_handler_before_eoi),
        Event("external NMI", Kind.NMI, broadcast=True, guard=no_panic_yet),
    )

    # -- hardware: IO-APIC pin logic and the local APIC's EOI (not kernel code) ---------
    # 82093AA IO-APIC datasheet 3.2.4 (remote IRR), Intel SDM vol. 3 10.8.5 (EOI broadcast
    # for level-triggered vectors). Only one CPU ever touches pin 19 at a time here.

    # The device raises INTx and the local APIC accepts the vector: remote IRR := 1.
    @helper
    async def hw_eth0_intx_accepted(self) -> IO_APIC_route_entry:
        await WRITE_ONCE(self.eth0_intx, 1)
        rte = self.rte[ETH0_PIN].value._replace(irr=True)
        await WRITE_ONCE(self.rte[ETH0_PIN], rte)
        return rte

    # A level pin with its line asserted, unmasked and remote IRR clear is delivered.
    @helper
    async def hw_ioapic_service(self, pin: int, rte: IO_APIC_route_entry) -> None:
        if not rte.level or rte.mask or rte.irr:
            return
        if not await READ_ONCE(self.eth0_intx):
            return
        rte = rte._replace(irr=True)
        await WRITE_ONCE(self.rte[pin], rte)
        # A software-disabled local APIC holds the vector in its IRR (SDM vol. 3 10.4.7.2);
        # the model hands it to the CPU as soon as the CPU's irqs are on.
        await send_IPI(rte.dest, functools.partial(self.do_IRQ, rte.vector, True), f"vector {rte.vector:#x}")

    # The EOI for a level vector reaches the IO-APIC: remote IRR := 0 on pins with that vector.
    @helper
    async def hw_ioapic_eoi(self, vector: int) -> None:
        rte = await READ_ONCE(self.rte[ETH0_PIN])
        if rte.vector != vector or not rte.irr:
            return
        rte = rte._replace(irr=False)
        await WRITE_ONCE(self.rte[ETH0_PIN], rte)
        await self.hw_ioapic_service(ETH0_PIN, rte)

    # -- arch/x86/kernel/apic/io_apic.c: register access ------------------------------------
    # spin_lock_irqsave() is written out as local_irq_save() + raw_spin_lock() (ioapic_lock
    # is a raw_spinlock_t since 2.6.33): with irqs already off, the engine's composite
    # primitive would make two steps that the exhaustive search's fingerprint cannot tell apart.

    def _ioapic_lock(self) -> raw_spinlock_t:
        # Each kernel has its own ioapic_lock; the kdump kernel's is fresh.
        return self.kdump_ioapic_lock if self.kdump_kernel.value else self.ioapic_lock

    # io_apic.c ioapic_read_entry() (v3.3): __ioapic_read_entry() under ioapic_lock
    async def ioapic_read_entry(self, pin: int) -> IO_APIC_route_entry:
        lock = self._ioapic_lock()
        flags = await local_irq_save()  # spin_lock_irqsave(&ioapic_lock, flags)
        await raw_spin_lock(lock)
        e = await READ_ONCE(self.rte[pin])
        await raw_spin_unlock(lock)  # spin_unlock_irqrestore()
        await local_irq_restore(flags)
        return e

    # io_apic.c ioapic_write_entry() (v3.3); remote IRR is read-only, the write keeps it.
    async def ioapic_write_entry(self, pin: int, e: IO_APIC_route_entry) -> None:
        lock = self._ioapic_lock()
        flags = await local_irq_save()  # spin_lock_irqsave(&ioapic_lock, flags)
        await raw_spin_lock(lock)
        e = e._replace(irr=self.rte[pin].value.irr)
        await WRITE_ONCE(self.rte[pin], e)
        await self.hw_ioapic_service(pin, e)
        await raw_spin_unlock(lock)  # spin_unlock_irqrestore()
        await local_irq_restore(flags)

    # io_apic.c ioapic_mask_entry(): write an all-clear entry with only the mask bit
    async def ioapic_mask_entry(self, pin: int) -> None:
        await self.ioapic_write_entry(pin, IO_APIC_route_entry(0, level=False, mask=True))

    # io_apic.c __eoi_ioapic_pin() (v3.3): EOI register write (IO-APIC version >= 0x20)
    async def __eoi_ioapic_pin(self, pin: int, vector: int) -> None:
        await self.hw_ioapic_eoi(vector)

    # io_apic.c clear_IO_APIC_pin() (v3.3, with Suresh Siddha's remote-IRR reset, 2011)
    async def clear_IO_APIC_pin(self, pin: int) -> None:
        entry = await self.ioapic_read_entry(pin)
        # delivery_mode == dest_SMI: not on these pins
        if not entry.mask:
            await self.ioapic_write_entry(pin, entry._replace(mask=True))
            entry = await self.ioapic_read_entry(pin)
        if entry.irr:
            if not entry.level:
                await self.ioapic_write_entry(pin, entry._replace(level=True))
            lock = self._ioapic_lock()
            flags = await local_irq_save()  # spin_lock_irqsave(&ioapic_lock, flags)
            await raw_spin_lock(lock)
            await self.__eoi_ioapic_pin(pin, entry.vector)
            await raw_spin_unlock(lock)  # spin_unlock_irqrestore()
            await local_irq_restore(flags)
        await self.ioapic_mask_entry(pin)
        entry = await self.ioapic_read_entry(pin)
        # if (entry.irr) printk(KERN_ERR "Unable to reset IRR ...")

    # io_apic.c clear_IO_APIC()
    async def clear_IO_APIC(self) -> None:
        for pin in (SERIAL_PIN, ETH0_PIN):
            await self.clear_IO_APIC_pin(pin)

    # io_apic.c disable_IO_APIC() (v3.3): clear_IO_APIC(), then virtual wire mode for
    # the i8259 (ioapic_i8259 pin ExtINT, disconnect_bsp_APIC()): no pin modelled here.
    async def disable_IO_APIC(self) -> None:
        await self.clear_IO_APIC()

    # io_apic.c ioapic_zap_locks() (v3.9+): raw_spin_lock_init(&ioapic_lock)
    async def ioapic_zap_locks(self) -> None:
        await raw_spin_lock_init(self.ioapic_lock)

    # -- the IRQ path (crashed kernel: Don's CPU0 backtrace, 2.6.32-era names) -------------

    # arch/x86/kernel/irq.c do_IRQ(): vector_irq[] -> handle_irq(), else ack and complain
    async def do_IRQ(self, vector: int, level: bool) -> None:
        if level:  # (hardware) the local APIC moves the vector from IRR to ISR
            await WRITE_ONCE(self.lapic_isr[smp_processor_id()], vector)
        table = self.kdump_vector_irq if self.kdump_kernel.value else self.vector_irq
        irq = table[vector].value if vector in table else NO_IRQ  # this CPU's vector_irq[]
        if irq == NO_IRQ:
            await self.ack_APIC_irq(vector, level)
            trace_printk(f"pr_emerg: do_IRQ: {smp_processor_id()}.{int(vector)} No irq handler for vector (irq -1)")
            self.unhandled.value += level
            return
        await self.handle_irq(irq, vector, level)

    # arch/x86/kernel/irq_64.c handle_irq(): desc->handle_irq()
    async def handle_irq(self, irq: int, vector: int, level: bool) -> None:
        if level:
            await self.handle_fasteoi_irq(irq, vector)
        else:
            await self.handle_edge_irq(irq, vector)

    # kernel/irq/chip.c handle_edge_irq(): chip->ack() first, then the action
    async def handle_edge_irq(self, irq: int, vector: int) -> None:
        await self.ack_apic_edge(irq, vector)
        # handle_IRQ_event() -> serial8250_interrupt(): no shared state modelled

    # io_apic.c ack_apic_edge(): irq_complete_move(); move_native_irq(); ack_APIC_irq()
    async def ack_apic_edge(self, irq: int, vector: int) -> None:
        await self.move_native_irq(irq)
        await self.ack_APIC_irq(vector, False)

    # kernel/irq/migration.c move_native_irq(): IRQ_MOVE_PENDING (irqbalance moved it):
    # mask, move_masked_irq() (the new affinity: not modelled), unmask
    async def move_native_irq(self, irq: int) -> None:
        await self.mask_IO_APIC_irq(irq)
        await self.unmask_IO_APIC_irq(irq)

    # io_apic.c mask_IO_APIC_irq() -> mask_IO_APIC_irq_desc()
    async def mask_IO_APIC_irq(self, irq: int) -> None:
        await self.mask_IO_APIC_irq_desc(irq)

    # io_apic.c mask_IO_APIC_irq_desc(): spin_lock_irqsave(&ioapic_lock); __mask_IO_APIC_irq()
    async def mask_IO_APIC_irq_desc(self, irq: int) -> None:
        lock = self._ioapic_lock()
        flags = await local_irq_save()  # spin_lock_irqsave(&ioapic_lock, flags)
        await raw_spin_lock(lock)
        await self.io_apic_modify_irq(irq, mask=True)
        await raw_spin_unlock(lock)  # spin_unlock_irqrestore()
        await local_irq_restore(flags)

    # io_apic.c unmask_IO_APIC_irq() -> unmask_IO_APIC_irq_desc() (v3.3: unmask_ioapic())
    async def unmask_IO_APIC_irq(self, irq: int) -> None:
        await self.unmask_IO_APIC_irq_desc(irq)

    # io_apic.c unmask_IO_APIC_irq_desc(): spin_lock_irqsave(&ioapic_lock); __unmask_IO_APIC_irq()
    async def unmask_IO_APIC_irq_desc(self, irq: int) -> None:
        lock = self._ioapic_lock()
        flags = await local_irq_save()  # spin_lock_irqsave(&ioapic_lock, flags)
        await raw_spin_lock(lock)
        await self.io_apic_modify_irq(irq, mask=False)
        await raw_spin_unlock(lock)  # spin_unlock_irqrestore()
        await local_irq_restore(flags)

    # io_apic.c io_apic_modify_irq(): read-modify-write of the pin's mask bit (lock held)
    async def io_apic_modify_irq(self, irq: int, mask: bool) -> None:
        pin = irq  # irq_2_pin: ISA/PCI irqs map 1:1 to pins here
        rte = (await READ_ONCE(self.rte[pin]))._replace(mask=mask)
        await WRITE_ONCE(self.rte[pin], rte)
        await self.hw_ioapic_service(pin, rte)

    # kernel/irq/chip.c handle_fasteoi_irq(): the action, then chip->irq_eoi() (ack_apic_level)
    async def handle_fasteoi_irq(self, irq: int, vector: int) -> None:
        action = await READ_ONCE(self.kdump_eth0_action if self.kdump_kernel.value else self.eth0_action)
        if action is not None:
            await self.e1000_intr()
        await self.ack_APIC_irq(vector, True)

    # arch/x86/include/asm/apic.h ack_APIC_irq(): apic_write(APIC_EOI, 0); for a level
    # vector (TMR bit set) the local APIC broadcasts the EOI to the IO-APICs
    async def ack_APIC_irq(self, vector: int, level: bool) -> None:
        if level:
            await WRITE_ONCE(self.lapic_isr[smp_processor_id()], None)
            await self.hw_ioapic_eoi(vector)

    # drivers/net/ethernet/intel/e1000/e1000_main.c e1000_intr(): reading ICR deasserts INTx
    async def e1000_intr(self) -> None:
        await WRITE_ONCE(self.eth0_intx, 0)
        irqs = self.kdump_eth0_irqs if self.kdump_kernel.value else self.eth0_irqs
        await WRITE_ONCE(irqs, irqs.value + 1)

    # -- arch/x86/kernel/apic/apic.c ----------------------------------------------------------

    # apic.c disable_local_APIC(): clear_local_APIC(); SPIV &= ~APIC_SPIV_APIC_ENABLED
    async def disable_local_APIC(self) -> None:
        await WRITE_ONCE(self.lapic_enabled[smp_processor_id()], 0)

    # apic.c lapic_shutdown(): local_irq_save(); disable_local_APIC(); local_irq_restore()
    async def lapic_shutdown(self) -> None:
        flags = await local_irq_save()
        await self.disable_local_APIC()
        await local_irq_restore(flags)

    # apic.c setup_local_APIC() (v3.3): "After a crash, we no longer service the interrupts
    # and a pending interrupt from previous kernel might still have ISR bit set ... Issue an
    # extra EOI to clear ISR."; then apic_write(APIC_SPIV, value | APIC_SPIV_APIC_ENABLED)
    async def setup_local_APIC(self) -> None:
        cpu = smp_processor_id()
        isr = await READ_ONCE(self.lapic_isr[cpu])
        if isr is not None:
            await self.ack_APIC_irq(isr, True)  # the held TMR bit: the EOI is broadcast
        await WRITE_ONCE(self.lapic_enabled[cpu], 1)

    # -- the kdump kernel (blocks.crash's machine_kexec() jumps here) ---------------------------
    # The kdump kernel on the crashing CPU (maxcpus=1); the other CPUs stay where the
    # crashed kernel left them. init/main.c start_kernel() enables interrupts long before
    # native_smp_prepare_cpus() (v3.3): setup_local_APIC(); enable_IO_APIC(); ...
    # setup_IO_APIC(). Eric's order (ioapic-before-lapic): the IO-APIC first.
    async def kdump_kernel_boot(self) -> None:
        if self.nmi_scenario:
            await goal_reached("machine_kexec() with every CPU's registers saved")
            return
        await WRITE_ONCE(self.kdump_kernel, 1)
        await local_irq_enable()  # start_kernel(): local_irq_enable()
        if self.variant == "ioapic-before-lapic":
            await self.enable_IO_APIC()
            await self.setup_IO_APIC()
            await self.setup_local_APIC()
        else:
            await self.setup_local_APIC()
            await self.enable_IO_APIC()
            await self.setup_IO_APIC()
        await self.e1000_request_irq()
        await self.dump_vmcore()

    # io_apic.c enable_IO_APIC(): "Do not trust the IO-APIC being empty at bootup"
    async def enable_IO_APIC(self) -> None:
        await self.clear_IO_APIC()

    # io_apic.c setup_IO_APIC() -> setup_IO_APIC_irqs() -> setup_ioapic_irq() for eth0
    # (only the pin the dump needs): a new vector, and "Mask level triggered irqs".
    async def setup_IO_APIC(self) -> None:
        await WRITE_ONCE(self.kdump_vector_irq[KDUMP_ETH0_VECTOR], ETH0_IRQ)  # __assign_irq_vector()
        await self.ioapic_write_entry(ETH0_PIN, IO_APIC_route_entry(KDUMP_ETH0_VECTOR, level=True, mask=True, dest=CPU_CRASH))

    # e1000_main.c e1000_request_irq() -> request_irq(): __setup_irq() sets the action,
    # irq_startup() unmasks the pin
    async def e1000_request_irq(self) -> None:
        await WRITE_ONCE(self.kdump_eth0_action, "e1000_intr")
        await self.unmask_IO_APIC_irq(ETH0_IRQ)

    # The dump is sent over eth0 (makedumpfile | scp): a transmit, then wait for its
    # completion interrupt (a 1 s bound stands for the driver's watchdog).
    async def dump_vmcore(self) -> None:
        await self.e1000_xmit_frame()

        async def eth0_irq_taken() -> bool:
            return await READ_ONCE(self.kdump_eth0_irqs) > 0

        if await spin_until_cond_timeout(eth0_irq_taken, USEC_PER_SEC):
            await goal_reached("the kdump kernel took eth0's interrupt: the vmcore can be saved")
            return
        rte = self.rte[ETH0_PIN].value
        BUG_ON(
            True,
            "kdump-no-device-irq",
            f"kdump kernel: no eth0 interrupt within 1 s; IO-APIC pin 19 = {rte}, INTx = {self.eth0_intx.value}",
        )

    # e1000_xmit_frame(): writel(tdt); the NIC sends and raises INTx (TXDW)
    async def e1000_xmit_frame(self) -> None:
        await WRITE_ONCE(self.eth0_intx, 1)
        await self.hw_ioapic_service(ETH0_PIN, await READ_ONCE(self.rte[ETH0_PIN]))

    # -- invariants -------------------------------------------------------------------------

    def check(self) -> None:
        BUG_ON(
            self.unhandled.value >= 2,
            "kdump-screaming-irq",
            "kdump kernel: IO-APIC pin 19 is still programmed by the crashed kernel (vector 0x41, level, "
            "unmasked) when the local APIC comes up; do_IRQ() finds no handler for 0x41, its ack_APIC_irq() "
            "clears remote IRR while eth0 still asserts INTx, so the interrupt fires again at once: it screams "
            "before setup_IO_APIC() and the kdump kernel never gets to take eth0's interrupt",
        )
