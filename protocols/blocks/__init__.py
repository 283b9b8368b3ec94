"""Kernel building blocks: the subsystems panic paths are made of, each modelled once.

These modules hold kernel code, not models: `panicfuzz.protocols` lists as
models only the modules directly in `protocols/` that define a Model named
like the module.

A block is a mixin class (a `panicfuzz.model.Model` subclass) for one
subsystem. Its methods are that subsystem's kernel functions, with kernel
names, a citation above each and one await per shared access; its
`__init__` creates the cells it owns; its class attributes are the kernel
version (`kernel_version`, a tuple such as (6, 9)) and the config knobs its
code reads. A protocol model composes blocks by inheritance, sets the knobs
per variant and adds only what its thread is about:

    class Hpet(Mce, HpetClocksource, X86Stop):   # protocols/hpet.py

Hooks are methods a block calls and a model (or another block) overrides:
`printk()`, `kmsg_dump()`'s dumpers, `panic_notifier_list`, `crash_kexec()`,
`console_flush_on_panic()`, `emergency_restart()`, the IO-APIC/LAPIC steps of
the crash path. Their defaults model "not configured" (no console, no kmsg
dumper, no crash kernel loaded) and touch nothing. A kernel `static inline`
wrapper (`smp_send_stop()`, `ktime_get_real_fast_ns()`) is a plain method that
returns its callee's coroutine, so the timeline shows the callee directly, as
a kernel stack trace would.

Modules (docs/blocks.md has what each models, its versions, hooks and invariants):
  smp         cpu_online_mask, shared by every SMP block
  panic       kernel/panic.c panic(), nmi_panic(), oops_end() and the self-stops
  stop        x86 native_stop_other_cpus()/stop_this_cpu(); arm64 smp_send_stop()/crash_smp_send_stop()
              and the arm64 crash path
  nmi         x86 do_nmi()/default_do_nmi()/nmi_handle(), register_nmi_handler(), nmi_reason_lock
  crash       kdump: __crash_kexec(), x86 machine_crash_shutdown(), nmi_shootdown_cpus(),
              crash_nmi_callback(), crash_save_cpu() and the crash-notes invariant
  mce         x86 broadcast #MC: do_machine_check() rendezvous and mce_panic()
  clocksource x86 read_hpet() and the pstore kmsg dumper that reads the clock in panic
  printk      printk()/console_unlock() with owner/waiter handover and console_flush_on_panic()
"""
