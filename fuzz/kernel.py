"""Primitives with kernel names: the only way a model touches shared state.

Each `async` primitive is one atomic step: it reaches a schedule point first
and takes effect only when its CPU is chosen to run. Plain functions
(`smp_processor_id`, `in_nmi`, `irqs_disabled`) read the CPU's own state and
are not schedule points.

Spinning is written as in the kernel: `while await READ_ONCE(x): await
cpu_relax()`. A loop iteration that wrote nothing and read the same values as
the one before blocks its CPU until one of those cells is written, so the
engine can tell a CPU that spins forever from one that makes progress. Such a
loop must not count in a local variable; write a bounded wait with
`spin_until_cond_timeout()` (or `udelay`/`mdelay`) so its deadline is known.
"""

from __future__ import annotations

import sys
from typing import Any, Awaitable, Callable

from .cells import Cell, DeviceCounter, cpumask_t, mutex, raw_spinlock_t
from .trace import duration
from .machine import IDLE, NMI_VECTOR, Halt, Kind, Machine, Poll, Sleep, Spin, Violation, _is_model_code, current_machine

NSEC_PER_USEC = 1_000
USEC_PER_MSEC = 1_000
USEC_PER_SEC = 1_000_000


def _here():
    m = current_machine()
    return m, m.current


def _caller_function() -> str:
    f = sys._getframe(2)
    while f is not None and not _is_model_code(f.f_code.co_filename):
        f = f.f_back
    return f.f_code.co_name if f is not None else "?"


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(int(v))
    return str(v)


def _fmt_cell(c: Cell) -> str:
    if isinstance(c, raw_spinlock_t):
        return "unlocked" if c.value is None else f"locked by CPU{c.value}"
    return _fmt(c.value)


# -- the CPU's own state (no schedule point) --------------------------------


def smp_processor_id() -> int:
    """`smp_processor_id()` (include/linux/smp.h): the running CPU's number. Not a schedule point; logs nothing."""
    return current_machine().current.id


def in_nmi() -> bool:
    """`in_nmi()` (include/linux/preempt.h): whether the running context is an NMI or NMI-class handler
    (an NMI, a #MC from kernel mode, or after `nmi_enter()`). Not a schedule point; logs nothing."""
    return current_machine().current.nmi_depth > 0


def irqs_disabled() -> bool:
    """`irqs_disabled()` (include/linux/irqflags.h): the running CPU's irq flag. Not a schedule point; logs nothing."""
    return current_machine().current.irqs_off


def user_mode() -> bool:
    """`user_mode(regs)` (arch/x86/include/asm/ptrace.h): whether the context the running handler
    interrupted was user mode. Not a schedule point; logs nothing."""
    return current_machine().current.contexts[-1][1]


def context_of(cpu: int) -> str:
    """The innermost context of CPU `cpu`: "task" or the name of the interrupt it is handling (for
    event guards; no kernel counterpart). Not a schedule point; logs nothing."""
    return current_machine().cpus[cpu].contexts[-1][0]


def nmi_enter() -> None:
    """`__nmi_enter()` (include/linux/hardirq.h): make the running handler NMI-class, so `in_nmi()`
    becomes true until it returns. Not a schedule point; logs `nmi_enter(): in_nmi() = 1`."""
    m, cpu = _here()
    cpu.nmi_depth += 1
    m.event(cpu, "nmi_enter(): in_nmi() = 1")


def local_clock() -> int:
    """`local_clock()` (include/linux/sched/clock.h): virtual time in ns (a per-CPU clock read, not
    shared memory). Not a schedule point; logs nothing."""
    return current_machine().now


# -- plain shared words --------------------------------------------------------


async def READ_ONCE(cell: Cell, *more: Cell, union: str = "") -> Any:  # noqa: N802 - kernel name
    """`READ_ONCE()` (include/asm-generic/rwonce.h): one read of a shared word. Several cells read
    at once form one union word (`union hpet_lock`) and return a tuple. Schedule point; logs
    `READ_ONCE(x) = v` (or `READ_ONCE(union) = {a=v, b=w}`)."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    for c in (cell, *more):
        m.note_read(cpu, c, c.value)
    if not more:
        m.event(cpu, f"READ_ONCE({cell}) = {_fmt(cell.value)}")
        return cell.value
    values = tuple(c.value for c in (cell, *more))
    fields = ", ".join(f"{c.name.rpartition('.')[2]}={_fmt_cell(c)}" for c in (cell, *more))
    m.event(cpu, f"READ_ONCE({union or '+'.join(map(str, (cell, *more)))}) = {{{fields}}}")
    return values


async def readl(reg: Cell) -> int:
    """`readl()` (include/asm-generic/io.h): MMIO read of a device register; a `DeviceCounter`
    advances on every read. Schedule point; logs `readl(reg) = v`."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    if isinstance(reg, DeviceCounter):
        reg.value += 1
    m.event(cpu, f"readl({reg}) = {reg.value}")
    return reg.value


async def WRITE_ONCE(cell: Cell, value: Any) -> None:  # noqa: N802 - kernel name
    """`WRITE_ONCE()` (include/asm-generic/rwonce.h): one write of a shared word; wakes the CPUs
    spinning on it. Schedule point; logs `WRITE_ONCE(x, v)`."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    cell.value = value
    m.note_write(cpu, cell)
    m.event(cpu, f"WRITE_ONCE({cell}, {_fmt(value)})")


smp_load_acquire = READ_ONCE
smp_store_release = WRITE_ONCE


async def _rmw(cell: Cell, fn: Callable[[Any], tuple[Any, Any]], text: str, stores: Callable[[Any], bool] | None = None) -> Any:
    """One atomic read-modify-write: fn(old) -> (new, result).

    It writes the line even when `new == old`, as a `lock`-prefixed x86
    instruction does (a failed `lock cmpxchg` writes back what it read, `lock
    btr` of a clear bit writes the word): the CPU is the cell's last writer
    and the step depends on every access to it. An unchanged value wakes no
    spinner and keeps a spin iteration a fixed point (`Machine.note_write`).
    `stores(result)` False: this call executed no write at all (the
    `atomic_fetch_add_unless()` loop that finds `u` never reaches its cmpxchg).
    """
    m, cpu = _here()
    await m.schedule_point(cpu)
    old = cell.value
    new, result = fn(old)
    if stores is None or stores(result):
        cell.value = new
        m.note_write(cpu, cell, old)
    else:
        m.note_read(cpu, cell, old)
    m.event(cpu, text if result is None else f"{text} = {_fmt(result)}")
    return result


# -- atomic_t ---------------------------------------------------------------


async def atomic_read(v: Cell) -> int:
    """`atomic_read()` (include/linux/atomic/atomic-instrumented.h). Schedule point; logs `atomic_read(&v) = n`."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    m.note_read(cpu, v, v.value)
    m.event(cpu, f"atomic_read(&{v}) = {_fmt(v.value)}")
    return v.value


async def atomic_set(v: Cell, i: int) -> None:
    """`atomic_set()`: store `i`. Schedule point; logs `atomic_set(&v, i)`."""
    await _rmw(v, lambda old: (i, None), f"atomic_set(&{v}, {i})")


async def atomic_add(i: int, v: Cell) -> None:
    """`atomic_add()`: add `i`, atomically. Schedule point; logs `atomic_add(i, &v)`."""
    await _rmw(v, lambda old: (old + i, None), f"atomic_add({i}, &{v})")


async def atomic_inc(v: Cell) -> None:
    """`atomic_inc()`. Schedule point; logs `atomic_inc(&v)`."""
    await _rmw(v, lambda old: (old + 1, None), f"atomic_inc(&{v})")


async def atomic_dec(v: Cell) -> None:
    """`atomic_dec()`. Schedule point; logs `atomic_dec(&v)`."""
    await _rmw(v, lambda old: (old - 1, None), f"atomic_dec(&{v})")


async def atomic_inc_return(v: Cell) -> int:
    """`atomic_inc_return()`: returns the new value. Schedule point; logs `atomic_inc_return(&v) = n`."""
    return await _rmw(v, lambda old: (old + 1, old + 1), f"atomic_inc_return(&{v})")


async def atomic_dec_return(v: Cell) -> int:
    """`atomic_dec_return()`: returns the new value. Schedule point; logs `atomic_dec_return(&v) = n`."""
    return await _rmw(v, lambda old: (old - 1, old - 1), f"atomic_dec_return(&{v})")


async def atomic_dec_and_test(v: Cell) -> bool:
    """`atomic_dec_and_test()`: whether the new value is 0. Schedule point; logs `atomic_dec_and_test(&v) = 0/1`."""
    return await _rmw(v, lambda old: (old - 1, old - 1 == 0), f"atomic_dec_and_test(&{v})")


async def atomic_inc_not_zero(v: Cell) -> bool:
    """`atomic_inc_not_zero()`: increment unless 0; returns whether it did. Schedule point; logs
    `atomic_inc_not_zero(&v) = 0/1`."""
    return await _rmw(v, lambda old: (old + 1, True) if old else (old, False), f"atomic_inc_not_zero(&{v})", stores=bool)


async def atomic_add_unless(v: Cell, a: int, u: int) -> bool:
    """`atomic_add_unless()`: add `a` unless the value is `u`; returns whether it added. Schedule
    point; logs `atomic_add_unless(&v, a, u) = 0/1`."""
    return await _rmw(v, lambda old: (old + a, True) if old != u else (old, False), f"atomic_add_unless(&{v}, {a}, {u})", stores=bool)


async def atomic_cmpxchg(v: Cell, old: Any, new: Any) -> Any:
    """`atomic_cmpxchg()`: returns the value found; it is `old` exactly when the exchange happened.
    Schedule point; logs `atomic_cmpxchg(&v, old, new) = found`."""
    return await _rmw(v, lambda cur: (new if cur == old else cur, cur), f"atomic_cmpxchg(&{v}, {old}, {new})")


async def atomic_xchg(v: Cell, new: Any) -> Any:
    """`atomic_xchg()`: store `new`, return the old value. Schedule point; logs `atomic_xchg(&v, new) = old`."""
    return await _rmw(v, lambda cur: (new, cur), f"atomic_xchg(&{v}, {new})")


async def test_and_set_bit(nr: int, addr: Cell) -> bool:
    """`test_and_set_bit()` (include/asm-generic/bitops/instrumented-atomic.h): set bit `nr`, return
    its old value. Schedule point; logs `test_and_set_bit(nr, &addr) = 0/1`."""
    bit = 1 << nr
    return await _rmw(addr, lambda cur: (cur | bit, bool(cur & bit)), f"test_and_set_bit({nr}, &{addr})")


# -- cpumasks -----------------------------------------------------------------


async def cpumask_set_cpu(cpu: int, mask: cpumask_t) -> None:
    """`cpumask_set_cpu()` (include/linux/cpumask.h), atomic. Schedule point; logs `cpumask_set_cpu(c, &mask)`."""
    await _rmw(mask, lambda cur: (cur | (1 << cpu), None), f"cpumask_set_cpu({cpu}, &{mask})")


async def cpumask_clear_cpu(cpu: int, mask: cpumask_t) -> None:
    """`cpumask_clear_cpu()` (include/linux/cpumask.h), atomic. Schedule point; logs `cpumask_clear_cpu(c, &mask)`."""
    await _rmw(mask, lambda cur: (cur & ~(1 << cpu), None), f"cpumask_clear_cpu({cpu}, &{mask})")


async def cpumask_test_cpu(cpu: int, mask: cpumask_t) -> bool:
    """`cpumask_test_cpu()` (include/linux/cpumask.h). Schedule point; logs
    `cpumask_test_cpu(c, &mask) = 0/1 ({..})`."""
    return await _read(mask, f"cpumask_test_cpu({cpu}, &{mask})", lambda v: bool(v >> cpu & 1))


async def cpumask_weight(mask: cpumask_t) -> int:
    """`cpumask_weight()` (include/linux/cpumask.h): how many CPUs are set. Schedule point; logs
    `cpumask_weight(&mask) = n ({..})`."""
    return await _read(mask, f"cpumask_weight(&{mask})", int.bit_count)


async def cpumask_empty(mask: cpumask_t) -> bool:
    """`cpumask_empty()` (include/linux/cpumask.h). Schedule point; logs `cpumask_empty(&mask) = 0/1 ({..})`."""
    return await _read(mask, f"cpumask_empty(&{mask})", lambda v: v == 0)


async def cpumask_read(mask: cpumask_t) -> int:
    """A snapshot of the mask as a bitmask, in one read (`cpumask_copy()` out of it). Schedule point;
    logs `READ mask = {..}`."""
    return await _read(mask, f"READ {mask}", None)


async def cpumask_write(mask: cpumask_t, bits: int) -> None:
    """Overwrite the mask (`cpumask_copy()` into it, `cpumask_clear()`). Schedule point; logs `mask := {..}`."""
    await _rmw(mask, lambda cur: (bits, None), f"{mask} := {cpus_of(bits)}")


def cpus_of(bits: int) -> str:
    """A bitmask as the CPU set the timeline shows: `{0,2}`. Not a primitive: no step, no log."""
    return "{" + ",".join(str(i) for i in range(bits.bit_length()) if bits >> i & 1) + "}"


async def _read(mask: cpumask_t, text: str, result: Callable[[int], Any] | None) -> Any:
    """One read of `mask`; logs `text = result ({cpus})`, or `text = {cpus}` for the mask itself (`result` None)."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    v = mask.value
    m.note_read(cpu, mask, v)
    if result is None:
        m.event(cpu, f"{text} = {cpus_of(v)}")
        return v
    r = result(v)
    m.event(cpu, f"{text} = {_fmt(r)} ({cpus_of(v)})")
    return r


# -- spinlocks ------------------------------------------------------------------


async def raw_spin_trylock(lock: raw_spinlock_t) -> bool:
    """`raw_spin_trylock()` (include/linux/spinlock.h): take the lock if it is free; returns whether
    it did. Schedule point; logs `raw_spin_trylock(&l) = 1` or `= 0 (held by CPUn)`."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    return _trylock(m, cpu, lock, "raw_spin_trylock")


def _trylock(m: Machine, cpu, lock: raw_spinlock_t, name: str) -> bool:
    if lock.value is None:
        lock.value = cpu.id
        lock.taken_in = _caller_function()
        m.note_write(cpu, lock)
        m.event(cpu, f"{name}(&{lock}) = 1")
        return True
    m.note_read(cpu, lock, lock.value)
    m.event(cpu, f"{name}(&{lock}) = 0 (held by CPU{lock.value})")
    return False


async def raw_spin_lock(lock: raw_spinlock_t) -> None:
    """`raw_spin_lock()` (include/linux/spinlock.h): spin until the lock is taken. Not recursive: a
    CPU that holds it spins on itself. Each attempt is a schedule point and logs
    `raw_spin_lock(&l) = 0/1`; a failed one ends a spin iteration, so a lock nobody can release
    is reported as a deadlock."""
    await _acquire(lock, "raw_spin_lock")


async def _acquire(lock: raw_spinlock_t, name: str) -> None:
    """Try until the lock is free; each failed try is a spin-loop iteration."""
    m, cpu = _here()
    while True:
        await m.schedule_point(cpu)
        if _trylock(m, cpu, lock, name):
            return
        _relax(m, cpu)


async def raw_spin_unlock(lock: raw_spinlock_t) -> None:
    """`raw_spin_unlock()` (include/linux/spinlock.h): release the lock (no owner check, like the
    kernel's); wakes its spinners. Schedule point; logs `raw_spin_unlock(&l)`."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    lock.value = None
    m.note_write(cpu, lock)
    m.event(cpu, f"raw_spin_unlock(&{lock})")


async def raw_spin_is_locked(lock: raw_spinlock_t) -> bool:
    """`raw_spin_is_locked()` (include/linux/spinlock.h). Schedule point; logs `spin_is_locked(&l) = 0/1`."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    m.note_read(cpu, lock, lock.value)
    held = lock.value is not None
    m.event(cpu, f"spin_is_locked(&{lock}) = {int(held)}")
    return held


async def raw_spin_lock_init(lock: raw_spinlock_t) -> None:
    """`raw_spin_lock_init()` on a lock that may be held: lock busting (`ioapic_zap_locks()`,
    printk's `zap_locks()`). Schedule point; logs `raw_spin_lock_init(&l)`."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    lock.value = None
    m.note_write(cpu, lock)
    m.event(cpu, f"raw_spin_lock_init(&{lock})")


async def spin_lock_irqsave(lock: raw_spinlock_t) -> bool:
    """`spin_lock_irqsave()` (include/linux/spinlock.h): `local_irq_save()`, then `raw_spin_lock()`
    with irqs off; returns the flags. Two or more schedule points, logged as those two."""
    flags = await local_irq_save()
    await raw_spin_lock(lock)
    return flags


async def spin_unlock_irqrestore(lock: raw_spinlock_t, flags: bool) -> None:
    """`spin_unlock_irqrestore()` (include/linux/spinlock.h): `raw_spin_unlock()`, then
    `local_irq_restore(flags)`. Two schedule points, logged as those two."""
    await raw_spin_unlock(lock)
    await local_irq_restore(flags)


spin_lock = raw_spin_lock
spin_unlock = raw_spin_unlock
spin_trylock = raw_spin_trylock
arch_spin_lock = raw_spin_lock
arch_spin_trylock = raw_spin_trylock
arch_spin_unlock = raw_spin_unlock
arch_spin_is_locked = raw_spin_is_locked
raw_spin_lock_irqsave = spin_lock_irqsave
raw_spin_unlock_irqrestore = spin_unlock_irqrestore


# -- interrupt flags ----------------------------------------------------------------


async def _set_irqs(off: bool, text: str) -> bool:
    m, cpu = _here()
    await m.schedule_point(cpu)
    was = cpu.irqs_off
    cpu.irqs_off = off
    m.event(cpu, text)
    return was


async def local_irq_save() -> bool:
    """`local_irq_save()` (include/linux/irqflags.h): disable interrupts (not NMIs); returns the flags
    (whether they were already off). Schedule point; logs `local_irq_save()`."""
    return await _set_irqs(True, "local_irq_save()")


async def local_irq_restore(flags: bool) -> None:
    """`local_irq_restore()` (include/linux/irqflags.h): irqs back to `flags`; pending IRQs are taken
    once they are on. Schedule point; logs `local_irq_restore() -> irqs on/off`."""
    await _set_irqs(flags, f"local_irq_restore() -> irqs {'off' if flags else 'on'}")


async def local_irq_disable() -> None:
    """`local_irq_disable()` (include/linux/irqflags.h). Schedule point; logs `local_irq_disable()`."""
    await _set_irqs(True, "local_irq_disable()")


async def local_irq_enable() -> None:
    """`local_irq_enable()` (include/linux/irqflags.h): pending IRQs are taken at the next step.
    Schedule point; logs `local_irq_enable()`."""
    await _set_irqs(False, "local_irq_enable()")


async def local_daif_mask() -> None:
    """arm64 `local_daif_mask()` (arch/arm64/include/asm/daifflags.h): mask IRQs *and* pseudo-NMIs,
    unlike `local_irq_disable()`. Schedule point; logs `local_daif_mask()`."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    cpu.irqs_off = True
    cpu.nmi_blocked = True
    m.event(cpu, "local_daif_mask()")


# -- interrupts between CPUs ------------------------------------------------------


async def send_IPI(target: int, handler: Callable[[], Awaitable[Any]] | None = None, name: str = NMI_VECTOR, nmi: bool = False) -> None:  # noqa: N802
    """`send_IPI_mask()` to one CPU (`apic->send_IPI()`, arm64 `smp_cross_call()`)."""
    await send_IPI_mask(1 << target, handler, name, nmi)


async def send_IPI_mask(  # noqa: N802 - kernel name
    mask: int, handler: Callable[[], Awaitable[Any]] | None = None, name: str = NMI_VECTOR, nmi: bool = False
) -> None:
    """Raise an IPI on every CPU in `mask` (an int bitmask; `apic->send_IPI_mask()`): a maskable
    one that runs `handler` (its vector's handler), or with `nmi=True` an NMI, which takes no
    handler. Schedule point; logs `send NAME to CPU{..}`.

    An NMI runs the target's NMI entry (`Model.nmi_handler`), whoever sent it
    and however many senders there were, and merges in each target's latch: put what the
    sender wants in shared state before sending, as the kernel does (`crash_ipi_issued`,
    `cpus_stop_mask`, the registered NMI handlers). `name` is the vector: on x86
    always `NMI_VECTOR` (one latch per CPU); an arm64 pseudo-NMI IPI passes
    its SGI (`IPI_CPU_STOP_NMI`), which has its own pending bit.
    """
    if nmi and handler is not None:
        raise TypeError("an NMI runs the model's nmi_entry: put the sender's intent in shared state, not in a handler")
    if not nmi and handler is None:
        raise TypeError(f"send_IPI_mask({name}): a maskable IPI needs its handler")
    m, cpu = _here()
    await m.schedule_point(cpu)
    for c in m.cpus:
        if mask >> c.id & 1:
            m.raise_interrupt(c, Kind.NMI if nmi else Kind.IRQ, name, handler)
    m.event(cpu, f"send {name} to CPU{cpus_of(mask)}")


def rdmsr(reg: Cell) -> Any:
    """Read one of this CPU's own registers (an MSR such as the PMU's overflow
    status): CPU-local state, not shared memory, so not a schedule point."""
    return reg.value


def wrmsr(reg: Cell, value: Any) -> None:
    """Write one of this CPU's own registers (see `rdmsr`)."""
    m, cpu = _here()
    reg.value = value
    m.event(cpu, f"wrmsr({reg}, {_fmt(value)})")


def hw_write(cell: Cell, value: Any) -> None:
    """A device sets its own state (a PMU overflow bit, the NMI reason port): for
    the source of an injected NMI event (`Event.handler`). Not a CPU step; CPUs
    spinning on `cell` are woken."""
    m = current_machine()
    cell.value = value
    m.note_write(None, cell)
    m.event(None, f"{cell} := {_fmt(value)} (device)")


# -- spinning, time and halting -------------------------------------------------------


def _relax(m: Machine, cpu) -> None:
    cells = m.end_iteration(cpu)
    if cells == ():
        m.block(cpu, Halt("spins on nothing"))
        m.event(cpu, "spins forever (reads nothing)")
    elif cells:
        m.block(cpu, Spin(cells))
        m.event(cpu, "spins: " + ", ".join(str(c) for c in cells) + " unchanged")


async def cpu_relax() -> None:
    """`cpu_relax()`: the end of one iteration of a spin loop, then a schedule point. An iteration
    that wrote nothing and read the same values as the one before blocks its CPU until one of
    those cells is written, and logs `spins: x, y unchanged` (see the module docstring)."""
    m, cpu = _here()
    _relax(m, cpu)
    await m.schedule_point(cpu)


async def udelay(usecs: int) -> None:
    """`udelay()` (include/asm-generic/delay.h) in virtual time; interrupts that are not masked are
    still taken. Schedule points while it waits; logs `delay N us`."""
    await ndelay(usecs * NSEC_PER_USEC)


async def mdelay(msecs: int) -> None:
    """`mdelay()` (include/linux/delay.h) in virtual time, as `udelay()`; logs `delay N ms`."""
    await ndelay(msecs * USEC_PER_MSEC * NSEC_PER_USEC)


async def ndelay(nsecs: int) -> None:
    """`ndelay()` (include/asm-generic/delay.h) in virtual time: the CPU sleeps until the deadline
    (the clock jumps when every CPU waits on time). Schedule points while it waits; logs `delay D`."""
    m, cpu = _here()
    deadline = m.now + nsecs
    m.event(cpu, f"delay {duration(nsecs)}")
    while m.now < deadline:
        m.block(cpu, Sleep(deadline))
        await m.schedule_point(cpu)


async def spin_until_cond_timeout(cond: Callable[[], Awaitable[bool]], usecs: int) -> bool:
    """`while (!cond() && timeout--) udelay(1);` in virtual time (the waits of `smp_send_stop()`):
    returns cond's last value.

    Each evaluation of `cond` is a loop iteration; one that changed nothing sleeps until a cell it
    read is written or the deadline passes, and logs `polls: x unchanged`; the timeout logs
    `timed out after D`. The schedule points are cond's own and one per iteration."""
    m, cpu = _here()
    deadline = m.now + usecs * NSEC_PER_USEC
    m.end_iteration(cpu)
    while True:
        if await cond():
            return True
        if m.now >= deadline:
            m.event(cpu, f"timed out after {duration(usecs * NSEC_PER_USEC)}")
            return False
        cells = m.end_iteration(cpu)
        if cells is not None:
            m.block(cpu, Poll(cells, deadline))
            m.event(cpu, "polls: " + ", ".join(str(c) for c in cells) + " unchanged")
        await m.schedule_point(cpu)


async def halt(where: str = "") -> None:
    """Stop this CPU for good (`cpu_park_loop()`, the `native_halt()` loop of `stop_this_cpu()`);
    never returns. Interrupts that are still deliverable are taken; after each it halts again.
    Schedule points while halted; logs `halts (where)`."""
    m, cpu = _here()
    m.event(cpu, "halts" + (f" ({where})" if where else ""))
    while True:
        m.block(cpu, Halt(where))
        await m.schedule_point(cpu)


async def run_user_code() -> None:
    """This CPU runs user space from now on: only interrupts bring it into the kernel (a #MC then
    comes from user mode). Never returns. Schedule points while idle; logs `in user mode`."""
    m, cpu = _here()
    cpu.user = True
    m.event(cpu, "in user mode")
    while True:
        m.block(cpu, IDLE)
        await m.schedule_point(cpu)


# -- the model's goal and invariants --------------------------------------------------


async def goal_reached(what: str) -> None:
    """The model's progress goal (`Model.goal`): the run ends here and counts as held. Schedule
    points before and after; logs `goal: what`. With `Model.settle_after_goal`, this CPU halts
    instead (it has left the modelled kernel) and the others run on for that many steps; never
    returns then."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    m.event(cpu, f"goal: {what}")
    m.reach_goal()
    if m.settle_left:
        await halt("after the goal")
    await m.schedule_point(cpu)


def BUG_ON(cond: bool, key: str, message: str) -> None:  # noqa: N802 - kernel name
    """`BUG_ON()` (include/asm-generic/bug.h): fail the run as invariant `key` with `message` when
    `cond` holds. Not a schedule point; the failure is the run's outcome."""
    if cond:
        raise Violation(key, message)


async def raise_exception(name: str, handler: Callable[[], Awaitable[Any]]) -> None:
    """A synchronous exception (#BP on an int3 byte, #PF, #GP) raised by the running code
    (`exc_int3()`, `exc_page_fault()`, ...).

    It is taken at this instruction boundary, whatever the irq flags: the handler runs as a new
    context on this CPU, then the caller continues. Schedule point; logs `> NAME from kernel
    (not NMI-class)` when taken and `< return from NAME` after."""
    m, cpu = _here()
    m.raise_interrupt(cpu, Kind.EXC, name, handler)
    await m.schedule_point(cpu)


def trace_printk(text: str) -> None:
    """`trace_printk()`: annotate the timeline with what the running code just did to its own
    (CPU-local) state, e.g. `int3_emulate_call(regs, func)`. Not a schedule point and touches no
    shared state; logs `text` (shown only when the event log is on)."""
    m, cpu = _here()
    m.event(cpu, text)


def irqs_disabled_on(cpu: int) -> bool:
    """Whether CPU `cpu` has interrupts disabled right now (for event guards; no kernel counterpart).
    Not a schedule point; logs nothing. An IRQ raised on a CPU whose interrupts are on is taken at
    that CPU's next step."""
    return current_machine().cpus[cpu].irqs_off


# -- mutexes (sleeping locks with an owner) ------------------------------------------


async def mutex_trylock(lock: mutex) -> bool:
    """Take the mutex if it is free; returns whether it did (kernel/locking/mutex.c)."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    return _trylock(m, cpu, lock, "mutex_trylock")


async def mutex_lock(lock: mutex) -> None:
    """Sleep until the mutex is free, then own it.

    One task runs per CPU, so the waiter's CPU waits with it: a CPU blocked
    here is woken by the owner's unlock, exactly like a spinner, and an owner
    that never unlocks (stopped, halted) leaves it waiting for good: a deadlock.
    """
    await _acquire(lock, "mutex_lock")


async def mutex_unlock(lock: mutex) -> None:
    """Release the mutex; only its owner may (DEBUG_MUTEXES: invariant `mutex-not-owner`)."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    BUG_ON(lock.value != cpu.id, "mutex-not-owner", f"mutex_unlock(&{lock}) on CPU{cpu.id}, owned by {lock.value}")
    lock.value = None
    m.note_write(cpu, lock)
    m.event(cpu, f"mutex_unlock(&{lock})")


async def mutex_is_locked(lock: mutex) -> bool:
    """`mutex_is_locked()` (include/linux/mutex.h). Schedule point; logs `mutex_is_locked(&l) = 0/1`."""
    m, cpu = _here()
    await m.schedule_point(cpu)
    m.note_read(cpu, lock, lock.value)
    m.event(cpu, f"mutex_is_locked(&{lock}) = {int(lock.value is not None)}")
    return lock.value is not None


# -- the rest of the spin_lock_irq* family ------------------------------------------------


async def spin_lock_irq(lock: raw_spinlock_t) -> None:
    """local_irq_disable() then spin for the lock."""
    await local_irq_disable()
    await raw_spin_lock(lock)


async def spin_unlock_irq(lock: raw_spinlock_t) -> None:
    """`spin_unlock_irq()` (include/linux/spinlock.h): unlock, then local_irq_enable() (two steps)."""
    await raw_spin_unlock(lock)
    await local_irq_enable()


async def spin_trylock_irqsave(lock: raw_spinlock_t) -> tuple[bool, bool]:
    """local_irq_save(), then one trylock; on failure the flags are restored. Returns (taken, flags)."""
    flags = await local_irq_save()
    if await raw_spin_trylock(lock):
        return True, flags
    await local_irq_restore(flags)
    return False, flags


raw_spin_lock_irq = spin_lock_irq
raw_spin_unlock_irq = spin_unlock_irq
raw_spin_trylock_irqsave = spin_trylock_irqsave
