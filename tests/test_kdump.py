"""x86 kdump crash shutdown (seed 003): each variant's outcome, found by actually searching."""

from __future__ import annotations

import pytest

from panicfuzz import protocols
from panicfuzz import corpus
from panicfuzz.run import execute
from panicfuzz.strategies import Replay
from panicfuzz.strategies.deviations import Deviations
from panicfuzz.trace import Inject
from tests.support import assert_expected, replay_on, saved_cases, search_variant

KDUMP = protocols.load("kdump")
FAILING = [v.name for v in KDUMP.variants if v.expected == "fails"]
HOLDING = [v.name for v in KDUMP.variants if v.expected == "holds"]


def invariant_keys(report) -> set[str]:
    return {f.result.outcome.signature_parts[1] for f in report.findings if f.result.outcome.kind == "invariant"}


def cpu_lines(log, cpu: int) -> list[str]:
    return [text for _, c, _, text in log if c == cpu]


def in_order(lines: list[str], wanted: list[str]) -> bool:
    """Each wanted text occurs in `lines` (as a prefix of a line), in this order."""
    it = iter(lines)
    return all(any(line.startswith(w) for line in it) for w in wanted)


# -- model mechanics -----------------------------------------------------------------


@pytest.mark.parametrize("variant", [v.name for v in KDUMP.variants])
def test_the_default_schedule_completes(variant):
    result = execute(KDUMP, variant, Deviations([]), logging=True)
    assert not result.failed, result.outcome.message
    goals = [text for _, _, _, text in result.log if text.startswith("goal:")]
    if variant.endswith("nmi-reason"):
        assert goals == []  # no external NMI, no crash: both CPUs just idle
    else:
        assert goals == ["goal: the kdump kernel took eth0's interrupt: the vmcore can be saved"]


def test_the_kdump_kernel_masks_and_reprograms_eth0_before_it_takes_its_interrupt():
    result = execute(KDUMP, "no-ioapic-disable", Deviations([]), logging=True)
    cpu1 = cpu_lines(result.log, 1)
    kdump = cpu1[cpu1.index("kdump_kernel_boot()") :]
    assert in_order(
        kdump,
        [
            "WRITE_ONCE(CPU1 APIC_SPIV.enable, 1)",  # setup_local_APIC() first (v3.3 order)
            "WRITE_ONCE(IO-APIC pin 19, {0x41 level masked rIRR=0 CPU1})",  # clear_IO_APIC_pin()
            "WRITE_ONCE(IO-APIC pin 19, {0x51 level masked rIRR=0 CPU1})",  # setup_IO_APIC()
            "WRITE_ONCE(IO-APIC pin 19, {0x51 level unmasked rIRR=0 CPU1})",  # request_irq()
            "send vector 0x51 to CPU{1}",  # eth0's transmit interrupt
            "> vector 0x51 (irq)",
            "e1000_intr()",
            "WRITE_ONCE(IO-APIC pin 19, {0x51 level unmasked rIRR=0 CPU1})",  # the EOI
            "goal:",
        ],
    ), "\n".join(kdump)


# Suresh Siddha's scenario (commit 1e75b31d638d, quoted by Seiji Aguchi): eth0's level
# interrupt is accepted (remote IRR set) and the kernel crashes in its handler before the EOI.
CRASH_IN_ETH0_HANDLER = [(0, Inject("eth0 INTx", 1)), (0, Inject("BUG in e1000_intr", 1))]


@pytest.mark.parametrize(
    "variant, outcome",
    [("v3.3", None), ("zap-locks", None), ("ioapic-before-lapic", None), ("no-ioapic-disable", "kdump-screaming-irq")],
)
def test_a_crash_before_the_eoi_leaves_remote_irr_set(variant, outcome):
    result = execute(KDUMP, variant, Deviations(CRASH_IN_ETH0_HANDLER), logging=True)
    assert [str(a) for a in result.trace if isinstance(a, Inject)] == ["eth0 INTx@cpu1", "BUG in e1000_intr@cpu1"]
    cpu1 = cpu_lines(result.log, 1)
    assert in_order(cpu1, ["> eth0 INTx (irq)", "WRITE_ONCE(IO-APIC pin 19, {0x41 level unmasked rIRR=1 CPU1})", "> BUG in e1000_intr"])
    if outcome is None:
        assert not result.failed, result.outcome.message
        # Whoever clears pin 19 first (crash path or kdump kernel) masks it and EOIs remote IRR.
        assert in_order(cpu1, ["WRITE_ONCE(IO-APIC pin 19, {0x41 level masked rIRR=1 CPU1})", "WRITE_ONCE(IO-APIC pin 19, {0x41 level masked rIRR=0 CPU1})", "goal:"])
    else:
        assert result.outcome.signature_parts == ("invariant", outcome)
        # setup_local_APIC()'s extra EOI for the stale ISR bit clears remote IRR of the
        # still unmasked pin while INTx is asserted: the storm starts there.
        assert in_order(cpu1, ["setup_local_APIC()", "READ_ONCE(CPU1 APIC_ISR) = 0x41", "> vector 0x41 (irq)", "> vector 0x41 (irq)"])


# -- failing variants: the search finds each expected bug -------------------------------


def test_v3_3_deadlocks_as_in_dons_cpu0_cpu4_trace():
    report = search_variant("kdump", "v3.3", max_schedules=300, seed=0)
    assert_expected("kdump", "v3.3", report)
    dons = [
        f
        for f in report.findings
        if "spins in ioapic_read_entry() on ioapic_lock, held by CPU0 since mask_IO_APIC_irq_desc()"
        in f.result.outcome.message
    ]
    assert dons, [f.result.outcome.message for f in report.findings]
    f = dons[0]
    assert "is halted in crash_nmi_callback() (in NMI)" in f.result.outcome.message
    assert (f.result.size.preemptions, f.result.size.injected) == (1, 1)
    log = f.result.log
    # CPU0: do_IRQ -> ... -> spin_lock_irqsave(&ioapic_lock), then the NMI, parked for good.
    assert in_order(
        cpu_lines(log, 0),
        [
            "> IRQ4 edge (irq)",
            "do_IRQ()",
            "handle_edge_irq()",
            "ack_apic_edge()",
            "move_native_irq()",
            "mask_IO_APIC_irq()",
            "mask_IO_APIC_irq_desc()",
            "raw_spin_lock(&ioapic_lock) = 1",
            "> NMI (NMI)",
            "crash_nmi_callback()",
            "halts (crash_nmi_callback)",
        ],
    )
    # CPU4 (here CPU1): the shoot-down, then disable_IO_APIC() spins on the lock.
    assert in_order(
        cpu_lines(log, 1),
        [
            "machine_crash_shutdown()",
            "native_machine_crash_shutdown()",
            "kdump_nmi_shootdown_cpus()",
            "send NMI to CPU{0}",
            "disable_IO_APIC()",
            "clear_IO_APIC()",
            "clear_IO_APIC_pin()",
            "ioapic_read_entry()",
            "raw_spin_lock(&ioapic_lock) = 0 (held by CPU0)",
            "spins: ioapic_lock unchanged",
        ],
    )


def test_no_ioapic_disable_leaves_a_screaming_interrupt_for_the_kdump_kernel():
    report = search_variant("kdump", "no-ioapic-disable", max_schedules=200, seed=0)
    assert_expected("kdump", "no-ioapic-disable", report)
    assert "kdump-screaming-irq" in invariant_keys(report)
    f = next(f for f in report.findings if f.result.outcome.signature_parts == ("invariant", "kdump-screaming-irq"))
    assert (f.result.size.preemptions, f.result.size.injected) == (0, 1)
    # The interrupt arrives between setup_local_APIC() and clear_IO_APIC(), and re-fires.
    cpu1 = cpu_lines(f.result.log, 1)
    assert in_order(
        cpu1,
        [
            "setup_local_APIC()",
            "enable_IO_APIC()",
            "> eth0 INTx (irq)",
            "send vector 0x41 to CPU{1}",  # the EOI cleared remote IRR, INTx is still asserted
            "pr_emerg: do_IRQ: 1.65 No irq handler for vector",
            "> vector 0x41 (irq)",
            "pr_emerg: do_IRQ: 1.65 No irq handler for vector",
        ],
    ), "\n".join(cpu1)


def test_pre_4_5_external_nmi_loses_the_other_cpus_registers():
    report = search_variant("kdump", "pre-4.5-nmi-reason", max_schedules=400, seed=0)
    assert_expected("kdump", "pre-4.5-nmi-reason", report)
    assert invariant_keys(report) == {"crash-regs-lost"}
    f = report.findings[0]
    assert (f.result.size.preemptions, f.result.size.injected) == (1, 1)
    lines = [text for _, _, _, text in f.result.log]
    assert any(t.startswith("raw_spin_lock(&nmi_reason_lock) = 0") for t in lines)
    assert "timed out after 1 s" in lines


# -- holding variants -------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["hypothesis", "random"])
@pytest.mark.parametrize("variant", HOLDING)
def test_fixes_survive_a_real_search(variant, strategy):
    report = search_variant("kdump", variant, max_schedules=400, seed=1, strategy=strategy)
    assert report.schedules >= 400
    assert_expected("kdump", variant, report)


@pytest.mark.parametrize("variant", HOLDING)
def test_fixes_survive_every_saved_case_of_the_failing_variants(variant):
    cases = [path for v in FAILING for path in saved_cases("kdump", v)]
    assert {p.parent.name for p in cases} == set(FAILING)
    for path in cases:
        result = replay_on(path, variant)
        assert not result.failed, f"{variant} fails on {path.parent.name}/{path.name}: {result.outcome.message}"


def test_zap_locks_busts_the_lock_held_by_the_parked_cpu():
    dons = "spins in ioapic_read_entry() on ioapic_lock, held by CPU0 since mask_IO_APIC_irq_desc()"
    (case,) = [p for p in saved_cases("kdump", "v3.3") if dons in corpus.load(p)["failure"]["message"]]
    result = execute_logged(case, "zap-locks")
    assert not result.failed, result.outcome.message
    lines = [text for _, _, _, text in result.log]
    assert in_order(lines, ["raw_spin_lock(&ioapic_lock) = 1", "> NMI (NMI)", "raw_spin_lock_init(&ioapic_lock)", "goal:"])


def test_v4_5_the_cpu_spinning_in_nmi_answers_the_shoot_down():
    (case,) = saved_cases("kdump", "pre-4.5-nmi-reason")
    result = execute_logged(case, "v4.5-nmi-reason")
    assert not result.failed
    lines = [text for _, _, _, text in result.log]
    assert in_order(
        lines,
        ["raw_spin_trylock(&nmi_reason_lock) = 0", "run_crash_ipi_callback()", "crash_nmi_callback()", "READ_ONCE(crash_notes) = {crash_notes[0]=NMI regs, crash_notes[1]=regs of panic()}", "goal:"],
    )


def execute_logged(path, variant: str):
    data = corpus.load(path)
    return execute(KDUMP, variant, Replay(corpus.trace_of(path, data), data["kinds"], strict=False), logging=True)
