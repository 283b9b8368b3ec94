"""x86 text_poke_bp() and the 2019 static-calls debate (seed 004): each variant's outcome, by searching."""

from __future__ import annotations

import pytest

from panicfuzz import protocols
from panicfuzz.run import execute
from panicfuzz.search import search, verify
from panicfuzz.strategies.deviations import Deviations
from panicfuzz.trace import parse_action
from panicfuzz.protocols.text_poke import TextPoke
from tests.support import SCALE, assert_expected, replay_on, saved_cases, search_variant

FAILING = ["bp-waits", "hpa-state-machine", "v3-redirect", "emulate-null-vec", "emulate-stack-desc"]


def run(variant: str, *deviations: str):
    devs = [(int(gap), parse_action(action)) for gap, action in (d.split(":", 1) for d in deviations)]
    return execute(TextPoke, variant, Deviations(devs), logging=True)


def search_first(variant: str, *, max_schedules: int, seed: int, strategy: str):
    """A real search that stops at its first finding: each finding is shrunk with an
    exhaustive minimality check, which costs seconds here, so one per variant."""
    return search(
        protocols.load("text_poke"),
        variant,
        strategy=strategy,
        max_schedules=max_schedules * SCALE,
        seed=seed,
        first_only=True,
    )


def invariant_keys(report) -> set[str]:
    return {f.result.outcome.signature_parts[1] for f in report.findings if f.result.outcome.kind == "invariant"}


# -- model mechanics --------------------------------------------------------------


@pytest.mark.parametrize("variant", [v.name for v in TextPoke.variants])
def test_default_schedule_patches_the_site_and_calls_old_fn_twice(variant):
    result = run(variant)
    assert not result.failed, result.outcome.message
    texts = [entry[3] for entry in result.log]
    assert texts.count("atomic_inc(&old_fn.calls)") == 2
    assert "WRITE_ONCE(site.op, call)" in texts or "atomic_cmpxchg(&site.op, int3, call) = int3" in texts


def test_hpa_undo_from_an_earlier_round_removes_the_retried_int3():
    # An irq on CPU0 hits the int3 of round 1 and sets state 4; the patcher retries
    # (state 1, int3 again, IPI); the stale undo then restores the opcode byte and
    # clears CPU0's bit of the *new* round, so cmpxchg(1 -> 2) succeeds with no
    # int3 in place, and an NMI on the patcher fetches the half-written CALL.
    result = run("hpa-state-machine", "12:irq@cpu0", "3:cpu0", "3:cpu1", "22:NMI@cpu1")
    assert result.outcome.signature_parts == ("invariant", "torn-insn"), result.outcome.message
    assert (result.size.preemptions, result.size.injected) == (1, 2)
    texts = [entry[3] for entry in result.log]
    assert texts.count("atomic_cmpxchg(&bp_poke_state, 1, 2) = 4") == 1
    assert texts.count("atomic_cmpxchg(&bp_poke_state, 1, 2) = 1") == 1
    # The merged design survives the same schedule.
    assert not run("emulate", "12:irq@cpu0", "3:cpu0", "3:cpu1", "22:NMI@cpu1").failed


def test_null_vec_race_of_a_kprobe_with_the_final_clear():
    # Masami's report: the kprobe's int3 reads nr_entries == 1 after the last
    # sync, the patcher clears bp_patching.vec, the handler dereferences NULL.
    schedule = ("36:kprobe-int3@cpu0", "0:cpu0", "0:cpu1", "2:cpu0")
    result = run("emulate-null-vec", *schedule)
    assert result.outcome.signature_parts == ("invariant", "null-desc"), result.outcome.message
    assert not run("emulate", *schedule).failed


def test_emulation_calls_new_fn_exactly_once_from_the_int3():
    # An irq on the idle caller while the int3 is in place: the call is emulated.
    result = run("emulate", "7:irq@cpu0")
    assert not result.failed, result.outcome.message
    texts = [entry[3] for entry in result.log]
    assert "int3_emulate_call(regs, new_fn)" in texts
    assert texts.count("atomic_inc(&new_fn.calls)") == 1
    # The same schedule loses the call when the handler only skips the CALL.
    lost = run("v3-redirect", "7:irq@cpu0")
    assert lost.outcome.signature_parts == ("invariant", "lost-call"), lost.outcome.message


# -- real searches ------------------------------------------------------------------


def test_bp_waits_deadlocks_on_the_patching_cpu():
    report = search_first("bp-waits", max_schedules=50, seed=0, strategy="random")
    assert_expected("text_poke", "bp-waits", report)
    messages = [f.result.outcome.message for f in report.findings]
    # Andy Lutomirski: the interrupt on the patcher hits the breakpoint and waits
    # for the patcher, its own interrupted frame.
    assert any("CPU1 (patcher) spins in poke_int3_handler_wait() (in #BP)" in m for m in messages), messages


def test_hpa_state_machine_tears_the_call_and_livelocks():
    # The "find out" variant: what the search shows is the expected outcome.
    report = search_variant("text_poke", "hpa-state-machine", max_schedules=1000, seed=0, strategy="random")
    assert_expected("text_poke", "hpa-state-machine", report)
    assert "torn-insn" in invariant_keys(report)
    livelocks = [f.result.outcome.message for f in report.findings if f.result.outcome.kind == "livelock"]
    assert livelocks and "CPU0 (caller) in poke_int3_handler_hpa()" in livelocks[0], livelocks
    assert "CPU1 (patcher) in text_poke_bp_hpa()" in livelocks[0]


def test_v3_redirect_loses_the_call():
    report = search_first("v3-redirect", max_schedules=50, seed=1, strategy="random")
    assert_expected("text_poke", "v3-redirect", report)
    assert invariant_keys(report) == {"lost-call"}


def test_emulate_null_vec_dereferences_the_cleared_vec():
    report = search_first("emulate-null-vec", max_schedules=2500, seed=5, strategy="random")
    assert_expected("text_poke", "emulate-null-vec", report)
    assert "null-desc" in invariant_keys(report)


def test_emulate_stack_desc_uses_the_descriptor_after_its_scope():
    report = search_first("emulate-stack-desc", max_schedules=3000, seed=2, strategy="random")
    assert_expected("text_poke", "emulate-stack-desc", report)
    assert "use-after-scope" in invariant_keys(report)


@pytest.mark.parametrize("strategy", ["random", "pct", "hypothesis"])
def test_emulate_survives_a_real_search(strategy):
    report = search_variant("text_poke", "emulate", max_schedules=700, seed=2, strategy=strategy)
    assert report.schedules >= 700
    assert_expected("text_poke", "emulate", report)


def test_emulate_holds_for_every_schedule_with_one_preemption_and_one_event():
    verdict = verify(TextPoke, "emulate", preemptions=1, events=1)
    assert verdict.complete and verdict.holds, [f.result.outcome.message for f in verdict.findings]
    assert verdict.schedules > 1000


def test_emulate_survives_every_saved_case():
    cases = [path for variant in FAILING for path in saved_cases("text_poke", variant)]
    assert {path.parent.name for path in cases} == set(FAILING)
    for path in cases:
        result = replay_on(path, "emulate")
        assert not result.failed, f"emulate fails on {path.parent.name}/{path.name}: {result.outcome.message}"
